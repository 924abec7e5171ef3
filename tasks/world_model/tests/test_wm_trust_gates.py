"""Trust nets, trust metrics, the bounds filter and the trust gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.gates import BoundsFilter, TrustGate
from imbalance_world_model.model import load_trust_net, save_checkpoint
from imbalance_world_model.train import train_trust
from imbalance_world_model.trust import trust_metrics, trust_scores
from sklearn.metrics import roc_auc_score


@pytest.mark.parametrize("kind", ["mlp", "temporal"])
def test_trust_net_separates_a_shifted_set(kind, tmp_path):
    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, (60, 12, 2))
    syn = rng.normal(0.5, 2.5, (60, 12, 2))  # shifted mean, 2.5x the spread
    net, m = train_trust(real, syn, kind=kind, hidden_dim=16, epochs=25, val_fraction=0.3)
    val = m["val"]
    assert val["roc_auc"] > 0.95
    assert val["trust_gap"] > 0.5
    assert val["n_real"] + val["n_synthetic"] == 36
    p = trust_scores(net, np.concatenate([real, syn]))
    y = np.r_[np.ones(60), np.zeros(60)]
    assert trust_metrics(p, y)["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    path = save_checkpoint(
        tmp_path / "t.pt", "trust_net", net, {"trust_kind": kind, "latent_dim": 2, "hidden_dim": 16}
    )
    np.testing.assert_allclose(trust_scores(load_trust_net(path), real), p[:60], rtol=1e-6)


def test_trust_metrics_formulas():
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.7])
    y = np.array([1, 1, 1, 0, 0])
    m = trust_metrics(p, y)
    assert m["accuracy"] == pytest.approx(3 / 5)  # 0.9, 0.6 right; 0.4 wrong; 0.3 right; 0.7 wrong
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["trust_gap"] == pytest.approx((0.9 + 0.6 + 0.4) / 3 - (0.3 + 0.7) / 2)
    assert trust_metrics(p[:3], y[:3])["roc_auc"] is None


def test_bounds_filter_against_hand_computation():
    rng = np.random.default_rng(1)
    real = rng.normal(0.0, 1.0, (40, 10, 2))
    f = BoundsFilter(quantile=0.05, margin=0.1, std_tolerance=1.2, max_outside=0.1).fit(real)
    flat = real.reshape(-1, 2)
    lo, hi = np.quantile(flat, 0.05, axis=0), np.quantile(flat, 0.95, axis=0)
    np.testing.assert_allclose(f.low_, lo - 0.1 * (hi - lo))
    np.testing.assert_allclose(f.high_, hi + 0.1 * (hi - lo))
    np.testing.assert_allclose(f.std_high_, 1.2 * np.quantile(real.std(1), 0.95, axis=0))
    z = rng.normal(0.0, 1.0, (30, 10, 2)) * np.linspace(0.5, 3.0, 30)[:, None, None]
    outside = ((z < f.low_) | (z > f.high_)).mean((1, 2))
    want = (outside <= 0.1) & (z.std(1) <= f.std_high_).all(1)
    np.testing.assert_array_equal(f.passes(z), want)
    assert want.any() and not want.all()
    with pytest.raises(RuntimeError, match="not fitted"):
        BoundsFilter().passes(z)
    with pytest.raises(ValueError, match="2 latent dimensions"):
        f.passes(np.zeros((2, 3, 5)))


def test_trust_gate():
    gate = TrustGate(0.7)
    p = np.array([0.69, 0.7, 0.95])
    assert gate.accepts(p).tolist() == [False, True, True]
    assert gate.weights(p).tolist() == [0.0, 0.7, 0.95]
    with pytest.raises(ValueError, match="threshold must be in"):
        TrustGate(1.5)
    with pytest.raises(ValueError, match="probabilities"):
        gate.weights(np.array([1.2]))


def test_trust_scores_are_probabilities():
    from imbalance_world_model.trust import TemporalTrustNet

    p = trust_scores(TemporalTrustNet(3, 4), torch.randn(5, 7, 3))
    assert p.shape == (5,) and ((p > 0) & (p < 1)).all()
