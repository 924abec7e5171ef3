"""Faults: a training killed midway resumes to the uninterrupted result; damaged run files are
said in one line and redone; a read-only --out is one error line; planted files run no code.

Reusable pattern: build a tiny run once, then kill (``imbalance_kit.testing.kill_at_epoch_start``
in a subprocess: ``os._exit(137)`` after N finished epochs), truncate or corrupt
(``imbalance_kit.testing.truncate_file`` / ``corrupt_file``) and rerun.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from imbalance_world_model.cli import main
from imbalance_world_model.config import load_config
from imbalance_world_model.demo import demo_config, run_demo
from imbalance_world_model.gates import stage_gate
from imbalance_world_model.generate import stage_generate
from imbalance_world_model.simulate import stage_simulate
from imbalance_world_model.train import (
    stage_train_policy,
    stage_train_trust,
    stage_train_world_model,
)

from imbalance_kit.testing import corrupt_file, truncate_file

KILLED_EXIT_CODE = 137  # imbalance_kit.testing.kill_at_epoch_start ends the process with it

SMALL = [
    "simulate.n_episodes=16",
    "simulate.horizon=9",
    "simulate.n_bricks=2",
    "world_model.hidden_dim=8",
    "wm_train.epochs=4",
    "wm_train.batch_size=4",
    "trust.hidden_dim=8",
    "trust.epochs=4",
    "trust.batch_size=8",
    "policy.hidden_dim=8",
    "policy.epochs=4",
    "policy.batch_size=16",
    "policy.algo=td3bc",
]

_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    torch.set_num_threads(1)
    from imbalance_kit.testing import kill_at_epoch_start
    from imbalance_world_model.config import load_config
    from imbalance_world_model import train

    stage, data, out, overrides = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    cfg = load_config(None, overrides)
    fit = {"callbacks": [kill_at_epoch_start(2)]}
    torch.manual_seed(cfg.seed)
    if stage == "world_model":
        train.stage_train_world_model(cfg, f"{data}/real.npz", out, **fit)
    elif stage == "trust":
        train.stage_train_trust(cfg, f"{data}/real.npz", f"{data}/syn.npz", out, **fit)
    else:
        train.stage_train_policy(cfg, "trust_weighted", f"{data}/real.npz", f"{data}/syn.npz",
                                 f"{data}/gate/scores.npz", out, **fit)
    """
)


def _run_stage(stage: str, data: Path, out: Path) -> dict:
    cfg = load_config(None, SMALL)
    if not (out / "checkpoints").exists():
        torch.manual_seed(cfg.seed)
    if stage == "world_model":
        return stage_train_world_model(cfg, data / "real.npz", out, log=lambda s: None)
    if stage == "trust":
        return stage_train_trust(cfg, data / "real.npz", data / "syn.npz", out, log=lambda s: None)
    return stage_train_policy(
        cfg,
        "trust_weighted",
        data / "real.npz",
        data / "syn.npz",
        data / "gate/scores.npz",
        out,
        log=lambda s: None,
    )


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory):
    """real.npz, syn.npz and gate scores of a small run (inputs of the three trainings)."""
    d = tmp_path_factory.mktemp("inputs")
    cfg = load_config(None, SMALL)
    stage_simulate(cfg, d / "real.npz")
    stage_train_world_model(cfg, d / "real.npz", d / "wm")
    stage_generate(cfg, d / "wm/model.pt", d / "real.npz", d / "syn.npz")
    stage_train_trust(cfg, d / "real.npz", d / "syn.npz", d / "trust")
    stage_gate(cfg, d / "trust/model.pt", d / "real.npz", d / "syn.npz", d / "gate/scores.npz")
    return d


def _without(summary: dict, *keys: str) -> dict:
    return {k: v for k, v in summary.items() if k not in keys}


def _same_result(stage: str, whole: dict, resumed: dict, a_dir: Path, b_dir: Path) -> None:
    assert resumed["resumed_after_epochs"] == 2 and resumed["epochs"] == whole["epochs"] == 4
    assert whole["resumed_after_epochs"] is None
    skip = ("seconds", "resumed_after_epochs")
    assert _without(resumed, *skip) == _without(whole, *skip), stage
    a = torch.load(a_dir / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(b_dir / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (stage, key)


def test_killed_training_resumes_to_the_uninterrupted_result(stage_inputs, tmp_path):
    """The world model killed (``os._exit(137)`` in a subprocess) after 2 of 4 epochs."""
    script = tmp_path / "kill.py"
    script.write_text(_SCRIPT)
    cut = tmp_path / "cut"
    killed = subprocess.run(
        [
            sys.executable,
            str(script),
            "world_model",
            str(stage_inputs),
            str(cut),
            json.dumps(SMALL),
        ],  # fmt: skip
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == KILLED_EXIT_CODE, killed.stderr[-2000:]
    assert not (cut / "model.pt").exists()
    assert torch.load(cut / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 1
    whole = _run_stage("world_model", stage_inputs, tmp_path / "whole")
    resumed = _run_stage("world_model", stage_inputs, cut)
    _same_result("world_model", whole, resumed, tmp_path / "whole", cut)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stage", ["world_model", "trust", "policy"])
def test_interrupted_training_resumes_to_the_uninterrupted_result(stage, stage_inputs, tmp_path):
    """Each training (the policy is TD3+BC) stopped by an error as epoch 2 of 4 starts, in
    this process, then resumed from its checkpoint by a fresh call."""
    from lightning.pytorch.callbacks import Callback

    class StopAtEpoch2(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            if trainer.current_epoch == 2:
                raise _Stop

    cfg = load_config(None, SMALL)
    torch.manual_seed(cfg.seed)
    with pytest.raises(_Stop):
        if stage == "world_model":
            stage_train_world_model(
                cfg, stage_inputs / "real.npz", tmp_path / "cut", callbacks=[StopAtEpoch2()]
            )
        elif stage == "trust":
            stage_train_trust(
                cfg,
                stage_inputs / "real.npz",
                stage_inputs / "syn.npz",
                tmp_path / "cut",
                callbacks=[StopAtEpoch2()],
            )
        else:
            stage_train_policy(
                cfg,
                "trust_weighted",
                stage_inputs / "real.npz",
                stage_inputs / "syn.npz",
                stage_inputs / "gate/scores.npz",
                tmp_path / "cut",
                callbacks=[StopAtEpoch2()],
            )
    torch.manual_seed(12345)  # the resumed run restores the generators from the checkpoint
    resumed = _run_stage(stage, stage_inputs, tmp_path / "cut")
    whole = _run_stage(stage, stage_inputs, tmp_path / "whole")
    _same_result(stage, whole, resumed, tmp_path / "whole", tmp_path / "cut")


def _strip(value):
    """Metrics without wall times and resume counts (they differ between runs)."""
    if isinstance(value, dict):
        return {
            k: _strip(v) for k, v in value.items() if k not in ("seconds", "resumed_after_epochs")
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    metrics = run_demo(out, config=demo_config(False, 0, SMALL), log=lambda s: None)
    return out, _strip(metrics)


DAMAGE = [
    ("data/real.npz", truncate_file, "simulate"),
    ("data/bricks.json", truncate_file, "simulate"),
    ("world_model/model.pt", corrupt_file, "train-world-model"),
    ("world_model/summary.json", truncate_file, "train-world-model"),
    ("data/synthetic.npz", corrupt_file, "generate"),
    ("trust/model.pt", truncate_file, "train-trust"),
    ("trust/metrics.json", corrupt_file, "train-trust"),
    ("gate/scores.npz", truncate_file, "gate"),
    ("gate/summary.json", truncate_file, "gate"),
    ("policies/trust_weighted/model.pt", truncate_file, "train-policy trust_weighted"),
    ("policies/fixed_share/summary.json", corrupt_file, "train-policy fixed_share"),
]


@pytest.mark.parametrize(("name", "damage", "stage"), DAMAGE)
def test_damaged_output_is_said_and_redone(finished_demo, tmp_path, name, damage, stage):
    source, want = finished_demo
    run = tmp_path / "run"
    shutil.copytree(source, run)
    damage(run / name)
    lines: list[str] = []
    metrics = run_demo(run, config=demo_config(False, 0, SMALL), log=lines.append)
    said = [line for line in lines if line.startswith(f"[{stage}]") and "damaged" in line]
    assert len(said) == 1 and "running the stage again" in said[0], lines
    assert str(run / name) in said[0]
    assert any(line.startswith(f"[{stage}] done") for line in lines)
    assert sum("skipped" in line for line in lines) == 7
    assert _strip(metrics) == want


def test_damaged_checkpoint_restarts_training(finished_demo, tmp_path):
    source, want = finished_demo
    run = tmp_path / "run"
    shutil.copytree(source, run)
    (run / "world_model/model.pt").unlink()
    truncate_file(run / "world_model/checkpoints/last.ckpt")
    lines: list[str] = []
    metrics = run_demo(run, config=demo_config(False, 0, SMALL), log=lines.append)
    said = [line for line in lines if "last.ckpt" in line]
    assert len(said) == 1 and "training from the start" in said[0], lines
    assert _strip(metrics) == want


def test_damaged_config_is_one_error_line_and_recoverable(finished_demo, tmp_path, capsys):
    source, _ = finished_demo
    run = tmp_path / "run"
    shutil.copytree(source, run)
    corrupt_file(run / "config.yaml", 0.3, 40)
    sets = [x for o in SMALL for x in ("--set", o)]
    assert main(["demo", "--out", str(run), "--seed", "0", *sets]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.yaml is damaged" in err[0] and "delete it" in err[0]
    (run / "config.yaml").unlink()
    assert main(["demo", "--out", str(run), "--seed", "0", *sets]) == 0


@pytest.fixture
def read_only(monkeypatch, tmp_path):
    """A folder where every write fails as on a read-only file system (as root, chmod would
    not stop writes, so the failure is injected at the os/open level)."""
    root = tmp_path / "ro"
    root.mkdir()
    prefix = str(root)

    def inside(path) -> bool:
        return str(os.fspath(path)).startswith(prefix) if isinstance(path, (str, Path)) else False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    real_mkdir, real_open, real_builtin_open = os.mkdir, os.open, builtins.open

    def mkdir(path, *args, **kwargs):
        if inside(path) and not os.path.isdir(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def builtin_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", builtin_open)
    return root


def test_read_only_out_is_one_error_line(read_only, stage_inputs, capsys):
    sets = [x for o in SMALL for x in ("--set", o)]
    real = str(stage_inputs / "real.npz")
    for argv in (
        ["demo", "--out", str(read_only / "run"), *sets],
        ["demo", "--out", str(read_only), *sets],
        ["simulate", "--out", str(read_only / "real.npz"), *sets],
        ["train-world-model", "--real", real, "--out", str(read_only / "wm"), *sets],
        ["train-trust", "--real", real, "--synthetic", real, "--out", str(read_only / "t")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith("imbalance-world-model: error: Read-only file system: "), err
        assert str(read_only) in err[0]


class _Planted:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["WM_PLANTED_MARKER"]),))


def test_planted_files_run_no_code(finished_demo, tmp_path, monkeypatch, capsys):
    source, want = finished_demo
    run = tmp_path / "run"
    shutil.copytree(source, run)
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("WM_PLANTED_MARKER", str(marker))
    torch.save({"kind": "world_model", "state_dict": _Planted()}, run / "world_model/model.pt")
    torch.save({"epoch": 3, "x": _Planted()}, run / "world_model/checkpoints/last.ckpt")
    out = tmp_path / "syn.npz"
    assert main(["generate", "--model", str(run / "world_model/model.pt"), "--real",
                 str(run / "data/real.npz"), "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is damaged or not a torch file" in err[0], err
    lines: list[str] = []
    metrics = run_demo(run, config=demo_config(False, 0, SMALL), log=lines.append)
    assert any("last.ckpt" in line and "training from the start" in line for line in lines)
    assert not marker.exists()
    assert _strip(metrics) == want
