"""Rare-behaviour detection in fixed-camera videos with imbalance-kit, without learning the camera.

Light modules (manifests, simulation, splits, clip augmentation, models, config,
scoring) import at once; the Lightning parts (:func:`train`, :func:`evaluate_run`,
:func:`run_demo`, :class:`VideoEventModule`) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from imbalance_video._version import __version__
from imbalance_video.config import VideoConfig, load_config
from imbalance_video.decode import VideoCache, decode_video
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.models import VideoClassifier, available_models, build_model, register_model
from imbalance_video.simulate import SimulationSpec, simulate_dataset
from imbalance_video.split import SplitResult, split_manifest
from imbalance_video.transforms import ClipAugment

__all__ = [
    "ClipAugment",
    "Manifest",
    "SimulationSpec",
    "SplitResult",
    "TaskLabels",
    "VideoCache",
    "VideoClassifier",
    "VideoConfig",
    "VideoEventModule",
    "__version__",
    "available_models",
    "build_model",
    "decode_video",
    "evaluate_run",
    "load_config",
    "read_manifest",
    "register_model",
    "run_demo",
    "simulate_dataset",
    "split_manifest",
    "train",
]

_LAZY = {
    "train": "imbalance_video.training",
    "evaluate_run": "imbalance_video.evaluate",
    "run_demo": "imbalance_video.demo",
    "VideoEventModule": "imbalance_video.module",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imbalance_video' has no attribute {name!r}")
