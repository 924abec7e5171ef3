"""Run-folder plumbing of the stages: the real episodes and their split, fingerprints of what a
training depends on, where a stopped training resumes, and which process writes files."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import DamagedFileError, load_json, load_torch, write_json
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import Episodes, ensure_split, load_episodes, read_npz, split_real

__all__ = [
    "file_digest",
    "fingerprint",
    "is_rank_zero",
    "load_real",
    "resume_point",
]

Log = Callable[[str], None]


def load_real(path: str | Path, config: WMConfig) -> tuple[Episodes, Episodes, dict[str, Any]]:
    """``(train, test, split record)`` of a real episodes file.

    A file without ``meta_split_test`` is split by episode (``split.test_fraction``, seeded
    by ``split.seed``, or the run's ``seed`` when that is ``None``); every command that reads
    the file makes the same split, and records it in its summary.

    Raises:
        ValueError: synthetic episodes in the file, or a malformed split.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.data import save_episodes
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> path = save_episodes(simulate_episodes(8, 5, seed=0), tempfile.mkdtemp() + "/r.npz")
        >>> train, test, record = load_real(path, WMConfig())
        >>> train.n_episodes, test.n_episodes, record["made"]
        (6, 2, True)
    """
    real = load_episodes(path)
    if real.is_synthetic.any():
        raise ValueError(
            f"the real episodes file {path} holds {int(real.is_synthetic.sum())} synthetic "
            "episodes (source 'synthetic'): pass the real episodes"
        )
    seed = config.split.seed if config.split.seed is not None else config.seed
    real, record = ensure_split(real, config.split.test_fraction, seed)
    train, test = split_real(real)
    return train, test, record


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (what a run's fingerprint records of its inputs).

    For an NPZ file the digest covers its arrays (names, dtypes, shapes, values), not the
    archive's bytes, which carry write times.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f"
        >>> _ = p.write_bytes(b"abc")
        >>> file_digest(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    path = Path(path)
    if path.suffix == ".npz":
        for key, value in sorted(read_npz(path).items()):
            h.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(
    stage: str, config: WMConfig, sections: tuple[str, ...], **inputs: str | Path | None
) -> dict[str, Any]:
    """What a training stage depends on: its config sections and its input files' digests.

    Examples:
        >>> sorted(fingerprint("train-trust", WMConfig(), ("seed", "trust")))
        ['config', 'inputs', 'stage']
    """
    whole = config.to_dict()
    return {
        "stage": stage,
        "config": {name: whole[name] for name in sections},
        "inputs": {k: file_digest(v) for k, v in inputs.items() if v is not None},
    }


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _launch_rank() -> int:
    """The global rank the launcher gave this process (0 when there is none)."""
    for name in ("RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def is_rank_zero() -> bool:
    """Whether this process writes the run's files (rank 0, or not distributed).

    Examples:
        >>> is_rank_zero()
        True
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _launch_rank() == 0


def resume_point(
    folder: Path, stamp: dict[str, Any] | None, log: Log
) -> tuple[Path | None, int | None]:
    """The checkpoint in ``folder`` to resume from (and its finished epochs), or ``(None, None)``.

    A ``last.ckpt`` is resumed when ``fingerprint.json`` beside it equals ``stamp`` and it
    loads (``weights_only=True``, checksums verified); otherwise one line on ``log`` says why
    and training starts from the beginning (rank 0 removes the stale file).
    """
    last, stamp_path = folder / "last.ckpt", folder / "fingerprint.json"
    writer = _launch_rank() == 0
    if last.exists():
        try:
            saved = load_json(stamp_path) if stamp_path.exists() else None
        except DamagedFileError:
            saved = None
        if stamp is not None and saved != _plain(stamp):
            if writer:
                log(f"{last} was written for other settings or inputs: training from the start")
                last.unlink(missing_ok=True)
        else:
            try:
                state = load_torch(last, what="checkpoint")
                return last, int(state["epoch"]) + 1
            except (DamagedFileError, KeyError, TypeError, FileNotFoundError) as exc:
                if writer:
                    log(f"{str(exc) or last}: training from the start")
                    last.unlink(missing_ok=True)
    if stamp is not None and writer:
        write_json(stamp_path, stamp)
    return None, None
