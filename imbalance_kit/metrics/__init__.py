"""Imbalance-aware classification metrics and a memorisation diagnostic.

Every metric takes ``(prediction, target)`` in that order, as torch losses and
torchmetrics do:

* ``preds``: ``(N,)`` integer predicted classes, or ``(N, C)`` scores /
  probabilities whose ``argmax`` is the prediction;
* ``scores`` / ``probs`` for binary problems: ``(N,)`` positive-class scores;
  for multiclass: ``(N, C)`` class probabilities;
* ``target``: ``(N,)`` integer class labels (0/1 for binary).

A call whose arguments look swapped (class indices first, floating scores second)
raises an error that says so. Inputs are torch tensors (any device) or numpy arrays.
Counting metrics ([`per_class_recall`][imbalance_kit.metrics.per_class_recall],
[`tail_recall`][imbalance_kit.metrics.tail_recall],
[`probability_clustering`][imbalance_kit.metrics.probability_clustering]) run in torch on the
input's device. Metrics that scikit-learn already computes (precision, F1, balanced accuracy,
PR-AUC, the precision-recall curve) are taken from scikit-learn on host copies; scikit-learn is
imported by the functions that use it, not by this module.

Streaming forms, ``torchmetrics.Metric`` subclasses with sum-reduced states (DDP sync
and ``self.log`` in Lightning through torchmetrics):
[`PerClassRecall`][imbalance_kit.metrics.PerClassRecall],
[`TailRecall`][imbalance_kit.metrics.TailRecall],
[`ImbalanceReport`][imbalance_kit.metrics.ImbalanceReport]. They are loaded (with torchmetrics) on
first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imbalance_kit.metrics._clustering import ProbabilityClustering, probability_clustering
from imbalance_kit.metrics._recall import per_class_recall, tail_recall
from imbalance_kit.metrics._report import imbalance_report
from imbalance_kit.metrics._threshold import ThresholdChoice, best_threshold

if TYPE_CHECKING:  # pragma: no cover
    from imbalance_kit.metrics._streaming import ImbalanceReport, PerClassRecall, TailRecall

__all__ = [
    "ImbalanceReport",
    "PerClassRecall",
    "ProbabilityClustering",
    "TailRecall",
    "ThresholdChoice",
    "best_threshold",
    "imbalance_report",
    "per_class_recall",
    "probability_clustering",
    "tail_recall",
]

_LAZY = {
    name: "imbalance_kit.metrics._streaming"
    for name in ("ImbalanceReport", "PerClassRecall", "TailRecall")
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
