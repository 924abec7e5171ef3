"""Event manifests: one CSV row per behaviour event inside a video file.

Schema (a header row, any column order, extra columns are kept):

========================  ==================================================================
column                    meaning
========================  ==================================================================
``video_path``            path of the video file; a relative path is read from the
                          manifest's folder
``video_id``              the video (camera recording) the event belongs to
``event_id``              identifier of the event (unique, except for the copies a boosted
                          split adds, which keep it and carry ``copy`` > 0)
``start_frame``,          first frame (inclusive) and end frame (exclusive) of the event,
``end_frame``             or, instead, ``start_time`` / ``end_time`` in seconds
one column per task       the event's label for that task (``label`` for the binary task;
                          e.g. ``action_class``, ``severity``, ``offence`` for multi-task);
                          integers or class names
========================  ==================================================================
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imbalance_kit.app import atomic_open, error

__all__ = ["REQUIRED_COLUMNS", "Manifest", "VideoDataWarning", "read_manifest"]

REQUIRED_COLUMNS = ("video_path", "video_id", "event_id")
FRAME_COLUMNS = ("start_frame", "end_frame")
TIME_COLUMNS = ("start_time", "end_time")


class VideoDataWarning(UserWarning):
    """Something in the events that the pipeline works around (and says so): an event that
    ends past its video, one shorter than a clip, a validation side with no tail event.

    The ``imbalance-video`` command prints these as ``imbalance-video: warning: ...``.
    """


@dataclass
class Manifest:
    """Rows of an event manifest with the folder that relative video paths start from.

    Args:
        rows: one ``{column: text}`` dict per event.
        columns: the column order used when writing.
        root: folder that relative ``video_path`` values are read from.
        source: the CSV file the rows were read from (row ``i`` is its line ``i + 2``);
            ``None`` for a manifest built in memory.

    Examples:
        >>> m = Manifest(
        ...     [{"video_path": "a.mp4", "video_id": "a", "event_id": "e0",
        ...       "start_frame": "0", "end_frame": "16", "label": "1"}],
        ...     root=Path("/data"),
        ... )
        >>> len(m), m.video_file(0).as_posix(), m.frame_range(0, fps=8.0)
        (1, '/data/a.mp4', (0, 16))
    """

    rows: list[dict[str, str]]
    columns: list[str] = field(default_factory=list)
    root: Path = field(default_factory=Path)
    source: Path | None = None

    def __post_init__(self) -> None:
        if not self.columns:
            seen: dict[str, None] = {}
            for row in self.rows:
                seen.update(dict.fromkeys(row))
            self.columns = list(seen)
        self.root = Path(self.root)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, str]]:
        return iter(self.rows)

    @property
    def uses_time(self) -> bool:
        """Whether event bounds are given in seconds (``start_time``/``end_time``)."""
        return all(c in self.columns for c in TIME_COLUMNS) and not all(
            c in self.columns for c in FRAME_COLUMNS
        )

    def describe(self, index: int) -> str:
        """Where row ``index`` is, for messages: its manifest line, event and video.

        Examples:
            >>> m = Manifest([{"video_path": "a.mp4", "video_id": "a", "event_id": "e0"}],
            ...              source=Path("data/train.csv"))
            >>> m.describe(0)
            'manifest train.csv line 2 (event e0, video a)'
        """
        row = self.rows[index]
        event = f"event {row.get('event_id', '?')}, video {row.get('video_id', '?')}"
        if self.source is None:
            return f"row {index} ({event})"
        return f"manifest {self.source.name} line {index + 2} ({event})"

    def video_file(self, index: int) -> Path:
        """Absolute-or-root-relative path of the video of row ``index``."""
        path = Path(self.rows[index]["video_path"])
        return path if path.is_absolute() else self.root / path

    def frame_range(self, index: int, fps: float | None = None) -> tuple[int, int]:
        """``(start, end)`` frame indices of row ``index`` (end exclusive).

        Times in seconds are turned into frames with ``fps``:
        ``start = floor(t0 * fps)``, ``end = ceil(t1 * fps)``.

        Raises:
            ValueError: the manifest uses seconds and ``fps`` is not given.
        """
        row = self.rows[index]
        if not self.uses_time:
            return int(row["start_frame"]), int(row["end_frame"])
        if fps is None or fps <= 0:
            raise error("fps", "a positive frame rate for a manifest in seconds", fps)
        start = math.floor(float(row["start_time"]) * fps + 1e-9)
        end = math.ceil(float(row["end_time"]) * fps - 1e-9)
        return start, max(end, start + 1)

    def column(self, name: str) -> list[str]:
        """The values of one column.

        Raises:
            ValueError: no such column.
        """
        if name not in self.columns:
            raise error("column", f"one of {self.columns}", name)
        return [row[name] for row in self.rows]

    def video_ids(self) -> list[str]:
        """The ``video_id`` of every row."""
        return self.column("video_id")

    def subset(self, indices: Iterable[int]) -> Manifest:
        """A manifest with the rows at ``indices`` (copied), same columns and root."""
        return Manifest([dict(self.rows[i]) for i in indices], list(self.columns), self.root)

    def with_rows(self, rows: Sequence[dict[str, str]]) -> Manifest:
        """A manifest with other rows, the same columns and root."""
        columns = list(self.columns)
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        return Manifest([dict(r) for r in rows], columns, self.root)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as CSV, atomically; relative video paths are rewritten for the new
        folder.

        Returns:
            The path written.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = target.parent.resolve()
        with atomic_open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="raise")
            writer.writeheader()
            for i, row in enumerate(self.rows):
                out = dict(row)
                original = Path(row["video_path"])
                if not original.is_absolute():
                    out["video_path"] = Path(
                        os.path.relpath(self.video_file(i).resolve(), folder)
                    ).as_posix()
                writer.writerow({c: out.get(c, "") for c in self.columns})
        return target


def _check_bounds(manifest: Manifest, where: str) -> None:
    names = TIME_COLUMNS if manifest.uses_time else FRAME_COLUMNS
    cast = float if manifest.uses_time else int
    for line, row in enumerate(manifest.rows, start=2):
        try:
            start, end = cast(row[names[0]]), cast(row[names[1]])
        except (TypeError, ValueError) as exc:
            got = f"{row[names[0]]!r}, {row[names[1]]!r} on line {line}"
            kind = "numbers" if cast is float else "integers"
            raise error(f"{where} {names[0]}/{names[1]}", kind, got, raw=True) from exc
        if not (start >= 0 and end > start):
            got = f"{start}, {end} on line {line}"
            raise error(f"{where} {names[0]}/{names[1]}", "0 <= start < end", got, raw=True)
        for column in REQUIRED_COLUMNS:
            if not row[column]:
                raise error(
                    f"{where} {column}", "non-empty", f"an empty value on line {line}", raw=True
                )


def read_manifest(path: str | os.PathLike[str], *, label_columns: Sequence[str] = ()) -> Manifest:
    """Read and validate an event manifest CSV.

    Args:
        path: the CSV file.
        label_columns: columns that must be present (the task labels).

    Returns:
        The :class:`Manifest`, whose relative video paths start at the CSV's folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a required column is missing, no events, or bad event bounds.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "m.csv").write_text(
        ...     "video_path,video_id,event_id,start_time,end_time,label\\n"
        ...     "v.mp4,v,e1,0.5,2.0,1\\n"
        ... )
        >>> m = read_manifest(folder / "m.csv", label_columns=["label"])
        >>> m.uses_time, m.frame_range(0, fps=8.0), m.column("label")
        (True, (4, 16), ['1'])
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"manifest must be an existing CSV file, got {str(source)!r}")
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    where = f"manifest {source.name}"
    has_frames = all(c in columns for c in FRAME_COLUMNS)
    has_times = all(c in columns for c in TIME_COLUMNS)
    missing = [c for c in (*REQUIRED_COLUMNS, *label_columns) if c not in columns]
    if missing or not (has_frames or has_times):
        if not (has_frames or has_times):
            missing.append("start_frame/end_frame or start_time/end_time")
        raise error(
            where, f"a CSV with columns {', '.join(missing)}", f"columns {columns}", raw=True
        )
    if not rows:
        raise error(where, "at least one event row", "only a header", raw=True)
    manifest = Manifest(rows, columns, source.resolve().parent, source)
    _check_bounds(manifest, where)
    return manifest
