"""ADASYN: SMOTE with more synthetic samples where the class is harder to learn."""

from __future__ import annotations

import torch

from imbalance_kit._validation import error
from imbalance_kit.augment._common import (
    allocate,
    check_chunk_size,
    check_neighbors,
    class_rows,
    fill_interpolated,
    plan,
    rand,
    randint,
)
from imbalance_kit.augment._neighbors import kneighbors
from imbalance_kit.augment._strategy import SamplingStrategy

__all__ = ["adasyn", "apportion"]


def apportion(weights: torch.Tensor, total: int) -> torch.Tensor:
    """Integer counts proportional to ``weights`` that sum exactly to ``total``.

    Largest-remainder rounding: each entry gets ``floor(total * w_i / sum(w))`` and
    the remaining units go to the largest fractional parts (ties to the lower
    index).

    Examples:
        >>> apportion(torch.tensor([1.0, 1.0, 1.0]), 10).tolist()
        [4, 3, 3]
    """
    share = weights.double() / weights.double().sum() * total
    base = share.floor()
    left = total - int(base.sum().item())
    if left > 0:
        order = (base - share).argsort(stable=True)  # largest fraction first
        base[order[:left]] += 1
    return base.long()


@torch.no_grad()
def adasyn(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    n_neighbors: int = 5,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Over-sample with ADASYN (ADAptive SYNthetic sampling).

    For each sample $x_i$ of class $c$, $r_i$ is the share of its ``n_neighbors``
    nearest samples (whole data set, itself excluded) that belong to another
    class. The $G$ synthetic samples of class $c$ are apportioned as

    ```math
    g_i = G \\, \\frac{r_i}{\\sum_j r_j}
    ```

    (largest-remainder rounding, so the total is exactly $G$; imbalanced-learn
    rounds each $g_i$ and may miss $G$ by a few), and each is a SMOTE point
    $x_i + u (x_{nn} - x_i)$, $u \\sim U[0, 1)$, towards one of the
    ``n_neighbors`` nearest samples of class $c$.

    Reference: He, Bai, Garcia and Li, "ADASYN: Adaptive Synthetic Sampling
    Approach for Imbalanced Learning", IJCNN 2008.

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N,)`` integer class labels on the same device.
        sampling_strategy: as in [`smote`][imbalance_kit.augment.smote].
        n_neighbors: neighbours for the difficulty ratio and the interpolation;
            smaller than every class to over-sample (imbalanced-learn's name).
        generator: ``torch.Generator`` for reproducible draws (see
            [`smote`][imbalance_kit.augment.smote]).
        chunk_size: query rows per block of the neighbour search (see
            [`smote`][imbalance_kit.augment.smote]).

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the synthetic rows
        class by class.

    Raises:
        ValueError: as [`smote`][imbalance_kit.augment.smote], or a class to over-sample none of
            whose samples has a neighbour of another class (every $r_i = 0$: use
            [`smote`][imbalance_kit.augment.smote]).
        TypeError: non-tensor input, integer features or floating labels.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.cat([torch.randn(40, 2, generator=g), torch.randn(10, 2, generator=g) + 1])
        >>> y = torch.tensor([0] * 40 + [1] * 10)
        >>> X_res, y_res = adasyn(X, y, n_neighbors=3, generator=g)
        >>> torch.bincount(y_res).tolist()
        [40, 40]
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    check_neighbors("n_neighbors", n_neighbors, todo, counts)
    check_chunk_size(chunk_size)

    per_class: dict[int, torch.Tensor] = {}
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        nn = kneighbors(
            X.index_select(0, rows), X, n_neighbors, exclude=rows, chunk_size=chunk_size,
            role="n_neighbors",
        )  # fmt: skip
        ratio = (y[nn] != label).sum(dim=1)
        if int(ratio.sum()) == 0:
            raise error(
                "X",
                f"a data set where some sample of class {label!r} has a neighbour of another "
                f"class among its n_neighbors={n_neighbors} nearest (ADASYN weights by that "
                "share; use smote instead)",
                "none",
                raw=True,
            )
        per_class[label] = apportion(ratio, n_new)

    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    for label, n_gen in per_class.items():
        n_new = todo[label]
        rows = class_rows(y, label)
        pool = X.index_select(0, rows)
        seeds = torch.repeat_interleave(torch.arange(rows.numel(), device=X.device), n_gen)
        cols = randint(n_neighbors, n_new, generator, X.device)
        steps = rand((n_new, 1), generator, X.device, X.dtype)
        used = torch.nonzero(n_gen).squeeze(1)
        nn = kneighbors(
            pool[used], pool, n_neighbors, exclude=used, chunk_size=chunk_size, role="n_neighbors"
        )
        # Row of each seed in ``used`` (both are sorted).
        partners = nn[torch.searchsorted(used, seeds), cols]
        fill_interpolated(X_res[start : start + n_new], pool, seeds, pool, partners, steps)
        y_res[start : start + n_new] = label
        start += n_new
    return X_res, y_res
