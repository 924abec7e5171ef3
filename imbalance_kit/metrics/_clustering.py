"""Repeated predicted values: a memorisation symptom."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from imbalance_kit._validation import check_bool, check_positive_int, error
from imbalance_kit.calibration._inputs import as_tensor, probability_tolerance

__all__ = ["ProbabilityClustering", "probability_clustering"]


class ProbabilityClustering(NamedTuple):
    """How much the predictions pile onto repeated values (see
    [`probability_clustering`][imbalance_kit.metrics.probability_clustering])."""

    n_predictions: int
    n_unique: int
    n_clusters: int
    clustered_fraction: float
    largest_cluster: int


def probability_clustering(
    probs: Any, *, min_repeats: int = 3, decimals: int | None = None, from_logits: bool = False
) -> ProbabilityClustering:
    """Count predicted values that repeat: a memorisation symptom.

    A model that keys on a nuisance feature (the camera, the clinic, the
    recording session) instead of the behaviour produces the *same*
    probability for every sample sharing that feature. On continuous inputs
    exact repeats are otherwise rare, so many values repeated ``min_repeats``
    times or more, covering a large share of the predictions, is a warning sign.
    ``(N, C)`` input counts repeated rows.

    Args:
        probs: ``(N,)`` probabilities or ``(N, C)`` probability rows, finite and in
            ``[0, 1]``; logits or unbounded scores with ``from_logits=True``.
        min_repeats: a value predicted at least this often is a cluster (>= 2).
        decimals: round to this many decimals before comparing (absorbs float
            noise); ``None`` compares exact values.
        from_logits: ``probs`` are logits or scores: a sigmoid (``(N,)``) or softmax
            (``(N, C)``) maps them to probabilities first (a repeat of the score is a
            repeat of the probability).

    Returns:
        [`ProbabilityClustering`][imbalance_kit.metrics.ProbabilityClustering] with
        ``n_predictions``, ``n_unique`` (distinct values), ``n_clusters`` (values predicted at least
        ``min_repeats`` times), ``clustered_fraction`` (share of predictions in
        such clusters) and ``largest_cluster`` (size of the biggest).

    Raises:
        ValueError: empty input, NaN or inf, values outside ``[0, 1]`` without
            ``from_logits``, ``min_repeats < 2``, negative ``decimals``.
        TypeError: non-floating ``probs``.

    Examples:
        >>> import torch
        >>> p = torch.tensor([0.91, 0.91, 0.91, 0.2, 0.33, 0.33, 0.33, 0.33, 0.5, 0.7])
        >>> probability_clustering(p)
        ProbabilityClustering(n_predictions=10, n_unique=5, n_clusters=2,
                              clustered_fraction=0.7, largest_cluster=4)
    """
    check_positive_int("min_repeats", min_repeats, minimum=2)
    if decimals is not None:
        check_positive_int("decimals", decimals, minimum=0)
    check_bool("from_logits", from_logits)
    values = as_tensor(probs, "probs").detach()
    if values.ndim not in (1, 2) or values.shape[0] == 0 or values.numel() == 0:
        raise error("probs", "non-empty (N,) or (N, C)", f"shape {tuple(values.shape)}", raw=True)
    if values.ndim == 2 and values.shape[1] < 2:
        raise error(
            "probs",
            "(N,) scores or (N, C) rows with C >= 2",
            f"shape {tuple(values.shape)}",
            raw=True,
        )
    if not values.is_floating_point():
        raise error(
            "probs", "floating-point probabilities", f"dtype {values.dtype}", TypeError, raw=True
        )
    lo, hi = torch.stack(torch.aminmax(values.double())).tolist()
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN and inf propagate into min/max
        raise error("probs", "finite (no NaN or inf)", "non-finite values", raw=True)
    if from_logits:
        values = torch.sigmoid(values) if values.ndim == 1 else torch.softmax(values, dim=1)
    else:
        tol = probability_tolerance(values.dtype)
        if lo < -tol or hi > 1 + tol:
            raise error(
                "probs",
                "probabilities in [0, 1] (pass from_logits=True for logits or unbounded scores)",
                f"values in [{lo:.4g}, {hi:.4g}]",
                raw=True,
            )
    if decimals is not None:
        values = torch.round(values, decimals=decimals)
    _, counts = torch.unique(values, dim=0 if values.ndim == 2 else None, return_counts=True)
    clustered = counts[counts >= min_repeats]
    n = values.shape[0]
    return ProbabilityClustering(
        n_predictions=n,
        n_unique=int(counts.numel()),
        n_clusters=int(clustered.numel()),
        clustered_fraction=float(clustered.sum()) / n,
        largest_cluster=int(counts.max()),
    )
