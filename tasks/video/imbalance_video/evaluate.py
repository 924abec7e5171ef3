"""Evaluate a trained run with TTA: metrics, confounding diagnostics, predictions and plots.

The checkpoint is loaded without unpickling, every event of the evaluated manifests is
checked against its video, each event is scored with ``tta.clips`` clips and the report is
written by :func:`imbalance_video.report.score_outputs` (``metrics.json``,
``predictions.csv``, ``reliability_<split>.png``, ``video_spread_<split>.png``,
``training_curves.png`` in the run folder).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from imbalance_kit.app import (
    check_choice,
    check_positive_int,
    error,
    load_torch,
)
from imbalance_video.config import VideoConfig
from imbalance_video.data import EventClipDataset, check_events
from imbalance_video.decode import VideoCache
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.module import VideoEventModule, aggregate_clips
from imbalance_video.report import score_outputs

__all__ = [
    "evaluate_run",
    "load_module",
    "predict_checked",
    "predict_manifest",
    "read_split_manifests",
    "training_videos",
]


def load_module(
    checkpoint: str | os.PathLike[str], *, trust_checkpoint: bool = False
) -> VideoEventModule:
    """Rebuild a trained module from a Lightning checkpoint of this package.

    The file is read with ``torch.load(..., weights_only=True)``
    (:func:`imbalance_kit.app.load_torch`, which also verifies the archive's checksums):
    only tensors and plain data, never arbitrary pickled objects. ``trust_checkpoint=True``
    reads it with full unpickling, for a file you made yourself with other tools.

    Raises:
        FileNotFoundError: no such file.
        imbalance_kit.app.DamagedFileError: a truncated or corrupt file, or one that needs
            unpickling (one line that says how to go on).
        ValueError: not a checkpoint of :class:`imbalance_video.module.VideoEventModule`.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "other.ckpt"
        >>> torch.save({"state_dict": {}}, path)
        >>> load_module(path)
        Traceback (most recent call last):
        ...
        ValueError: checkpoint must be a Lightning checkpoint of imbalance_video, got ...
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint must be an existing file, got {str(path)!r}")
    if trust_checkpoint:
        state = torch.load(path, map_location="cpu", weights_only=False)
    else:
        state = load_torch(
            path,
            what="checkpoint",
            hint=(
                "train the run again (train --restart) or evaluate --checkpoint last; "
                "a file that needs unpickling loads only with --trust-checkpoint"
            ),
        )
    if (
        not isinstance(state, Mapping)
        or "hyper_parameters" not in state
        or "state_dict" not in state
    ):
        raise error("checkpoint", "a Lightning checkpoint of imbalance_video", str(path), raw=True)
    module = VideoEventModule(**state["hyper_parameters"])
    module.load_state_dict(state["state_dict"])
    return module.eval()


@torch.no_grad()
def predict_manifest(
    module: VideoEventModule,
    manifest: Manifest,
    cache: VideoCache,
    *,
    clips: int = 5,
    aggregate: str = "mean",
    flip: bool = False,
    batch_size: int = 8,
) -> dict[str, np.ndarray]:
    """TTA predictions for every event: ``p_<task>`` ``(N, C)``, ``y_<task>``, ``embedding``.

    ``clips`` evenly spaced clips per event are scored and their probabilities
    aggregated (``"mean"`` or ``"max"``); ``embedding`` is the mean backbone
    embedding over the clips (what the linear probe reads).

    Examples:
        >>> import tempfile
        >>> from imbalance_video import SimulationSpec, VideoConfig, simulate_dataset
        >>> from imbalance_video.objective import compute_task_weights
        >>> from imbalance_video.train import build_tasks
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = simulate_dataset(root, SimulationSpec(n_videos=2, n_test_videos=0,
        ...     events_per_video=3, event_frames=4, gap_frames=1, size=16))
        >>> events = read_manifest(root / "manifest.csv")
        >>> config = VideoConfig.from_dict({"data": {"frame_size": 16, "clip_len": 4},
        ...                                 "model": {"width": 4, "embed_dim": 8}})
        >>> tasks = build_tasks(config, events)
        >>> counts, weights = compute_task_weights(config, tasks, events)
        >>> module = VideoEventModule(config.to_dict(), [t.to_dict() for t in tasks], counts)
        >>> out = predict_manifest(module, events, VideoCache(16), clips=3)
        >>> out["p_label"].shape, out["embedding"].shape
        ((6, 2), (6, 8))
    """
    check_positive_int("clips", clips)
    check_choice("aggregate", aggregate, ("mean", "max"))
    cfg = module.config
    dataset = EventClipDataset(
        manifest,
        cache,
        module.task_labels,
        clip_len=cfg.data.clip_len,
        frame_stride=cfg.data.frame_stride,
        clips_per_event=clips,
        flip_tta=flip,
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    module.eval()
    out: dict[str, list[np.ndarray]] = {"embedding": []}
    for task in module.task_labels:
        out[f"p_{task.name}"], out[f"y_{task.name}"] = [], []
    device = module.device
    for batch in loader:
        x = batch["clip"].to(device)
        n, k = x.shape[:2]
        z = module.model.embed(x.flatten(0, 1))
        logits = module.model.classify(z)
        out["embedding"].append(z.view(n, k, -1).mean(dim=1).cpu().numpy())
        for task in module.task_labels:
            probs = torch.softmax(logits[task.name].float(), dim=1).view(n, k, -1)
            out[f"p_{task.name}"].append(aggregate_clips(probs, aggregate).cpu().numpy())
            out[f"y_{task.name}"].append(batch["targets"][task.name].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def evaluate_run(
    run_dir: str | os.PathLike[str],
    *,
    checkpoint: str = "best",
    manifests: Mapping[str, str | os.PathLike[str]] | None = None,
    clips: int | None = None,
    aggregate: str | None = None,
    trust_checkpoint: bool = False,
    plots: bool = True,
) -> dict[str, Any]:
    """Evaluate a run folder's checkpoint on its validation and test manifests.

    Args:
        run_dir: a folder written by :func:`imbalance_video.train.train`.
        checkpoint: ``"best"``, ``"last"`` or a path to a checkpoint file.
        manifests: split name -> manifest; default: the config's ``val`` and ``test``.
        clips: TTA clips per event (default: the config's ``tta.clips``).
        aggregate: ``"mean"`` or ``"max"`` (default: the config's ``tta.aggregate``).
        trust_checkpoint: allow full unpickling of the checkpoint (see :func:`load_module`).
        plots: write the PNG files.

    Returns:
        The content of ``metrics.json``.

    Raises:
        FileNotFoundError: the run folder, the checkpoint or a manifest is missing.
        ValueError: no manifest to evaluate.

    Examples:
        >>> import tempfile
        >>> from imbalance_video import (SimulationSpec, VideoConfig, simulate_dataset,
        ...                              split_manifest, train)
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = simulate_dataset(root, SimulationSpec(n_videos=3, n_test_videos=1,
        ...     events_per_video=4, event_frames=4, gap_frames=1, size=16, tail_share=0.25))
        >>> paths = split_manifest(read_manifest(root / "manifest.csv"), "intravideo",
        ...     test_manifest=read_manifest(root / "test_manifest.csv"), val_share=0.5,
        ... ).write(root / "split")
        >>> config = VideoConfig.from_dict({
        ...     "data": {"train": paths["train"], "val": paths["val"], "test": paths["test"],
        ...              "frame_size": 16, "clip_len": 4},
        ...     "model": {"name": "c3d", "width": 4, "embed_dim": 8},
        ...     "training": {"epochs": 1, "num_threads": 1}, "tta": {"clips": 2},
        ...     "diagnostics": {"probe_folds": 2}})
        >>> _ = train(config, root / "run", progress=False)
        >>> result = evaluate_run(root / "run", plots=False)
        >>> sorted(result["splits"]), result["seen_vs_unseen"]["label"]["unseen"]["n_events"]
        (['test', 'val'], 4)
    """
    run = Path(run_dir)
    ckpt = run / f"{checkpoint}.ckpt" if checkpoint in ("best", "last") else Path(checkpoint)
    module = load_module(ckpt, trust_checkpoint=trust_checkpoint)
    cfg = module.config
    threads = torch.get_num_threads()
    if cfg.training.num_threads is not None:
        torch.set_num_threads(cfg.training.num_threads)
    try:
        return _evaluate(run, ckpt, module, manifests, clips, aggregate, plots)
    finally:
        torch.set_num_threads(threads)


def _evaluate(
    run: Path,
    ckpt: Path,
    module: VideoEventModule,
    manifests: Mapping[str, str | os.PathLike[str]] | None,
    clips: int | None,
    aggregate: str | None,
    plots: bool,
) -> dict[str, Any]:
    cfg = module.config
    clips = cfg.tta.clips if clips is None else clips
    aggregate = cfg.tta.aggregate if aggregate is None else aggregate
    events = read_split_manifests(cfg, manifests, module.task_labels)
    cache = VideoCache(cfg.data.frame_size, cfg.data.cache_dir or run / "cache")
    outputs = {
        split: predict_checked(module, manifest, cache, clips=clips, aggregate=aggregate)
        for split, manifest in events.items()
    }
    header = {
        "checkpoint": str(ckpt),
        "tta": {"clips": clips, "aggregate": aggregate, "flip": cfg.tta.flip},
    }
    return score_outputs(
        run,
        module.task_labels,
        events,
        outputs,
        train_videos=training_videos([cfg]),
        diagnostics=cfg.diagnostics,
        header=header,
        plots=plots,
        plot_note=f"TTA {clips}",
        history=run / "training_history.json",
    )


def read_split_manifests(
    cfg: VideoConfig,
    manifests: Mapping[str, str | os.PathLike[str]] | None,
    tasks: Sequence[TaskLabels],
) -> dict[str, Manifest]:
    """The manifests to evaluate: ``manifests``, or the config's ``val`` and ``test``."""
    if manifests is None:
        manifests = {k: v for k, v in (("val", cfg.data.val), ("test", cfg.data.test)) if v}
    if not manifests:
        raise error("manifests", "at least one manifest to evaluate", "none", raw=True)
    return {
        split: read_manifest(path, label_columns=[t.name for t in tasks])
        for split, path in manifests.items()
    }


def training_videos(configs: Sequence[VideoConfig]) -> set[str]:
    """The video ids of the training manifests of ``configs`` (the "seen" videos)."""
    seen: set[str] = set()
    for cfg in configs:
        if cfg.data.train and Path(cfg.data.train).is_file():
            seen |= set(read_manifest(cfg.data.train).video_ids())
    return seen


def predict_checked(
    module: VideoEventModule, manifest: Manifest, cache: VideoCache, *, clips: int, aggregate: str
) -> dict[str, np.ndarray]:
    """:func:`check_events` (bad files and bounds named), then :func:`predict_manifest`."""
    cfg = module.config
    check_events(manifest, cache, cfg.data.clip_len, cfg.data.frame_stride)
    return predict_manifest(
        module,
        manifest,
        cache,
        clips=clips,
        aggregate=aggregate,
        flip=cfg.tta.flip,
        batch_size=max(1, cfg.data.batch_size // max(1, clips)),
    )
