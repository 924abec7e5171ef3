"""NPZ files of the package: read whole with one-line errors, written atomically."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from imbalance_kit.app import DamagedFileError, atomic_open


class ObjectArrayError(ValueError):
    """An NPZ array holds Python objects (e.g. one array per episode), which needs unpickling."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(f"{path}: array {name!r} holds Python objects")
        self.path = path
        self.name = name


def read_npz(
    path: str | Path, *, what: str, hint: str, allow_pickle: bool = False
) -> dict[str, np.ndarray]:
    """Every array of an NPZ file, read now (so a damaged member is found here).

    Raises:
        FileNotFoundError: no such file.
        DamagedFileError: a truncated or corrupt file (the archive's checksums are checked
            as the members are read).
        ObjectArrayError: an object array while ``allow_pickle`` is false.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=allow_pickle) as npz:
            for name in npz.files:
                try:
                    arrays[name] = npz[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise ObjectArrayError(path, name) from None
                    raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DamagedFileError(
            f"{what} {path} is damaged or not an NPZ file ({reason}); {hint}"
        ) from None
    except ValueError as exc:
        if isinstance(exc, ObjectArrayError):
            raise
        raise DamagedFileError(f"{what} {path} is damaged ({exc}); {hint}") from None
    return arrays


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """``np.savez_compressed`` to a temporary file, renamed into place."""
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)
