"""Episodes of several lengths: every statistic equals the one computed on each episode cut to
its own length (numpy loops as the reference), padding never changes a loss, and the held-out
split, the gate's rule and augmentation segments behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from imbalance_world_model.config import WMTrainConfig
from imbalance_world_model.data import (
    Episodes,
    ensure_split,
    load_episodes,
    make_split,
    save_episodes,
)
from imbalance_world_model.diagnostics import std_ratio_per_step
from imbalance_world_model.features import episode_features
from imbalance_world_model.gates import BoundsFilter, TrustGate
from imbalance_world_model.generate import generate_segments, real_counterparts
from imbalance_world_model.model import LatentWorldModel, action_mse, calibrate_noise
from imbalance_world_model.module import WorldModelModule
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.trust import TemporalTrustNet, TrustMLP


def _ragged(n=7, t=12, d=3, a=2, seed=0) -> Episodes:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, t + 1, n)
    lengths[0] = t
    z = rng.normal(size=(n, t, d))
    z[np.arange(t)[None, :] >= lengths[:, None]] = 1e6  # garbage padding, never read
    return Episodes(
        z,
        rng.normal(size=(n, t, a)),
        rng.normal(size=(n, t)),
        np.array(["real"] * n),
        {"terminated": (lengths < t).astype(np.int64)},
        lengths,
    )


def test_padding_is_zeroed_and_flat_layout_reads_the_same(tmp_path):
    ep = _ragged()
    assert (ep.z[~ep.mask] == 0).all() and (ep.actions[~ep.transition_mask] == 0).all()
    assert ep.n_transitions == int((ep.lengths - 1).sum())
    flat = tmp_path / "flat.npz"
    np.savez(
        flat,
        z=np.concatenate([ep.z[i, :n] for i, n in enumerate(ep.lengths)]),
        actions=np.concatenate([ep.actions[i, :n] for i, n in enumerate(ep.lengths)]),
        rewards=np.concatenate([ep.rewards[i, :n] for i, n in enumerate(ep.lengths)]),
        lengths=ep.lengths,
        source=ep.source,
    )
    back = load_episodes(flat)
    np.testing.assert_array_equal(back.z, ep.z)
    np.testing.assert_array_equal(back.lengths, ep.lengths)
    again = load_episodes(save_episodes(ep, tmp_path / "padded.npz"))
    np.testing.assert_array_equal(again.actions, ep.actions)
    with pytest.raises(ValueError, match="lengths must be between 2 and T = 12"):
        Episodes(ep.z, ep.actions, ep.rewards, ep.source, lengths=np.full(7, 13))
    np.savez(tmp_path / "bad.npz", z=np.zeros((5, 2)), actions=np.zeros((5, 1)),
             rewards=np.zeros(5), source=np.array(["real"]), lengths=np.array([4]))  # fmt: skip
    with pytest.raises(ValueError, match="sum\\(lengths\\) 4"):
        load_episodes(tmp_path / "bad.npz")


@given(st.integers(0, 10_000))
def test_features_equal_those_of_each_cut_episode(seed):
    ep = _ragged(seed=seed)
    got = episode_features(torch.as_tensor(ep.z), torch.as_tensor(ep.lengths))
    for i, n in enumerate(ep.lengths):
        want = episode_features(torch.as_tensor(ep.z[i : i + 1, :n]))
        torch.testing.assert_close(got[i : i + 1], want, rtol=1e-5, atol=1e-6)


def test_trust_nets_read_each_episode_to_its_length():
    ep = _ragged()
    torch.manual_seed(0)
    z, lengths = torch.as_tensor(ep.z), torch.as_tensor(ep.lengths)
    for net in (TrustMLP(3, 8), TemporalTrustNet(3, 8)):
        net.standardise_on(z, lengths)
        got = net(z, lengths)
        for i, n in enumerate(ep.lengths):
            torch.testing.assert_close(got[i : i + 1], net(z[i : i + 1, :n]), rtol=1e-5, atol=1e-6)
    values = np.concatenate([ep.z[i, :n] for i, n in enumerate(ep.lengths)])
    mlp = TemporalTrustNet(3, 4)
    mlp.standardise_on(z, lengths)
    np.testing.assert_allclose(mlp.z_mean.numpy(), values.mean(0), rtol=1e-5)


def test_bounds_filter_and_std_ratio_against_numpy_loops():
    ep, other = _ragged(seed=1), _ragged(seed=2)
    f = BoundsFilter(quantile=0.05, margin=0.1, std_tolerance=1.2).fit(ep.z, ep.lengths)
    values = np.concatenate([ep.z[i, :n] for i, n in enumerate(ep.lengths)])
    lo, hi = np.quantile(values, 0.05, axis=0), np.quantile(values, 0.95, axis=0)
    np.testing.assert_allclose(f.low_, lo - 0.1 * (hi - lo))
    stds = np.stack([ep.z[i, :n].std(0) for i, n in enumerate(ep.lengths)])
    np.testing.assert_allclose(f.std_high_, 1.2 * np.quantile(stds, 0.95, axis=0))
    want = [
        ((other.z[i, :n] < f.low_) | (other.z[i, :n] > f.high_)).mean() <= 0.0
        and (other.z[i, :n].std(0) <= f.std_high_).all()
        for i, n in enumerate(other.lengths)
    ]
    assert f.passes(other.z, other.lengths).tolist() == want
    ratio = std_ratio_per_step(other.z, ep.z, other.lengths, ep.lengths)
    for t in range(ep.horizon):
        alive_s, alive_r = other.lengths > t, ep.lengths > t
        if alive_s.sum() < 2 or alive_r.sum() < 2:
            assert np.isnan(ratio[t])
            continue
        v_s = other.z[alive_s, t].var(0).mean()
        v_r = ep.z[alive_r, t].var(0).mean()
        assert ratio[t] == pytest.approx(np.sqrt(v_s / v_r))


def test_replay_calibration_and_action_error_use_transitions_only():
    ep = _ragged()
    buf = ReplayBuffer.from_episodes(ep)
    assert len(buf) == ep.n_transitions
    starts = np.r_[0, np.cumsum(ep.lengths - 1)[:-1]]
    for i, n in enumerate(ep.lengths):
        torch.testing.assert_close(
            buf.next_states[starts[i] + n - 2], torch.as_tensor(ep.z[i, n - 1])
        )
        assert buf.dones[starts[i] + n - 2] == ep.meta["terminated"][i]  # time limit: bootstraps
    wm = LatentWorldModel(3, 2, hidden_dim=4)
    z, a = torch.as_tensor(ep.z), torch.as_tensor(ep.actions)
    sigma = calibrate_noise(wm, z, a, torch.as_tensor(ep.lengths))
    res = []
    for i, n in enumerate(ep.lengths):
        pred = wm.rollout(z[i : i + 1, 0], a[i : i + 1, : n - 1], teacher=z[i : i + 1, :n],
                          teacher_prob=1.0)  # fmt: skip
        res.append((z[i, 1:n] - pred[0, 1:]).detach())
    torch.testing.assert_close(sigma, torch.cat(res).pow(2).mean(0).sqrt())
    zero = lambda x: torch.zeros(x.shape[0], 2)  # noqa: E731
    want = np.mean(np.concatenate([(ep.actions[i, : n - 1] ** 2).ravel()
                                   for i, n in enumerate(ep.lengths)]))  # fmt: skip
    assert action_mse(zero, ep) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("mode", ["bptt", "teacher_forcing"])
def test_padding_never_changes_the_world_model_loss(mode):
    ep = _ragged()
    cfg = WMTrainConfig(mode=mode, horizon=None if mode == "bptt" else 4, var_reg_weight=0.5,
                        feature_match_weight=0.1)  # fmt: skip
    z, a, r = (torch.as_tensor(x) for x in (ep.z, ep.actions, ep.rewards))
    lengths, index = torch.as_tensor(ep.lengths), torch.arange(ep.n_episodes)
    pad = ~torch.as_tensor(ep.mask)
    losses = []
    for fill in (0.0, 50.0):
        torch.manual_seed(0)
        module = WorldModelModule(LatentWorldModel(3, 2, 8), cfg, seed=1, n_samples=7,
                                  max_length=12)  # fmt: skip
        zz, aa, rr = z.clone(), a.clone(), r.clone()
        zz[pad], rr[pad] = fill, fill
        aa[pad] = fill
        losses.append(module.training_step((zz, aa, rr, lengths, index), 0))
    torch.testing.assert_close(losses[0], losses[1])


def test_split_is_made_by_episode_once_and_kept():
    ep = _ragged(n=20)
    made, record = ensure_split(ep, 0.25, seed=4)
    assert record == {"made": True, "test_fraction": 0.25, "seed": 4, "n_train": 15, "n_test": 5}
    np.testing.assert_array_equal(made.meta["split_test"], make_split(20, 0.25, 4))
    assert "split_test" not in ep.meta  # the caller's episodes are left as they were
    kept, again = ensure_split(made, 0.5, seed=9)
    assert again["made"] is False and again["n_test"] == 5
    bad = ep.subset(np.arange(20))
    bad.meta["split_test"] = np.zeros(20, np.int64)
    with pytest.raises(ValueError, match="meta_split_test must be 0 \\(train\\) or 1"):
        ensure_split(bad, 0.25, 0)


def test_gate_rules():
    p = np.array([0.9, 0.9, 0.2, 0.2])
    bounds = np.array([True, False, True, False])
    assert TrustGate(0.5, "trust").weights(p, bounds).tolist() == [0.9, 0.9, 0.0, 0.0]
    assert TrustGate(0.5, "bounds").weights(p, bounds).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert TrustGate(0.5, "both").weights(p, bounds).tolist() == [0.9, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="bounds_pass must be the bounds-filter results"):
        TrustGate(0.5, "both").weights(p)
    with pytest.raises(ValueError, match="rule must be one of"):
        TrustGate(0.5, "either")
    syn = np.array([False, True, True, True, True])
    w = mix_weights(syn, "trust", trust=np.r_[1.0, p], bounds=np.r_[True, bounds], rule="both")
    assert w.tolist() == [1.0, 0.9, 0.0, 0.0, 0.0]
    w = mix_weights(syn, "fixed", share=0.2, transitions=np.array([40, 5, 5, 5, 5]))
    assert (w[1:] * 5).sum() / (w[0] * 40 + (w[1:] * 5).sum()) == pytest.approx(0.2)


def test_segments_start_from_real_states_and_replay_real_actions():
    ep = _ragged(n=9, t=30, seed=3)
    torch.manual_seed(0)
    wm = LatentWorldModel(3, 2, hidden_dim=8)
    seg = generate_segments(wm, ep, 40, 6, sample=False, seed=1)
    idx, start = seg.meta["source_episode"], seg.meta["source_start"]
    assert (start + seg.lengths <= ep.lengths[idx]).all()
    assert (seg.lengths == np.minimum(6, ep.lengths[idx] - 1) + 1).all()
    np.testing.assert_array_equal(seg.z[:, 0], ep.z[idx, start])
    ref = real_counterparts(ep, seg)
    np.testing.assert_array_equal(ref.z[:, 0], seg.z[:, 0])
    for j in range(5):  # the warm start: the model read the real episode up to the start
        i, s, n = idx[j], start[j], seg.lengths[j]
        full = wm.rollout(torch.as_tensor(ep.z[i : i + 1, 0]),
                          torch.as_tensor(ep.actions[i : i + 1, : s + n - 1]),
                          teacher=torch.as_tensor(ep.z[i : i + 1, : s + n]),
                          teacher_prob=1.0)  # fmt: skip
        np.testing.assert_allclose(seg.z[j, 1], full[0, s + 1].detach().numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
        np.testing.assert_array_equal(seg.actions[j, : n - 1], ep.actions[i, s : s + n - 1])


def test_trust_weighted_mix_that_accepts_nothing_is_the_real_only_policy(tmp_path, tiny_overrides):
    from imbalance_world_model.config import load_config
    from imbalance_world_model.data import split_real
    from imbalance_world_model.simulate import stage_simulate
    from imbalance_world_model.train import stage_train_policy

    cfg = load_config(None, tiny_overrides)
    real = stage_simulate(cfg, tmp_path / "real.npz")
    train, _ = split_real(real)
    syn = train.subset(np.arange(6))
    syn = Episodes(syn.z * 2.0, syn.actions, syn.rewards, np.array(["synthetic"] * 6))
    save_episodes(syn, tmp_path / "syn.npz")
    np.savez(tmp_path / "scores.npz", p_real_synthetic=np.full(6, 0.9),
             bounds_pass_synthetic=np.zeros(6, bool), p_real_real=np.ones(3),
             bounds_pass_real=np.ones(3, bool))  # fmt: skip
    args = (tmp_path / "real.npz", tmp_path / "syn.npz", tmp_path / "scores.npz")
    only = stage_train_policy(cfg, "real_only", *args, tmp_path / "a")
    none = stage_train_policy(cfg, "trust_weighted", *args, tmp_path / "b")  # rule both: none
    assert none["synthetic_share"] == 0.0 and none["n_transitions"] == only["n_transitions"]
    assert none["action_mse_test"] == only["action_mse_test"]
