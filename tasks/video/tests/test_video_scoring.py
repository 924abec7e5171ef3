"""Per-task metrics, diagnostics, TTA aggregation and the cross-rank gather."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from imbalance_video.labels import TaskLabels, infer_classes
from imbalance_video.scoring import (
    clustering,
    finite_or_none,
    linear_probe,
    task_metrics,
    video_spread,
)
from sklearn.metrics import f1_score, recall_score, roc_auc_score

from imbalance_kit.metrics import probability_clustering


def _numpy_top_label_ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(axis=1)
    hit = (probs.argmax(axis=1) == y).astype(float)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return total


@pytest.mark.parametrize("seed", range(4))
def test_task_metrics_against_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n, k = 60, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    task = TaskLabels("severity", ("0", "1", "2", "3"), (2, 3))
    m = task_metrics(y, probs, task)
    pred = probs.argmax(axis=1)
    tail_recalls = recall_score(y, pred, labels=[2, 3], average=None, zero_division=0)
    assert m["tail_recall"] == pytest.approx(tail_recalls.mean())
    assert m["tail_f1"] == pytest.approx(f1_score(y, pred, labels=[2, 3], average="macro"))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    is_tail = np.isin(y, [2, 3])
    assert m["roc_auc"] == pytest.approx(roc_auc_score(is_tail, probs[:, 2] + probs[:, 3]))
    assert m["ece"] == pytest.approx(_numpy_top_label_ece(probs, y), abs=1e-6)
    assert (m["n_events"], m["tail_events"]) == (n, int(is_tail.sum()))


def test_task_metrics_single_kind_and_shape_errors():
    task = TaskLabels("label", ("0", "1"), (1,))
    y = np.zeros(4, dtype=np.int64)
    probs = np.tile([0.8, 0.2], (4, 1))
    m = task_metrics(y, probs, task)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["tail_recall"])
    assert m["tail_f1"] == 0.0
    with pytest.raises(ValueError, match="probs must be shape"):
        task_metrics(y, probs[:, :1], task)


def test_clustering_is_the_core_count_on_rounded_scores():
    scores = np.array([0.91234, 0.91236, 0.9124, 0.3, 0.31, 0.3, 0.3, 0.5])
    ours = clustering(scores, min_repeats=3, decimals=3)
    core = probability_clustering(torch.tensor(np.round(scores, 3)), min_repeats=3)
    assert (ours["n_clusters"], ours["largest_cluster"]) == (core.n_clusters, core.largest_cluster)
    assert ours["n_clusters"] == 2  # 0.912 three times and 0.3 three times
    assert ours["clustered_fraction"] == pytest.approx(6 / 8)


def test_video_spread_against_a_hand_computed_eta_squared():
    ids = ["a"] * 4 + ["b"] * 3 + ["c"] * 2
    scores = np.array([0.1, 0.2, 0.3, 0.2, 0.7, 0.9, 0.8, 0.4, 0.5])
    labels = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1], dtype=bool)
    out = video_spread(ids, scores, labels)
    grand = scores.mean()
    groups = [scores[:4], scores[4:7], scores[7:]]
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    assert out["video_share"] == pytest.approx(between / ((scores - grand) ** 2).sum())
    assert out["between_std"] == pytest.approx(np.std([g.mean() for g in groups]))
    assert out["mean_within_std"] == pytest.approx(np.mean([g.std() for g in groups]))
    assert out["per_video"]["b"] == pytest.approx(
        {
            "events": 3,
            "tail_events": 2,
            "mean": 0.8,
            "std": np.std([0.7, 0.9, 0.8]),
            "min": 0.7,
            "max": 0.9,
        }
    )
    # scores that equal the video mean have all their spread between videos
    flat = video_spread(ids, np.repeat([0.2, 0.8, 0.5], [4, 3, 2]), labels)
    assert flat["video_share"] == pytest.approx(1.0)


def test_linear_probe_separates_camera_embeddings_and_not_noise():
    rng = np.random.default_rng(1)
    ids = np.repeat([f"v{i}" for i in range(6)], 8)
    centres = rng.normal(scale=4.0, size=(6, 5))
    camera = centres[np.repeat(np.arange(6), 8)] + rng.normal(size=(48, 5))
    probe = linear_probe(camera, ids, folds=4)
    assert probe["accuracy"] > 0.9
    assert probe["chance"] == pytest.approx(1 / 6)
    assert probe["folds"] == 4 and probe["n_videos"] == 6
    noise = linear_probe(rng.normal(size=(48, 5)), ids, folds=4)
    assert noise["accuracy"] < 0.5
    lonely = linear_probe(rng.normal(size=(3, 2)), ["a", "b", "c"])  # one event per video
    assert math.isnan(lonely["accuracy"]) and lonely["n_videos"] == 0


def test_labels_inference_and_errors():
    assert infer_classes(["3", "1"]) == ("0", "1", "2", "3")
    assert infer_classes(["b", "a", "10"]) == ("10", "a", "b")
    task = TaskLabels.from_values("x", ["a", "a", "b", "c", "c"])
    assert task.tail == (1,)  # "b" is the rarest
    tie = TaskLabels.from_values("x", ["0", "1", "2", "0"])
    assert tie.tail == (2,)  # ties: the highest index
    assert TaskLabels.from_dict(task.to_dict()) == task
    with pytest.raises(ValueError, match="at least two classes"):
        TaskLabels.from_values("x", ["0", "0"])
    with pytest.raises(ValueError, match="label of task 'x' must be one of"):
        task.encode(["d"])


def test_finite_or_none_gives_strict_json_values():
    data = {"a": np.float32("nan"), "b": [np.int64(3), math.inf], "c": {"d": 0.5}}
    assert finite_or_none(data) == {"a": None, "b": [3, None], "c": {"d": 0.5}}
