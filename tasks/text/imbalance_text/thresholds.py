"""Per-label decision thresholds, chosen on validation scores.

Each label with enough validation positives gets
:func:`imbalance_kit.metrics.best_threshold` (maximum F1, or the highest precision at a
target recall); the others keep a default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imbalance_kit.app import check_in_range, check_positive_int
from imbalance_kit.metrics import best_threshold
from imbalance_text.evaluate import check_scores
from imbalance_text.schema import LabelSchema

__all__ = ["tune_thresholds"]


def tune_thresholds(
    targets: Any,
    probs: Any,
    schema: LabelSchema,
    *,
    target_recall: float | None = None,
    default: float = 0.5,
    min_positives: int = 1,
) -> dict[str, dict[str, Any]]:
    """One decision threshold per label from validation scores.

    Each label gets :func:`imbalance_kit.metrics.best_threshold` (maximum F1,
    or the highest precision with recall >= ``target_recall``). A label whose
    validation split has fewer than ``min_positives`` positives (or no
    negative) keeps ``default`` and is marked ``tuned: False``: a threshold
    fitted to a dozen positives tends to sit just below the lowest-scoring
    one of them and misses many test positives.

    Args:
        targets: ``(N, L)`` 0/1 validation targets.
        probs: ``(N, L)`` validation probabilities.
        schema: the label schema.
        target_recall: optional minimum recall per label.
        default: the threshold of labels that cannot be tuned.
        min_positives: fewest validation positives for tuning a label (>= 1).

    Returns:
        ``{label: {"threshold", "precision", "recall", "f1", "tuned"}}`` (the
        validation scores at that threshold).

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
        >>> p = np.array([[0.3, 0.1], [0.2, 0.4], [0.7, 0.2], [0.1, 0.3]])
        >>> t = tune_thresholds(y, p, LabelSchema(["a", "b"]))
        >>> round(t["a"]["threshold"], 2), t["b"]["tuned"]
        (0.3, False)
    """
    y, p = check_scores(targets, probs, schema)
    check_in_range("default", default, 0.0, 1.0)
    check_positive_int("min_positives", min_positives)
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(schema.names):
        positives = int(y[:, j].sum())
        if positives < min_positives or positives == len(y):
            out[name] = {"threshold": default, "precision": None, "recall": None, "f1": None,
                         "tuned": False}  # fmt: skip
            continue
        choice = best_threshold(y[:, j].astype(np.int64), p[:, j], target_recall=target_recall)
        out[name] = {**choice._asdict(), "tuned": True}
    return out
