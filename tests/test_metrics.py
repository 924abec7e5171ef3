"""imbalance_kit.metrics against scikit-learn and brute-force references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
)

from imbalance_kit.calibration import expected_calibration_error
from imbalance_kit.metrics import (
    ThresholdChoice,
    best_threshold,
    imbalance_report,
    per_class_recall,
    probability_clustering,
    tail_recall,
)


def _long_tail(n: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    prior = 0.5 ** np.arange(k)
    y = rng.choice(k, size=n, p=prior / prior.sum())
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return torch.as_tensor(y), torch.as_tensor(probs)


# ------------------------------------------------------------------- recalls
@given(n=st.integers(1, 80), k=st.integers(2, 6), seed=st.integers(0, 10_000), scores=st.booleans())
def test_per_class_recall_matches_sklearn(n, k, seed, scores):
    y, probs = _long_tail(n, k, seed)
    pred = probs.argmax(1)
    got = per_class_recall(probs if scores else pred, y, num_classes=k)
    present = torch.bincount(y, minlength=k) > 0
    want = recall_score(
        y.numpy(), pred.numpy(), labels=list(range(k)), average=None, zero_division=0
    )
    np.testing.assert_allclose(got[present].numpy(), want[present.numpy()])
    assert torch.isnan(got[~present]).all()
    # the mean over present classes is the balanced accuracy
    if int(present.sum()) > 1 and set(pred.tolist()) <= set(y.tolist()):
        assert got[present].mean().item() == pytest.approx(
            balanced_accuracy_score(y.numpy(), pred.numpy())
        )


def test_per_class_recall_inputs(device):
    y = np.array([0, 0, 1, 1, 1, 3])
    pred = np.array([0, 1, 1, 1, 0, 3])
    got = per_class_recall(pred, y)
    torch.testing.assert_close(
        got, torch.tensor([0.5, 2 / 3, math.nan, 1.0], dtype=torch.float64), equal_nan=True
    )
    on_device = per_class_recall(torch.as_tensor(pred).to(device), torch.as_tensor(y).to(device))
    assert on_device.device.type == device.type
    with pytest.raises(TypeError, match=r"\(scores >= 0.5\).long\(\)"):
        per_class_recall(np.array([0.1, 0.9, 0.8, 0.7, 0.2, 0.9]), y)
    with pytest.raises(ValueError, match=r"target must be class indices in \[0, num_classes=3\)"):
        per_class_recall(pred, y, num_classes=3)
    with pytest.raises(ValueError, match="same length"):
        per_class_recall(pred[:-1], y)
    with pytest.raises(ValueError, match="target must be class indices >= 0, got -1"):
        per_class_recall(np.array([0, 0]), np.array([-1, 0]))
    with pytest.raises(ValueError, match="preds must be class indices >= 0, got -1"):
        per_class_recall(np.array([-1, 0]), np.array([0, 0]))  # was silently zeros
    with pytest.raises(TypeError, match="target must be integer class indices"):
        per_class_recall(np.array([0, 1]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="non-empty"):
        per_class_recall(np.array([], dtype=int), np.array([], dtype=int))


def test_per_class_recall_refuses_what_used_to_give_numbers():
    y = torch.tensor([0, 0, 1, 2])
    scores = torch.softmax(torch.randn(4, 3), dim=1)
    # torchmetrics order written the other way round: said, not computed
    with pytest.raises(TypeError, match=r"arguments look swapped: call per_class_recall\(preds"):
        per_class_recall(y, scores)
    with pytest.raises(ValueError, match="preds must be finite scores"):
        per_class_recall(torch.where(scores > 0.5, float("nan"), scores), y)
    with pytest.raises(ValueError, match=r"preds must be \(N, C\) scores with C >= 2"):
        per_class_recall(scores[:, :1], y)
    with pytest.raises(TypeError, match=r"\(N, C\) floating scores"):
        per_class_recall(y.unsqueeze(1), y)  # an (N, 1) integer column is not scores
    with pytest.raises(ValueError, match="preds must be class indices in \\[0, num_classes=3"):
        per_class_recall(torch.tensor([0, 0, 1, 3]), y, num_classes=3)
    # one huge label would allocate a 1e9-long count: refused with the way out
    huge = torch.tensor([0, 10**9, 1, 2])
    for call in (lambda: per_class_recall(huge, y), lambda: per_class_recall(y, huge)):
        with pytest.raises(ValueError, match="below 65536.*pass num_classes"):
            call()
    with pytest.raises(ValueError, match="target must be a tensor with data"):
        per_class_recall(y, y.to("meta"))


def test_tail_recall_validates_counts_and_tail_classes():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 0, 2])
    with pytest.raises(ValueError, match="class_counts must be finite"):
        tail_recall(pred, y, class_counts=[3, math.nan, 1])  # was 1.0
    with pytest.raises(ValueError, match="class_counts must be non-negative"):
        tail_recall(pred, y, class_counts=[3, -1, 1])
    with pytest.raises(ValueError, match="tail_classes must be a non-empty sequence"):
        tail_recall(pred, y, tail_classes=[0.5])
    with pytest.raises(TypeError, match="tail_classes must be"):
        tail_recall(pred, y, tail_classes="0")
    # integer counts and tensors of class indices are fine
    assert tail_recall(pred, y, class_counts=torch.tensor([30, 20, 10])) == 0.75  # 2, 1
    assert tail_recall(pred, y, tail_classes=torch.tensor([1])) == 0.5


def test_tail_recall():
    y = torch.tensor([0] * 6 + [1] * 2 + [2])
    pred = torch.tensor([0] * 6 + [1, 0, 0])  # recalls 1, 0.5, 0
    assert tail_recall(pred, y).item() == pytest.approx(0.25)  # ceil(1.5) = 2 rarest: 2, 1
    assert tail_recall(pred, y, tail_fraction=0.3).item() == 0.0  # class 2 only
    assert tail_recall(pred, y, tail_fraction=1.0).item() == pytest.approx(0.5)
    assert tail_recall(pred, y, tail_classes=[0, 1]).item() == pytest.approx(0.75)
    # training counts define the tail: class 0 is the rare one in training
    assert tail_recall(pred, y, class_counts=[1, 50, 60], tail_fraction=0.3).item() == 1.0
    # binary: the minority-class recall
    yb = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    pb = torch.tensor([0, 1, 0, 0, 1, 0, 0])
    assert tail_recall(pb, yb).item() == pytest.approx(recall_score(yb, pb, pos_label=1))
    # a tail class absent from y_true is skipped; none present gives NaN
    assert tail_recall(pred, y, tail_classes=[2, 3], num_classes=4).item() == 0.0
    assert math.isnan(tail_recall(pred, y, tail_classes=[3], num_classes=4).item())
    with pytest.raises(ValueError, match="class_counts must be None when tail_classes"):
        tail_recall(pred, y, tail_classes=[1], class_counts=[1, 2, 3])
    with pytest.raises(ValueError, match=r"tail_fraction must be in \(0.0, 1.0\]"):
        tail_recall(pred, y, tail_fraction=0.0)
    with pytest.raises(ValueError, match="tail_classes"):
        tail_recall(pred, y, tail_classes=[5])
    with pytest.raises(ValueError, match=r"class_counts must be shape \(3,\)"):
        tail_recall(pred, y, class_counts=[1, 2])


# ----------------------------------------------------------------- threshold
def _brute_force(y, s, target_recall=None):
    """Try every distinct score as a threshold with sklearn's metrics."""
    best = None
    for t in np.unique(s):
        pred = (s >= t).astype(int)
        p = precision_score(y, pred, zero_division=0)
        r = recall_score(y, pred)
        f = f1_score(y, pred, zero_division=0)
        if target_recall is not None and r < target_recall:
            continue
        key = f if target_recall is None else p
        if best is None or key >= best[0]:
            best = (key, t, p, r, f)
    return best[1:]


@settings(max_examples=20)
@given(
    n=st.integers(2, 30), seed=st.integers(0, 10_000), target=st.sampled_from([None, 0.5, 0.9, 1.0])
)
def test_best_threshold_matches_brute_force(n, seed, target):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    s = np.round(rng.random(n) + 0.3 * y, 2)  # rounding makes ties
    got = best_threshold(s, y, target_recall=target)
    assert isinstance(got, ThresholdChoice)
    want = _brute_force(y, s, target)
    assert got.threshold == pytest.approx(want[0])
    assert (got.precision, got.recall, got.f1) == pytest.approx(want[1:])


def test_best_threshold_errors():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.9, 0.4, 0.6])
    assert best_threshold(torch.as_tensor(s), torch.as_tensor(y)).f1 == 1.0
    with pytest.raises(ValueError, match="both classes"):
        best_threshold(s, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="0/1 labels"):
        best_threshold(s, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r"target_recall must be in \(0.0, 1.0\]"):
        best_threshold(s, y, target_recall=0.0)
    with pytest.raises(ValueError, match="scores must be"):
        best_threshold(s[:3], y)
    with pytest.raises(ValueError, match="finite"):
        best_threshold(np.array([0.1, np.nan, 0.2, 0.3]), y)
    with pytest.raises(TypeError, match="arguments look swapped"):
        best_threshold(y, s)  # target first, as before the (prediction, target) order
    with pytest.raises(TypeError, match="target must be integer or bool 0/1 labels"):
        best_threshold(s, s)


# ---------------------------------------------------------------- clustering
def test_probability_clustering():
    p = torch.tensor([0.91, 0.91, 0.91, 0.2, 0.33, 0.33, 0.33, 0.33, 0.5, 0.7])
    got = probability_clustering(p)
    assert got == (10, 5, 2, 0.7, 4)
    assert probability_clustering(p, min_repeats=4).n_clusters == 1
    # continuous predictions of a healthy model: no clusters
    healthy = probability_clustering(torch.rand(10_000, dtype=torch.float64))
    assert healthy.n_clusters == 0 and healthy.clustered_fraction == 0.0
    # a model that memorised 5 cameras predicts 5 values, plus float noise
    camera = torch.randint(0, 5, (1000,))
    memorised = torch.rand(5, dtype=torch.float64)[camera] + 1e-9 * torch.rand(1000)
    assert probability_clustering(memorised).n_clusters == 0
    rounded = probability_clustering(memorised, decimals=6)
    assert rounded.n_clusters == 5 and rounded.clustered_fraction == 1.0
    # rows of (N, C) probabilities
    rows = torch.tensor([[0.2, 0.8], [0.2, 0.8], [0.2, 0.8], [0.8, 0.2], [0.5, 0.5]])
    assert probability_clustering(rows) == (5, 3, 1, 0.6, 3)
    assert probability_clustering(np.array([0.1, 0.1, 0.1])).largest_cluster == 3
    with pytest.raises(ValueError, match="min_repeats must be an integer >= 2"):
        probability_clustering(p, min_repeats=1)
    with pytest.raises(ValueError, match="non-empty"):
        probability_clustering(torch.empty(0))
    # not probabilities: said, not counted
    with pytest.raises(ValueError, match="probs must be finite"):
        probability_clustering(torch.full((5,), math.nan))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\] \(pass from_logits=True"):
        probability_clustering(torch.tensor([5.0, 5.0, 5.0, 0.1]))
    with pytest.raises(TypeError, match="floating-point probabilities"):
        probability_clustering(torch.tensor([1, 1, 1]))
    # unbounded scores: a repeat of the score is a repeat of the probability
    scores = torch.tensor([5.0, 5.0, 5.0, -2.0, 0.3])
    assert probability_clustering(scores, from_logits=True) == (5, 3, 1, 0.6, 3)
    assert probability_clustering(torch.sigmoid(scores)) == (5, 3, 1, 0.6, 3)


# -------------------------------------------------------------------- report
@pytest.mark.parametrize(
    ("truth", "pred"),
    [
        ([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]),  # every class present
        ([0, 0, 0, 2, 2], [0, 1, 1, 2, 2]),  # class 1 predicted, absent from the truth
        ([1, 1, 1, 1], [1, 0, 1, 1]),  # a single class in the truth
    ],
)
def test_imbalance_report_balanced_accuracy_matches_sklearn_without_warning(truth, pred):
    import warnings

    y = torch.tensor(truth)
    probs = torch.nn.functional.one_hot(torch.tensor(pred), 3).double() * 0.7 + 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(truth, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = imbalance_report(probs, y, class_names=["a", "b", "c"])
    assert report["balanced_accuracy"] == pytest.approx(expected)


def test_imbalance_report_multiclass_matches_sklearn():
    y, probs = _long_tail(600, 4, seed=3)
    report = imbalance_report(probs, y, class_names=["a", "b", "c", "d"])
    yn, pn = y.numpy(), probs.numpy()
    pred = pn.argmax(1)
    assert report["n_samples"] == 600 and report["n_classes"] == 4
    assert report["accuracy"] == pytest.approx(np.mean(pred == yn))
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(yn, pred))
    assert report["macro_f1"] == pytest.approx(f1_score(yn, pred, average="macro"))
    ap = [average_precision_score(yn == c, pn[:, c]) for c in range(4)]
    assert report["pr_auc"] == pytest.approx(np.mean(ap))
    assert report["ece"] == pytest.approx(expected_calibration_error(probs, y).item())
    assert report["brier"] == pytest.approx(brier_score_loss(yn, pn, labels=[0, 1, 2, 3]))
    precision = precision_score(yn, pred, average=None)
    for c, name in enumerate("abcd"):
        row = report["per_class"][name]
        assert row["precision"] == pytest.approx(precision[c])
        assert row["recall"] == pytest.approx(recall_score(yn, pred, average=None)[c])
        assert row["pr_auc"] == pytest.approx(ap[c])
        assert row["support"] == int((yn == c).sum())
    assert np.array(report["confusion_matrix"]).sum() == 600
    json.dumps(report)  # plain Python values only


def test_imbalance_report_binary():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    p = np.clip(0.15 + 0.5 * y + 0.2 * rng.normal(size=500), 0.001, 0.999)
    report = imbalance_report(p, y, threshold=0.4)
    pred = (p >= 0.4).astype(int)
    assert report["n_classes"] == 2
    assert report["per_class"]["1"]["recall"] == pytest.approx(recall_score(y, pred))
    assert report["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert report["brier"] == pytest.approx(brier_score_loss(y, p))
    logits = np.log(p / (1 - p))
    again = imbalance_report(logits, y, threshold=0.4, from_logits=True)
    assert again["balanced_accuracy"] == pytest.approx(report["balanced_accuracy"])


def test_imbalance_report_absent_class_and_errors():
    y = torch.tensor([0, 0, 1, 1])
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    report = imbalance_report(probs, y)
    assert math.isnan(report["per_class"]["2"]["recall"])
    assert math.isnan(report["per_class"]["2"]["pr_auc"])
    assert report["per_class"]["2"]["precision"] == 0.0
    with pytest.raises(ValueError, match="threshold must be None"):
        imbalance_report(probs, y, threshold=0.5)
    with pytest.raises(ValueError, match="class_names must be 3 names"):
        imbalance_report(probs, y, class_names=["a", "b"])
    with pytest.raises(ValueError, match="from_logits=True"):
        imbalance_report(torch.randn(4, 3), y)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        imbalance_report(probs, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="arguments look swapped"):
        imbalance_report(y, probs.double())
