"""Timing conditions shared by the benchmark scripts.

Every script times its providers in the conditions of a user's process: no allocator,
environment or thread setting is made that would change a peer's speed. Each script runs
each case under one or more *thread settings* (``--threads default 1`` unless told
otherwise):

* ``default``: nothing is set. torch, OpenMP and the BLAS libraries use the thread counts
  they choose by themselves in a fresh process (their documented defaults).
* ``N`` (a number): torch's intra-op pool (``torch.set_num_threads``) and every OpenMP and
  BLAS pool in the process (``threadpoolctl.threadpool_limits``: numpy's and scipy's
  OpenBLAS, scikit-learn's OpenMP) are limited to ``N`` threads, for every provider alike.

A script states the command that reproduces its table, the host, the thread counts and the
load average next to its figures (printed and in every CSV row).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch

from imbalance_kit.app import Parser, UsageError, print_table
from imbalance_kit.app.study import markdown_table

__all__ = [
    "DEFAULT_THREADS",
    "ENV_WATCHED",
    "ResultsFile",
    "add_threads_option",
    "apply_threads",
    "check_device",
    "command_line",
    "environment_notes",
    "limited_threads",
    "load_average",
    "make_parser",
    "run_main",
    "thread_label",
    "thread_setting",
    "threads_in_use",
    "utc_stamp",
]

DEFAULT_THREADS: tuple[int | None, ...] = (None, 1)
# Variables that change a library's speed or memory behaviour when set; none is set by the
# benchmarks, and any found in the environment is printed beside the figures.
ENV_WATCHED = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "KMP_AFFINITY",
    "LD_PRELOAD",
    "GLIBC_TUNABLES",
    "MALLOC_ARENA_MAX",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCHINDUCTOR_MAX_AUTOTUNE",
)
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- threads


def thread_setting(text: str) -> int | None:
    """Parse one ``--threads`` value: ``"default"`` gives ``None``, a number >= 1 itself.

    Examples:
        >>> thread_setting("default"), thread_setting("1")
        (None, 1)
    """
    if text == "default":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 'default' or an integer >= 1, got {text!r}")
    return value


def thread_label(setting: int | None) -> str:
    """``"default"`` or the number, as the tables and CSV rows show a thread setting.

    Examples:
        >>> thread_label(None), thread_label(1)
        ('default', '1')
    """
    return "default" if setting is None else str(setting)


def add_threads_option(
    parser: argparse.ArgumentParser, default: Sequence[int | None] = DEFAULT_THREADS
) -> None:
    """Add ``--threads default|N [...]`` (``args.threads``: a list of settings, run in turn)."""
    shown = " ".join(thread_label(s) for s in default)
    parser.add_argument(
        "--threads",
        nargs="+",
        type=thread_setting,
        default=list(default),
        metavar="default|N",
        help=(
            "thread settings, each run in turn: 'default' sets nothing (every library at its "
            "own default); N limits torch, OpenMP and BLAS to N threads for every provider "
            f"alike (default: {shown})"
        ),
    )


def _load_pools() -> None:
    # threadpool_limits reaches only the libraries loaded so far: load the peers' pools first
    # (numpy's and scipy's OpenBLAS, scikit-learn's OpenMP runtime).
    for module in ("numpy", "scipy.linalg", "sklearn.utils._openmp_helpers"):
        with contextlib.suppress(ImportError):
            __import__(module)


def apply_threads(setting: int | None) -> None:
    """Limit this process to ``setting`` threads for good (``None``: leave the defaults).

    For a child process that runs one case: torch's intra-op pool and every OpenMP / BLAS
    pool loaded now or later (threadpoolctl's global limit) get ``setting`` threads.
    """
    if setting is None:
        return
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(setting)
    _load_pools()
    _KEPT_LIMITS.append(threadpool_limits(limits=setting))


_KEPT_LIMITS: list[object] = []  # the limits of apply_threads stay for the process's life


@contextlib.contextmanager
def limited_threads(setting: int | None) -> Iterator[None]:
    """Within the block, torch, OpenMP and BLAS use ``setting`` threads (``None``: unchanged).

    The previous counts are restored on exit.
    """
    if setting is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    _load_pools()
    before = torch.get_num_threads()
    torch.set_num_threads(setting)
    try:
        with threadpool_limits(limits=setting):
            yield
    finally:
        torch.set_num_threads(before)


def threads_in_use() -> str:
    """The thread counts in force now: ``"torch 2, openmp 2, blas 2"``."""
    parts = [f"torch {torch.get_num_threads()}"]
    try:
        from threadpoolctl import threadpool_info

        by_api: dict[str, set[int]] = {}
        for pool in threadpool_info():
            by_api.setdefault(pool["user_api"], set()).add(pool["num_threads"])
        for api, counts in sorted(by_api.items()):
            parts.append(f"{api} {'/'.join(map(str, sorted(counts)))}")
    except ImportError:
        pass
    return ", ".join(parts)


# ----------------------------------------------------------------------------- conditions


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (as ``uptime`` prints them), or ``"n/a"``.

    Examples:
        >>> load_average().count(",") in (0, 2)
        True
    """
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def environment_notes() -> list[str]:
    """``NAME=value`` for every watched variable that is set in this environment."""
    return [f"{name}={os.environ[name]}" for name in ENV_WATCHED if name in os.environ]


def utc_stamp() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def print_report(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str,
    command: str,
    host: str,
    load_start: str,
    load_end: str,
    markdown: bool,
) -> None:
    """Print a result table with the command and the load, and its markdown form on request.

    The markdown form starts with the command, the host and the load average, as the
    docs quote them beside each table.
    """
    print_table(columns, rows, title=title)
    print(f"command: {command}\nload average: {load_start} at start, {load_end} at end")
    if markdown:
        print(f"\nCommand: `{command}`  \nHost: {host}  ")
        print(f"Load average (1, 5, 15 min): {load_start} at start, {load_end} at end\n")
        print(markdown_table(columns, rows))


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The shell command that reproduces a run: ``python benchmarks/<script> <argv>``.

    Examples:
        >>> command_line("benchmarks/bench_smote.py", ["--sizes", "1e5"])
        'python benchmarks/bench_smote.py --sizes 1e5'
    """
    path = Path(script).resolve()
    try:
        shown = str(path.relative_to(ROOT))
    except ValueError:
        shown = str(path)
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", shown, *args])


def check_device(text: str, option: str | None = None) -> torch.device:
    """``torch.device(text)`` for ``cpu`` or an available CUDA device, else a one-line error.

    ``option`` names what asked for the device in the message (default ``--device <text>``).

    Raises:
        UsageError: an unknown device, or CUDA without a CUDA build of torch and a GPU.

    Examples:
        >>> check_device("cpu")
        device(type='cpu')
    """
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"--device must be cpu or cuda[:N], got {text!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UsageError(f"--device must be cpu or cuda[:N], got {text!r}")
    if torch.version.cuda is None:
        found = f"found torch {torch.__version__}"
    elif not torch.cuda.is_available():
        found = f"found torch {torch.__version__} and no visible GPU"
    elif device.index is not None and device.index >= torch.cuda.device_count():
        found = f"found {torch.cuda.device_count()} GPU(s)"
    else:
        return device
    label = option or f"--device {text}"
    raise UsageError(f"{label} needs a CUDA build of torch and a GPU; {found}")


# ----------------------------------------------------------------------------- CLI


def make_parser(prog: str, description: str) -> Parser:
    """An argument parser whose errors are one line (``<prog>: error: ...``, exit 2)."""
    return Parser(prog=prog, description=description)


def run_main(prog: str, main: Callable[[Sequence[str] | None], int | None], argv=None) -> int:
    """Run ``main(argv)``; a :class:`UsageError` prints ``<prog>: error: <message>``, exit 2."""
    try:
        status = main(argv)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0 if status is None else int(status)


# ----------------------------------------------------------------------------- results


class ResultsFile:
    """A CSV file that rows are appended to, with the columns checked before a run starts.

    An existing file with other columns (an older format) is an error at construction,
    not after an hour of measurements.
    """

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as handle:
                header = next(csv.reader(handle), [])
            if header != self.columns:
                raise UsageError(
                    f"--csv {self.path} has other columns (an older format); move it aside or "
                    "name another file"
                )

    def append(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append ``rows`` (missing columns stay empty), writing the header to a new file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)
