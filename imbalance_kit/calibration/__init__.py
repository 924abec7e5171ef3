"""Calibration: ECE and friends, a streaming meter, reliability diagrams, temperature scaling.

Input conventions, shared by every function here:

* ``probs`` of shape ``(N, C)``: class probabilities (rows summing to 1), with
  ``labels`` of shape ``(N,)`` holding class indices in ``[0, C)``.
* ``probs`` of shape ``(N,)``: the positive-class probability of a binary
  problem, with 0/1 ``labels`` (compared as ``sklearn.calibration.calibration_curve`` does).

torch tensors stay on their device (metrics run on the GPU without moving
data to the host); numpy arrays are accepted too. ``from_logits=True`` applies
the softmax (or sigmoid) for you.

[`CalibrationMeter`][imbalance_kit.calibration.CalibrationMeter] is a ``torchmetrics.Metric``; it
(and torchmetrics) is imported on first access, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imbalance_kit.calibration._brier import brier_score
from imbalance_kit.calibration._ece import expected_calibration_error, maximum_calibration_error
from imbalance_kit.calibration._reliability import plot_reliability_diagram, reliability_curve
from imbalance_kit.calibration.temperature import TemperatureScaling

if TYPE_CHECKING:  # pragma: no cover
    from imbalance_kit.calibration.meter import CalibrationMeter

__all__ = [
    "CalibrationMeter",
    "TemperatureScaling",
    "brier_score",
    "expected_calibration_error",
    "maximum_calibration_error",
    "plot_reliability_diagram",
    "reliability_curve",
]


def __getattr__(name: str) -> Any:
    if name == "CalibrationMeter":
        value = importlib.import_module("imbalance_kit.calibration.meter").CalibrationMeter
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
