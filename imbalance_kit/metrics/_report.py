"""Everything worth looking at on an imbalanced problem, in one JSON-ready dict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from imbalance_kit._validation import check_in_range, error
from imbalance_kit.calibration._brier import brier_score
from imbalance_kit.calibration._ece import expected_calibration_error
from imbalance_kit.calibration._inputs import as_tensor, prepare_labels, prepare_probs
from imbalance_kit.metrics._inputs import swapped

__all__ = ["imbalance_report", "report_inputs"]


def report_inputs(
    probs: Any,
    target: Any,
    *,
    threshold: float | None,
    from_logits: bool,
    function: str,
    validate: bool = True,
    allow_empty: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``(probabilities, target, predicted classes, number of classes)`` of a report.

    Predictions are ``argmax`` for ``(N, C)`` probabilities and ``p >= threshold``
    (default 0.5) for binary ``(N,)`` ones.
    """
    p, t = as_tensor(probs, "probs"), as_tensor(target, "target")
    if not p.is_floating_point() and t.is_floating_point():
        raise error(
            "probs",
            "floating-point probabilities" + swapped(function, "probs", "target"),
            f"dtype {p.dtype} (and a floating target)",
            TypeError,
            raw=True,
        )
    prepared = prepare_probs(p, from_logits=from_logits, validate=validate, allow_empty=allow_empty)
    truth = prepare_labels(t, prepared, validate=validate, name="target")
    if prepared.ndim == 1:
        cut = 0.5 if threshold is None else threshold
        check_in_range("threshold", cut, 0.0, 1.0)
        return prepared, truth, (prepared >= cut).long(), 2
    if threshold is not None:
        raise error("threshold", "None for (N, C) probabilities (argmax decides)", threshold)
    return prepared, truth, prepared.argmax(dim=1), prepared.shape[1]


def imbalance_report(
    probs: Any,
    target: Any,
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
    balanced accuracy, average precision; imported when called) and from this
    library (ECE, Brier).

    Keys: ``n_samples``, ``n_classes``, ``accuracy``, ``balanced_accuracy``,
    ``macro_f1`` (over the classes in ``target`` or predicted), ``pr_auc``
    (binary: average precision of the positive class; multiclass: mean
    one-vs-rest AP over classes present in ``target``),
    ``ece`` (top-label, L1, ``n_bins`` uniform bins; positive-class calibration for
    binary input), ``brier``, ``confusion_matrix`` (rows: true class), and
    ``per_class``: ``{name: {precision, recall, f1, support, pr_auc}}``. Undefined
    values (a class without samples) are NaN; precision of a never-predicted class is 0.
    [`ImbalanceReport`][imbalance_kit.metrics.ImbalanceReport] streams every number but the
    PR-AUC batch by batch.

    Args:
        probs: ``(N, C)`` probabilities or ``(N,)`` positive-class probabilities.
        target: ``(N,)`` integer labels (0/1 for ``(N,)`` probabilities).
        threshold: decision threshold for binary ``(N,)`` input only.
        class_names: names for the ``per_class`` keys (default ``"0"``, ``"1"``, ...).
        n_bins: bins of the ECE.
        from_logits: ``probs`` are logits (softmax / sigmoid applied).

    Returns:
        A dict of plain Python numbers, lists and dicts.

    Raises:
        ValueError: invalid probabilities or labels, ``threshold`` with ``(N, C)``
            input, wrong number of ``class_names``.
        TypeError: integer ``probs`` (with a hint when the arguments look swapped).

    Examples:
        >>> import torch
        >>> target = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
        >>> probs = torch.tensor([0.1, 0.2, 0.1, 0.3, 0.6, 0.2, 0.7, 0.4])
        >>> report = imbalance_report(probs, target, class_names=["ok", "fail"])
        >>> report["per_class"]["fail"]["recall"], report["balanced_accuracy"]
        (0.5, 0.666...)
        >>> round(report["pr_auc"], 3)  # AP: 0.5 * 1 + 0.5 * 2/3
        0.833
    """
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    prepared, truth, pred, k = report_inputs(
        probs, target, threshold=threshold, from_logits=from_logits, function="imbalance_report"
    )
    columns = torch.stack([1 - prepared, prepared], dim=1) if prepared.ndim == 1 else prepared
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
        "pr_auc": ap[1] if prepared.ndim == 1 else float(np.nanmean(ap)),
        "ece": float(expected_calibration_error(prepared, truth, n_bins)),
        "brier": float(brier_score(prepared, truth)),
        "confusion_matrix": confusion_matrix(y_np, pred_np, labels=labels).tolist(),
        "per_class": per_class,
    }
