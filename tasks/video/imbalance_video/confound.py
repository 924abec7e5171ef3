"""A standalone camera-confound check over train / validation manifests and predictions.

``imbalance-video confound`` (the field notes' ``check_video_confound``) answers two questions
for any model, this package's or not:

* **Is a camera shortcut available?** From the manifests alone: the videos the two sides
  share, how unevenly the training tail events fall over the videos (``label_video_share``,
  the between-video share of the variance of the tail labels), and ``video_prior_auc``: the
  ROC AUC on the validation events of a "model" that only knows each video's tail rate in the
  training manifest. High means the video alone separates the validation tail events there.
* **Did the model take it?** From a predictions CSV (:mod:`imbalance_video.predictions`):
  the between-video share of the predictions' variance against the labels', probability
  clustering of middling (not saturated) values, the ROC AUC inside each video against the
  ROC AUC over all events (a camera model ranks videos, not events), the metrics on videos
  seen in training against unseen ones, and degenerate outputs.

Each check raises a flag at a documented threshold (:data:`THRESHOLDS`); the verdict says
whether a camera shortcut is available and whether the predictions show signs of using it
(``follows_video``, ``ranks_videos``, ``seen_unseen_gap``). Clustering alone is read as a
per-camera offset: the model ranks the events of a video but gives each camera its own
level, so a threshold need not carry over to other cameras.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from imbalance_kit.app import write_json
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest
from imbalance_video.predictions import PredictionSet
from imbalance_video.scoring import (
    clustering,
    finite_or_none,
    tail_scores,
    task_metrics,
    video_spread,
)

__all__ = ["THRESHOLDS", "check_confound", "format_confound", "within_video_auc"]

#: Where each flag is raised.
THRESHOLDS: dict[str, float] = {
    # the video's training tail rate alone separates validation tail events this well
    "video_prior_auc": 0.75,
    # predictions: between-video share of their variance, and its excess over the labels'
    "video_share": 0.8,
    "video_share_excess": 0.3,
    # share of events whose middling predicted value (not within 0.01 of 0 or 1) is shared
    # by 3 or more events
    "mid_range_clustered_fraction": 0.5,
    # overall ROC AUC at least this while the ROC AUC inside the videos is at most the next
    "overall_auc": 0.7,
    "within_video_auc": 0.6,
    # ROC AUC on videos seen in training minus on unseen videos
    "seen_unseen_auc_gap": 0.15,
}


def _eta_squared(groups: np.ndarray, values: np.ndarray) -> float:
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return math.nan
    between = sum(
        (groups == g).sum() * (values[groups == g].mean() - values.mean()) ** 2
        for g in np.unique(groups)
    )
    return float(between / total)


def _tail_rates(manifest: Manifest, task: TaskLabels) -> dict[str, float]:
    tails: dict[str, list[bool]] = defaultdict(list)
    is_tail = task.is_tail(task.encode(manifest.column(task.name)))
    for video, flag in zip(manifest.video_ids(), is_tail):
        tails[video].append(bool(flag))
    return {v: float(np.mean(f)) for v, f in tails.items()}


def _manifest_side(train: Manifest, val: Manifest, task: TaskLabels) -> dict[str, Any]:
    train_ids, val_ids = set(train.video_ids()), set(val.video_ids())
    rates = _tail_rates(train, task)
    y_train = task.is_tail(task.encode(train.column(task.name))).astype(float)
    y_val = task.is_tail(task.encode(val.column(task.name)))
    val_videos = np.array(val.video_ids())
    seen = np.array([v in rates for v in val_videos])
    prior = np.array([rates.get(v, math.nan) for v in val_videos])
    auc = math.nan
    if seen.any() and 0 < y_val[seen].sum() < seen.sum():
        auc = float(roc_auc_score(y_val[seen], prior[seen]))
    val_tail_videos = {v for v, t in zip(val_videos, y_val) if t}
    return {
        "train_videos": len(train_ids),
        "val_videos": len(val_ids),
        "shared_videos": len(train_ids & val_ids),
        "tail_videos_on_both_sides": len({v for v, r in rates.items() if r > 0} & val_tail_videos),
        "train_tail_share": float(y_train.mean()),
        "label_video_share": _eta_squared(np.array(train.video_ids()), y_train),
        "train_tail_rate_per_video": rates,
        "val_events_of_seen_videos": int(seen.sum()),
        "video_prior_auc": auc,
    }


def _prediction_side(
    predictions: PredictionSet, rates: dict[str, float], split: str | None
) -> dict[str, Any]:
    part = predictions if split is None else predictions.select(split)
    task = part.task
    if len(part.y) == 0:
        return {"events": 0}
    scores = tail_scores(part.probs, task)
    out: dict[str, Any] = {
        "events": int(len(part.y)),
        "metrics": task_metrics(part.y, part.probs, task),
        "clustering": clustering(scores),
    }
    if part.video_ids is None:
        return out
    ids = part.video_ids
    out["video_spread"] = video_spread(ids.tolist(), scores, task.is_tail(part.y))
    seen = np.array([v in rates for v in ids])
    out["seen_vs_unseen"] = {
        group: (task_metrics(part.y[mask], part.probs[mask], task) if mask.any() else None)
        for group, mask in (("seen", seen), ("unseen", ~seen))
    }
    out["within_video"] = within_video_auc(ids, scores, task.is_tail(part.y))
    out["seen_videos"] = len(set(ids[seen].tolist()))
    return out


def within_video_auc(
    video_ids: np.ndarray, scores: np.ndarray, is_tail: np.ndarray
) -> dict[str, Any]:
    """ROC AUC of the scores inside each video that has both kinds of events, averaged
    (weighted by events): whether the model separates the events of one scene.

    A model that scores the camera gives every event of a video about the same value: 0.5
    inside the videos, however well it ranks the videos against each other.

    Examples:
        >>> ids = np.array(["a", "a", "b", "b"])
        >>> within_video_auc(ids, np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 1, 0]))
        {'auc': 0.5, 'videos': 2, 'events': 4}
    """
    aucs, weights = [], []
    for video in np.unique(video_ids):
        mask = video_ids == video
        y = np.asarray(is_tail[mask], dtype=bool)
        if 0 < y.sum() < len(y):
            aucs.append(float(roc_auc_score(y, scores[mask])))
            weights.append(int(mask.sum()))
    if not aucs:
        return {"auc": math.nan, "videos": 0, "events": 0}
    return {
        "auc": float(np.average(aucs, weights=weights)),
        "videos": len(aucs),
        "events": int(sum(weights)),
    }


def _flags(manifests: dict[str, Any], preds: dict[str, Any] | None) -> dict[str, str]:
    t = THRESHOLDS
    flags: dict[str, str] = {}
    auc = manifests["video_prior_auc"]
    if not math.isnan(auc) and auc >= t["video_prior_auc"]:
        flags["video_prior"] = (
            f"the training tail rate of each video alone separates the validation tail events "
            f"(ROC AUC {auc:.2f} >= {t['video_prior_auc']}): a camera shortcut is available"
        )
    if not preds or not preds.get("events"):
        return flags
    if preds["metrics"]["degenerate"]:
        flags["degenerate"] = f"degenerate predictions: {preds['metrics']['degenerate']}"
    fraction = preds["clustering"]["mid_range_clustered_fraction"]
    if fraction >= t["mid_range_clustered_fraction"]:
        flags["clustering"] = (
            f"{fraction:.0%} of the events share a middling predicted value with 2+ others "
            f"(>= {t['mid_range_clustered_fraction']:.0%}): scores repeat, e.g. per video"
        )
    spread = preds.get("video_spread")
    if spread and not math.isnan(spread["video_share"] if spread["video_share"] is not None
                                 else math.nan):  # fmt: skip
        share, labels = spread["video_share"], spread["label_video_share"]
        labels = 0.0 if labels is None or math.isnan(labels) else labels
        if share >= t["video_share"] and share - labels >= t["video_share_excess"]:
            flags["follows_video"] = (
                f"{share:.2f} of the predictions' variance lies between videos, against "
                f"{labels:.2f} of the labels': the scores follow the video"
            )
    overall = preds["metrics"]["roc_auc"]
    inside = (preds.get("within_video") or {}).get("auc")
    if inside is not None and not math.isnan(inside) and not math.isnan(overall):
        if overall >= t["overall_auc"] and inside <= t["within_video_auc"]:
            flags["ranks_videos"] = (
                f"ROC AUC {overall:.2f} over all events but {inside:.2f} inside the "
                f"{preds['within_video']['videos']} videos with both kinds of events: the "
                "model ranks the videos, not the events"
            )
    groups = preds.get("seen_vs_unseen") or {}
    seen, unseen = groups.get("seen"), groups.get("unseen")
    if seen and unseen and not (math.isnan(seen["roc_auc"]) or math.isnan(unseen["roc_auc"])):
        gap = seen["roc_auc"] - unseen["roc_auc"]
        if gap >= t["seen_unseen_auc_gap"]:
            flags["seen_unseen_gap"] = (
                f"ROC AUC {seen['roc_auc']:.2f} on videos seen in training against "
                f"{unseen['roc_auc']:.2f} on unseen ones"
            )
    return flags


def check_confound(
    train: Manifest,
    val: Manifest,
    predictions: PredictionSet | None = None,
    *,
    task: str = "label",
    tail: list[str] | None = None,
    split: str | None = "val",
    out: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Check a split (and a model's predictions on it) for a camera confound.

    Args:
        train: the training events.
        val: the validation events.
        predictions: a model's predictions (:func:`imbalance_video.predictions.read_predictions`);
            ``None`` checks the manifests only.
        task: the label column.
        tail: tail classes (default: the predictions' tail, else the rarest training class).
        split: the predictions' split to check (``None``: every row; a file without a split
            column has only ``"all"``, which is used then).
        out: a JSON file for the report (written atomically).

    Returns:
        ``{"manifests": ..., "predictions": ... | None, "flags": {name: message},
        "verdict": text, "thresholds": THRESHOLDS}``.

    Examples:
        >>> rows = [{"video_path": f"{v}.mp4", "video_id": v, "event_id": f"{v}{i}",
        ...          "start_frame": "0", "end_frame": "8", "label": str(int(v == "a" and i < 3))}
        ...         for v in "abc" for i in range(6)]
        >>> m = Manifest(rows)
        >>> report = check_confound(m.subset(range(0, 18, 2)), m.subset(range(1, 18, 2)))
        >>> report["manifests"]["video_prior_auc"], sorted(report["flags"])
        (0.875, ['video_prior'])
    """
    if tail is None and predictions is not None:
        tail = [predictions.task.classes[i] for i in predictions.task.tail]
    labels = TaskLabels.from_values(
        task,
        train.column(task),
        tail,
        classes=predictions.task.classes if predictions is not None else None,
        tail_key="--tail",
    )
    manifests = {"side": split or "val", **_manifest_side(train, val, labels)}
    preds = None
    if predictions is not None:
        chosen = split if split in set(predictions.splits.tolist()) else None
        preds = _prediction_side(predictions, manifests["train_tail_rate_per_video"], chosen)
        preds["split"] = chosen or "all rows"
    flags = _flags(manifests, preds)
    uses = [k for k in ("follows_video", "ranks_videos", "seen_unseen_gap") if k in flags]
    available = "video_prior" in flags
    if uses:
        verdict = f"camera confound suspected: the predictions show {', '.join(uses)}"
    elif "clustering" in flags:
        inside = preds["within_video"]["auc"] if preds else None
        shown = "n/a" if inside is None or math.isnan(inside) else f"{inside:.2f}"
        verdict = (
            "the scores repeat per video (a per-camera offset) while they rank the events "
            f"inside the videos (ROC AUC {shown}): a threshold set on some cameras may not "
            "hold on others"
        )
    elif preds is None:
        verdict = (
            "a camera shortcut is available in this split (no predictions checked)"
            if available
            else "no camera shortcut in the manifests (no predictions checked)"
        )
    else:
        verdict = "no sign that the predictions follow the camera" + (
            " (a camera shortcut is available in this split)" if available else ""
        )
    report = finite_or_none(
        {
            "manifests": manifests,
            "predictions": preds,
            "flags": flags,
            "verdict": verdict,
            "thresholds": dict(THRESHOLDS),
        }
    )
    if out is not None:
        write_json(out, report)
    return report


def format_confound(report: dict[str, Any]) -> str:
    """The report as a few lines of text (what ``imbalance-video confound`` prints)."""
    m = report["manifests"]

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"videos: {m['train_videos']} train, {m['val_videos']} {m['side']}, "
        f"{m['shared_videos']} shared "
        f"({m['tail_videos_on_both_sides']} with tail events on both sides)",
        f"training tail share {m['train_tail_share']:.3f}; between-video share of the labels "
        f"{num(m['label_video_share'])}; video-prior ROC AUC {num(m['video_prior_auc'])} "
        f"({m['val_events_of_seen_videos']} {m['side']} events of seen videos)",
    ]
    p = report.get("predictions")
    if p and p.get("events"):
        metrics = p["metrics"]
        lines.append(
            f"predictions ({p['split']}, {p['events']} events): tail recall "
            f"{num(metrics['tail_recall'])}, ROC AUC {num(metrics['roc_auc'])}, clustered "
            f"fraction {num(p['clustering']['clustered_fraction'])} (in mid-range clusters "
            f"{num(p['clustering']['mid_range_clustered_fraction'])})"
        )
        if "video_spread" in p:
            lines.append(
                f"between-video share: predictions {num(p['video_spread']['video_share'])}, "
                f"labels {num(p['video_spread']['label_video_share'])}; ROC AUC inside videos "
                f"{num(p['within_video']['auc'])} ({p['within_video']['videos']} videos); "
                f"{p['seen_videos']} videos seen in training"
            )
    for name, message in report["flags"].items():
        lines.append(f"FLAG {name}: {message}")
    lines.append(f"verdict: {report['verdict']}")
    return "\n".join(lines)
