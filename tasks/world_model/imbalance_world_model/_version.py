"""Version of the imbalance-kit-world-model distribution."""

__version__ = "0.1.0"
