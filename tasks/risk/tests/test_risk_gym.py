"""Real rollouts from gymnasium's CartPole-v1: the converter, checked against the environment."""

from __future__ import annotations

import json

import numpy as np
import pytest

gym = pytest.importorskip(
    "gymnasium",
    reason="the CartPole example needs gymnasium: pip install 'imbalance-kit-risk[real]'",
)

from imbalance_risk.cli import main  # noqa: E402
from imbalance_risk.gym import cartpole_rollouts  # noqa: E402
from imbalance_risk.rollouts import load_rollouts  # noqa: E402


@pytest.fixture(scope="module")
def slice_():
    return cartpole_rollouts(40, seed=3, max_steps=120)


def test_episodes_replay_in_the_environment(slice_):
    r = slice_
    assert r.hidden_dim == 4 and r.action_dim == 1
    assert set(np.unique(r.actions).tolist()) == {-1.0, 1.0}
    np.testing.assert_array_equal(r.velocities[:, 0], r.hidden_states[:, 1])  # cart velocity
    np.testing.assert_array_equal(r.success, r.episode_lengths == 120)
    failed = ~r.success
    assert failed.any() and r.success.any()
    np.testing.assert_array_equal(r.failure_step[failed], r.episode_lengths[failed] - 1)
    env = gym.make("CartPole-v1", max_episode_steps=120)
    for i in range(r.n_episodes):  # the recorded actions reproduce each episode and its end
        rows = r.episode_slice(i)
        obs, _ = env.reset(seed=3 * 1_000_003 + i)
        terminated = truncated = False
        for t, push in enumerate(r.actions[rows, 0]):
            np.testing.assert_allclose(obs, r.hidden_states[rows][t], rtol=0, atol=0)
            assert not (terminated or truncated)
            obs, _, terminated, truncated, _ = env.step(int(push > 0))
        assert terminated == bool(failed[i]) and (terminated or truncated)
    env.close()


def test_onehot_encoding_has_one_column_per_action(slice_):
    onehot = cartpole_rollouts(40, seed=3, max_steps=120, action_encoding="onehot")
    assert onehot.action_dim == 2 and onehot.velocities is None
    np.testing.assert_array_equal(onehot.actions.sum(axis=1), 1.0)
    np.testing.assert_array_equal(onehot.actions[:, 1] * 2 - 1, slice_.actions[:, 0])


def test_convert_prepare_train_evaluate(tmp_path, capsys):
    path = tmp_path / "cartpole.npz"
    assert main(["convert-gym", "--out", str(path), "--episodes", "80", "--seed", "1"]) == 0
    rollouts = load_rollouts(path)
    assert rollouts.n_episodes == 80 and (~rollouts.success).mean() > 0.5
    assert main(["prepare", str(path), "--out", str(tmp_path / "p")]) == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert 0.03 < summary["positive_rate"] < 0.15  # rare positives, as in the field report
    argv = ["train", "--data", str(tmp_path / "p"), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert main([*argv, "--set", "model.hidden_dims=[16]", "--set", "evaluate.mc_samples=2"]) == 0
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--no-plots"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["auc"] > 0.6 and metrics["ece_calibrated"] is not None
