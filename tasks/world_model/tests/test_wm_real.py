"""The real-data path: gymnasium rollouts (a small slice), the user's episodes through demo
(--real) and through the stage commands, and evaluate on a folder the stages built."""

from __future__ import annotations

import json

import numpy as np
import pytest
from imbalance_world_model.cli import main
from imbalance_world_model.data import load_episodes

gym = pytest.importorskip(
    "gymnasium",
    reason="the real-data example needs gymnasium (pip install -e 'tasks/world_model[real]')",
)

TINY = [
    "world_model.hidden_dim=8",
    "wm_train.epochs=2",
    "wm_train.batch_size=8",
    "trust.hidden_dim=8",
    "trust.epochs=2",
    "policy.hidden_dim=8",
    "policy.epochs=1",
    "policy.batch_size=64",
]
SETS = [x for o in TINY for x in ("--set", o)]


@pytest.fixture(scope="module")
def acrobot(tmp_path_factory):
    """16 Acrobot-v1 episodes of at most 120 steps: terminated ones are shorter."""
    path = tmp_path_factory.mktemp("real") / "acrobot.npz"
    assert main(["rollouts", "--env", "acrobot", "--episodes", "16", "--max-steps", "120",
                 "--out", str(path)]) == 0  # fmt: skip
    return path


def test_rollouts_match_gymnasium(acrobot, tmp_path):
    ep = load_episodes(acrobot)
    assert ep.latent_dim == 6 and ep.action_dim == 1 and ep.n_episodes == 16
    assert "split_test" not in ep.meta  # the commands that read it make the split
    assert len(set(ep.lengths.tolist())) > 1  # episodes that terminate differ in length
    term = ep.meta["terminated"].astype(bool)
    assert (ep.lengths[~term] == 121).all() and (ep.lengths[term] <= 121).all()
    assert set(np.unique(ep.actions[ep.transition_mask])) <= {-1.0, 0.0, 1.0}
    env = gym.make("Acrobot-v1", max_episode_steps=120)
    for i in (0, 5):  # every episode starts from env.reset(seed=i) and follows the dynamics
        obs, _ = env.reset(seed=i)
        np.testing.assert_allclose(ep.z[i, 0], obs, rtol=1e-6)
        for t in range(3):
            obs, reward, *_ = env.step(int(ep.actions[i, t, 0]) + 1)
            np.testing.assert_allclose(ep.z[i, t + 1], obs, rtol=1e-5, atol=1e-6)
            assert ep.rewards[i, t] == reward
    pendulum = tmp_path / "pendulum.npz"
    assert main(["rollouts", "--env", "pendulum", "--episodes", "3", "--max-steps", "20",
                 "--out", str(pendulum)]) == 0  # fmt: skip
    p = load_episodes(pendulum)
    assert p.z.shape == (3, 21, 3) and (p.lengths == 21).all()
    assert (np.abs(p.actions) <= 2.0).all() and not p.meta["terminated"].any()


def test_demo_on_real_variable_length_episodes(acrobot, tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--real", str(acrobot), "--out", str(out), *SETS]
    segments = ["--set", "generate.mode=segments", "--set", "generate.segment_length=8"]
    assert main([*args, *segments]) == 0
    split = json.loads((out / "data/split.json").read_text())
    assert split["made"] and split["n_test"] == 4 and split["seed"] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["synthetic"]["segments"] and set(metrics["policies"]) == {
        "real_only", "fixed_share", "trust_weighted"}  # fmt: skip
    assert metrics["policies"]["fixed_share"]["synthetic_share"] == pytest.approx(0.1, rel=1e-4)
    assert "do_no_harm" in metrics and len(metrics["std_ratio"]["per_step"]) == 9
    other = tmp_path / "other.npz"
    assert main(["rollouts", "--env", "acrobot", "--episodes", "8", "--seed", "3", "--out",
                 str(other)]) == 0  # fmt: skip
    assert main(["demo", "--real", str(other), "--out", str(out), *SETS, *segments]) == 2


def test_evaluate_a_folder_built_by_the_stage_commands(acrobot, tmp_path, capsys):
    run = tmp_path / "run"
    real = run / "data/real.npz"
    real.parent.mkdir(parents=True)
    real.write_bytes(acrobot.read_bytes())  # no split in the file: every stage makes the same
    syn = run / "data/synthetic.npz"
    steps = [
        ["train-world-model", "--real", str(real), "--out", str(run / "world_model")],
        ["generate", "--model", str(run / "world_model/model.pt"), "--real", str(real),
         "--out", str(syn)],
        ["train-trust", "--real", str(real), "--synthetic", str(syn), "--out", str(run / "trust")],
        ["gate", "--trust", str(run / "trust/model.pt"), "--real", str(real), "--synthetic",
         str(syn), "--out", str(run / "gate/scores.npz")],
    ]  # fmt: skip
    for mix in ("real_only", "fixed_share", "trust_weighted"):
        steps.append(["train-policy", "--mix", mix, "--real", str(real), "--synthetic", str(syn),
                      "--scores", str(run / "gate/scores.npz"), "--out",
                      str(run / "policies" / mix)])  # fmt: skip
    for argv in steps:
        assert main([*argv, *SETS]) == 0, argv
    out = capsys.readouterr().out
    assert "std ratio synthetic/real by step 1:" in out  # generate's headline
    assert main(["evaluate", "--run", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "do no harm" in printed and "std ratio synthetic/real by step" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"]["n_test"] == 4 and "do_no_harm" in metrics
    assert metrics["policies"]["trust_weighted"]["gate_rule"] == "both"
    for name in ("plots/std_ratio.png", "plots/trust_hist.png", "predictions.csv"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "world_model/summary.json").read_text())
    assert summary["split"] == {"made": True, "test_fraction": 0.25, "seed": 0,
                                "n_train": 12, "n_test": 4}  # fmt: skip
    syn.unlink()
    assert main(["evaluate", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "has no data/synthetic.npz (or synthetic.npz)" in err
