"""Root pytest configuration: applies to the library's doctests and the task packages too."""

import os

# Triton kernels run on CPU tensors through the interpreter unless a GPU run is asked
# for; the variable must be set before triton is first imported.
if os.environ.get("IMBALANCE_KIT_TRITON_GPU", "0") in ("", "0"):
    os.environ.setdefault("TRITON_INTERPRET", "1")
