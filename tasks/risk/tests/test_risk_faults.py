"""Faults: a training killed mid-run and resumed, damaged run files, an unwritable --out.

A run killed with ``os._exit(137)`` (what ``kill -9`` leaves) after its first finished epoch
and then resumed must end with the same metrics as an uninterrupted run with the same seed.
Each kind of file the pipeline writes is truncated or corrupted in turn: the rerun says so in
one line and redoes that stage (or, for ``train --resume``, says how to go on).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
from imbalance_risk import demo
from imbalance_risk.cli import main
from imbalance_risk.evaluate import evaluate_run
from imbalance_risk.train import train

from imbalance_kit.testing import corrupt_file, truncate_file

_CONFIG = {
    "model": {"hidden_dims": [32], "embed_dim": 16, "head_hidden": 8, "proj_dim": 8, "n_heads": 3},
    "data": {"batch_size": 64, "eval_batch_size": 2048},
    "train": {"max_epochs": 3, "patience": 2, "epoch_size": 512},
    "evaluate": {"mc_samples": 3},
}

_KILLED_TRAINING = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)
    from imbalance_risk.config import RiskConfig
    from imbalance_risk.train import train
    from imbalance_kit.testing import kill_at_epoch_start

    prepared, run, config = sys.argv[1], sys.argv[2], RiskConfig.from_dict(json.loads(sys.argv[3]))
    train(config, prepared, run, progress_bar=False, callbacks=[kill_at_epoch_start(1)])
    """
)

_VOLATILE = ("seconds", "plots")


def _comparable(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in _VOLATILE and k != "files"}


def test_killed_training_resumes_to_the_uninterrupted_result(tiny_prepared, tiny_config, tmp_path):
    config = tiny_config(**_CONFIG)
    whole = train(config, tiny_prepared, tmp_path / "whole", progress_bar=False)
    assert whole.epochs == 3
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED_TRAINING,
            str(tiny_prepared),
            str(tmp_path / "cut"),
            json.dumps(config.to_dict()),
        ],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-2000:]
    assert not (tmp_path / "cut" / "model.pt").exists()
    ckpt = torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 0 and any("RandomState" in key for key in ckpt["callbacks"])
    resumed = train(config, tiny_prepared, tmp_path / "cut", resume=True, progress_bar=False)
    assert resumed.epochs == 3
    summary = json.loads((tmp_path / "cut" / "train_summary.json").read_text())
    assert summary["epochs"] == 3 and summary["resumed_at_epoch"] == 1
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    first = evaluate_run(tmp_path / "whole", tiny_prepared, plots=False)
    second = evaluate_run(tmp_path / "cut", tiny_prepared, plots=False)
    assert _comparable(first) == _comparable(second)


_DEMO_SET = ["train.max_epochs=2", "model.n_heads=2", "evaluate.mc_samples=2", "train.patience=0"]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    """A finished ``demo --quick`` on a tiny simulation, and its printed lines."""
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(
            demo.DEMO_PRESETS["quick"],
            "simulation",
            {"n_episodes": 90, "horizon": 70, "seed": 5},
        )
        lines: list[str] = []
        result = demo.run_demo(
            out, quick=True, overrides=_DEMO_SET, progress_bar=False, log=lines.append
        )
        yield out, result, mp


def _rerun(out):
    lines: list[str] = []
    result = demo.run_demo(
        out, quick=True, overrides=_DEMO_SET, progress_bar=False, log=lines.append
    )
    return result, lines


@pytest.mark.parametrize(
    ("name", "damage", "stage"),
    [
        ("rollouts.npz", truncate_file, "simulate"),
        ("prepared/prepared.npz", corrupt_file, "prepare"),
        ("prepared/summary.json", truncate_file, "prepare"),
        ("run/model.pt", truncate_file, "train run"),
        ("run/metrics.json", truncate_file, "evaluate run"),
        ("run/predictions.csv", corrupt_file, "evaluate run"),
        ("baseline/reliability.png", truncate_file, "evaluate baseline"),
    ],
)
def test_a_damaged_output_is_said_and_its_stage_redone(demo_folder, name, damage, stage):
    out, first, _ = demo_folder
    damage(out / name)
    result, lines = _rerun(out)
    damaged = [line for line in lines if "damaged" in line]
    assert len(damaged) == 1 and damaged[0].startswith(f"[{stage}] damaged output")
    assert name.split("/")[-1] in damaged[0]
    assert sum("output exists, skipped" in line for line in lines) == 5  # the other stages
    for key in ("model", "baseline"):
        assert _comparable(result[key]) == _comparable(first[key])
    _, again = _rerun(out)  # repaired: nothing left to redo
    assert sum("output exists, skipped" in line for line in again) == 6


def test_a_damaged_last_checkpoint_restarts_the_training(demo_folder):
    out, first, _ = demo_folder
    truncate_file(out / "run" / "checkpoints" / "last.ckpt")
    truncate_file(out / "run" / "model.pt")
    result, lines = _rerun(out)
    assert any("last.ckpt is damaged" in line for line in lines)
    assert "[train run] training from the first epoch" in lines
    assert _comparable(result["model"]) == _comparable(first["model"])


def test_train_resume_with_a_damaged_checkpoint_says_how_to_go_on(demo_folder, tmp_path, capsys):
    out, _, _ = demo_folder
    argv = ["train", "--data", str(out / "prepared"), "--out", str(tmp_path), "--no-progress"]
    argv += [x for item in _DEMO_SET for x in ("--set", item)]
    assert main(argv) == 0
    truncate_file(tmp_path / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("imbalance-risk: error: checkpoint ")
    assert "last.ckpt is damaged" in err[0] and "--restart" in err[0]
    assert main([*argv, "--resume", "--restart"]) == 0
    corrupt_file(tmp_path / "model.pt", 0.6)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.pt is damaged" in err[0]


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_pickles_run_no_code(demo_folder, tmp_path, capsys):
    out, _, _ = demo_folder
    marker = tmp_path / "ran"
    (tmp_path / "checkpoints").mkdir()
    for name in ("model.pt", "checkpoints/last.ckpt"):
        with (tmp_path / name).open("wb") as fh:
            pickle.dump({"state_dict": _Planted(str(marker))}, fh)
    assert main(["evaluate", "--run", str(tmp_path), "--no-plots"]) == 2
    argv = ["train", "--data", str(out / "prepared"), "--out", str(tmp_path), "--resume"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("imbalance-risk: error: ") for line in err)
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--episodes", "3", "--out", "{blocked}/r.npz"],
        ["prepare", "{rollouts}", "--out", "{blocked}/prepared"],
        ["train", "--data", "{prepared}", "--out", "{blocked}/run"],
        ["demo", "--quick", "--out", "{blocked}/demo"],
        ["study", "--out", "{blocked}/study"],
    ],
)
def test_an_unwritable_out_is_one_line(demo_folder, tmp_path, capsys, argv):
    out, _, _ = demo_folder
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    names = {"blocked": blocked, "rollouts": out / "rollouts.npz", "prepared": out / "prepared"}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("imbalance-risk: error: ")
    assert str(blocked) in err[0]
