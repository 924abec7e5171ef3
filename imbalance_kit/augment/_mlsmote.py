"""MLSMOTE: SMOTE for multi-label targets (Charte et al. 2015)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch

from imbalance_kit._validation import (
    check_data_device,
    check_ndim,
    check_same_length,
    check_tensor,
    error,
)
from imbalance_kit.augment._common import (
    allocate,
    check_chunk_size,
    check_features,
    check_generator,
    check_neighbors,
    distinct,
    fill_interpolated,
    rand,
    randint,
)
from imbalance_kit.augment._neighbors import kneighbors
from imbalance_kit.augment._strategy import SamplingStrategy, resolve_sampling_strategy

__all__ = ["mlsmote", "resolve_label_strategy"]


def _check_indicator(y: torch.Tensor, n: int) -> None:
    check_tensor("y", y)
    check_data_device("y", y)
    check_ndim("y", y, 2)
    check_same_length("X", n, "y", y.shape[0])
    if y.is_complex():
        raise error("y", "a 0/1 multi-label indicator", f"dtype {y.dtype}", TypeError, raw=True)
    if y.numel() and not bool(((y == 0) | (y == 1)).all()):
        raise error(
            "y",
            "a 0/1 multi-label indicator of shape (n_samples, n_labels)",
            "other values",
            raw=True,
        )


def resolve_label_strategy(
    sampling_strategy: SamplingStrategy, counts: Mapping[Hashable, int], y: Any = None
) -> dict[Hashable, int]:
    """``{label: synthetic rows to seed from its positives}`` from positive counts.

    ``"auto"`` is MLSMOTE's rule: every label whose IRLbl exceeds the mean IRLbl
    (MeanIR) gets one synthetic row per positive sample. Every other form keeps
    its imbalanced-learn meaning with labels as classes and a label's positive
    count as its class count (a dict asks for a target positive count); a
    callable receives ``y``.

    Examples:
        >>> counts = {0: 11, 1: 3, 2: 1}
        >>> resolve_label_strategy("auto", counts)
        {2: 1}
        >>> resolve_label_strategy({1: 6}, counts)
        {1: 3}
    """
    counts = {label: c for label, c in counts.items() if c > 0}
    if len(counts) < 2:
        raise error(
            "y",
            "a multi-label target with at least 2 labels (classes) that have positive samples",
            f"{len(counts)} such label(s)",
            raw=True,
        )
    if isinstance(sampling_strategy, str) and sampling_strategy == "auto":
        top = max(counts.values())
        ir = {label: top / c for label, c in counts.items()}
        mean_ir = sum(ir.values()) / len(ir)
        return {label: counts[label] for label in sorted(counts) if ir[label] > mean_ir}
    return resolve_sampling_strategy(sampling_strategy, counts, y)


@torch.no_grad()
def mlsmote(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    k_neighbors: int = 5,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Over-sample a multi-label data set with MLSMOTE.

    With per-label imbalance ratios and their mean

    ```math
    \\mathrm{IRLbl}(l) = \\frac{\\max_{l'} n_{l'}}{n_l}, \\qquad
    \\mathrm{MeanIR} = \\frac{1}{L} \\sum_l \\mathrm{IRLbl}(l),
    ```

    each minority label ($\\mathrm{IRLbl}(l) > \\mathrm{MeanIR}$ under ``"auto"``)
    seeds synthetic rows at its positive samples (its *bag*, each seed used once
    under ``"auto"``, evenly otherwise). A synthetic row is a SMOTE point
    $x_i + u (x_{nn} - x_i)$, $u \\sim U[0, 1)$, towards one of the ``k_neighbors``
    nearest samples of the bag, and its labels are the ranking vote of the seed
    and its ``k_neighbors`` neighbours: a label is set when at least half of
    those ``k_neighbors + 1`` samples carry it (the seeding label always is).
    All labels are processed on the original data, so the result does not
    depend on label order.

    Reference: Charte, Rivera, del Jesus and Herrera, "MLSMOTE: Approaching
    imbalanced multilabel learning through synthetic instance generation",
    Knowledge-Based Systems 89 (2015).

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N, L)`` 0/1 multi-label indicator (bool, integer or floating) on the
            same device.
        sampling_strategy: ``"auto"`` (the MLSMOTE rule above) or any other form of
            [`smote`][imbalance_kit.augment.smote] with labels as classes: a string, a float (2
            labels), a dict ``{label index: target positive count}`` or a callable
            ``y -> dict``. A label's target is met exactly by the rows it seeds;
            their voted labels can add positives to other labels.
        k_neighbors: neighbours within a bag; smaller than every bag that seeds rows.
        generator: ``torch.Generator`` for reproducible draws (see
            [`smote`][imbalance_kit.augment.smote]).
        chunk_size: query rows per block of the neighbour search (see
            [`smote`][imbalance_kit.augment.smote]).

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the synthetic rows
        label by label; ``y_res`` has ``y``'s dtype.

    Raises:
        ValueError: non-finite features, mismatched lengths, a target that is not
            0/1, fewer than 2 labels with positives, an impossible
            ``sampling_strategy`` or ``k_neighbors`` >= the size of a bag.
        TypeError: non-tensor input or integer features.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(40, 3, generator=g)
        >>> y = torch.zeros(40, 3, dtype=torch.long)
        >>> y[:, 0] = 1; y[:6, 1] = 1; y[30:, 2] = 1
        >>> X_res, y_res = mlsmote(X, y, k_neighbors=3, generator=g)
        >>> X_res.shape, y_res.sum(dim=0).tolist()
        (torch.Size([56, 3]), [56, 12, 20])
    """
    check_features(X)
    _check_indicator(y, X.shape[0])
    check_generator(generator)
    if y.device != X.device:
        raise error("y", f"on the same device as X ({X.device})", f"device {y.device}", raw=True)
    counts = dict(enumerate(y.to(torch.long).sum(dim=0).tolist()))
    todo = resolve_label_strategy(sampling_strategy, counts, y)
    check_neighbors("k_neighbors", k_neighbors, todo, counts)
    check_chunk_size(chunk_size)

    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        bag = torch.nonzero(y[:, label]).squeeze(1)
        size = bag.numel()
        pool, labels = X.index_select(0, bag), y.index_select(0, bag).to(torch.long)
        perm = torch.randperm(
            size, generator=generator, device=generator.device if generator else X.device
        )
        seeds = torch.cat(
            [
                torch.arange(size, device=X.device).repeat(n_new // size),
                perm[: n_new % size].to(X.device),
            ]
        )
        cols = randint(k_neighbors, n_new, generator, X.device)
        steps = rand((n_new, 1), generator, X.device, X.dtype)
        uniq, inverse = distinct(seeds, size)
        nn = kneighbors(
            pool[uniq], pool, k_neighbors, exclude=uniq, chunk_size=chunk_size, role="k_neighbors"
        )
        out = X_res[start : start + n_new]
        fill_interpolated(out, pool, seeds, pool, nn[inverse, cols], steps)
        votes = labels[uniq] + labels[nn].sum(dim=1)
        y_res[start : start + n_new] = (2 * votes >= k_neighbors + 1)[inverse].to(y.dtype)
        start += n_new
    return X_res, y_res
