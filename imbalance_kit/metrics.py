"""Imbalance-aware classification metrics and a memorisation diagnostic.

Inputs are torch tensors (any device) or numpy arrays. Conventions:

* ``y_true``: ``(N,)`` integer class labels (0/1 for binary).
* ``y_pred``: ``(N,)`` integer predicted classes, or ``(N, C)`` scores /
  probabilities whose ``argmax`` is the prediction.
* ``probs`` / ``scores`` for binary problems: ``(N,)`` positive-class scores;
  for multiclass: ``(N, C)`` class probabilities.

Counting metrics ([`per_class_recall`][imbalance_kit.metrics.per_class_recall],
[`tail_recall`][imbalance_kit.metrics.tail_recall],
[`probability_clustering`][imbalance_kit.metrics.probability_clustering]) run in torch on the
input's device. Metrics that scikit-learn already computes (precision, F1, balanced accuracy,
PR-AUC, the precision-recall curve) are taken from scikit-learn on host copies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from imbalance_kit._validation import check_in_range, check_positive_int, error
from imbalance_kit.calibration._brier import brier_score
from imbalance_kit.calibration._ece import expected_calibration_error
from imbalance_kit.calibration._inputs import as_tensor, prepare_labels, prepare_probs

__all__ = [
    "ProbabilityClustering",
    "ThresholdChoice",
    "best_threshold",
    "imbalance_report",
    "per_class_recall",
    "probability_clustering",
    "tail_recall",
]


# --------------------------------------------------------------------- helpers
def _labels(y_true: Any, name: str = "y_true") -> torch.Tensor:
    tensor = as_tensor(y_true, name).detach()
    if tensor.ndim != 1:
        raise error(name, "1-D (N,)", f"shape {tuple(tensor.shape)}", raw=True)
    if tensor.numel() == 0:
        raise error(name, "non-empty", "an empty array", raw=True)
    if tensor.is_floating_point() or tensor.is_complex():
        raise error(name, "integer class labels", f"dtype {tensor.dtype}", TypeError, raw=True)
    tensor = tensor.long()
    low = int(tensor.min())
    if low < 0:
        raise error(name, "class labels >= 0", low)
    return tensor


def _predicted_classes(y_pred: Any, n: int) -> torch.Tensor:
    tensor = as_tensor(y_pred, "y_pred").detach()
    if tensor.ndim == 2:
        return tensor.argmax(dim=1)
    if tensor.ndim != 1:
        raise error(
            "y_pred", "(N,) classes or (N, C) scores", f"shape {tuple(tensor.shape)}", raw=True
        )
    if tensor.is_floating_point():
        raise error(
            "y_pred",
            "integer predicted classes or (N, C) scores (threshold binary scores first, "
            "e.g. (scores >= 0.5).long())",
            f"dtype {tensor.dtype}",
            TypeError,
            raw=True,
        )
    if tensor.shape[0] != n:
        raise ValueError(f"y_pred must have the same length as y_true ({n}), got {tensor.shape[0]}")
    return tensor.long()


def _num_classes(num_classes: int | None, *tensors: torch.Tensor, width: int | None = None) -> int:
    seen = max(int(t.max()) + 1 for t in tensors)
    if width is not None:
        seen = max(seen, width)
    if num_classes is None:
        return max(seen, 2)
    check_positive_int("num_classes", num_classes)
    if seen > num_classes:
        raise error("num_classes", f">= the largest class index + 1 ({seen})", num_classes)
    return num_classes


# ------------------------------------------------------------------ recalls
def per_class_recall(y_true: Any, y_pred: Any, *, num_classes: int | None = None) -> torch.Tensor:
    r"""Recall of every class: the fraction of its samples predicted as that class.

    $$
    \mathrm{recall}_c = \frac{\#\{i : y_i = c,\ \hat y_i = c\}}{\#\{i : y_i = c\}}
    $$

    Classes without samples in ``y_true`` get NaN (their recall is undefined,
    not 0 or 1). The mean of the non-NaN entries is the balanced accuracy.

    Reference: Brodersen et al. 2010, "The balanced accuracy and its posterior distribution".

    Args:
        y_true: ``(N,)`` integer labels.
        y_pred: ``(N,)`` integer predictions or ``(N, C)`` scores (argmax).
        num_classes: number of classes; inferred from the data when ``None``.

    Returns:
        A float64 ``(num_classes,)`` tensor on ``y_true``'s device.

    Raises:
        ValueError: empty or mismatched inputs, labels beyond ``num_classes``.
        TypeError: floating ``(N,)`` predictions (threshold them first).

    Examples:
        >>> import torch
        >>> per_class_recall(torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([0, 0, 1, 1, 0, 2]))
        tensor([0.6667, 0.5000, 1.0000], dtype=torch.float64)
    """
    truth = _labels(y_true)
    raw = as_tensor(y_pred, "y_pred")
    pred = _predicted_classes(raw, truth.shape[0]).to(truth.device)
    k = _num_classes(num_classes, truth, pred, width=raw.shape[1] if raw.ndim == 2 else None)
    support = torch.bincount(truth, minlength=k).double()
    hits = torch.bincount(truth[pred == truth], minlength=k).double()
    return torch.where(support > 0, hits / support.clamp_min(1), torch.full_like(support, math.nan))


def tail_recall(
    y_true: Any,
    y_pred: Any,
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
    ``y_true``; ties are broken by class index. For a binary problem the
    default tail is the minority class, so this is the minority-class recall.
    Tail classes absent from ``y_true`` are skipped (their recall is undefined);
    the result is NaN if none is present.

    Reference: Liu et al. 2019, "Large-Scale Long-Tailed Recognition in an Open World"
    (many-/medium-/few-shot accuracy).

    Args:
        y_true: ``(N,)`` integer labels.
        y_pred: ``(N,)`` integer predictions or ``(N, C)`` scores (argmax).
        tail_classes: explicit tail class indices.
        class_counts: ``(C,)`` per-class counts that define the tail (for
            example the training counts); not together with ``tail_classes``.
        tail_fraction: share of the classes that form the tail, in ``(0, 1]``.
        num_classes: number of classes; inferred when ``None``.

    Returns:
        A 0-d float64 tensor.

    Raises:
        ValueError: both ``tail_classes`` and ``class_counts`` given, a bad
            ``tail_fraction``, tail classes out of range.

    Examples:
        >>> import torch
        >>> y_true = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2])
        >>> y_pred = torch.tensor([0, 0, 0, 0, 0, 0, 1, 0, 0])
        >>> tail_recall(y_true, y_pred, tail_fraction=0.5)  # classes 2 and 1
        tensor(0.2500, dtype=torch.float64)
        >>> tail_recall(y_true, y_pred, tail_classes=[1])
        tensor(0.5000, dtype=torch.float64)
    """
    recall = per_class_recall(y_true, y_pred, num_classes=num_classes)
    k = recall.shape[0]
    if tail_classes is not None:
        if class_counts is not None:
            raise error("class_counts", "None when tail_classes is given", "both", raw=True)
        tail = torch.as_tensor(list(tail_classes), dtype=torch.long)
        if tail.numel() == 0 or int(tail.min()) < 0 or int(tail.max()) >= k:
            raise error(
                "tail_classes", f"a non-empty list of class indices in [0, {k})", list(tail_classes)
            )
    else:
        check_in_range("tail_fraction", tail_fraction, 0.0, 1.0, low_inclusive=False)
        if class_counts is None:
            counts = torch.bincount(_labels(y_true).cpu(), minlength=k).double()
        else:
            counts = as_tensor(class_counts, "class_counts").detach().double().cpu()
            if counts.shape != (k,):
                raise error(
                    "class_counts", f"shape ({k},)", f"shape {tuple(counts.shape)}", raw=True
                )
        present = torch.nonzero(counts > 0).squeeze(1)
        size = max(1, math.ceil(tail_fraction * present.numel()))
        order = sorted(present.tolist(), key=lambda c: (float(counts[c]), c))
        tail = torch.as_tensor(order[:size], dtype=torch.long)
    values = recall.cpu()[tail]
    values = values[~torch.isnan(values)]
    return values.mean() if values.numel() else torch.tensor(math.nan, dtype=torch.float64)


# ---------------------------------------------------------------- threshold
class ThresholdChoice(NamedTuple):
    """A decision threshold and the precision, recall and F1 it gives (score >= threshold)."""

    threshold: float
    precision: float
    recall: float
    f1: float


def best_threshold(
    y_true: Any, scores: Any, *, target_recall: float | None = None
) -> ThresholdChoice:
    r"""Decision threshold for binary scores: maximum F1, or a target recall.

    Thresholds are the distinct scores (scikit-learn's
    ``precision_recall_curve``); a sample is predicted positive when
    ``score >= threshold``.

    * ``target_recall=None``: the threshold with the highest
      $F_1 = 2PR / (P + R)$ (the highest threshold among ties).
    * ``target_recall=r``: among thresholds whose recall is at least ``r``, the one
      with the highest precision (the highest threshold among ties), the usual
      operating point when missing a rare positive is costly.

    Reference: Lipton, Elkan & Naryanaswamy 2014, "Optimal Thresholding of
    Classifiers to Maximize F1 Measure".

    Args:
        y_true: ``(N,)`` 0/1 labels with both classes present.
        scores: ``(N,)`` scores or probabilities of the positive class.
        target_recall: minimum recall in ``(0, 1]``; ``None`` maximises F1.

    Returns:
        A [`ThresholdChoice`][imbalance_kit.metrics.ThresholdChoice]
        ``(threshold, precision, recall, f1)``.

    Raises:
        ValueError: labels not 0/1 or a single class, mismatched lengths, a bad ``target_recall``.

    Examples:
        >>> import torch
        >>> y = torch.tensor([0, 0, 0, 0, 1, 0, 1, 1])
        >>> s = torch.tensor([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
        >>> best_threshold(y, s)
        ThresholdChoice(threshold=0.4000..., precision=0.75, recall=1.0, f1=0.857...)
        >>> best_threshold(y, s, target_recall=0.6).threshold
        0.699999...
    """
    truth = _labels(y_true)
    if int(truth.max()) > 1:
        raise error("y_true", "0/1 labels", f"maximum {int(truth.max())}", raw=True)
    if int(truth.min()) == int(truth.max()):
        raise error("y_true", "both classes (0 and 1)", f"only class {int(truth.max())}", raw=True)
    values = as_tensor(scores, "scores").detach()
    if values.ndim != 1 or values.shape[0] != truth.shape[0]:
        raise error(
            "scores", f"(N,) with N = {truth.shape[0]}", f"shape {tuple(values.shape)}", raw=True
        )
    if not bool(torch.isfinite(values.double()).all()):
        raise error("scores", "finite", "non-finite values", raw=True)
    if target_recall is not None:
        check_in_range("target_recall", target_recall, 0.0, 1.0, low_inclusive=False)
    precision, recall, thresholds = precision_recall_curve(
        truth.cpu().numpy(), values.double().cpu().numpy()
    )
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    if target_recall is None:
        objective = f1
    else:
        objective = np.where(recall >= target_recall - 1e-12, precision, -np.inf)
    best = len(objective) - 1 - int(np.argmax(objective[::-1]))  # highest threshold among ties
    return ThresholdChoice(
        float(thresholds[best]), float(precision[best]), float(recall[best]), float(f1[best])
    )


# --------------------------------------------------------------- clustering
class ProbabilityClustering(NamedTuple):
    """How much the predictions pile onto repeated values (see
    [`probability_clustering`][imbalance_kit.metrics.probability_clustering])."""

    n_predictions: int
    n_unique: int
    n_clusters: int
    clustered_fraction: float
    largest_cluster: int


def probability_clustering(
    probs: Any, *, min_repeats: int = 3, decimals: int | None = None
) -> ProbabilityClustering:
    """Count predicted values that repeat: a memorisation symptom.

    A model that keys on a nuisance feature (the camera, the clinic, the
    recording session) instead of the behaviour produces the *same*
    probability for every sample sharing that feature. On continuous inputs
    exact repeats are otherwise rare, so many values repeated ``min_repeats``
    times or more, covering a large share of the predictions, is a warning sign.
    ``(N, C)`` input counts repeated rows.

    Args:
        probs: ``(N,)`` scores or ``(N, C)`` probability rows.
        min_repeats: a value predicted at least this often is a cluster (>= 2).
        decimals: round to this many decimals before comparing (absorbs float
            noise); ``None`` compares exact values.

    Returns:
        [`ProbabilityClustering`][imbalance_kit.metrics.ProbabilityClustering] with
        ``n_predictions``, ``n_unique`` (distinct values), ``n_clusters`` (values predicted at least
        ``min_repeats`` times), ``clustered_fraction`` (share of predictions in
        such clusters) and ``largest_cluster`` (size of the biggest).

    Raises:
        ValueError: empty input, ``min_repeats < 2``, negative ``decimals``.

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
    values = as_tensor(probs, "probs").detach()
    if values.ndim not in (1, 2) or values.shape[0] == 0:
        raise error("probs", "non-empty (N,) or (N, C)", f"shape {tuple(values.shape)}", raw=True)
    if decimals is not None and values.is_floating_point():
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


# ------------------------------------------------------------------- report
def imbalance_report(
    y_true: Any,
    probs: Any,
    *,
    threshold: float | None = None,
    class_names: Sequence[str] | None = None,
    n_bins: int = 15,
    from_logits: bool = False,
) -> dict[str, Any]:
    """Everything worth looking at on an imbalanced problem, in one JSON-ready dict.

    Predictions are ``argmax`` for ``(N, C)`` probabilities and
    ``p >= threshold`` (default 0.5) for binary ``(N,)`` positive-class
    probabilities. Numbers come from scikit-learn (precision, recall, F1,
    balanced accuracy, average precision) and from this library (ECE, Brier).

    Keys: ``n_samples``, ``n_classes``, ``accuracy``, ``balanced_accuracy``,
    ``macro_f1`` (over the classes in ``y_true`` or predicted), ``pr_auc``
    (binary: average precision of the positive class; multiclass: mean
    one-vs-rest AP over classes present in ``y_true``),
    ``ece`` (top-label, L1, ``n_bins`` uniform bins; positive-class calibration for
    binary input), ``brier``, ``confusion_matrix`` (rows: true class), and
    ``per_class``: ``{name: {precision, recall, f1, support, pr_auc}}``. Undefined
    values (a class without samples) are NaN; precision of a never-predicted class is 0.

    Args:
        y_true: ``(N,)`` integer labels.
        probs: ``(N, C)`` probabilities or ``(N,)`` positive-class probabilities.
        threshold: decision threshold for binary ``(N,)`` input only.
        class_names: names for the ``per_class`` keys (default ``"0"``, ``"1"``, ...).
        n_bins: bins of the ECE.
        from_logits: ``probs`` are logits (softmax / sigmoid applied).

    Returns:
        A dict of plain Python numbers, lists and dicts.

    Raises:
        ValueError: invalid probabilities or labels, ``threshold`` with ``(N, C)``
            input, wrong number of ``class_names``.

    Examples:
        >>> import torch
        >>> y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
        >>> p = torch.tensor([0.1, 0.2, 0.1, 0.3, 0.6, 0.2, 0.7, 0.4])
        >>> report = imbalance_report(y, p, class_names=["ok", "fail"])
        >>> report["per_class"]["fail"]["recall"], report["balanced_accuracy"]
        (0.5, 0.666...)
        >>> round(report["pr_auc"], 3)  # AP: 0.5 * 1 + 0.5 * 2/3
        0.833
    """
    prepared = prepare_probs(probs, from_logits=from_logits)
    truth = prepare_labels(y_true, prepared, name="y_true")
    binary = prepared.ndim == 1
    k = 2 if binary else prepared.shape[1]
    if binary:
        cut = 0.5 if threshold is None else threshold
        check_in_range("threshold", cut, 0.0, 1.0)
        pred = (prepared >= cut).long()
        columns = torch.stack([1 - prepared, prepared], dim=1)
    else:
        if threshold is not None:
            raise error("threshold", "None for (N, C) probabilities (argmax decides)", threshold)
        pred = prepared.argmax(dim=1)
        columns = prepared
    names = [str(c) for c in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise error("class_names", f"{k} names", f"{len(names)} names", raw=True)
    y_np, pred_np, cols_np = truth.cpu().numpy(), pred.cpu().numpy(), columns.double().cpu().numpy()
    labels = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_np, pred_np, labels=labels, zero_division=0
    )
    ap = [
        float(average_precision_score(y_np == c, cols_np[:, c])) if support[c] > 0 else math.nan
        for c in labels
    ]
    present = support > 0
    per_class = {
        names[c]: {
            "precision": float(precision[c]),
            "recall": float(recall[c]) if present[c] else math.nan,
            "f1": float(f1[c]),
            "support": int(support[c]),
            "pr_auc": ap[c],
        }
        for c in labels
    }
    return {
        "n_samples": int(truth.shape[0]),
        "n_classes": k,
        "accuracy": float(np.mean(y_np == pred_np)),
        # mean recall over the classes present in the truth: scikit-learn's
        # balanced_accuracy_score, without its warning when a single class is present
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1_score(y_np, pred_np, average="macro", zero_division=0)),
        "pr_auc": ap[1] if binary else float(np.nanmean(ap)),
        "ece": float(expected_calibration_error(prepared, truth, n_bins)),
        "brier": float(brier_score(prepared, truth)),
        "confusion_matrix": confusion_matrix(y_np, pred_np, labels=labels).tolist(),
        "per_class": per_class,
    }
