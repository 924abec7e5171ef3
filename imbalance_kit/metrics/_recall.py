"""Per-class recall and tail recall: the functions, and the update / compute math they share
with their streaming forms ([`PerClassRecall`][imbalance_kit.metrics.PerClassRecall],
[`TailRecall`][imbalance_kit.metrics.TailRecall])."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from imbalance_kit._validation import check_in_range, error
from imbalance_kit.calibration._inputs import as_tensor
from imbalance_kit.metrics._inputs import (
    check_order,
    predicted_classes,
    resolve_num_classes,
    target_classes,
)
from imbalance_kit.weights import _as_counts

__all__ = ["per_class_recall", "tail_recall"]


# ------------------------------------------------------------- shared math
def recall_update(
    pred: torch.Tensor, truth: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(support, hits)``: samples of each class, and those predicted as their class (int64)."""
    support = torch.bincount(truth, minlength=num_classes)
    hits = torch.bincount(truth[pred == truth], minlength=num_classes)
    return support, hits


def recall_compute(support: torch.Tensor, hits: torch.Tensor) -> torch.Tensor:
    """Float64 recall per class, NaN where a class has no sample."""
    support, hits = support.double(), hits.double()
    return torch.where(support > 0, hits / support.clamp_min(1), torch.full_like(support, math.nan))


def check_tail_classes(tail_classes: Any, num_classes: int) -> torch.Tensor:
    """Explicit tail classes: a non-empty sequence of ints in ``[0, num_classes)``."""
    expected = f"a non-empty sequence of class indices (int) in [0, {num_classes})"
    if isinstance(tail_classes, (str, bytes)) or not isinstance(
        tail_classes, (Sequence, torch.Tensor)
    ):
        raise error("tail_classes", expected, tail_classes, TypeError)
    values = list(tail_classes.tolist() if isinstance(tail_classes, torch.Tensor) else tail_classes)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise error("tail_classes", expected, values)
    if min(values) < 0 or max(values) >= num_classes:
        raise error("tail_classes", expected, values)
    return torch.as_tensor(values, dtype=torch.long)


def check_class_counts(class_counts: Any, num_classes: int) -> torch.Tensor:
    """Per-class counts that define the tail: ``(num_classes,)``, finite, >= 0, float64 on CPU."""
    counts = _as_counts("class_counts", class_counts).detach()
    if counts.shape != (num_classes,):
        raise error(
            "class_counts", f"shape ({num_classes},)", f"shape {tuple(counts.shape)}", raw=True
        )
    return counts.to(device="cpu", dtype=torch.float64)


def tail_from_counts(counts: torch.Tensor, tail_fraction: float) -> torch.Tensor:
    """The ``ceil(tail_fraction * K)`` rarest of the ``K`` classes with a non-zero count."""
    present = torch.nonzero(counts > 0).squeeze(1)
    size = max(1, math.ceil(tail_fraction * present.numel()))
    order = sorted(present.tolist(), key=lambda c: (float(counts[c]), c))
    return torch.as_tensor(order[:size], dtype=torch.long)


def tail_compute(recall: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
    """Mean recall over the tail classes present (NaN if none is)."""
    values = recall.cpu()[tail]
    values = values[~torch.isnan(values)]
    return values.mean() if values.numel() else torch.tensor(math.nan, dtype=torch.float64)


# ------------------------------------------------------------------ functions
def per_class_recall(preds: Any, target: Any, *, num_classes: int | None = None) -> torch.Tensor:
    r"""Recall of every class: the fraction of its samples predicted as that class.

    $$
    \mathrm{recall}_c = \frac{\#\{i : y_i = c,\ \hat y_i = c\}}{\#\{i : y_i = c\}}
    $$

    Classes without samples in ``target`` get NaN (their recall is undefined,
    not 0 or 1, where torchmetrics' ``multiclass_recall(average=None)`` gives 0).
    The mean of the non-NaN entries is the balanced accuracy.

    Reference: Brodersen et al. 2010, "The balanced accuracy and its posterior distribution".

    Args:
        preds: ``(N,)`` integer predicted classes or ``(N, C)`` scores (argmax).
        target: ``(N,)`` integer class labels.
        num_classes: number of classes; inferred from the data when ``None``
            (at most ``max(65536, 4 N)``; pass it for more).

    Returns:
        A float64 ``(num_classes,)`` tensor on ``target``'s device.

    Raises:
        ValueError: empty or mismatched inputs, negative classes, classes beyond
            ``num_classes``, non-finite scores, an implausibly large inferred class.
        TypeError: floating ``(N,)`` predictions (threshold them first); arguments
            that look swapped (``(target, scores)``).

    Examples:
        >>> import torch
        >>> target = torch.tensor([0, 0, 0, 1, 1, 2])
        >>> per_class_recall(torch.tensor([0, 0, 1, 1, 0, 2]), target)
        tensor([0.6667, 0.5000, 1.0000], dtype=torch.float64)
    """
    p, t = as_tensor(preds, "preds"), as_tensor(target, "target")
    check_order("per_class_recall", p, t)
    truth = target_classes(t)
    pred, width = predicted_classes(p, truth.shape[0])
    pred = pred.to(truth.device)
    k = resolve_num_classes(num_classes, truth, pred, width)
    return recall_compute(*recall_update(pred, truth, k))


def tail_recall(
    preds: Any,
    target: Any,
    tail_classes: Sequence[int] | None = None,
    *,
    class_counts: Any = None,
    tail_fraction: float = 0.5,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Mean recall over the tail (rare) classes.

    The tail is ``tail_classes`` when given. Otherwise it is the
    ``ceil(tail_fraction * K)`` classes with the fewest samples among the ``K``
    classes that have any, counted in ``class_counts`` (for example the
    training-set counts, the usual long-tail split) or, by default, in
    ``target``; ties are broken by class index. For a binary problem the
    default tail is the minority class, so this is the minority-class recall.
    Tail classes absent from ``target`` are skipped (their recall is undefined);
    the result is NaN if none is present.

    Reference: Liu et al. 2019, "Large-Scale Long-Tailed Recognition in an Open World"
    (many-/medium-/few-shot accuracy).

    Args:
        preds: ``(N,)`` integer predictions or ``(N, C)`` scores (argmax).
        target: ``(N,)`` integer labels.
        tail_classes: explicit tail class indices.
        class_counts: ``(C,)`` per-class counts that define the tail (for
            example the training counts): finite, ``>= 0``, not all zero; not
            together with ``tail_classes``.
        tail_fraction: share of the classes that form the tail, in ``(0, 1]``.
        num_classes: number of classes; inferred when ``None``.

    Returns:
        A 0-d float64 tensor.

    Raises:
        ValueError: both ``tail_classes`` and ``class_counts`` given, a bad
            ``tail_fraction``, tail classes out of range, bad ``class_counts``,
            and the errors of [`per_class_recall`][imbalance_kit.metrics.per_class_recall].

    Examples:
        >>> import torch
        >>> target = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2])
        >>> preds = torch.tensor([0, 0, 0, 0, 0, 0, 1, 0, 0])
        >>> tail_recall(preds, target, tail_fraction=0.5)  # classes 2 and 1
        tensor(0.2500, dtype=torch.float64)
        >>> tail_recall(preds, target, tail_classes=[1])
        tensor(0.5000, dtype=torch.float64)
    """
    recall = per_class_recall(preds, target, num_classes=num_classes)
    k = recall.shape[0]
    if tail_classes is not None:
        if class_counts is not None:
            raise error("class_counts", "None when tail_classes is given", "both", raw=True)
        tail = check_tail_classes(tail_classes, k)
    else:
        check_in_range("tail_fraction", tail_fraction, 0.0, 1.0, low_inclusive=False)
        if class_counts is None:
            counts = torch.bincount(target_classes(target).cpu(), minlength=k).double()
        else:
            counts = check_class_counts(class_counts, k)
        tail = tail_from_counts(counts, tail_fraction)
    return tail_compute(recall, tail)
