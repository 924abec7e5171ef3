"""Per-task metrics and the confounding diagnostics.

Every imbalance metric comes from :mod:`imbalance_kit.metrics` and
:mod:`imbalance_kit.calibration`; scikit-learn adds ROC AUC, F1 of the tail classes
and the linear probe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

from imbalance_kit.app import check_positive_int, error
from imbalance_kit.metrics import imbalance_report, probability_clustering, tail_recall
from imbalance_video.labels import TaskLabels

__all__ = [
    "DEGENERATE_RANGE",
    "SATURATION",
    "clustering",
    "degenerate_outputs",
    "finite_or_none",
    "linear_probe",
    "tail_scores",
    "task_metrics",
    "video_spread",
]


def finite_or_none(value: Any) -> Any:
    """NaN/inf -> ``None`` recursively, so the result is strict JSON.

    Examples:
        >>> finite_or_none({"a": float("nan"), "b": [1.0, float("inf")]})
        {'a': None, 'b': [1.0, None]}
    """
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


#: Tail probabilities whose range is at most this (all within 0.001 of their middle) are
#: near-constant: the model gives every event the same score.
DEGENERATE_RANGE = 0.002


def degenerate_outputs(probs: np.ndarray, task: TaskLabels) -> str | None:
    """Why a model's outputs on these events are degenerate, or ``None`` when they are not.

    Degenerate: near-constant tail probabilities (range at most :data:`DEGENERATE_RANGE`,
    e.g. every event at 0.500 +- 0.001), or the same predicted class for every event. Such
    a model ranks nothing, and its tail recall (1.0 when that class is the tail, 0.0 when
    it is not) says nothing about it.

    Examples:
        >>> task = TaskLabels("label", ("0", "1"), (1,))
        >>> p1 = np.array([0.5004, 0.4998, 0.5001])
        >>> degenerate_outputs(np.stack([1 - p1, p1], 1), task)
        'near-constant predictions: every tail probability within 0.001 of 0.500'
        >>> p1 = np.array([0.9, 0.6, 0.7])
        >>> degenerate_outputs(np.stack([1 - p1, p1], 1), task)
        "one predicted class ('1') for every event"
        >>> degenerate_outputs(np.array([[0.9, 0.1], [0.2, 0.8]]), task) is None
        True
    """
    if len(probs) < 2:
        return None
    scores = tail_scores(probs, task)
    low, high = float(scores.min()), float(scores.max())
    if high - low <= DEGENERATE_RANGE:
        middle = (low + high) / 2
        return (
            "near-constant predictions: every tail probability within "
            f"{DEGENERATE_RANGE / 2:g} of {middle:.3f}"
        )
    predicted = np.unique(probs.argmax(axis=1))
    if len(predicted) == 1:
        return f"one predicted class ({task.classes[int(predicted[0])]!r}) for every event"
    return None


def tail_scores(probs: np.ndarray, task: TaskLabels) -> np.ndarray:
    """Probability that an event belongs to the task's tail (sum over tail classes)."""
    return probs[:, list(task.tail)].sum(axis=1)


def task_metrics(y: np.ndarray, probs: np.ndarray, task: TaskLabels) -> dict[str, Any]:
    """Tail recall, tail F1, macro-F1, ROC AUC, ECE and more for one task.

    Predictions are the ``argmax`` of ``probs``. ``tail_recall`` is the mean recall
    of the tail classes (:func:`imbalance_kit.metrics.tail_recall`), ``tail_f1``
    their mean F1; ``roc_auc`` ranks events by their tail probability (sum over the
    tail classes) against "is a tail event" (NaN with one kind only);
    ``macro_f1``, ``balanced_accuracy``, ``accuracy``, ``pr_auc``, ``ece``
    (top-label, 15 bins) and ``brier`` come from
    :func:`imbalance_kit.metrics.imbalance_report`.

    ``score_range`` (max - min of the tail probabilities), ``predicted_classes`` and
    ``degenerate`` (the reason from :func:`degenerate_outputs`, ``None`` for a model that
    separates the events) say whether the numbers mean anything: a near-constant model
    can show a tail recall of 1.0.

    Args:
        y: ``(N,)`` class indices.
        probs: ``(N, C)`` class probabilities (rows sum to 1).
        task: the task's classes and tail.

    Returns:
        A dict of floats (NaN where undefined) plus ``n_events``, ``tail_events``,
        ``predicted_classes`` and ``degenerate``.

    Examples:
        >>> task = TaskLabels("label", ("0", "1"), (1,))
        >>> y = np.array([0, 0, 0, 1, 1])
        >>> p1 = np.array([0.1, 0.2, 0.6, 0.7, 0.4])
        >>> m = task_metrics(y, np.stack([1 - p1, p1], 1), task)
        >>> m["tail_recall"], round(m["tail_f1"], 3), round(m["roc_auc"], 3)
        (0.5, 0.5, 0.833)
    """
    if probs.ndim != 2 or probs.shape[0] != y.shape[0] or probs.shape[1] != task.num_classes:
        raise error("probs", f"shape ({y.shape[0]}, {task.num_classes})", probs)
    pred = probs.argmax(axis=1)
    tail = list(task.tail)
    is_tail = task.is_tail(y)
    report = imbalance_report(
        torch.from_numpy(probs.astype(np.float64)),
        torch.from_numpy(y),
        class_names=list(task.classes),
    )
    scores = tail_scores(probs, task)
    auc = float(roc_auc_score(is_tail, scores)) if 0 < is_tail.sum() < len(y) else math.nan
    recall = tail_recall(
        torch.from_numpy(pred), torch.from_numpy(y), tail_classes=tail, num_classes=task.num_classes
    )
    return {
        "n_events": int(len(y)),
        "tail_events": int(is_tail.sum()),
        "tail_recall": float(recall),
        "tail_f1": float(f1_score(y, pred, labels=tail, average="macro", zero_division=0)),
        "macro_f1": report["macro_f1"],
        "balanced_accuracy": report["balanced_accuracy"],
        "accuracy": report["accuracy"],
        "roc_auc": auc,
        "pr_auc": report["pr_auc"],
        "ece": report["ece"],
        "brier": report["brier"],
        "score_range": float(scores.max() - scores.min()) if len(scores) else math.nan,
        "predicted_classes": int(len(np.unique(pred))),
        "degenerate": degenerate_outputs(probs, task),
    }


#: Tail probabilities this close to 0 or 1 are saturated (confident) predictions.
SATURATION = 0.01


def clustering(scores: np.ndarray, *, min_repeats: int = 3, decimals: int = 3) -> dict[str, Any]:
    """Predicted values shared by ``min_repeats`` or more events (a memorisation symptom).

    A wrapper of :func:`imbalance_kit.metrics.probability_clustering` on scores
    rounded to ``decimals``. A confident model also repeats values, at 0.000 or 1.000;
    ``mid_range_clustered_fraction`` counts only the events in clusters strictly between
    :data:`SATURATION` and ``1 - SATURATION`` (as a share of all events): the repeated
    middling values a model that scores the camera gives every event of a camera.

    Examples:
        >>> c = clustering(np.array([0.9, 0.9, 0.9, 0.0, 0.0, 0.0, 0.2]))
        >>> c["n_clusters"], round(c["clustered_fraction"], 3)
        (2, 0.857)
        >>> round(c["mid_range_clustered_fraction"], 3)  # the 0.9s only
        0.429
    """
    values = np.asarray(scores, dtype=np.float64)
    result = probability_clustering(
        torch.from_numpy(values), min_repeats=min_repeats, decimals=decimals
    )
    middle = values[(values > SATURATION) & (values < 1 - SATURATION)]
    mid = 0.0
    if len(middle) >= min_repeats:
        inner = probability_clustering(
            torch.from_numpy(middle), min_repeats=min_repeats, decimals=decimals
        )
        mid = inner.clustered_fraction * len(middle) / max(1, len(values))
    return {
        **result._asdict(),
        "mid_range_clustered_fraction": float(mid),
        "min_repeats": min_repeats,
        "decimals": decimals,
    }


def video_spread(
    video_ids: Sequence[str], scores: np.ndarray, is_tail: np.ndarray
) -> dict[str, Any]:
    """How much of the spread of the predictions lies *between* videos.

    ``video_share`` is the between-video share of the variance of the scores
    (eta squared, the sum of squares of the video means over the total sum of
    squares): near 1 when every event of a video gets about the same score (the
    model scores the camera), low when scores vary inside each video. Compare it
    with ``label_video_share``, the same quantity for the 0/1 tail labels: a model
    that scores the behaviour has a video share close to the labels'.

    Returns:
        ``video_share``, ``label_video_share``, ``mean_within_std`` (mean over
        videos of the score's standard deviation), ``between_std`` (standard
        deviation of the video means) and ``per_video``: ``{video: {events,
        tail_events, mean, std, min, max}}``.

    Examples:
        >>> spread = video_spread(["a", "a", "b", "b"], np.array([0.9, 0.9, 0.1, 0.1]),
        ...                       np.array([True, False, True, False]))
        >>> spread["video_share"], spread["label_video_share"]
        (1.0, 0.0)
    """
    ids = np.asarray(video_ids)
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(is_tail, dtype=np.float64)

    def eta_squared(values: np.ndarray) -> float:
        total = float(((values - values.mean()) ** 2).sum())
        if total == 0:
            return math.nan
        between = sum(
            (ids == v).sum() * (values[ids == v].mean() - values.mean()) ** 2
            for v in np.unique(ids)
        )
        return float(between / total)

    per_video: dict[str, Any] = {}
    for video in np.unique(ids):
        mask = ids == video
        values = scores[mask]
        per_video[str(video)] = {
            "events": int(mask.sum()),
            "tail_events": int(labels[mask].sum()),
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    means = np.array([v["mean"] for v in per_video.values()])
    return {
        "video_share": eta_squared(scores),
        "label_video_share": eta_squared(labels),
        "mean_within_std": float(np.mean([v["std"] for v in per_video.values()])),
        "between_std": float(means.std()),
        "per_video": per_video,
    }


def linear_probe(
    embeddings: np.ndarray, video_ids: Sequence[str], *, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Cross-validated accuracy of a linear classifier predicting the video from embeddings.

    A standardised logistic regression, scored with stratified k-fold
    cross-validation (``k = min(folds, events of the smallest video)``; videos with
    a single event are left out). Accuracy far above ``chance`` (the share of the
    largest video) means the embedding encodes the camera: the features a head
    could use as a shortcut.

    Returns:
        ``accuracy``, ``chance``, ``n_videos``, ``n_events``, ``folds``; NaN
        accuracy when fewer than two videos have two or more events.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> ids = np.repeat(["a", "b", "c"], 10)
        >>> emb = rng.normal(size=(30, 4)) + np.repeat(np.eye(3, 4) * 5, 10, axis=0)
        >>> probe = linear_probe(emb, ids)
        >>> probe["accuracy"], round(probe["chance"], 3)
        (1.0, 0.333)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_positive_int("folds", folds, minimum=2)
    ids = np.asarray(video_ids)
    videos, counts = np.unique(ids, return_counts=True)
    keep = np.isin(ids, videos[counts >= 2])
    kept_videos = videos[counts >= 2]
    result: dict[str, Any] = {"n_videos": int(len(kept_videos)), "n_events": int(keep.sum())}
    if len(kept_videos) < 2:
        return {**result, "accuracy": math.nan, "chance": math.nan, "folds": 0}
    k = int(min(folds, counts[counts >= 2].min()))
    x, y = np.asarray(embeddings, dtype=np.float64)[keep], ids[keep]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores = cross_val_score(model, x, y, cv=cv, scoring="accuracy")
    chance = float(counts[counts >= 2].max() / keep.sum())
    return {**result, "accuracy": float(scores.mean()), "chance": chance, "folds": k}
