"""SMOTE-family over-samplers on torch tensors (any device) and sklearn-style estimators.

Functional API: every function takes ``(X, y, *, sampling_strategy="auto", ...,
generator=None)`` and returns ``(X_res, y_res)`` with the original rows first and
unchanged and the synthetic rows appended, on ``X``'s device. The
neighbour-based methods search neighbours exactly, in chunks
(``chunk_size``), so memory stays ``O(chunk x class size)``.

Estimators ([`SMOTE`][imbalance_kit.augment.SMOTE],
[`BorderlineSMOTE`][imbalance_kit.augment.BorderlineSMOTE],
[`ADASYN`][imbalance_kit.augment.ADASYN], [`MLSMOTE`][imbalance_kit.augment.MLSMOTE],
[`NoiseOversampler`][imbalance_kit.augment.NoiseOversampler]) follow scikit-learn and
imbalanced-learn conventions: ``fit_resample(X, y)`` on numpy arrays, lists or torch tensors,
returning the same kind; they work inside ``imblearn.pipeline.Pipeline``. They build on
scikit-learn, which is imported on first access to one of them (the functions never import it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imbalance_kit.augment._adasyn import adasyn
from imbalance_kit.augment._borderline import borderline_smote
from imbalance_kit.augment._mlsmote import mlsmote
from imbalance_kit.augment._noise import noise_oversample
from imbalance_kit.augment._random import random_oversample
from imbalance_kit.augment._smote import smote

if TYPE_CHECKING:  # pragma: no cover
    from imbalance_kit.augment.estimators import (
        ADASYN,
        MLSMOTE,
        SMOTE,
        BorderlineSMOTE,
        NoiseOversampler,
    )

__all__ = [
    "ADASYN",
    "MLSMOTE",
    "SMOTE",
    "BorderlineSMOTE",
    "NoiseOversampler",
    "adasyn",
    "borderline_smote",
    "mlsmote",
    "noise_oversample",
    "random_oversample",
    "smote",
]

_ESTIMATORS = ("ADASYN", "MLSMOTE", "SMOTE", "BorderlineSMOTE", "NoiseOversampler")


def __getattr__(name: str) -> Any:
    if name in _ESTIMATORS:
        value = getattr(importlib.import_module("imbalance_kit.augment.estimators"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
