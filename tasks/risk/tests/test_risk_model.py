"""The network, its prediction helper and the multi-task objective against hand-written formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from imbalance_risk.config import ModelConfig, RiskConfig
from imbalance_risk.model import LOGVAR_RANGE, RiskNet, predict
from imbalance_risk.module import RiskModule
from imbalance_risk.objective import (
    ContrastiveTask,
    EnsembleFocalTask,
    GaussianNLLTask,
    RiskFocalTask,
    TTFTask,
    build_objective,
    task_outputs,
    task_targets,
)

from imbalance_kit.testing.references.contrastive import supcon_reference
from imbalance_kit.testing.references.focal import torchvision_sigmoid_focal_loss

ALL_HEADS = ["binary", "risk", "ttf", "uncertainty", "contrastive"]


def _batch(n: int = 12, a: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    binary = (torch.arange(n) % 3 == 0).float()
    return {
        "features": torch.randn(n, 6, generator=g),
        "binary": binary,
        "risk": torch.rand(n, a, generator=g) * binary[:, None],
        "ttf": torch.rand(n, generator=g),
        "episode_failed": ((torch.arange(n) % 2 == 0) | (binary > 0)).float(),
    }


def _soft_focal(logits, t, alpha, gamma):
    """The sigmoid focal loss with soft targets, as imbalance_kit documents it, by hand."""
    p = torch.sigmoid(logits)
    pos = alpha * t * (1 - p) ** gamma * torch.log(p)
    neg = (1 - alpha) * (1 - t) * p**gamma * torch.log(1 - p)
    return -(pos + neg).mean()


def test_ensemble_focal_is_bce_at_gamma_zero_and_torchvision_otherwise():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(10, 4, generator=g), (torch.rand(10, generator=g) > 0.7).float()
    targets = y[:, None].expand(10, 4)
    plain = EnsembleFocalTask(2.0, alpha=None, gamma=0.0, pos_weight=3.0)
    expected = 2.0 * F.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=torch.tensor(3.0)
    )
    torch.testing.assert_close(plain(logits, y), expected)
    focal = EnsembleFocalTask(1.0, alpha=0.25, gamma=2.0)
    reference = torchvision_sigmoid_focal_loss(logits, targets, 0.25, 2.0, reduction="mean")
    torch.testing.assert_close(focal(logits, y), reference)


def test_risk_focal_takes_soft_targets():
    g = torch.Generator().manual_seed(2)
    logits, risk = torch.randn(8, 3, generator=g), torch.rand(8, 3, generator=g) * 0.3
    task = RiskFocalTask(0.5, alpha=None, gamma=0.0)
    torch.testing.assert_close(
        task(logits, risk), 0.5 * F.binary_cross_entropy_with_logits(logits, risk)
    )


def test_gaussian_nll_and_ttf_by_hand():
    mean_logit, logvar = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([-1.0, 0.5, -3.0])
    target = torch.tensor([0.2, 0.9, 0.0])
    mu, var = torch.sigmoid(mean_logit), torch.exp(logvar)
    by_hand = (0.5 * (torch.log(var) + (target - mu) ** 2 / var)).mean() + 3.5  # shift: >= 0
    torch.testing.assert_close(GaussianNLLTask(1.0)((mean_logit, logvar), target), by_hand)
    ttf = TTFTask(0.5)(mean_logit, target)
    torch.testing.assert_close(ttf, 0.5 * ((torch.sigmoid(mean_logit) - target) ** 2).mean())


def test_contrastive_task_matches_the_supcon_reference():
    g = torch.Generator().manual_seed(3)
    z, labels = torch.randn(10, 5, generator=g), torch.tensor([0, 1] * 5)
    torch.testing.assert_close(
        ContrastiveTask(0.3, 0.2)(z, labels.float()), 0.3 * supcon_reference(z, labels, 0.2)
    )


def test_objective_total_is_the_weighted_sum():
    cfg = RiskConfig.from_dict({"loss": {"ttf": {"weight": 0.7}, "contrastive": {"weight": 0.2}}})
    net = RiskNet(6, 3, ModelConfig(hidden_dims=[8], embed_dim=8, n_heads=2), ALL_HEADS)
    objective = build_objective(cfg)
    batch = _batch()
    out = net(batch["features"])
    names = objective.task_names
    total, per_task = objective(task_outputs(out, names), task_targets(batch, names, "episode"))
    y = batch["binary"]
    expected = (
        torchvision_sigmoid_focal_loss(
            out["binary"], y[:, None].expand_as(out["binary"]), 0.25, 2.0, "mean"
        )
        + _soft_focal(out["risk"], batch["risk"], 0.25, 2.0)
        + 0.7 * F.mse_loss(torch.sigmoid(out["ttf"]), batch["ttf"])
        + 0.1
        * (
            F.gaussian_nll_loss(
                torch.sigmoid(out["mean"]), batch["risk"].amax(1), out["logvar"].exp()
            )
            + 3.5  # the shift that keeps the task loss >= 0
        )
        + 0.2 * supcon_reference(out["projection"], batch["episode_failed"].long(), 0.1)
    )
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-6)
    assert set(per_task) == set(ALL_HEADS)


def test_objective_gradcheck_float64():
    objective = build_objective(RiskConfig.from_dict({"loss": {"contrastive": {"weight": 0.0}}}))
    batch = {k: v.double() for k, v in _batch(6).items()}
    g = torch.Generator().manual_seed(4)
    leaves = {
        "binary": torch.randn(6, 2, generator=g, dtype=torch.float64, requires_grad=True),
        "risk": torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True),
        "ttf": torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True),
        "mean": torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True),
        "logvar": torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True),
    }
    names = objective.task_names
    targets = task_targets(batch, names, "episode")

    def total(*tensors):
        out = dict(zip(leaves, tensors))
        return objective(task_outputs(out, names), targets)[0]

    assert torch.autograd.gradcheck(total, tuple(leaves.values()))


def test_heads_follow_the_active_tasks():
    net = RiskNet(4, 2, ModelConfig(n_heads=3), ["binary", "risk"])
    out = net(torch.randn(5, 4))
    assert set(out) == {"binary", "risk"} and out["binary"].shape == (5, 3)
    assert not hasattr(net, "projection")
    with pytest.raises(ValueError, match="heads must be a non-empty subset"):
        RiskNet(4, 2, ModelConfig(), ["binary", "nope"])
    with pytest.raises(ValueError, match="loss.binary.weight or loss.risk.weight must be > 0"):
        RiskModule(
            RiskConfig.from_dict(
                {"loss": {"binary": {"weight": 0}, "risk": {"weight": 0}}}
            ).to_dict(),
            4,
            2,
        )
    baseline = RiskModule(RiskConfig().as_baseline().to_dict(), 4, 2)
    assert baseline.net.heads == ("risk_mse",)


def test_logvar_is_bounded_and_normalisation_is_applied():
    net = RiskNet(3, 2, ModelConfig(hidden_dims=[4], embed_dim=4), ["binary", "uncertainty"])
    out = net(1e4 * torch.randn(50, 3))
    assert out["logvar"].min() >= LOGVAR_RANGE[0] and out["logvar"].max() <= LOGVAR_RANGE[1]
    mean, std = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([2.0, 0.0, 0.5])
    net.set_normalization(mean, std)
    x = torch.randn(4, 3)
    net.eval()
    expected = net.encoder((x - mean) / torch.tensor([2.0, 1.0, 0.5]))  # zero std -> 1
    torch.testing.assert_close(net.embed(x), expected)


def test_predict_ensemble_and_mc_dropout():
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_dims=[8], embed_dim=8, n_heads=4, dropout=0.0)
    net = RiskNet(5, 2, cfg, ["binary", "risk", "ttf", "uncertainty"])
    x = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    p = predict(net, x, mc_samples=3, batch_size=7)
    with torch.no_grad():
        out = net(torch.from_numpy(x))
    heads = torch.sigmoid(out["binary"]).numpy()
    np.testing.assert_allclose(p.prob, heads.mean(1), rtol=1e-5)
    np.testing.assert_allclose(p.ensemble_std, heads.std(1), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(p.mc_mean, p.prob, rtol=1e-5)  # no dropout: every pass agrees
    np.testing.assert_allclose(p.mc_std, 0.0, atol=1e-6)
    np.testing.assert_allclose(p.aleatoric_std, np.exp(0.5 * out["logvar"].numpy()), rtol=1e-5)
    # With dropout the passes differ, and the seed makes them reproducible.
    net_d = RiskNet(5, 2, ModelConfig(hidden_dims=[8], embed_dim=8, dropout=0.5), ["binary"])
    a = predict(net_d, x, mc_samples=5, seed=3)
    b = predict(net_d, x, mc_samples=5, seed=3)
    assert a.mc_std.max() > 0
    np.testing.assert_array_equal(a.mc_std, b.mc_std)


def test_baseline_score_is_unclipped_and_prob_clipped():
    net = RiskNet(3, 2, ModelConfig(hidden_dims=[4], embed_dim=4, dropout=0.0), ["risk_mse"])
    with torch.no_grad():
        last = net.risk_mse_head[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-0.5, -0.1]))
    p = predict(net, np.zeros((4, 3), np.float32))
    np.testing.assert_allclose(p.score, -0.3, rtol=1e-6)
    np.testing.assert_allclose(p.prob, 0.0)
    assert p.ensemble_std is None and p.ttf is None
