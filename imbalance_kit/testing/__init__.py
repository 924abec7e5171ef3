"""Test helpers that ship with the package: reference implementations and a distributed runner.

Everything here is for tests and benchmarks (the core's, the task packages', and a user's
own), so that an installed package can run them without the repository:

* [`imbalance_kit.testing.references`][imbalance_kit.testing.references]: independent, readable
  implementations (torchvision's focal loss formula, a numpy ECE, the official SupCon loss, ...)
  that the tests compare the library against and the benchmarks time as peers.
* [`run_distributed`][imbalance_kit.testing.run_distributed]: run a function on N ``gloo`` processes
  on the CPU and collect what each returns;
  [`lightning_ddp_strategy`][imbalance_kit.testing.lightning_ddp_strategy] gives such a worker
  Lightning's DDP strategy over the process group that already exists.
* [`imbalance_kit.testing.faults`][imbalance_kit.testing.faults]: a callback that kills the process
  mid-training and helpers that truncate or corrupt a file, for resume and damaged-file tests.

Examples:
    >>> from imbalance_kit.testing import run_distributed
    >>> callable(run_distributed)
    True
"""

from __future__ import annotations

from imbalance_kit.testing.distributed import lightning_ddp_strategy, run_distributed
from imbalance_kit.testing.faults import corrupt_file, kill_at_epoch_start, truncate_file

__all__ = [
    "corrupt_file",
    "kill_at_epoch_start",
    "lightning_ddp_strategy",
    "run_distributed",
    "truncate_file",
]
