"""Terminal output of the command: tables (rich when installed, plain text otherwise) and progress.

rich and tqdm are optional (the ``cli`` extra); both are imported only when used,
and everything falls back to plain text without them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "format_table", "print_table"]


def format_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> str:
    """Fixed-width plain-text table: first column left-aligned, the others right-aligned.

    A cell may hold several lines (``"0.81\n±0.02"``); they stack within the row.

    Examples:
        >>> print(format_table(["name", "n"], [["a", "1"], ["bb", "22"]]))
        name   n
        --------
        a      1
        bb    22
    """

    def lines_of(cell: Any) -> list[str]:
        return str(cell).split("\n")

    widths = [
        max(len(part) for r in [columns, *rows] for part in lines_of(r[i]))
        for i in range(len(columns))
    ]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = (str(c).rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  ".join([first, *rest]).rstrip()

    def row_lines(cells: Sequence[Any]) -> list[str]:
        parts = [lines_of(c) for c in cells]
        height = max(len(p) for p in parts)
        return [line([p[k] if k < len(p) else "" for p in parts]) for k in range(height)]

    head = line(columns)
    body = [text for r in rows for text in row_lines(r)]
    lines = [title] if title else []
    return "\n".join([*lines, head, "-" * len(head), *body])


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    stream: TextIO | None = None,
    plain: bool = False,
    width: int | None = None,
) -> None:
    """Print a table to ``stream`` (standard output by default), with rich if available.

    Cells never wrap: a cell that should take two lines says so with ``"\n"`` (see
    [`imbalance_kit.app.format_mean_std`][imbalance_kit.app.study.format_mean_std] with
    ``stacked=True``), so numbers are never broken across lines in a narrow terminal.
    """
    stream = sys.stdout if stream is None else stream
    if plain or not _rich_available():
        print(format_table(columns, rows, title=title), file=stream)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=True, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    if width is None and not is_tty:
        width = 200  # a log file: no wrapping of the title
    console = Console(file=stream, width=width, highlight=False)
    if title:
        console.print(title, markup=False)
    console.print(table)


class Progress:
    """A progress bar over ``total`` steps on standard error, or nothing.

    Uses rich when installed, else tqdm, else stays silent. It is off when
    ``enabled`` is false or standard error is not a terminal, so logs and
    captured output never carry bar fragments.

    Examples:
        >>> with Progress(2, enabled=False) as bar:
        ...     bar.advance("step 1")
        ...     bar.advance("step 2")
        >>> bar.done
        2
    """

    def __init__(self, total: int, *, enabled: bool = True, description: str = "") -> None:
        self.total = total
        self.done = 0
        self.description = description
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        try:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
        except ImportError:
            try:
                from tqdm import tqdm
            except ImportError:
                return self
            self._bar = tqdm(total=self.total, desc=self.description, file=sys.stderr)
            return self
        self._bar = RichProgress(console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def advance(self, description: str | None = None) -> None:
        """Mark one step done; ``description`` names the next step."""
        self.done += 1
        if self._bar is None:
            return
        if self._task is None:  # tqdm
            if description:
                self._bar.set_description(description)
            self._bar.update(1)
        else:
            self._bar.update(self._task, advance=1, description=description or self.description)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._bar.close()
        else:
            self._bar.__exit__(exc_type, exc, tb)
