"""The ``imbalance-kit`` command (``python -m imbalance_kit``): an application, not library code.

* `main`: the parser and ``main``;
* `analyze`: ``imbalance-kit analyze`` (class distribution, weights);
* `compare`, `compare_run`,
  `compare_report`, `strategies`:
  ``imbalance-kit compare`` (training, the command, its tables and plots, the strategies);
* [`datasets`][imbalance_kit.cli.datasets]: the data sets ``compare`` and the benchmarks use.

It is built from the public application layer `imbalance_kit.app`, as the task
packages' commands are.
"""

from __future__ import annotations

from imbalance_kit.app import UsageError
from imbalance_kit.cli.main import build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
