"""Gathering evaluation rows from every rank under ``torch.distributed``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch.distributed as dist

__all__ = ["gather_rows"]


def gather_rows(local: Mapping[str, np.ndarray], key: str = "index") -> dict[str, np.ndarray]:
    """Concatenate per-rank arrays from all ranks, one row per ``key`` value, sorted by it.

    Each rank passes arrays with the same keys and the same number of rows. Without an
    initialised process group (or with one process) the local rows are returned
    (sorted and de-duplicated all the same). Rows whose ``key`` repeats (a padded
    sampler yields some indices twice) are kept once.

    Args:
        local: name -> array whose first dimension is the row.
        key: the name of the integer row identifier.

    Returns:
        name -> array over all ranks.

    Examples:
        >>> rows = gather_rows({"index": np.array([2, 0, 2]), "p": np.array([0.3, 0.1, 0.3])})
        >>> rows["index"].tolist(), rows["p"].tolist()
        ([0, 2], [0.1, 0.3])
    """
    parts = [dict(local)]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[dict[str, np.ndarray] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, dict(local))
        parts = [p for p in gathered if p is not None]
    merged = {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in local}
    _, first = np.unique(merged[key], return_index=True)
    return {name: values[first] for name, values in merged.items()}
