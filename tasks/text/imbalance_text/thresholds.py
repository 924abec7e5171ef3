"""Per-label decision thresholds, chosen on validation scores.

Each label with enough validation positives (``min_positives``) gets
:func:`imbalance_kit.metrics.best_threshold` (maximum F1, or the highest precision at a
target recall). A label with fewer positives cannot be tuned on its own (a threshold fitted
to a dozen positives overfits them), and its scores were moved by the ``pos_weight`` it was
trained with. Its threshold follows from that weight:

with ``pos_weight`` :math:`w`, the minimiser of the weighted binary cross-entropy is

```math
p_w = \frac{w\\,p}{w\\,p + 1 - p}
```

for the true probability :math:`p` (the weighting is a known prior shift), so a cut
:math:`t` on the unweighted scale is the cut :math:`t_w = w t / (w t + 1 - t)` on the
model's score; 0.5 on the score is :math:`p = 1/(1+w)`. The ``rule`` picks :math:`t`:

* ``"pooled"`` (default): the threshold of maximum F1 over the validation scores of all
  the secondary labels pooled, mapped back to the unweighted scale label by label
  (:func:`unweighted_scores`): a shared estimate that has enough positives, shrunk from
  which each rare label gets its own cut through its weight;
* ``"prior_shift"``: :math:`t` = ``default`` (0.5): the decision a model trained without
  the weight would make;
* ``"fixed"``: ``default`` on the score itself, whatever the weight.

With :math:`w = 1` (no weighting) ``prior_shift`` and ``fixed`` agree. Focal loss also moves
scores (towards 0.5); the correction accounts for ``pos_weight`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from imbalance_kit.app import check_choice, check_in_range, check_positive_int, error
from imbalance_kit.metrics import best_threshold
from imbalance_text.evaluate import check_scores
from imbalance_text.schema import LabelSchema

__all__ = ["RULES", "tune_thresholds", "unweighted_scores", "weighted_cut"]

RULES = ("pooled", "prior_shift", "fixed")
Rule = Literal["pooled", "prior_shift", "fixed"]


def weighted_cut(t: Any, pos_weight: Any) -> np.ndarray:
    """The cut on a ``pos_weight``-trained score equal to the cut ``t`` on the unweighted scale.

    Examples:
        >>> weighted_cut(0.5, [1.0, 10.0]).round(4).tolist()
        [0.5, 0.9091]
        >>> float(weighted_cut(1 / 11, 10.0))  # 0.5 on a 10x score is p = 1/11
        0.5
    """
    t = np.asarray(t, dtype=np.float64)
    w = np.asarray(pos_weight, dtype=np.float64)
    return w * t / (w * t + 1.0 - t)


def unweighted_scores(probs: Any, pos_weight: Any) -> np.ndarray:
    """Undo the prior shift of ``pos_weight`` training: ``p = p_w / (w - (w - 1) p_w)``.

    Examples:
        >>> w = np.array([10.0])
        >>> p = np.array([[0.2]])
        >>> unweighted_scores(weighted_cut(p, w), w).round(6).tolist()
        [[0.2]]
    """
    p = np.asarray(probs, dtype=np.float64)
    w = np.asarray(pos_weight, dtype=np.float64)
    return p / (w - (w - 1.0) * p)


def _pooled_cut(y: np.ndarray, p: np.ndarray, columns: Sequence[int]) -> float:
    """The F1-maximising cut over the pooled (target, score) pairs of ``columns``."""
    yy, pp = y[:, columns].ravel(), p[:, columns].ravel()
    if yy.sum() == 0 or yy.sum() == len(yy):
        return 0.5
    return float(best_threshold(pp, yy.astype(np.int64)).threshold)


def tune_thresholds(
    targets: Any,
    probs: Any,
    schema: LabelSchema,
    *,
    target_recall: float | None = None,
    default: float = 0.5,
    min_positives: int = 1,
    pos_weight: Sequence[float] | None = None,
    rule: Rule = "pooled",
) -> dict[str, dict[str, Any]]:
    """One decision threshold per label from validation scores.

    Each label with at least ``min_positives`` validation positives (and a negative) gets
    :func:`imbalance_kit.metrics.best_threshold` (maximum F1, or the highest precision with
    recall >= ``target_recall``) and is marked ``tuned: True``. The others get the cut of
    ``rule`` (see the module docs), computed from their ``pos_weight``, and
    ``tuned: False``; their entry says the ``rule`` and the ``unweighted`` cut.

    Args:
        targets: ``(N, L)`` 0/1 validation targets.
        probs: ``(N, L)`` validation probabilities.
        schema: the label schema.
        target_recall: optional minimum recall per label.
        default: the unweighted cut of ``prior_shift``, the cut of ``fixed``.
        min_positives: fewest validation positives for tuning a label (>= 1).
        pos_weight: the ``(L,)`` weights the model was trained with (``None``: 1).
        rule: ``"pooled"``, ``"prior_shift"`` or ``"fixed"``.

    Returns:
        ``{label: {"threshold", "precision", "recall", "f1", "tuned", ...}}`` (the
        validation scores at that threshold).

    Raises:
        ValueError: a bad rule, default or weight.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
        >>> p = np.array([[0.3, 0.1], [0.2, 0.4], [0.7, 0.2], [0.1, 0.3]])
        >>> t = tune_thresholds(y, p, LabelSchema(["a", "b"]), rule="fixed")
        >>> round(t["a"]["threshold"], 2), t["b"]["tuned"], t["b"]["threshold"]
        (0.3, False, 0.5)
        >>> t = tune_thresholds(y, p, LabelSchema(["a", "b"]), min_positives=5,
        ...                     pos_weight=[1.0, 10.0], rule="prior_shift")
        >>> round(t["b"]["threshold"], 4), t["b"]["unweighted"]
        (0.9091, 0.5)
    """
    y, p = check_scores(targets, probs, schema)
    check_in_range("default", default, 0.0, 1.0)
    check_positive_int("min_positives", min_positives)
    check_choice("rule", rule, RULES)
    names = schema.names
    w = np.ones(len(names)) if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)
    if w.shape != (len(names),) or not np.isfinite(w).all() or (w <= 0).any():
        raise error("pos_weight", f"{len(names)} finite weights > 0", pos_weight)
    pooled: float | None = None
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(names):
        positives = int(y[:, j].sum())
        if positives >= min_positives and positives < len(y):
            choice = best_threshold(p[:, j], y[:, j].astype(np.int64), target_recall=target_recall)
            out[name] = {**choice._asdict(), "tuned": True}
            continue
        if rule == "fixed":
            unweighted, cut = None, default
        elif rule == "prior_shift":
            unweighted = default
            cut = float(weighted_cut(default, w[j]))
        else:
            if pooled is None:
                columns = [names.index(n) for n in schema.secondary_names] or list(
                    range(len(names))
                )
                pooled = _pooled_cut(y, unweighted_scores(p, w), columns)
            unweighted = pooled
            cut = float(weighted_cut(pooled, w[j]))
        pred = p[:, j] >= cut
        hits = float((pred & (y[:, j] > 0)).sum())
        out[name] = {
            "threshold": cut,
            "precision": hits / pred.sum() if pred.sum() else None,
            "recall": hits / positives if positives else None,
            "f1": 2 * hits / (pred.sum() + positives) if pred.sum() + positives else None,
            "tuned": False,
            "rule": rule,
            "unweighted": unweighted,
            "pos_weight": float(w[j]),
        }
    return out
