"""Rare-behaviour detection in fixed-camera videos with imbalance-kit, without learning the camera.

Modules, the same skeleton as every imbalance-kit task package:

* :mod:`~imbalance_video.cli`: the ``imbalance-video`` command;
  :mod:`~imbalance_video.config`: the YAML run configuration;
* :mod:`~imbalance_video.simulate`: small confounded mp4 videos;
  :mod:`~imbalance_video.data`: clips, samplers and the Lightning data module;
* :mod:`~imbalance_video.model`: the video networks; :mod:`~imbalance_video.objective`: the
  per-task losses and class weights; :mod:`~imbalance_video.module`: the LightningModule;
* :mod:`~imbalance_video.train`, :mod:`~imbalance_video.evaluate`: a run folder's training
  and its evaluation; :mod:`~imbalance_video.study`: the split-method x seed comparison;
  :mod:`~imbalance_video.demo`: the simulated demo's presets;
* extras of this task: :mod:`~imbalance_video.manifest` (event manifests),
  :mod:`~imbalance_video.labels` (classes and tails), :mod:`~imbalance_video.decode` (PyAV
  decoding and the frame cache), :mod:`~imbalance_video.transforms` (clip augmentation),
  :mod:`~imbalance_video.split` (group / intra-video / boosted splits),
  :mod:`~imbalance_video.scoring` (metrics and the confounding diagnostics),
  :mod:`~imbalance_video.report` (``metrics.json``, ``predictions.csv`` and plots),
  :mod:`~imbalance_video.distributed` (gathering evaluation rows over ranks);
* real data and the tools around a run: :mod:`~imbalance_video.convert` (real
  fixed-camera clips -> motion events), :mod:`~imbalance_video.predictions` (score a
  predictions CSV), :mod:`~imbalance_video.confound` (the standalone confound check),
  :mod:`~imbalance_video.ensemble` (several runs averaged),
  :mod:`~imbalance_video.cli_tools` (their commands).

Light modules (manifests, simulation, splits, clip augmentation, models, config,
scoring) import at once; the Lightning parts (:func:`train`, :func:`evaluate_run`,
:func:`run_study`, :func:`run_demo`, :class:`VideoEventModule`) load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from imbalance_video._version import __version__
from imbalance_video.config import VideoConfig, load_config
from imbalance_video.confound import check_confound
from imbalance_video.convert import ConvertSpec, convert_source, convert_videos
from imbalance_video.decode import VideoCache, decode_video
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.model import VideoClassifier, available_models, build_model, register_model
from imbalance_video.predictions import read_predictions, score_predictions
from imbalance_video.simulate import SimulationSpec, simulate_dataset
from imbalance_video.split import SplitResult, split_manifest
from imbalance_video.transforms import ClipAugment

__all__ = [
    "ClipAugment",
    "ConvertSpec",
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
    "check_confound",
    "convert_source",
    "convert_videos",
    "decode_video",
    "ensemble_runs",
    "evaluate_run",
    "load_config",
    "read_manifest",
    "read_predictions",
    "register_model",
    "run_demo",
    "run_study",
    "score_predictions",
    "simulate_dataset",
    "split_manifest",
    "train",
]

_LAZY = {
    "train": "imbalance_video.train",
    "evaluate_run": "imbalance_video.evaluate",
    "ensemble_runs": "imbalance_video.ensemble",
    "run_demo": "imbalance_video.demo",
    "run_study": "imbalance_video.study",
    "VideoEventModule": "imbalance_video.module",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imbalance_video' has no attribute {name!r}")
