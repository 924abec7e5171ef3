"""Label implications at inference: measure violations and enforce them.

Training discourages a secondary label scored above its primary
(:func:`imbalance_kit.losses.implication_penalty`); thresholds tuned per label
can still produce "praising violence" without "violence". At inference the
rule is made exact: a positive secondary switches its primary on (and, through
chains, the primary's own parents).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from imbalance_kit.app import error

__all__ = ["enforce_implications", "violation_rate", "violations_per_pair"]


def _pairs(implications: Sequence[tuple[int, int]], width: int) -> np.ndarray:
    pairs = np.asarray(list(implications), dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= width):
        raise error("implications", f"column indices in [0, {width})", pairs.tolist(), raw=True)
    return pairs


def _binary(preds: Any) -> np.ndarray:
    array = np.asarray(preds)
    if array.ndim != 2:
        raise error("preds", "an (N, L) 0/1 matrix", f"shape {array.shape}", raw=True)
    return array.astype(bool)


def enforce_implications(preds: Any, implications: Sequence[tuple[int, int]]) -> np.ndarray:
    """Switch on the parent of every positive child, following chains to a fixed point.

    Args:
        preds: ``(N, L)`` 0/1 (or bool) predictions.
        implications: ``(child, parent)`` column pairs.

    Returns:
        ``(N, L)`` bool predictions with no violated pair; only parents are
        added, never a label removed.

    Raises:
        ValueError: not a matrix, or a pair outside the columns.

    Examples:
        >>> enforce_implications([[0, 0, 1], [0, 0, 0]], [(2, 1), (1, 0)]).astype(int).tolist()
        [[1, 1, 1], [0, 0, 0]]
    """
    out = _binary(preds).copy()
    pairs = _pairs(implications, out.shape[1])
    for _ in range(max(1, len(pairs))):  # a chain of k edges settles in k sweeps
        before = out.copy()
        for child, parent in pairs:
            out[:, parent] |= out[:, child]
        if np.array_equal(before, out):
            break
    return out


def violations_per_pair(preds: Any, implications: Sequence[tuple[int, int]]) -> np.ndarray:
    """Number of rows where each pair's child is on and its parent off.

    Examples:
        >>> violations_per_pair([[0, 1], [1, 1], [0, 1]], [(1, 0)]).tolist()
        [2]
    """
    array = _binary(preds)
    pairs = _pairs(implications, array.shape[1])
    if not len(pairs):
        return np.zeros(0, dtype=np.int64)
    return (array[:, pairs[:, 0]] & ~array[:, pairs[:, 1]]).sum(axis=0).astype(np.int64)


def violation_rate(preds: Any, implications: Sequence[tuple[int, int]]) -> float:
    """Share of rows that violate at least one implication (0 without pairs or rows).

    Examples:
        >>> violation_rate([[0, 1], [1, 1], [0, 0], [0, 0]], [(1, 0)])
        0.25
    """
    array = _binary(preds)
    pairs = _pairs(implications, array.shape[1])
    if not len(pairs) or not len(array):
        return 0.0
    bad = (array[:, pairs[:, 0]] & ~array[:, pairs[:, 1]]).any(axis=1)
    return float(bad.mean())
