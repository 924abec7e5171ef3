"""The ``imbalance-risk`` command: every sub-command end to end, one-line errors, the demo."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import yaml
from imbalance_risk import demo
from imbalance_risk.cli import main
from imbalance_risk.data import load_prepared
from imbalance_risk.rollouts import load_rollouts


def _tiny_yaml(path):
    path.write_text(
        yaml.safe_dump(
            {
                "model": {"hidden_dims": [16], "embed_dim": 8, "head_hidden": 8, "n_heads": 2},
                "data": {"batch_size": 128},
                "train": {"max_epochs": 1, "patience": 0},
                "evaluate": {"mc_samples": 2},
            }
        )
    )
    return path


def test_simulate_prepare_train_evaluate(tmp_path, capsys):
    rollouts = tmp_path / "rollouts.npz"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(rollouts),
                "--episodes",
                "90",
                "--horizon",
                "70",
                "--seed",
                "5",
            ]
        )
        == 0
    )
    assert load_rollouts(rollouts).n_episodes == 90
    prepared = tmp_path / "prepared"
    assert (
        main(
            [
                "prepare",
                str(rollouts),
                "--out",
                str(prepared),
                "--k",
                "12",
                "--risk-decay",
                "0.8",
                "--attribution-weights",
                "0.5",
                "0.2",
                "0.2",
                "0.1",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    summary = json.loads((prepared / "summary.json").read_text())
    assert summary["settings"]["k"] == 12 and summary["settings"]["risk_decay"] == 0.8
    assert summary["settings"]["attribution_weights"] == [0.5, 0.2, 0.2, 0.1]
    run = tmp_path / "run"
    config = _tiny_yaml(tmp_path / "tiny.yaml")
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--data",
                str(prepared),
                "--out",
                str(run),
                "--no-progress",
                "--threads",
                "1",
                "--set",
                "loss.ttf.weight=0.25",
            ]
        )
        == 0
    )
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["loss"]["ttf"]["weight"] == 0.25 and saved["model"]["n_heads"] == 2
    assert main(["evaluate", "--run", str(run), "--no-plots"]) == 0  # data path from the run
    out = capsys.readouterr().out
    assert "AUC" in out and "per-dim AUC" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["mc_samples"] == 2


def test_prepare_merges_files_and_include_all(tmp_path, tiny_rollouts):
    from imbalance_risk.rollouts import save_rollouts

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_rollouts(tiny_rollouts, a)
    save_rollouts(tiny_rollouts, b)
    assert (
        main(
            ["prepare", str(a), str(b), "--out", str(tmp_path / "p"), "--include-all-failure-steps"]
        )
        == 0
    )
    data = load_prepared(tmp_path / "p")
    assert np.unique(data.episode).size == 2 * tiny_rollouts.n_episodes  # renumbered episodes
    np.testing.assert_array_equal(data.binary > 0, data.episode_failed)  # every failed step


def test_pickle_input_needs_the_flag(tmp_path, capsys, tiny_rollouts):
    r = tiny_rollouts
    episodes = [
        {
            "hidden_states": r.hidden_states[r.episode_slice(i)],
            "actions": r.actions[r.episode_slice(i)],
            "success": bool(r.success[i]),
            "failure_step": int(r.failure_step[i]),
        }
        for i in range(r.n_episodes)
    ]
    path = tmp_path / "rollouts.pkl"
    path.write_bytes(pickle.dumps(episodes))
    assert main(["prepare", str(path), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imbalance-risk: error:") and "--allow-pickle" in err
    assert len(err.splitlines()) == 1
    assert main(["prepare", str(path), "--out", str(tmp_path / "p"), "--allow-pickle"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--out", "RUN", "--config", "missing.yaml"], "config file not found"),
        (["train", "--out", "RUN", "--set", "train.lrr=1"], "config key 'train.lrr'"),
        (["train", "--out", "RUN"], "data_path must be a prepared data set"),
        (["evaluate", "--run", "RUN"], "model not found"),
        (["simulate", "--out", "x.npz", "--episodes", "0"], "n_episodes must be"),
        (["simulate", "--out", "x.csv", "--episodes", "3"], "path must be a file ending"),
        (["demo", "--out", "OUT", "--threads", "0"], "--threads must be an integer >= 1"),
        (["ablation", "--out", "OUT", "--variants", "magic"], "--variants must be among"),
        (["nope"], "invalid choice"),
    ],
)
def test_errors_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_demo_runs_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        demo.DEMO_PRESETS["quick"], "simulation", {"n_episodes": 90, "horizon": 70, "seed": 5}
    )
    argv = [
        "demo",
        "--quick",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--threads",
        "1",
        "--set",
        "train.max_epochs=1",
        "--set",
        "model.n_heads=2",
        "--set",
        "evaluate.mc_samples=2",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "MSE baseline" in first and "risk model" in first
    result = json.loads((tmp_path / "demo.json").read_text())
    assert result["quick"] and {"model", "baseline"} <= set(result)
    for name in (
        "rollouts.npz",
        "prepared/prepared.npz",
        "run/model.pt",
        "baseline/model.pt",
        "run/metrics.json",
        "run/reliability.png",
        "baseline/predictions.csv",
    ):
        assert (tmp_path / name).is_file(), name
    assert main(argv) == 0  # every stage's output exists: nothing is redone
    second = capsys.readouterr().out
    assert second.count("output exists, skipped") == 6
    assert json.loads((tmp_path / "demo.json").read_text())["model"] == result["model"]


def test_version_and_shipped_config_names(capsys):
    from imbalance_risk import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"imbalance-risk {__version__}"
    assert main(["train", "--out", "RUN", "--config", "no-such-config"]) == 2
    err = capsys.readouterr().err
    assert "shipped configs: baseline_mse, ddp_cpu, default, quick" in err


def test_study_and_its_ablation_alias(tmp_path, capsys):
    argv = [
        "--out",
        str(tmp_path),
        "--seeds",
        "0",
        "--episodes",
        "80",
        "--variants",
        "mse_baseline",
        "--threads",
        "1",
        "--config",
        "default",
        "--set",
        "train.max_epochs=1",
        "--set",
        "evaluate.mc_samples=0",
    ]
    assert main(["study", *argv]) == 0
    first = capsys.readouterr().out
    assert "mse_baseline" in first and (tmp_path / "study.md").is_file()
    rows = (tmp_path / "study.csv").read_text().splitlines()
    assert rows[0].startswith("variant,seed,auc") and len(rows) == 2
    assert main(["ablation", *argv]) == 0  # the old verb: the same command, runs reused
    second = capsys.readouterr().out
    assert second.count("output exists, skipped") == 4
    assert (tmp_path / "study.csv").read_text().splitlines() == rows


def test_the_field_report_spellings(tmp_path, tiny_rollouts, capsys):
    from imbalance_risk.rollouts import save_rollouts

    save_rollouts(tiny_rollouts, tmp_path / "r.npz")
    prepared = tmp_path / "p"
    assert (
        main(
            ["prepare", str(tmp_path / "r.npz"), "--out", str(prepared), "--k-before-failure", "12"]
        )
        == 0
    )
    assert json.loads((prepared / "summary.json").read_text())["settings"]["k"] == 12
    run = tmp_path / "run"
    argv = ["train", "--data", str(prepared), "--out", str(run), "--epochs", "1", "--device", "cpu"]
    assert main([*argv, "--set", "model.hidden_dims=[16]"]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["max_epochs"] == 1 and saved["train"]["accelerator"] == "cpu"
    import torch

    if not torch.cuda.is_available():
        capsys.readouterr()
        assert main([*argv[:-1], "cuda"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--device cuda needs a CUDA GPU" in err[0]
