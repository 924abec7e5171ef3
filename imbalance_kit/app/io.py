"""Files of a run folder: written whole or not at all, read back with a clear error when damaged.

Every writer here writes to a temporary name in the same folder and renames it into place
(``os.replace`` is atomic on POSIX and Windows), so a run killed midway leaves either the
previous file or the new one, never half a file. [`load_torch`][imbalance_kit.app.io.load_torch]
reads a checkpoint with ``weights_only=True`` (no code from the file runs) and turns a truncated or
corrupt file into [`DamagedFileError`][imbalance_kit.app.io.DamagedFileError], one line that names
the file and says how to go on.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DamagedFileError",
    "atomic_open",
    "load_json",
    "load_torch",
    "save_torch",
    "write_csv",
    "write_json",
    "write_text",
]


class DamagedFileError(ValueError):
    """A run file exists but cannot be read (truncated, corrupt or not what it should be).

    A ``ValueError``, so the commands report it as one line with exit status 2.
    """


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. The parent
    folder is created when missing.

    Examples:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_open(target) as fh:
        ...     _ = fh.write("done")
        >>> target.read_text()
        'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _json_safe(value: Any) -> Any:
    """NaN and infinities become ``None`` (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy and torch scalars/arrays
        return _json_safe(value.tolist())
    return value


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 2) -> Path:
    """Write ``data`` as strict JSON (NaN and infinities as ``null``), atomically.

    Examples:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "m.json"
        >>> _ = write_json(target, {"auc": 0.9, "ece": float("nan")})
        >>> load_json(target)
        {'auc': 0.9, 'ece': None}
    """
    text = json.dumps(_json_safe(data), indent=indent, allow_nan=False) + "\n"
    return write_text(path, text)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` atomically; returns the path."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a file that does not parse raises
    [`DamagedFileError`][imbalance_kit.app.io.DamagedFileError].

    Raises:
        FileNotFoundError: no such file.
        DamagedFileError: the file is not valid JSON (or not UTF-8 text).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DamagedFileError(f"{path} is damaged ({exc.msg}); delete it and run again") from None
    except UnicodeDecodeError:
        raise DamagedFileError(
            f"{path} is damaged (not UTF-8 text); delete it and run again"
        ) from None


def write_csv(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
) -> Path:
    """Write one CSV row per mapping, atomically (columns: ``columns`` or the first row's keys).

    Examples:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "runs.csv"
        >>> _ = write_csv(target, [{"variant": "a", "auc": 0.8}, {"variant": "b", "auc": 0.7}])
        >>> target.read_text().splitlines()
        ['variant,auc', 'a,0.8', 'b,0.7']
    """
    names = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def save_torch(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file, then rename into place.

    Save tensors and plain Python values only, so the file loads with
    ``weights_only=True`` ([`load_torch`][imbalance_kit.app.io.load_torch]).
    """
    import torch

    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def load_torch(path: str | os.PathLike[str], *, what: str = "file", hint: str = "") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    Args:
        path: the file.
        what: what the file is, for the message (``"checkpoint"``, ``"model"``).
        hint: how to go on, appended to the message (e.g. ``"run train again"``).

    Raises:
        FileNotFoundError: no such file.
        DamagedFileError: the file is truncated, corrupt (the archive's CRC-32 checksums
            are verified), or holds something other than tensors and plain values (nothing
            from it is executed).

    Examples:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "model.pt"
        >>> _ = bad.write_bytes(b"not a checkpoint")
        >>> try:
        ...     load_torch(bad, what="model", hint="run train again")
        ... except DamagedFileError as exc:
        ...     print(str(exc).split(" is ")[1])
        damaged or not a torch file (...); run train again
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    tail = f"; {hint}" if hint else ""
    try:
        # torch's reader does not check the archive's CRC-32s: a flipped byte in a tensor
        # would load as a silently different weight. Check them first.
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise DamagedFileError(f"{what} {path} is damaged (checksum of {bad} fails){tail}")
    except zipfile.BadZipFile:
        pass  # not an archive (legacy format or garbage): torch.load decides below
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if len(reason) > 120:
            reason = reason[:117] + "..."
        raise DamagedFileError(
            f"{what} {path} is damaged or not a torch file ({reason}){tail}"
        ) from None
