"""Command-line plumbing shared by ``imbalance-kit`` and the task packages' commands.

One error style for every command: bad input prints one line ``<prog>: error: ...`` on
standard error and exits with status 2; ``--help`` and ``--version`` exit 0. A command is
built from a [`Parser`][imbalance_kit.app.cli.Parser], sub-commands added with
[`add_command`][imbalance_kit.app.cli.add_command] (each names its handler and may have aliases),
the shared options added with [`add_common_options`][imbalance_kit.app.cli.add_common_options], and
run by [`run_cli`][imbalance_kit.app.cli.run_cli].
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = [
    "Parser",
    "UsageError",
    "add_command",
    "add_common_options",
    "make_parser",
    "run_cli",
    "set_threads",
]

Handler = Callable[[argparse.Namespace], "int | None"]


class UsageError(Exception):
    """Bad command-line input: reported as one line on standard error, exit status 2.

    Examples:
        >>> str(UsageError("--threads must be >= 1, got 0"))
        '--threads must be >= 1, got 0'
    """


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors become [`UsageError`][imbalance_kit.app.cli.UsageError]
    (no usage dump).

    Examples:
        >>> parser = Parser(prog="tool")
        >>> _ = parser.add_argument("--n", type=int)
        >>> parser.parse_args(["--n", "x"])
        Traceback (most recent call last):
        ...
        imbalance_kit.app.cli.UsageError: argument --n: invalid int value: 'x' (see tool --help)
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def make_parser(
    prog: str, description: str, version: str
) -> tuple[Parser, argparse._SubParsersAction]:
    """A [`Parser`][imbalance_kit.app.cli.Parser] with ``--version`` and a required sub-command;
    returns ``(parser, sub)``.

    Examples:
        >>> parser, sub = make_parser("tool", "A tool.", "1.0")
        >>> _ = add_command(sub, "run", lambda args: 0, help="run it", aliases=["go"])
        >>> parser.parse_args(["go"]).command
        'run'
    """
    parser = Parser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = parser.add_subparsers(dest="command_used", required=True, parser_class=Parser)
    return parser, sub


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    *,
    help: str,
    aliases: Sequence[str] = (),
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add sub-command ``name`` (and its ``aliases``) run by ``handler(args)``.

    ``args.command`` is the command's own name whichever alias was typed.
    """
    p = sub.add_parser(
        name,
        help=help,
        aliases=list(aliases),
        description=description or help[:1].upper() + help[1:],
    )
    p.set_defaults(_handler=handler, command=name)
    return p


def add_common_options(
    p: argparse.ArgumentParser,
    *,
    config: bool = True,
    overrides: bool = True,
    threads: bool = True,
    config_help: str = "YAML config: a file, or the name of a config the package ships (default)",
) -> argparse.ArgumentParser:
    """Add ``--config``, ``--set KEY=VALUE`` (repeatable: ``args.overrides``) and ``--threads``.

    Examples:
        >>> p = add_common_options(Parser(prog="t"))
        >>> a = p.parse_args(["--set", "train.lr=0.1", "--set", "seed=2", "--threads", "1"])
        >>> a.config, a.overrides, a.threads
        (None, ['train.lr=0.1', 'seed=2'], 1)
    """
    if config:
        p.add_argument("--config", default=None, metavar="FILE|NAME", help=config_help)
    if overrides:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            dest="overrides",
            help="override one config value, e.g. train.lr=0.01 (repeatable)",
        )
    if threads:
        p.add_argument(
            "--threads",
            type=int,
            default=None,
            metavar="N",
            help="torch CPU threads (default: torch's choice)",
        )
    return p


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; ``None`` leaves torch's choice.

    Raises:
        UsageError: ``threads`` below 1.
    """
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UsageError(f"--threads must be an integer >= 1, got {threads!r}")
    import torch

    torch.set_num_threads(threads)


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _describe_os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc)


def run_cli(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
    *,
    traceback_env: str | None = None,
    prepare: Callable[[argparse.Namespace], Any] | None = None,
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the chosen handler, return the exit status.

    ``--threads`` (when the command has it) is applied before the handler. Bad input
    ([`UsageError`][imbalance_kit.app.cli.UsageError], ``ValueError``, ``TypeError``, a missing or
    unwritable file, a missing optional package) prints ``<prog>: error: <message>`` and returns 2;
    set the environment variable ``traceback_env`` to see the traceback instead. Ctrl-C returns 2
    with ``interrupted``.

    Args:
        parser: built with [`make_parser`][imbalance_kit.app.cli.make_parser] and
            [`add_command`][imbalance_kit.app.cli.add_command].
        argv: the arguments.
        traceback_env: name of the environment variable that re-raises errors.
        prepare: called with the parsed arguments before the handler (e.g. logging set-up).

    Examples:
        >>> parser, sub = make_parser("tool", "A tool.", "1.0")
        >>> def fail(args):
        ...     raise ValueError("n must be >= 1, got 0")
        >>> _ = add_command(sub, "run", fail, help="run it")
        >>> import contextlib, io
        >>> err = io.StringIO()
        >>> with contextlib.redirect_stderr(err):
        ...     status = run_cli(parser, ["run"])
        >>> status, err.getvalue()
        (2, 'tool: error: n must be >= 1, got 0\\n')
    """
    prog = parser.prog
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except UsageError as exc:
        return _fail(prog, str(exc))
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    try:
        set_threads(getattr(args, "threads", None))
        if prepare is not None:
            prepare(args)
        status = args._handler(args)
        return 0 if status is None else int(status)
    except UsageError as exc:
        return _fail(prog, str(exc))
    except (OSError, ValueError, TypeError, ImportError) as exc:
        if traceback_env and os.environ.get(traceback_env):
            raise
        message = _describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        return _fail(prog, message)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted")
