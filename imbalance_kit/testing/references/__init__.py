"""Independent reference implementations that tests and benchmarks compare against.

One module per topic. Benchmarks import from here instead of copying code.
"""
