"""SMOTE: synthetic minority samples on segments between minority neighbours."""

from __future__ import annotations

import torch

from imbalance_kit.augment._common import (
    allocate,
    check_chunk_size,
    check_neighbors,
    class_rows,
    distinct,
    fill_interpolated,
    plan,
    rand,
    randint,
)
from imbalance_kit.augment._neighbors import kneighbors
from imbalance_kit.augment._strategy import SamplingStrategy

__all__ = ["smote"]


def smote_into(
    out: torch.Tensor,
    pool: torch.Tensor,
    seeds: torch.Tensor,
    k: int,
    generator: torch.Generator | None,
    chunk_size: int | None,
) -> None:
    """Fill ``out`` with SMOTE points seeded at ``pool[seeds]`` (neighbours within ``pool``).

    For each output row one of the ``k`` nearest ``pool`` rows of its seed is drawn
    uniformly, then a uniform step along the segment. Neighbours are searched only
    for the distinct seeds.
    """
    n_new = out.shape[0]
    cols = randint(k, n_new, generator, out.device)
    steps = rand((n_new, 1), generator, out.device, out.dtype)
    uniq, inverse = distinct(seeds, pool.shape[0])
    nn = kneighbors(pool[uniq], pool, k, exclude=uniq, chunk_size=chunk_size, role="k_neighbors")
    partners = nn[inverse, cols]
    fill_interpolated(out, pool, seeds, pool, partners, steps)


@torch.no_grad()
def smote(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    k_neighbors: int = 5,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Over-sample with SMOTE (Synthetic Minority Over-sampling TEchnique).

    For each synthetic sample of class $c$, a sample $x_i$ of class $c$ is drawn
    uniformly, then one of its ``k_neighbors`` nearest neighbours $x_{nn}$ within
    class $c$ (Euclidean, exact), and a point on the segment between them:

    ```math
    x_{new} = x_i + u \\, (x_{nn} - x_i), \\qquad u \\sim \\mathcal{U}[0, 1).
    ```

    Everything runs on ``X``'s device; the neighbour search is chunked (matrix
    products + ``topk``) so its memory is ``O(chunk_size x n_c)``, and it is run
    only for the distinct seed samples.

    Reference: Chawla, Bowyer, Hall and Kegelmeyer, "SMOTE: Synthetic Minority
    Over-sampling Technique", JAIR 16 (2002).

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N,)`` integer class labels on the same device.
        sampling_strategy: ``"auto"`` (= ``"not majority"``), ``"minority"``,
            ``"not minority"``, ``"all"``, a float ratio minority/majority after
            resampling (binary targets), a dict ``{class: target count}`` or a
            callable ``y -> dict``; as in imbalanced-learn.
        k_neighbors: neighbours to interpolate towards; must be smaller than
            every class that receives samples.
        generator: ``torch.Generator`` for reproducible draws. Draws happen on the
            generator's device (so a CPU generator gives the same samples on every
            device); ``None`` uses the global generator of ``X``'s device.
        chunk_size: query rows per block of the neighbour search; ``None`` sizes the
            block of distances for the cache on CPU (about 4 MiB, at most 256 MiB)
            and up to 512 MiB on accelerators.

    Returns:
        ``(X_res, y_res)``: the originals first and unchanged, then the synthetic
        rows class by class (sorted class order). The result is computed without
        autograd (it never requires grad).

    Raises:
        ValueError: non-finite features, mismatched lengths, a single class, an
            impossible ``sampling_strategy``, or ``k_neighbors`` >= the size of a
            class to over-sample.
        TypeError: non-tensor input, integer features or floating labels.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(30, 2, generator=g)
        >>> y = torch.tensor([0] * 24 + [1] * 6)
        >>> X_res, y_res = smote(X, y, k_neighbors=3, generator=g)
        >>> X_res.shape, torch.bincount(y_res).tolist()
        (torch.Size([48, 2]), [24, 24])
        >>> torch.equal(X_res[:30], X)
        True
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    check_neighbors("k_neighbors", k_neighbors, todo, counts)
    check_chunk_size(chunk_size)
    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        pool = X.index_select(0, rows)
        seeds = randint(pool.shape[0], n_new, generator, X.device)
        smote_into(X_res[start : start + n_new], pool, seeds, k_neighbors, generator, chunk_size)
        y_res[start : start + n_new] = label
        start += n_new
    return X_res, y_res
