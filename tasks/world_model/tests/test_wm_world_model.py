"""World model: residual clip, rollouts, training objectives, noise calibration, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.config import WMTrainConfig, WorldModelConfig
from imbalance_world_model.generate import generate_episodes
from imbalance_world_model.model import (
    LatentWorldModel,
    calibrate_noise,
    load_world_model,
    save_checkpoint,
)
from imbalance_world_model.module import WorldModelModule
from imbalance_world_model.objective import (
    feature_matching_loss,
    teacher_probability,
    variance_penalty,
)
from imbalance_world_model.train import train_world_model


def test_residual_clip_bound_holds():
    torch.manual_seed(0)
    wm = LatentWorldModel(3, 2, hidden_dim=16, residual_clip=0.05)
    with torch.no_grad():
        for p in wm.head.parameters():
            p.mul_(100.0)  # huge residuals before the clip
    traj = wm.rollout(torch.randn(8, 3), torch.randn(8, 30, 2) * 10)
    steps = (traj[:, 1:] - traj[:, :-1]).abs()
    assert steps.max() <= 0.05 + 1e-6
    assert steps.max() > 0.049  # the clip is active
    free = LatentWorldModel(3, 2, hidden_dim=16)
    free.load_state_dict(wm.state_dict())
    assert (
        free.rollout(torch.randn(8, 3), torch.randn(8, 30, 2) * 10)[:, 1:] - 0
    ).abs().max() > 1.0


def test_rollout_shapes_and_teacher_forcing_equals_stepping():
    torch.manual_seed(1)
    wm = LatentWorldModel(4, 2, hidden_dim=8)
    z = torch.randn(3, 6, 4)
    a = torch.randn(3, 5, 2)
    traj = wm.rollout(z[:, 0], a, teacher=z, teacher_prob=1.0)
    assert traj.shape == (3, 6, 4)
    h = wm.initial_state(z[:, 0])
    for t in range(5):
        mean, h = wm.step(z[:, t], a[:, t], h)
        torch.testing.assert_close(traj[:, t + 1], mean)
    # free running feeds back its own predictions
    free = wm.rollout(z[:, 0], a)
    h = wm.initial_state(z[:, 0])
    zt = z[:, 0]
    for t in range(5):
        zt, h = wm.step(zt, a[:, t], h)
    torch.testing.assert_close(free[:, -1], zt)
    # sampling adds noise of scale exp(log_std)
    wm.log_std.fill_(np.log(0.5))
    g = torch.Generator().manual_seed(0)
    noisy = wm.rollout(z[:, 0], a[:, :1], sample=True, generator=g)
    eps = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(noisy[:, 1], free[:, 1] + 0.5 * eps)


def test_variance_penalty_hand_computed():
    real = torch.tensor(
        [[[0.0, 0.0], [1.0, 2.0], [0.0, 1.0]], [[0.0, 0.0], [-1.0, 0.0], [2.0, 1.0]]]
    )
    syn = torch.tensor(
        [[[0.0, 0.0], [3.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [-3.0, 1.0], [0.0, 0.0]]]
    )
    # step 1: real var per dim (1, 1) -> 1; syn (9, 0) -> 4.5; ratio 4.5 -> relu(4.5 - 1.2) = 3.3
    # step 2: real var (1, 0) -> 0.5; syn (0, 0) -> 0; relu(0 - 1.2) = 0
    assert variance_penalty(syn, real, ratio=1.2).item() == pytest.approx(3.3 / 2, rel=1e-5)
    assert variance_penalty(real, real, ratio=1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_feature_matching_and_teacher_schedule():
    z = torch.randn(4, 5, 2)
    # mean, min and max of both dimensions shift by 1; std, var and smoothness do not
    assert feature_matching_loss(z + 1.0, z).item() == pytest.approx(3 * 2 * 1.0, rel=1e-5)
    cfg = WMTrainConfig(mode="scheduled_sampling", epochs=3, ss_min_teacher=0.2)
    assert [teacher_probability(cfg, e) for e in range(3)] == pytest.approx([1.0, 0.6, 0.2])
    assert teacher_probability(WMTrainConfig(mode="bptt"), 0) == 0.0
    assert teacher_probability(WMTrainConfig(mode="teacher_forcing"), 9) == 1.0


def test_calibrate_noise_is_rms_of_one_step_residuals():
    torch.manual_seed(0)
    wm = LatentWorldModel(2, 1, hidden_dim=4)
    z, a = torch.randn(3, 5, 2), torch.randn(3, 5, 1)
    std = calibrate_noise(wm, z, a)
    h = wm.initial_state(z[:, 0])
    res = []
    for t in range(4):
        mean, h = wm.step(z[:, t], a[:, t], h)
        res.append(z[:, t + 1] - mean)
    want = torch.cat(res).pow(2).mean(0).sqrt()
    torch.testing.assert_close(std, want)
    torch.testing.assert_close(wm.log_std.exp(), want)


@pytest.mark.parametrize("mode", ["teacher_forcing", "scheduled_sampling", "bptt"])
def test_training_reduces_free_running_error(tiny_real, mode):
    cfg = WMTrainConfig(
        mode=mode,
        horizon=5 if mode == "teacher_forcing" else None,
        epochs=8,
        batch_size=8,
        var_reg_weight=0.1,
        feature_match_weight=0.01,
    )
    wm, summary = train_world_model(tiny_real, WorldModelConfig(hidden_dim=16), cfg, seed=0)
    assert summary["final_recon_mse"] < 0.3 * summary["initial_recon_mse"]
    assert len(summary["sigma"]) == 4 and all(s > 0 for s in summary["sigma"])


def test_trust_aware_term_needs_a_trust_net():
    with pytest.raises(ValueError, match="needs a trust net"):
        WorldModelModule(LatentWorldModel(2, 1, 4), WMTrainConfig(trust_aware_weight=1.0))


def test_trust_aware_term_moves_toward_real():
    from imbalance_world_model.trust import TrustMLP

    torch.manual_seed(0)
    trust = TrustMLP(2, 4)
    module = WorldModelModule(
        LatentWorldModel(2, 1, 4), WMTrainConfig(trust_aware_weight=1.0), trust_net=trust
    )
    batch = (torch.randn(4, 6, 2), torch.randn(4, 6, 1), torch.randn(4, 6))
    loss = module.training_step(batch, 0)
    loss.backward()
    assert all(p.grad is None for p in trust.parameters())  # frozen
    assert module.model.head[0].weight.grad is not None


def test_generate_and_checkpoint_weights_only(tiny_real, tmp_path):
    wm = LatentWorldModel(4, 2, hidden_dim=8, residual_clip=0.3)
    path = save_checkpoint(
        tmp_path / "wm.pt",
        "world_model",
        wm,
        {"latent_dim": 4, "action_dim": 2, "hidden_dim": 8, "residual_clip": 0.3},
    )
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "world_model"
    back = load_world_model(path)
    for k, v in wm.state_dict().items():
        torch.testing.assert_close(back.state_dict()[k], v)
    syn = generate_episodes(back, tiny_real, 7, horizon=10, seed=2)
    assert syn.z.shape == (7, 10, 4) and syn.rewards.shape == (7, 10)
    src = syn.meta["source_episode"]
    np.testing.assert_array_equal(syn.z[:, 0], tiny_real.z[src, 0])
    np.testing.assert_array_equal(syn.actions[:, :9], tiny_real.actions[src, :9])
    assert (syn.actions[:, 9] == 0).all()  # the last state's action is never applied
    with pytest.raises(ValueError, match="horizon must be <= the source episode length"):
        generate_episodes(back, tiny_real, 2, horizon=50)
