"""Independent numpy / scikit-learn references for the augment tests and benchmarks.

Neighbours come from ``sklearn.neighbors.NearestNeighbors``; nothing here imports
``imbalance_kit``.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def knn_indices(reference: np.ndarray, query_rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest reference rows of ``reference[query_rows]``, the row itself excluded.

    Uses scikit-learn (brute force, float64) and drops the query's own index, whatever
    its position among tied duplicates.
    """
    ref = np.asarray(reference, dtype=np.float64)
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(ref)
    idx = nn.kneighbors(ref[query_rows], return_distance=False)
    out = np.empty((len(query_rows), k), dtype=np.int64)
    for r, (row, cand) in enumerate(zip(query_rows, idx)):
        out[r] = [c for c in cand if c != row][:k]
    return out


def segment_fit(
    points: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For every point and every segment ``starts[j] -> ends[j]``: step ``t`` and residual.

    Returns ``(t, residual)`` of shape ``(n_points, n_segments)``: ``t`` is the
    projection parameter of the point on the segment's line and ``residual`` the
    distance from the point to ``start + t * (end - start)``.
    """
    p = np.asarray(points, dtype=np.float64)[:, None, :]
    a = np.asarray(starts, dtype=np.float64)[None, :, :]
    v = np.asarray(ends, dtype=np.float64)[None, :, :] - a
    vv = (v * v).sum(-1)
    t = ((p - a) * v).sum(-1) / np.where(vv > 0, vv, 1.0)
    residual = np.linalg.norm(p - a - t[..., None] * v, axis=-1)
    return t, residual


def on_neighbor_segments(
    points: np.ndarray,
    pool: np.ndarray,
    seeds: np.ndarray,
    neighbors: np.ndarray,
    *,
    t_max: float | np.ndarray = 1.0,
    atol: float = 1e-5,
) -> np.ndarray:
    """Whether each point is ``pool[s] + t (pool[nb] - pool[s])`` for a seed ``s``.

    ``neighbors[i]`` lists the neighbours (rows of ``pool``) of ``pool[seeds[i]]``;
    ``t`` must lie in ``[0, t_max]`` (``t_max`` may be given per segment, same shape as
    ``neighbors``). Returns a boolean per point.
    """
    starts = np.repeat(seeds, neighbors.shape[1])
    ends = neighbors.ravel()
    t_max = np.broadcast_to(np.asarray(t_max, dtype=np.float64), neighbors.shape).ravel()
    t, res = segment_fit(points, pool[starts], pool[ends])
    scale = 1.0 + np.abs(pool).max()
    ok = (res <= atol * scale) & (t >= -atol) & (t <= t_max[None, :] + atol)
    return ok.any(axis=1)


def mlsmote_auto_labels(Y: np.ndarray) -> list[int]:
    """Labels MLSMOTE over-samples: IRLbl(l) = max count / count(l) above MeanIR."""
    counts = Y.sum(axis=0).astype(np.float64)
    present = np.flatnonzero(counts > 0)
    irlbl = counts[present].max() / counts[present]
    return [int(label) for label, ir in zip(present, irlbl) if ir > irlbl.mean()]


def ranking_vote(Y_bag: np.ndarray, seed: int, neighbors: np.ndarray) -> np.ndarray:
    """MLSMOTE ranking: labels carried by at least half of the seed and its neighbours."""
    members = np.concatenate([[seed], neighbors])
    votes = Y_bag[members].sum(axis=0)
    return (2 * votes >= len(members)).astype(Y_bag.dtype)
