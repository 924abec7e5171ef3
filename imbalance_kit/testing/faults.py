"""Fault injection for tests of resumable pipelines: a process killed mid-training, a damaged file.

* [`kill_at_epoch_start`][imbalance_kit.testing.faults.kill_at_epoch_start]: a Lightning callback
  that ends the process with ``os._exit(137)`` (what ``kill -9`` leaves: no ``finally``, no
  flushing, no clean-up) when epoch ``epoch`` is about to start, i.e. after ``epoch`` finished
  epochs and their checkpoints. Run the training in a subprocess with it, rerun without it, and
  compare with an uninterrupted run.
* [`truncate_file`][imbalance_kit.testing.faults.truncate_file] and
  [`corrupt_file`][imbalance_kit.testing.faults.corrupt_file]: damage a run file the way a full disk
  or a killed writer does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["KILLED_EXIT_CODE", "corrupt_file", "kill_at_epoch_start", "truncate_file"]

#: The exit status [`kill_at_epoch_start`][imbalance_kit.testing.faults.kill_at_epoch_start] ends
#: the process with (128 + SIGKILL).
KILLED_EXIT_CODE = 137


def kill_at_epoch_start(epoch: int) -> Any:
    """A Lightning callback that kills the process when training epoch ``epoch`` starts.

    Epochs count from 0, so ``kill_at_epoch_start(2)`` lets two epochs finish (and their
    end-of-epoch checkpoints be written) and dies before the third does any work.
    """
    from lightning.pytorch.callbacks import Callback

    class KillAtEpochStart(Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == epoch:
                os._exit(KILLED_EXIT_CODE)

    return KillAtEpochStart()


def truncate_file(path: str | os.PathLike[str], keep: float = 0.5) -> int:
    """Cut ``path`` to the first ``keep`` share of its bytes (at least one byte is removed).

    Returns:
        The new size in bytes.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f.bin"
        >>> _ = p.write_bytes(b"0123456789")
        >>> truncate_file(p, 0.3), p.read_bytes()
        (3, b'012')
    """
    path = Path(path)
    size = path.stat().st_size
    new = min(max(0, int(size * keep)), max(0, size - 1))
    with path.open("r+b") as fh:
        fh.truncate(new)
    return new


def corrupt_file(path: str | os.PathLike[str], offset: float = 0.5, count: int = 64) -> None:
    """Overwrite ``count`` bytes at the relative ``offset`` of ``path`` with ``0xFF``.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f.bin"
        >>> _ = p.write_bytes(b"0123456789")
        >>> corrupt_file(p, 0.5, 2)
        >>> p.read_bytes()
        b'01234\\xff\\xff789'
    """
    path = Path(path)
    size = path.stat().st_size
    start = min(int(size * offset), max(0, size - 1))
    with path.open("r+b") as fh:
        fh.seek(start)
        fh.write(b"\xff" * min(count, size - start))
