"""The ``imbalance-kit`` command (``python -m imbalance_kit``): an application, not library code.

* :mod:`~imbalance_kit.cli.main`: the parser and ``main``;
* :mod:`~imbalance_kit.cli.analyze`: ``imbalance-kit analyze`` (class distribution, weights);
* :mod:`~imbalance_kit.cli.compare`, :mod:`~imbalance_kit.cli.compare_run`,
  :mod:`~imbalance_kit.cli.compare_report`, :mod:`~imbalance_kit.cli.strategies`:
  ``imbalance-kit compare`` (training, the command, its tables and plots, the strategies);
* :mod:`~imbalance_kit.cli.datasets`: the data sets ``compare`` and the benchmarks use.

It is built from the public application layer :mod:`imbalance_kit.app`, as the task
packages' commands are.
"""

from __future__ import annotations

from imbalance_kit.app import UsageError
from imbalance_kit.cli.main import build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
