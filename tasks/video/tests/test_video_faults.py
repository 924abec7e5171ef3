"""Fault injection: a training killed mid-run, damaged run files, an unwritable output folder.

A killed training resumes to exactly the uninterrupted result; every file a stage would
reuse is checked, a damaged one is named in one line and the rerun (or ``--restart``)
recovers; an unwritable ``--out`` is one line and exit status 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from imbalance_video.cli import main
from imbalance_video.config import VideoConfig
from imbalance_video.manifest import read_manifest
from imbalance_video.split import split_manifest
from imbalance_video.train import train

from imbalance_kit.app import load_json, load_torch
from imbalance_kit.testing import corrupt_file, truncate_file

TINY = {
    "data": {"frame_size": 16, "clip_len": 4, "batch_size": 8},
    "model": {"name": "c3d", "width": 4, "embed_dim": 8, "dropout": 0.1},
    "training": {"epochs": 3, "lr": 3e-3, "num_threads": 1},
    "tta": {"clips": 2},
    "diagnostics": {"probe_folds": 2},
}

_KILLED_TRAINING = textwrap.dedent(
    """
    import sys
    from imbalance_video.config import load_config
    from imbalance_video.train import train
    from imbalance_kit.testing import kill_at_epoch_start

    config_path, run = sys.argv[1], sys.argv[2]
    train(load_config(config_path), run, progress=False, callbacks=[kill_at_epoch_start(2)])
    """
)


@pytest.fixture(scope="module")
def config_file(tiny_data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("video_faults")
    dev = read_manifest(tiny_data / "manifest.csv")
    test = read_manifest(tiny_data / "test_manifest.csv")
    paths = split_manifest(dev, "intravideo", test_manifest=test, val_share=0.34).write(root)
    raw = {k: dict(v) for k, v in TINY.items()}
    raw["data"].update(train=paths["train"], val=paths["val"], test=paths["test"])
    return VideoConfig.from_dict(raw).save(root / "config.yaml")


@pytest.fixture(scope="module")
def finished_run(config_file, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("video_whole") / "run"
    train(VideoConfig.from_dict(load_yaml(config_file)), run, progress=False)
    return run


def load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_killed_training_resumes_to_the_uninterrupted_result(config_file, finished_run, tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_TRAINING)
    cut = tmp_path / "cut"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    killed = subprocess.run(
        [sys.executable, str(script), str(config_file), str(cut)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-2000:]
    assert load_torch(cut / "last.ckpt")["epoch"] == 1  # two epochs finished
    assert [r["epoch"] for r in load_json(cut / "training_history.json")] == [0, 1]
    assert not (cut / "train_done.json").exists()

    code = main(
        ["train", "--config", str(config_file), "--out", str(cut), "--resume", "--no-progress"]
    )
    assert code == 0
    whole_done, cut_done = (
        load_json(finished_run / "train_done.json"),
        load_json(cut / "train_done.json"),
    )
    assert cut_done["resumed_from_epoch"] == 2 and whole_done["resumed_from_epoch"] == 0
    for key in ("epochs", "best_score", "best_checkpoint", "class_counts"):
        assert cut_done[key] == whole_done[key], key
    # every logged value of every epoch (losses, validation metrics, task weights, lr)
    assert load_json(cut / "training_history.json") == load_json(
        finished_run / "training_history.json"
    )
    a = load_torch(finished_run / "last.ckpt")["state_dict"]
    b = load_torch(cut / "last.ckpt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        same = torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key]
        assert same, key


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


@pytest.mark.parametrize("damage", [truncate_file, corrupt_file], ids=["truncated", "corrupt"])
def test_damaged_last_checkpoint_is_one_line_and_restart_recovers(
    damage, config_file, finished_run, tmp_path, capsys
):
    run = _copy(finished_run, tmp_path)
    damage(run / "last.ckpt")
    argv = ["train", "--config", str(config_file), "--out", str(run), "--no-progress"]
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imbalance-video: error: checkpoint ") and "\n" not in err
    assert "last.ckpt is damaged" in err and "--restart" in err
    assert main([*argv, "--restart"]) == 0
    done = load_json(run / "train_done.json")
    assert done["epochs"] == 3 and done["resumed_from_epoch"] == 0
    assert done["best_score"] == load_json(finished_run / "train_done.json")["best_score"]


def test_damaged_history_and_best_checkpoint_are_named(config_file, finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    truncate_file(run / "training_history.json")
    argv = ["train", "--config", str(config_file), "--out", str(run), "--no-progress"]
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "training_history.json is damaged" in err and "--restart" in err and "\n" not in err

    truncate_file(run / "best.ckpt")
    assert main(["evaluate", "--run", str(run), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "best.ckpt is damaged" in err and "--checkpoint last" in err and "\n" not in err
    assert main(["evaluate", "--run", str(run), "--no-plots", "--checkpoint", "last"]) == 0


def test_unwritable_out_is_one_line(config_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "run"
    argv = ["train", "--config", str(config_file), "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imbalance-video: error: ") and "\n" not in err and str(out) in err
    assert main(["study", "--quick", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("imbalance-video: error: ")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_read_only_out_is_one_line(config_file, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        argv = ["train", "--config", str(config_file), "--out", str(folder / "run")]
        assert main([*argv, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("imbalance-video: error: Permission denied") and "\n" not in err
    finally:
        folder.chmod(0o700)


def test_study_recovers_every_damaged_stage_to_the_same_result(tmp_path, monkeypatch):
    from imbalance_video import demo
    from imbalance_video.study import run_study

    tiny = {
        "simulation": {"n_videos": 4, "n_test_videos": 2, "events_per_video": 6, "event_frames": 6,
                       "gap_frames": 1, "size": 16, "tail_share": 0.25, "rich_tail_share": 0.5},
        "config": {**TINY, "training": {"epochs": 1, "num_threads": 1}},
    }  # fmt: skip
    monkeypatch.setitem(demo.DEMO_PRESETS, "quick", tiny)
    first = run_study(tmp_path, quick=True, methods=["intravideo"], log=lambda m: None)
    run, split = tmp_path / "runs" / "intravideo_s0", tmp_path / "splits" / "intravideo_s0"
    truncate_file(tmp_path / "data" / "videos" / "dev_001.mp4")
    truncate_file(split / "train.csv", keep=0.9)  # whole rows lost: only the checksum sees it
    truncate_file(run / "best.ckpt")
    corrupt_file(run / "metrics.json")
    for entry in sorted((run / "cache").glob("*.npy")):  # a flipped pixel byte in every entry
        corrupt_file(entry, offset=0.9)
    messages: list[str] = []
    again = run_study(tmp_path, quick=True, methods=["intravideo"], log=messages.append)
    assert any("incomplete or damaged: simulating it again" in m for m in messages)
    assert any(m.startswith("[train] intravideo_s0") for m in messages)
    assert again["results"] == first["results"]  # redone stages give the same numbers
    assert load_torch(run / "best.ckpt")["epoch"] == 0
