"""Constraint enforcement, threshold tuning and the evaluation report against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imbalance_text.constraints import enforce_implications, violation_rate, violations_per_pair
from imbalance_text.evaluate import evaluate_predictions, rare_labels
from imbalance_text.schema import LabelSchema
from imbalance_text.thresholds import tune_thresholds
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

SCHEMA = LabelSchema(["hate", "violence"], {"slur": "hate", "praising violence": "violence"})
CHAIN = [(2, 1), (1, 0), (3, 0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=30))
def test_enforcement_properties(rows: list[list[bool]]) -> None:
    preds = np.array(rows)
    out = enforce_implications(preds, CHAIN)
    assert violation_rate(out, CHAIN) == 0.0  # no violation left, chains included
    assert np.all(out >= preds)  # only adds labels
    np.testing.assert_array_equal(enforce_implications(out, CHAIN), out)  # idempotent
    # a row is switched on exactly where an implied ancestor exists (brute force closure)
    for r, row in enumerate(preds):
        closure = set(np.flatnonzero(row))
        changed = True
        while changed:
            new = {q for c, q in CHAIN if c in closure} - closure
            closure |= new
            changed = bool(new)
        assert set(np.flatnonzero(out[r])) == closure


def test_violation_counts_brute_force() -> None:
    rng = np.random.default_rng(0)
    preds = rng.random((50, 4)) < 0.4
    per_pair = violations_per_pair(preds, CHAIN)
    for k, (c, q) in enumerate(CHAIN):
        assert per_pair[k] == sum(1 for row in preds if row[c] and not row[q])
    rows_bad = sum(1 for row in preds if any(row[c] and not row[q] for c, q in CHAIN))
    assert violation_rate(preds, CHAIN) == rows_bad / 50
    with pytest.raises(ValueError, match="implications must be column indices"):
        enforce_implications(preds, [(4, 0)])


def _data(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 4)) < [0.3, 0.25, 0.05, 0.1]).astype(float)
    y[:, 0] = np.maximum(y[:, 0], y[:, 2])
    y[:, 1] = np.maximum(y[:, 1], y[:, 3])
    probs = np.clip(0.6 * y + rng.normal(0.2, 0.2, y.shape), 0, 1)
    return y, probs


def _ece(p: np.ndarray, y: np.ndarray, bins: int) -> float:
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return sum(
        (idx == b).mean() * abs(y[idx == b].mean() - p[idx == b].mean())
        for b in range(bins)
        if (idx == b).any()
    )


def test_report_matches_sklearn() -> None:
    y, p = _data()
    cuts = [0.5, 0.45, 0.4, 0.55]
    report = evaluate_predictions(y, p, SCHEMA, thresholds=cuts, rare=["slur"], n_bins=10)
    final = enforce_implications(p >= np.array(cuts), SCHEMA.implication_indices)
    for j, name in enumerate(SCHEMA.names):
        row = report["per_label"][name]
        assert row["precision"] == pytest.approx(precision_score(y[:, j], final[:, j]))
        assert row["recall"] == pytest.approx(recall_score(y[:, j], final[:, j]))
        assert row["f1"] == pytest.approx(f1_score(y[:, j], final[:, j]))
        assert row["pr_auc"] == pytest.approx(average_precision_score(y[:, j], p[:, j]))
        assert row["ece"] == pytest.approx(_ece(p[:, j], y[:, j], 10), abs=1e-6)
        assert row["support"] == int(y[:, j].sum())
    sec = [2, 3]
    assert report["secondary_f1_macro"] == pytest.approx(
        f1_score(y[:, sec], final[:, sec], average="macro")
    )
    assert report["micro_f1"] == pytest.approx(f1_score(y, final, average="micro"))
    assert report["pr_auc_micro"] == pytest.approx(average_precision_score(y, p, average="micro"))
    assert report["pr_auc_macro"] == pytest.approx(average_precision_score(y, p, average="macro"))
    assert report["rare_recall"] == pytest.approx(recall_score(y[:, 2], final[:, 2]))
    raw = p >= np.array(cuts)
    assert report["violation_rate_before"] == pytest.approx(
        violation_rate(raw, SCHEMA.implication_indices)
    )
    assert report["violation_rate_after"] == 0.0
    assert report["before_enforcement"]["secondary_f1_macro"] == pytest.approx(
        f1_score(y[:, sec], raw[:, sec], average="macro")
    )


def test_report_without_enforcement_and_missing_label() -> None:
    y, p = _data(1)
    y[:, 3] = 0  # a label without positives: recall and PR-AUC undefined
    report = evaluate_predictions(y, p, SCHEMA, enforce=False, rare=["praising violence"])
    assert report["per_label"]["praising violence"]["recall"] is None
    assert report["per_label"]["praising violence"]["pr_auc"] is None
    assert report["rare_recall"] is None
    assert report["violation_rate_after"] == report["violation_rate_before"]


def test_report_errors() -> None:
    y, p = _data()
    with pytest.raises(ValueError, match=r"probs must be \(N, 4\)"):
        evaluate_predictions(y[:, :3], p[:, :3], SCHEMA)
    with pytest.raises(ValueError, match="probabilities in"):
        evaluate_predictions(y, p + 1.5, SCHEMA)
    with pytest.raises(ValueError, match="thresholds must be keyed by labels"):
        evaluate_predictions(y, p, SCHEMA, thresholds={"nope": 0.3})


def test_thresholds_maximise_f1_by_brute_force() -> None:
    y, p = _data(2, n=150)
    tuned = tune_thresholds(y, p, SCHEMA)
    for j, name in enumerate(SCHEMA.names):
        best = max(f1_score(y[:, j], p[:, j] >= t, zero_division=0) for t in np.unique(p[:, j]))
        assert tuned[name]["f1"] == pytest.approx(best)
        got = f1_score(y[:, j], p[:, j] >= tuned[name]["threshold"])
        assert got == pytest.approx(best)
    y[:, 2] = 0
    untuned = tune_thresholds(y, p, SCHEMA, default=0.3, rule="fixed")["slur"]
    assert untuned["threshold"] == 0.3 and untuned["tuned"] is False
    assert untuned["recall"] is None and untuned["f1"] == 0.0


def test_labels_with_few_validation_positives_keep_the_default() -> None:
    y, p = _data(4, n=300)
    counts = y.sum(axis=0)
    tuned = tune_thresholds(y, p, SCHEMA, default=0.5, min_positives=30, rule="fixed")
    for j, name in enumerate(SCHEMA.names):
        assert tuned[name]["tuned"] == (counts[j] >= 30), name
        if counts[j] < 30:
            assert tuned[name]["threshold"] == 0.5
    with pytest.raises(ValueError, match="min_positives must be an integer >= 1"):
        tune_thresholds(y, p, SCHEMA, min_positives=0)


def test_target_recall_thresholds() -> None:
    y, p = _data(3, n=200)
    tuned = tune_thresholds(y, p, SCHEMA, target_recall=0.9)
    for j, name in enumerate(SCHEMA.names):
        assert recall_score(y[:, j], p[:, j] >= tuned[name]["threshold"]) >= 0.9


def test_rare_labels() -> None:
    y = np.zeros((1010, 4))
    y[:500, 0] = 1
    y[:10, 2] = 1  # 100:1
    y[:90, 3] = 1  # about 10:1
    assert rare_labels(y, SCHEMA) == ["violence", "slur"]  # violence has no positive at all
    assert rare_labels(y, SCHEMA, rare_ratio=5.0) == ["violence", "slur", "praising violence"]
    listed = LabelSchema(["a"], {"b": "a"}, rare=["b"])
    assert rare_labels(np.zeros((3, 2)), listed) == ["b"]


def test_the_prior_shift_of_pos_weight_is_the_weighted_bce_optimum() -> None:
    """torch's own weighted BCE is minimised at p_w = w p / (w p + 1 - p)."""
    import torch
    from imbalance_text.thresholds import unweighted_scores, weighted_cut

    for p_true, w in [(0.01, 10.0), (0.1, 5.0), (0.3, 3.0), (0.5, 1.0)]:
        n_pos = round(1000 * p_true)
        targets = torch.tensor([1.0] * n_pos + [0.0] * (1000 - n_pos), dtype=torch.float64)
        p_w = float(weighted_cut(p_true, w))
        z = torch.tensor(np.log(p_w / (1 - p_w)), dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            z.expand(len(targets)), targets, pos_weight=torch.tensor(w, dtype=torch.float64)
        )
        (grad,) = torch.autograd.grad(loss, z, create_graph=True)
        assert abs(grad.item()) < 1e-12  # stationary at p_w ...
        (curvature,) = torch.autograd.grad(grad, z)
        assert curvature.item() > 0  # ... and a minimum (the loss is convex in z)
        assert float(unweighted_scores(p_w, w)) == pytest.approx(p_true, rel=1e-9)


def test_rare_label_rules() -> None:
    y, p = _data(4, n=300)
    w = np.array([1.0, 3.0, 10.0, 5.0])
    counts = y.sum(axis=0)
    shift = tune_thresholds(y, p, SCHEMA, min_positives=30, pos_weight=w, rule="prior_shift")
    pooled = tune_thresholds(y, p, SCHEMA, min_positives=30, pos_weight=w)
    # the pooled unweighted cut: maximum F1 over the secondary columns, scores de-weighted
    sec = [2, 3]
    q = p / (w - (w - 1) * p)
    yy, qq = y[:, sec].ravel(), q[:, sec].ravel()
    best = max(f1_score(yy, qq >= t, zero_division=0) for t in np.unique(qq))
    for j, name in enumerate(SCHEMA.names):
        if counts[j] >= 30:
            assert shift[name]["tuned"] and pooled[name]["tuned"]
            continue
        assert shift[name]["threshold"] == pytest.approx(w[j] * 0.5 / (w[j] * 0.5 + 0.5))
        t0 = pooled[name]["unweighted"]
        assert f1_score(yy, qq >= t0) == pytest.approx(best)
        cut = pooled[name]["threshold"]
        assert cut == pytest.approx(w[j] * t0 / (w[j] * t0 + 1 - t0))
        # the same decisions on either scale (up to ties at the cut)
        np.testing.assert_array_equal(p[:, j] >= cut + 1e-12, q[:, j] >= t0 + 1e-12)
        r = recall_score(y[:, j], p[:, j] >= cut, zero_division=0)
        assert pooled[name]["recall"] == pytest.approx(r)
    assert any(counts[j] < 30 for j in range(4))
    with pytest.raises(ValueError, match="pos_weight must be 4 finite weights > 0"):
        tune_thresholds(y, p, SCHEMA, pos_weight=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="rule must be one of"):
        tune_thresholds(y, p, SCHEMA, rule="median")  # type: ignore[arg-type]
