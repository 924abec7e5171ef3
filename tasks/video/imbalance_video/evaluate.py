"""Evaluate a trained run with TTA: metrics, confounding diagnostics, predictions and plots.

Outputs in the run folder:

* ``metrics.json``: per split (``val``, ``test``, ...) and task the metrics of
  :func:`imbalance_video.scoring.task_metrics`, the diagnostics (probability
  clustering, per-video prediction spread, linear probe of the video id), the
  seen-vs-unseen-video metrics, the validation-tuned threshold of binary tasks
  and a flat ``summary`` of the first task;
* ``predictions.csv``: one row per event with every task's label, prediction and
  class probabilities;
* ``reliability_<split>.png``, ``video_spread_<split>.png``, ``training_curves.png``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from imbalance_kit.app import (
    check_choice,
    check_positive_int,
    error,
    load_json,
    load_torch,
    write_csv,
    write_json,
)
from imbalance_kit.calibration import plot_reliability_diagram
from imbalance_kit.metrics import best_threshold
from imbalance_video.data import EventClipDataset, check_events
from imbalance_video.decode import VideoCache
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.module import VideoEventModule, aggregate_clips
from imbalance_video.scoring import (
    clustering,
    finite_or_none,
    linear_probe,
    tail_scores,
    task_metrics,
    video_spread,
)

__all__ = ["evaluate_run", "load_module", "predict_manifest"]


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


def _threshold_metrics(
    y_tail: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, float]:
    pred = scores >= threshold
    tp = float((pred & y_tail).sum())
    recall = tp / max(1.0, float(y_tail.sum()))
    precision = tp / float(pred.sum()) if pred.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tail_recall": recall, "tail_precision": precision, "tail_f1": f1}


def _plot_spread(
    path: Path, video_ids: list[str], scores: np.ndarray, is_tail: np.ndarray, title: str
) -> None:
    from matplotlib.figure import Figure

    videos = sorted(set(video_ids))
    x = np.array([videos.index(v) for v in video_ids], dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(x))
    fig = Figure(figsize=(max(4.0, 0.35 * len(videos) + 2), 3.2), layout="constrained")
    ax = fig.subplots()
    ax.scatter(
        x[~is_tail] + jitter[~is_tail], scores[~is_tail], s=12, c="#4c72b0", label="other events"
    )
    ax.scatter(
        x[is_tail] + jitter[is_tail],
        scores[is_tail],
        s=22,
        c="#dd4444",
        marker="^",
        label="tail events",
    )
    ax.set_xticks(range(len(videos)), videos, rotation=90, fontsize=7)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("predicted tail probability")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.savefig(path, dpi=110)


def _plot_history(path: Path, history: list[dict[str, Any]]) -> None:
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for key in ("train_loss", "val_loss"):
        if any(key in r for r in history):
            left.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", ms=3, label=key)
    for key in ("val_tail_recall", "val_tail_f1", "val_roc_auc", "val_macro_f1"):
        if any(key in r for r in history):
            right.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", ms=3, label=key)
    left.set_xlabel("epoch")
    right.set_xlabel("epoch")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    right.set_ylim(-0.02, 1.02)
    fig.savefig(path, dpi=110)


def _write_predictions(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    write_csv(path, [{c: row.get(c, "") for c in columns} for row in rows], columns)


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
    if manifests is None:
        manifests = {k: v for k, v in (("val", cfg.data.val), ("test", cfg.data.test)) if v}
    if not manifests:
        raise error("manifests", "at least one manifest to evaluate", "none", raw=True)
    train_videos: set[str] = set()
    if cfg.data.train and Path(cfg.data.train).is_file():
        train_videos = set(read_manifest(cfg.data.train).video_ids())
    cache = VideoCache(cfg.data.frame_size, cfg.data.cache_dir or run / "cache")
    tasks: list[TaskLabels] = module.task_labels
    diag = cfg.diagnostics
    result: dict[str, Any] = {
        "checkpoint": str(ckpt),
        "tta": {"clips": clips, "aggregate": aggregate, "flip": cfg.tta.flip},
        "tasks": {t.name: t.to_dict() for t in tasks},
        "splits": {},
    }
    pooled: dict[str, list[np.ndarray]] = {"seen": []}
    rows: list[dict[str, Any]] = []
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for split, path in manifests.items():
        manifest = read_manifest(path, label_columns=[t.name for t in tasks])
        check_events(manifest, cache, cfg.data.clip_len, cfg.data.frame_stride)
        pred = predict_manifest(
            module,
            manifest,
            cache,
            clips=clips,
            aggregate=aggregate,
            flip=cfg.tta.flip,
            batch_size=max(1, cfg.data.batch_size // max(1, clips)),
        )
        outputs[split] = pred
        ids = manifest.video_ids()
        seen = np.array([v in train_videos for v in ids])
        pooled["seen"].append(seen)
        split_out: dict[str, Any] = {"events": len(manifest), "videos": len(set(ids)), "tasks": {}}
        for task in tasks:
            y, probs = pred[f"y_{task.name}"], pred[f"p_{task.name}"]
            scores = tail_scores(probs, task)
            is_tail = task.is_tail(y)
            split_out["tasks"][task.name] = {
                **task_metrics(y, probs, task),
                "clustering": clustering(
                    scores, min_repeats=diag.cluster_min_repeats, decimals=diag.cluster_decimals
                ),
                "video_spread": video_spread(ids, scores, is_tail),
            }
            if plots and task is tasks[0]:
                fig = plot_reliability_diagram(
                    probs, y, title=f"{split}: {task.name} (TTA {clips})"
                )
                fig.savefig(run / f"reliability_{split}.png", dpi=110)
                _plot_spread(
                    run / f"video_spread_{split}.png",
                    ids,
                    scores,
                    is_tail,
                    f"{split}: predicted tail probability per video",
                )
        split_out["linear_probe"] = linear_probe(
            pred["embedding"], ids, folds=diag.probe_folds, seed=0
        )
        split_out["seen_videos"] = int(len(set(v for v, s in zip(ids, seen) if s)))
        result["splits"][split] = split_out
        for i, row in enumerate(manifest.rows):
            out = {
                "split": split,
                "video_id": row["video_id"],
                "event_id": row["event_id"],
                "seen_video": int(seen[i]),
            }
            for task in tasks:
                probs = pred[f"p_{task.name}"][i]
                out[f"{task.name}_true"] = task.classes[int(pred[f"y_{task.name}"][i])]
                out[f"{task.name}_pred"] = task.classes[int(probs.argmax())]
                out[f"{task.name}_p_tail"] = f"{float(probs[list(task.tail)].sum()):.6f}"
                for c, name in enumerate(task.classes):
                    out[f"{task.name}_p_{name}"] = f"{float(probs[c]):.6f}"
            rows.append(out)

    # seen vs unseen videos, over every evaluated split
    seen_all = np.concatenate(pooled["seen"])
    result["seen_vs_unseen"] = {}
    for task in tasks:
        y = np.concatenate([o[f"y_{task.name}"] for o in outputs.values()])
        p = np.concatenate([o[f"p_{task.name}"] for o in outputs.values()])
        result["seen_vs_unseen"][task.name] = {
            group: (task_metrics(y[mask], p[mask], task) if mask.any() else None)
            for group, mask in (("seen", seen_all), ("unseen", ~seen_all))
        }

    # decision threshold tuned on validation (binary tasks), applied to every split
    result["threshold"] = {}
    if "val" in outputs:
        for task in tasks:
            y_tail = task.is_tail(outputs["val"][f"y_{task.name}"])
            if task.num_classes != 2 or y_tail.all() or not y_tail.any():
                continue
            choice = best_threshold(
                y_tail.astype(np.int64), tail_scores(outputs["val"][f"p_{task.name}"], task)
            )
            result["threshold"][task.name] = {
                "val_best_f1_threshold": choice.threshold,
                **{
                    split: _threshold_metrics(
                        task.is_tail(o[f"y_{task.name}"]),
                        tail_scores(o[f"p_{task.name}"], task),
                        choice.threshold,
                    )
                    for split, o in outputs.items()
                },
            }

    first = tasks[0].name
    summary: dict[str, Any] = {"task": first}
    for split, split_out in result["splits"].items():
        metrics = split_out["tasks"][first]
        for key in ("tail_recall", "tail_f1", "macro_f1", "roc_auc", "ece"):
            summary[f"{split}_{key}"] = metrics[key]
        summary[f"{split}_clusters"] = metrics["clustering"]["n_clusters"]
        summary[f"{split}_clustered_fraction"] = metrics["clustering"]["clustered_fraction"]
        summary[f"{split}_video_share"] = metrics["video_spread"]["video_share"]
        summary[f"{split}_probe_accuracy"] = split_out["linear_probe"]["accuracy"]
        summary[f"{split}_probe_chance"] = split_out["linear_probe"]["chance"]
        summary[f"{split}_degenerate"] = metrics["degenerate"]
    result["summary"] = summary
    result = finite_or_none(result)
    write_json(run / "metrics.json", result)
    _write_predictions(run / "predictions.csv", rows)
    history = run / "training_history.json"
    if plots and history.is_file():
        _plot_history(run / "training_curves.png", load_json(history))
    return result
