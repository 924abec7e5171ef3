"""Decision threshold for binary scores: maximum F1, or a target recall."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from imbalance_kit._validation import check_in_range, error
from imbalance_kit.calibration._inputs import as_tensor
from imbalance_kit.metrics._inputs import swapped

__all__ = ["ThresholdChoice", "best_threshold"]


class ThresholdChoice(NamedTuple):
    """A decision threshold and the precision, recall and F1 it gives (score >= threshold)."""

    threshold: float
    precision: float
    recall: float
    f1: float


def _binary_target(target: Any, scores: torch.Tensor) -> torch.Tensor:
    tensor = as_tensor(target, "target").detach()
    if tensor.is_floating_point() or tensor.is_complex():
        hint = (
            swapped("best_threshold", "scores", "target") if not scores.is_floating_point() else ""
        )
        raise error(
            "target", "integer or bool 0/1 labels" + hint, f"dtype {tensor.dtype}", TypeError,
            raw=True,
        )  # fmt: skip
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise error("target", "non-empty 1-D (N,) labels", f"shape {tuple(tensor.shape)}", raw=True)
    tensor = tensor.long()
    low, high = int(tensor.min()), int(tensor.max())
    if low < 0 or high > 1:
        raise error("target", "0/1 labels", f"values in [{low}, {high}]", raw=True)
    if low == high:
        raise error("target", "both classes (0 and 1)", f"only class {high}", raw=True)
    return tensor


def best_threshold(
    scores: Any, target: Any, *, target_recall: float | None = None
) -> ThresholdChoice:
    r"""Decision threshold for binary scores: maximum F1, or a target recall.

    Thresholds are the distinct scores (scikit-learn's
    ``precision_recall_curve``, imported when called); a sample is predicted
    positive when ``score >= threshold``.

    * ``target_recall=None``: the threshold with the highest
      $F_1 = 2PR / (P + R)$ (the highest threshold among ties).
    * ``target_recall=r``: among thresholds whose recall is at least ``r``, the one
      with the highest precision (the highest threshold among ties), the usual
      operating point when missing a rare positive is costly.

    Reference: Lipton, Elkan & Naryanaswamy 2014, "Optimal Thresholding of
    Classifiers to Maximize F1 Measure".

    Args:
        scores: ``(N,)`` finite scores or probabilities of the positive class
            (integer scores, such as vote counts, are accepted).
        target: ``(N,)`` 0/1 labels (integer or bool) with both classes present.
        target_recall: minimum recall in ``(0, 1]``; ``None`` maximises F1.

    Returns:
        A [`ThresholdChoice`][imbalance_kit.metrics.ThresholdChoice]
        ``(threshold, precision, recall, f1)``.

    Raises:
        ValueError: labels not 0/1 or a single class, mismatched lengths, non-finite
            scores, a bad ``target_recall``.
        TypeError: floating labels (with a hint when the arguments look swapped).

    Examples:
        >>> import torch
        >>> target = torch.tensor([0, 0, 0, 0, 1, 0, 1, 1])
        >>> scores = torch.tensor([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
        >>> best_threshold(scores, target)
        ThresholdChoice(threshold=0.4000..., precision=0.75, recall=1.0, f1=0.857...)
        >>> best_threshold(scores, target, target_recall=0.6).threshold
        0.699999...
    """
    from sklearn.metrics import precision_recall_curve

    values = as_tensor(scores, "scores").detach()
    truth = _binary_target(target, values)
    if values.ndim != 1 or values.shape[0] != truth.shape[0]:
        raise error(
            "scores", f"(N,) with N = {truth.shape[0]}", f"shape {tuple(values.shape)}", raw=True
        )
    if values.is_complex() or not bool(torch.isfinite(values.double()).all()):
        raise error("scores", "finite real scores", "non-finite values", raw=True)
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
