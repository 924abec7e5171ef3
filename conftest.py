"""Root pytest configuration: applies to the library's doctests and the task packages too."""

import os

from hypothesis import HealthCheck, settings

# Triton kernels run on CPU tensors through the interpreter unless a GPU run is asked
# for; the variable must be set before triton is first imported.
if os.environ.get("IMBALANCE_KIT_TRITON_GPU", "0") in ("", "0"):
    os.environ.setdefault("TRITON_INTERPRET", "1")

# One hypothesis profile for the core and the task packages: derandomized, so a run
# is repeatable; HYPOTHESIS_PROFILE=dev (random, more examples) explores further.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The task packages' test folders each have a conftest.py (they are not packages);
# --doctest-modules would import them a second time as modules named "conftest" and
# clash. They hold no doctests, so they are loaded only as conftests.
collect_ignore_glob = ["tasks/*/tests/conftest.py"]
