"""Multi-label moderation of text with 100:1 rare labels and label implications.

Light modules (schema, corpora, simulation, config, objective, constraints,
evaluation) import at once; the parts that pull in Lightning or transformers
(:class:`TextEncoder`, :class:`TextModule`, :func:`run_pipeline`, :func:`run_study`,
:func:`predict`, :func:`run_demo`, :func:`analyze`) load on first use.

The modules follow the task packages' common layout: ``cli``, ``config``, ``simulate``,
``data``, ``model`` (encoder and head), ``module`` (the LightningModule), ``objective``,
``train``, ``evaluate``, ``study`` (variant x seed), ``demo``; and the extras this task
needs: ``schema`` (label hierarchy), ``constraints`` (implication enforcement),
``thresholds`` (per-label decision thresholds), ``inference`` (a trained run on new texts),
``analysis`` (label distribution report) and ``plots``.
"""

from __future__ import annotations

import importlib
from typing import Any

from imbalance_text._version import __version__
from imbalance_text.config import TextConfig, apply_overrides, load_config
from imbalance_text.constraints import enforce_implications, violation_rate, violations_per_pair
from imbalance_text.data import Corpus, read_corpus, split_corpus, write_corpus
from imbalance_text.evaluate import evaluate_predictions, predictions_frame
from imbalance_text.objective import TextObjective, label_weights
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema, load_schema
from imbalance_text.simulate import SimulationSpec, simulate_corpus
from imbalance_text.thresholds import tune_thresholds

__all__ = [
    "DEFAULT_SCHEMA",
    "Corpus",
    "LabelSchema",
    "SimulationSpec",
    "TextConfig",
    "TextEncoder",
    "TextModule",
    "TextObjective",
    "__version__",
    "analyze",
    "apply_overrides",
    "enforce_implications",
    "evaluate_predictions",
    "label_weights",
    "load_config",
    "load_schema",
    "predict",
    "predictions_frame",
    "read_corpus",
    "run_demo",
    "run_pipeline",
    "run_study",
    "simulate_corpus",
    "split_corpus",
    "tune_thresholds",
    "violation_rate",
    "violations_per_pair",
    "write_corpus",
]

_LAZY = {
    "TextEncoder": "imbalance_text.model",
    "TextModule": "imbalance_text.module",
    "run_pipeline": "imbalance_text.train",
    "run_study": "imbalance_text.study",
    "predict": "imbalance_text.inference",
    "run_demo": "imbalance_text.demo",
    "analyze": "imbalance_text.analysis",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imbalance_text' has no attribute {name!r}")
