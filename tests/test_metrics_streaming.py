"""Streaming metrics (torchmetrics.Metric): equal to the functions, to torchmetrics, under DDP."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torchmetrics
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import multiclass_recall
from torchmetrics.utilities.data import dim_zero_sum

from imbalance_kit.metrics import (
    ImbalanceReport,
    PerClassRecall,
    TailRecall,
    imbalance_report,
    per_class_recall,
    tail_recall,
)
from imbalance_kit.testing import run_distributed


def _long_tail(n: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    prior = 0.5 ** np.arange(k)
    y = rng.choice(k, size=n, p=prior / prior.sum())
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return torch.as_tensor(probs), torch.as_tensor(y)


def _feed(metric, preds, target, cuts):
    start = 0
    for size in [*cuts, len(target)]:
        metric.update(preds[start : start + size], target[start : start + size])
        start += size
    return metric


@settings(max_examples=25)
@given(
    n=st.integers(1, 120),
    k=st.integers(2, 6),
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    scores=st.booleans(),
)
def test_recalls_stream_to_the_function(n, k, seed, cuts, scores):
    probs, y = _long_tail(n, k, seed)
    preds = probs if scores else probs.argmax(1)
    got = _feed(PerClassRecall(k), preds, y, cuts).compute()
    torch.testing.assert_close(got, per_class_recall(preds, y, num_classes=k), equal_nan=True)
    tail = _feed(TailRecall(k, tail_fraction=0.4), preds, y, cuts).compute()
    want = tail_recall(preds, y, num_classes=k, tail_fraction=0.4)
    torch.testing.assert_close(tail, want, equal_nan=True)


def test_per_class_recall_equals_torchmetrics_on_present_classes():
    probs, y = _long_tail(500, 6, seed=1)
    y[y == 5] = 4  # class 5 absent: torchmetrics says 0, the library NaN
    got = _feed(PerClassRecall(6), probs, y, [100, 250]).compute()
    want = multiclass_recall(probs, y, num_classes=6, average=None).double()
    torch.testing.assert_close(got[:5], want[:5])
    assert math.isnan(got[5]) and want[5] == 0


def test_tail_recall_with_fixed_tails():
    probs, y = _long_tail(400, 5, seed=2)
    counts = [5, 400, 300, 2, 80]
    for kwargs in ({"tail_classes": [3, 4]}, {"class_counts": counts, "tail_fraction": 0.4}):
        got = _feed(TailRecall(5, **kwargs), probs, y, [123]).compute()
        torch.testing.assert_close(got, tail_recall(probs, y, num_classes=5, **kwargs))
    with pytest.raises(ValueError, match="class_counts must be None when tail_classes"):
        TailRecall(5, [1], class_counts=counts)
    with pytest.raises(ValueError, match=r"class_counts must be shape \(5,\)"):
        TailRecall(5, class_counts=[1, 2])
    with pytest.raises(ValueError, match="tail_classes must be"):
        TailRecall(5, [7])


@pytest.mark.parametrize("binary", [False, True])
def test_imbalance_report_streams_to_the_function(binary):
    probs, y = _long_tail(700, 4, seed=3)
    kwargs: dict = {}
    if binary:
        probs, y = probs[:, 1], (y == 1).long()
        kwargs = {"threshold": 0.3}
    k = 2 if binary else 4
    metric = _feed(ImbalanceReport(k, n_bins=10, **kwargs), probs, y, [1, 200, 50])
    got = metric.compute()
    want = imbalance_report(probs, y, n_bins=10, **kwargs)
    assert set(got) == {"accuracy", "balanced_accuracy", "macro_f1", "brier", "ece"}
    for key, value in got.items():
        assert value.ndim == 0
        assert value.item() == pytest.approx(want[key], abs=1e-12), key
    rows = metric.per_class()
    for c in range(k):
        for key in ("precision", "recall", "f1", "support"):
            assert rows[key][c].item() == pytest.approx(want["per_class"][str(c)][key]), key
    assert metric.confusion_matrix.tolist() == want["confusion_matrix"]


def test_imbalance_report_absent_and_never_predicted_classes():
    y = torch.tensor([0, 0, 2, 2, 2])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2, 2]), 4).double() * 0.7 + 0.075
    got = _feed(ImbalanceReport(4), probs, y, [2]).compute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = imbalance_report(probs, y)
    for key in got:
        assert got[key].item() == pytest.approx(want[key]), key


def test_states_are_summed_and_forward_works():
    metric = ImbalanceReport(3)
    assert all(
        metric._reductions[name] is dim_zero_sum for name in ("confmat", "brier_sum", "bins")
    )
    recall = PerClassRecall(3)
    assert isinstance(recall, torchmetrics.Metric)
    batch = recall(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(batch, torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))
    recall(torch.tensor([2]), torch.tensor([2]))
    torch.testing.assert_close(recall.compute(), torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64))
    recall.update(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))  # no-op
    assert int(recall.support.sum()) == 4
    with pytest.raises(ValueError, match=r"preds must be \(N, 3\) scores like num_classes"):
        recall.update(torch.rand(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"target must be class indices in \[0, num_classes=3\)"):
        recall.update(torch.tensor([0, 1]), torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="arguments look swapped"):
        recall.update(torch.tensor([0, 1]), torch.rand(2, 3))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        PerClassRecall(1)


# ---------------------------------------------------------------- distributed
def _ddp_worker(rank, world_size, probs, y):
    shard = slice(rank, None, world_size)
    metrics = {
        "recall": PerClassRecall(4),
        "tail": TailRecall(4),
        "report": ImbalanceReport(4, n_bins=10),
    }
    for metric in metrics.values():
        metric.update(probs[shard][:50], y[shard][:50])
        metric.update(probs[shard][50:], y[shard][50:])
    out = {name: metric.compute() for name, metric in metrics.items()}
    return {
        "recall": out["recall"].tolist(),
        "tail": out["tail"].item(),
        "report": {k: v.item() for k, v in out["report"].items()},
        "local_support": int(metrics["recall"].support.sum()),
    }


@pytest.mark.distributed
def test_two_gloo_processes_equal_one():
    probs, y = _long_tail(301, 4, seed=4)
    results = run_distributed(_ddp_worker, world_size=2, args=(probs, y))
    recall = per_class_recall(probs, y, num_classes=4).tolist()
    report = imbalance_report(probs, y, n_bins=10)
    for rank, out in enumerate(results):
        assert out["recall"] == pytest.approx(recall, abs=1e-12)
        assert out["tail"] == pytest.approx(tail_recall(probs, y, num_classes=4).item())
        for key, value in out["report"].items():
            assert value == pytest.approx(report[key], abs=1e-12), key
        assert out["local_support"] == len(y[rank::2])  # compute restores the local state
