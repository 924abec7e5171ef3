"""Run folders: completion markers with checksums, and a check that a folder can be written.

A pipeline stage that writes several files marks itself finished by writing, last, a JSON
*completion marker* that lists every file it wrote with its SHA-256
([`write_marker`][imbalance_kit.app.runs.write_marker]). A rerun skips the stage only when
[`check_marker`][imbalance_kit.app.runs.check_marker] finds the marker and every file it lists
unchanged; a stage killed midway (no marker yet) or a file damaged since (a checksum differs)
is run again. Each file is written atomically ([`imbalance_kit.app.io`][imbalance_kit.app.io]),
so a file is either whole or absent; the marker adds that the *set* of files is complete and
that none has changed since.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = (run / "predictions.csv").write_text("id,p\\n0,0.5\\n")
    >>> _ = write_marker(run / "metrics.json", ["predictions.csv"], extra={"auc": 0.5})
    >>> check_marker(run / "metrics.json")["auc"]
    0.5
    >>> _ = (run / "predictions.csv").write_text("id,p\\n0,0.9\\n")  # changed after the stage
    >>> is_marked_complete(run / "metrics.json")
    False
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imbalance_kit.app.checks import error
from imbalance_kit.app.io import DamagedFileError, file_sha256, load_json, write_json

__all__ = ["check_marker", "is_marked_complete", "writable_dir", "write_marker"]


def write_marker(
    path: str | os.PathLike[str],
    files: Iterable[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a completion marker: ``{**extra, "files": {name: sha256}}`` as JSON, atomically.

    Write it after every file it lists, as the stage's last step.

    Args:
        path: the marker file (e.g. ``metrics.json``, ``done.json``).
        files: the files the stage wrote, relative to ``root``.
        root: the folder ``files`` are relative to (default: the marker's folder).
        extra: other content of the marker (a stage's summary); it may not use the key
            ``"files"``.

    Returns:
        The marker's content.

    Raises:
        FileNotFoundError: a listed file does not exist.
        ValueError: ``extra`` has a ``"files"`` key.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> run = Path(tempfile.mkdtemp())
        >>> _ = (run / "train.csv").write_text("abc")
        >>> write_marker(run / "done.json", ["train.csv"], extra={"rows": 1})["files"]
        {'train.csv': 'ba7816bf8f01cfea...'}
    """
    marker = Path(path)
    base = marker.parent if root is None else Path(root)
    if extra is not None and "files" in extra:
        raise error("extra", "a mapping without the key 'files' (the marker's list)", list(extra))
    record = {**(extra or {}), "files": {str(n): file_sha256(base / n) for n in files}}
    write_json(marker, record)
    return record


def check_marker(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    what: str = "completion marker",
    hint: str = "",
) -> dict[str, Any]:
    """The content of a completion marker, after checking every file it lists is unchanged.

    Args:
        path: the marker file written by [`write_marker`][imbalance_kit.app.runs.write_marker].
        root: the folder the listed files are relative to (default: the marker's folder).
        what: what the marker is, for the message when it is missing (``"metrics"``).
        hint: how to go on, appended to a damaged file's message (``"evaluate again"``);
            the marker's own too.

    Returns:
        The marker's content (its ``"files"`` included).

    Raises:
        FileNotFoundError: no marker (the stage has not finished).
        DamagedFileError: the marker does not parse or lists no files, or a listed file is
            missing or its checksum differs; the message names the file.

    Examples:
        >>> check_marker("no/run/metrics.json", what="metrics")
        Traceback (most recent call last):
        ...
        FileNotFoundError: metrics not found: no/run/metrics.json
    """
    marker = Path(path)
    base = marker.parent if root is None else Path(root)
    tail = f"; {hint}" if hint else ""
    if not marker.is_file():
        raise FileNotFoundError(f"{what} not found: {marker}")
    content = load_json(marker, hint=hint)
    files = content.get("files") if isinstance(content, dict) else None
    if not isinstance(files, dict) or not files:
        raise DamagedFileError(f"{marker} lists no output files{tail}")
    for name, digest in files.items():
        target = base / name
        if not target.is_file():
            raise DamagedFileError(f"{target} is missing{tail}")
        if file_sha256(target) != digest:
            raise DamagedFileError(f"{target} is damaged (checksum differs){tail}")
    return content


def is_marked_complete(
    path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> bool:
    """Whether [`check_marker`][imbalance_kit.app.runs.check_marker] passes (no marker: ``False``).

    Examples:
        >>> is_marked_complete("no/such/folder/done.json")
        False
    """
    try:
        check_marker(path, root=root)
    except (FileNotFoundError, DamagedFileError):
        return False
    return True


def writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (and its parents) and check that files can be written in it.

    Call it before a long stage, so that a read-only or full output folder is said at once.

    Raises:
        OSError: the folder cannot be created or written (e.g. a read-only file system),
            naming the folder; the command runner prints it as one line.

    Examples:
        >>> import tempfile
        >>> writable_dir(Path(tempfile.mkdtemp()) / "run" / "stage").name
        'stage'
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(folder)) from None
    return folder
