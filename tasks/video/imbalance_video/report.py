"""The report of a model's predictions: ``metrics.json``, ``predictions.csv`` and plots.

:func:`score_outputs` turns TTA-aggregated probabilities (of a run,
:func:`imbalance_video.evaluate.evaluate_run`, or of an ensemble,
:func:`imbalance_video.ensemble.ensemble_runs`) into:

* ``metrics.json``: per split (``val``, ``test``, ...) and task the metrics of
  :func:`imbalance_video.scoring.task_metrics`, the diagnostics (probability clustering,
  per-video prediction spread, linear probe of the video id), the seen-vs-unseen-video
  metrics, the validation-tuned threshold of binary tasks and a flat ``summary`` of the
  first task;
* ``predictions.csv``: one row per event with every task's label, prediction and class
  probabilities;
* ``reliability_<split>.png``, ``video_spread_<split>.png``, ``training_curves.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import load_json, write_csv, write_json
from imbalance_kit.calibration import plot_reliability_diagram
from imbalance_kit.metrics import best_threshold
from imbalance_video.config import DiagnosticsConfig
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest
from imbalance_video.scoring import (
    clustering,
    finite_or_none,
    linear_probe,
    tail_scores,
    task_metrics,
    video_spread,
)

__all__ = ["score_outputs"]


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


def score_outputs(
    out: Path,
    tasks: Sequence[TaskLabels],
    manifests: Mapping[str, Manifest],
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    train_videos: set[str],
    diagnostics: DiagnosticsConfig,
    header: Mapping[str, Any],
    plots: bool = True,
    plot_note: str = "",
    history: Path | None = None,
) -> dict[str, Any]:
    """Metrics, diagnostics, ``metrics.json``, ``predictions.csv`` and plots of predictions.

    The scoring half of :func:`evaluate_run`, shared with
    :func:`imbalance_video.ensemble.ensemble_runs`.

    Args:
        out: the folder the files go to.
        tasks: the tasks' classes and tails.
        manifests: split -> the events predicted.
        outputs: split -> ``p_<task>`` ``(N, C)``, ``y_<task>`` ``(N,)``, ``embedding``.
        train_videos: the videos the model was trained on ("seen").
        diagnostics: clustering and probe settings.
        header: entries put first in the result (checkpoint, TTA settings, members).
        plots: write the PNG files.
        plot_note: added to the plot titles.
        history: a ``training_history.json`` to plot (``None``: no curves).
    """
    diag = diagnostics
    result: dict[str, Any] = {
        **header,
        "tasks": {t.name: t.to_dict() for t in tasks},
        "splits": {},
    }
    seen_parts: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for split, manifest in manifests.items():
        pred = outputs[split]
        ids = manifest.video_ids()
        seen = np.array([v in train_videos for v in ids])
        seen_parts.append(seen)
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
                title = f"{split}: {task.name}" + (f" ({plot_note})" if plot_note else "")
                fig = plot_reliability_diagram(probs, y, title=title)
                fig.savefig(out / f"reliability_{split}.png", dpi=110)
                _plot_spread(
                    out / f"video_spread_{split}.png",
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
            line = {
                "split": split,
                "video_id": row["video_id"],
                "event_id": row["event_id"],
                "seen_video": int(seen[i]),
            }
            for task in tasks:
                probs = pred[f"p_{task.name}"][i]
                line[f"{task.name}_true"] = task.classes[int(pred[f"y_{task.name}"][i])]
                line[f"{task.name}_pred"] = task.classes[int(probs.argmax())]
                line[f"{task.name}_p_tail"] = f"{float(probs[list(task.tail)].sum()):.6f}"
                for c, name in enumerate(task.classes):
                    line[f"{task.name}_p_{name}"] = f"{float(probs[c]):.6f}"
            rows.append(line)

    # seen vs unseen videos, over every evaluated split
    seen_all = np.concatenate(seen_parts)
    result["seen_vs_unseen"] = {}
    for task in tasks:
        y = np.concatenate([outputs[s][f"y_{task.name}"] for s in manifests])
        p = np.concatenate([outputs[s][f"p_{task.name}"] for s in manifests])
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
                tail_scores(outputs["val"][f"p_{task.name}"], task), y_tail.astype(np.int64)
            )
            result["threshold"][task.name] = {
                "val_best_f1_threshold": choice.threshold,
                **{
                    split: _threshold_metrics(
                        task.is_tail(outputs[split][f"y_{task.name}"]),
                        tail_scores(outputs[split][f"p_{task.name}"], task),
                        choice.threshold,
                    )
                    for split in manifests
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
    write_json(out / "metrics.json", result)
    _write_predictions(out / "predictions.csv", rows)
    if plots and history is not None and history.is_file():
        _plot_history(out / "training_curves.png", load_json(history))
    return result
