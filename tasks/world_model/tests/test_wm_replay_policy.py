"""Replay buffer, trust-weighted sampling, importance weights, BC and TD3+BC."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.config import PolicyConfig
from imbalance_world_model.data import Episodes
from imbalance_world_model.model import action_mse
from imbalance_world_model.module import PolicyModule
from imbalance_world_model.objective import (
    bc_loss,
    importance_weighted_loss,
    td3_target,
    td3bc_actor_loss,
)
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.train import train_policy
from scipy.stats import chisquare


def _mixed(tiny_real):
    syn = tiny_real.subset(np.arange(8))
    syn = Episodes(syn.z + 0.5, syn.actions, syn.rewards, np.array(["synthetic"] * 8))
    return Episodes.concatenate([tiny_real, syn])


def test_weighted_sampler_draws_follow_trust_weights(tiny_real):
    episodes = _mixed(tiny_real)
    trust = np.r_[np.ones(32), np.linspace(0.0, 1.0, 8)]
    w = mix_weights(episodes.is_synthetic, "trust", trust=trust, threshold=0.5)
    np.testing.assert_allclose(w[32:], np.r_[np.zeros(4), np.linspace(0, 1, 8)[4:]])
    buf = ReplayBuffer.from_episodes(episodes, w)
    n = 200_000
    idx = np.fromiter(iter(buf.sampler(n, seed=3)), dtype=np.int64)
    counts = np.bincount(buf.episode.numpy()[idx], minlength=40)
    expected = w / w.sum() * n
    keep = expected > 0
    assert counts[~keep].sum() == 0  # rejected episodes are never drawn
    assert chisquare(counts[keep], expected[keep]).pvalue > 1e-3
    share = buf.synthetic.numpy()[idx].mean()
    assert share == pytest.approx(buf.synthetic_share(), abs=0.005)
    assert buf.synthetic_share() == pytest.approx(w[32:].sum() / w.sum())


def test_mix_weights_shares(tiny_real):
    syn = _mixed(tiny_real).is_synthetic
    fixed = ReplayBuffer.from_episodes(_mixed(tiny_real), mix_weights(syn, "fixed", share=0.1))
    assert fixed.synthetic_share() == pytest.approx(0.1, rel=1e-5)
    real_only = ReplayBuffer.from_episodes(_mixed(tiny_real), mix_weights(syn, "real_only"))
    assert real_only.synthetic_share() == 0.0
    with pytest.raises(ValueError, match="needs trust scores"):
        mix_weights(syn, "trust")


def test_buffer_transitions(tiny_real):
    buf = ReplayBuffer.from_episodes(tiny_real)
    assert len(buf) == 32 * 20
    torch.testing.assert_close(buf.states[20], torch.as_tensor(tiny_real.z[1, 0]))
    torch.testing.assert_close(buf.next_states[20], torch.as_tensor(tiny_real.z[1, 1]))
    assert buf.dones[19] == 1 and buf.dones[20] == 0


def test_importance_weighted_loss_hand_formula():
    losses = torch.tensor([0.5, 2.0, 1.0, 4.0])
    w = torch.tensor([1.0, 0.0, 3.0, 0.5])
    want = (0.5 * 1 + 1.0 * 3 + 4.0 * 0.5) / (1 + 0 + 3 + 0.5)
    assert importance_weighted_loss(losses, w).item() == pytest.approx(want)
    # with the data set's mean weight: a plain mean of w / mean_w * l
    want = (0.5 * 1 + 1.0 * 3 + 4.0 * 0.5) / (4 * 1.25)
    assert importance_weighted_loss(losses, w, mean_weight=1.25).item() == pytest.approx(want)
    # halves of a batch average to the whole batch (what DDP relies on)
    halves = [importance_weighted_loss(losses[i : i + 2], w[i : i + 2], 1.25) for i in (0, 2)]
    assert (sum(halves) / 2).item() == pytest.approx(want)


def test_bc_and_td3bc_loss_formulas():
    pred = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, -1.0]])
    target = torch.tensor([[0.0, 0.0], [0.5, 1.5], [1.0, 1.0]])
    per = torch.tensor([(1 + 0) / 2, (0 + 1) / 2, (1 + 4) / 2])
    w = torch.tensor([2.0, 1.0, 1.0])
    assert bc_loss(pred, target).item() == pytest.approx(per.mean().item())
    assert bc_loss(pred, target, w).item() == pytest.approx(((per * w).sum() / w.sum()).item())
    q = torch.tensor([1.0, -3.0, 2.0])
    lam = 2.5 / ((1 + 3 + 2) / 3)
    want = -lam * ((q * w).sum() / w.sum()) + (per * w).sum() / w.sum()
    assert td3bc_actor_loss(q, pred, target, 2.5, w).item() == pytest.approx(want.item())
    want = -lam * (q * w).mean() / 2.0 + (per * w).mean() / 2.0
    assert td3bc_actor_loss(q, pred, target, 2.5, w, 2.0).item() == pytest.approx(want.item())
    y = td3_target(
        torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([5.0]), torch.tensor([4.0]), 0.9
    )
    assert y.item() == pytest.approx(1.0 + 0.9 * 4.0)


def test_bc_learns_the_behaviour_policy(tiny_real):
    buf = ReplayBuffer.from_episodes(tiny_real)
    module, summary = train_policy(
        buf, PolicyConfig(hidden_dim=32, epochs=30, batch_size=64, lr=3e-3), seed=0
    )
    zero = float((tiny_real.actions.astype(np.float64) ** 2).mean())
    assert action_mse(module.actor, tiny_real) < 0.5 * zero
    assert summary["synthetic_share"] == 0.0 and summary["samples_per_epoch"] == len(buf)


@pytest.mark.parametrize("weighting", ["sample", "loss"])
def test_td3bc_trains(tiny_real, weighting):
    buf = ReplayBuffer.from_episodes(tiny_real, np.linspace(0.5, 1.5, 32))
    cfg = PolicyConfig(algo="td3bc", weighting=weighting, hidden_dim=16, epochs=3, batch_size=64)
    module, summary = train_policy(buf, cfg, seed=0)
    assert summary["algo"] == "td3bc"
    assert np.isfinite(action_mse(module.actor, tiny_real))
    # targets moved toward the online networks (soft updates ran)
    diff = [
        (p - pt).abs().sum().item()
        for p, pt in zip(module.q1.parameters(), module.q1_t.parameters())
    ]
    assert sum(diff) > 0


def test_policy_module_standalone_td3bc_step():
    module = PolicyModule(3, 1, PolicyConfig(algo="td3bc", hidden_dim=8, policy_delay=1))
    batch = (
        torch.randn(6, 3),
        torch.randn(6, 1),
        torch.randn(6),
        torch.randn(6, 3),
        torch.zeros(6),
        torch.ones(6),
    )
    before = [p.clone() for p in module.actor.parameters()]
    assert torch.isfinite(module.training_step(batch, 0))
    assert any((b != p).any() for b, p in zip(before, module.actor.parameters()))


def test_zero_weights_refused(tiny_real):
    buf = ReplayBuffer.from_episodes(tiny_real, np.zeros(32))
    with pytest.raises(ValueError, match="all zero"):
        train_policy(buf, PolicyConfig())
