"""Command-line plumbing shared by ``imbalance-kit`` and the task packages' commands."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["Parser", "UsageError"]


class UsageError(Exception):
    """Bad command-line input: reported as one line on standard error, exit status 2.

    Examples:
        >>> str(UsageError("--threads must be >= 1, got 0"))
        '--threads must be >= 1, got 0'
    """


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors become :class:`UsageError` (no usage dump).

    Examples:
        >>> parser = Parser(prog="tool")
        >>> _ = parser.add_argument("--n", type=int)
        >>> parser.parse_args(["--n", "x"])
        Traceback (most recent call last):
        ...
        imbalance_kit._cli.UsageError: argument --n: invalid int value: 'x' (see tool --help)
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")
