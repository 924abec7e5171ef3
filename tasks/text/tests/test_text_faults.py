"""Faults: a killed training resumes to the uninterrupted result, damaged files are said and
redone, an unwritable or foreign --out is one error line."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from imbalance_text.cli import main
from imbalance_text.config import TextConfig
from imbalance_text.train import run_pipeline

from imbalance_kit.app import load_json, load_torch
from imbalance_kit.testing import corrupt_file, truncate_file

KILLED_EXIT_CODE = 137  # what imbalance_kit.testing.kill_at_epoch_start exits with

_KILLED_RUN = """
import json, sys
from imbalance_kit.testing import kill_at_epoch_start
from imbalance_text.config import TextConfig
from imbalance_text.train import run_pipeline

config = TextConfig.from_dict(json.loads(sys.argv[2]))
run_pipeline(config, sys.argv[1], progress=False, callbacks=[kill_at_epoch_start(2)])
"""


def _same_model(a: Path, b: Path) -> None:
    left = load_torch(a / "model.pt")["state_dict"]
    right = load_torch(b / "model.pt")["state_dict"]
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


def test_killed_training_resumes_to_the_uninterrupted_result(
    tmp_path: Path, make_config: Callable[..., TextConfig]
) -> None:
    config = make_config("training.epochs=4", "model.dropout=0.3")
    whole = run_pipeline(config, tmp_path / "whole", progress=False)
    cut = tmp_path / "cut"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_RUN, str(cut), json.dumps(config.to_dict())],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert killed.returncode == KILLED_EXIT_CODE, killed.stderr[-2000:]
    assert load_torch(cut / "last.ckpt")["epoch"] == 1  # two finished epochs
    assert not (cut / "train_done.json").exists() and not (cut / "model.pt").exists()
    lines: list[str] = []
    resumed = run_pipeline(config, cut, progress=False, log=lines.append)
    assert f"training: resuming after epoch 2 from {cut / 'last.ckpt'}" in lines
    assert resumed == whole
    _same_model(tmp_path / "whole", cut)
    assert load_json(cut / "train_done.json")["epochs"] == 4
    assert load_torch(cut / "last.ckpt")["epoch"] == 3  # the last finished epoch
    epochs = [line.split(",") for line in (cut / "logs" / "metrics.csv").read_text().splitlines()]
    header = epochs[0]
    logged = {row[header.index("epoch")] for row in epochs[1:]}
    assert logged == {"0", "1", "2", "3"}  # the killed run's epochs stay in the log


def _damage_rounds(run: Path) -> list[tuple[Callable[[], None], list[str]]]:
    """Damage, then the lines the rerun must say; one round per way the training stage goes on."""
    cache = next((run / "cache").glob("emb-*.npy"))

    def split_cache_model_metrics() -> None:
        corrupt_file(run / "splits" / "train.csv", count=8)
        corrupt_file(cache)
        truncate_file(run / "model.pt")
        truncate_file(run / "metrics.json")  # evaluation is always redone

    def killed_after(damage: Callable[[], None]) -> Callable[[], None]:
        def both() -> None:  # as if killed after the checkpoint, before train_done.json
            damage()
            (run / "train_done.json").unlink()

        return both

    return [
        (
            split_cache_model_metrics,
            [
                "train.csv is damaged (checksum differs); splitting again",
                "is damaged (its checksum differs from the one written with it); embedding again",
                "model.pt is damaged",
            ],
        ),
        (lambda: truncate_file(run / "train_done.json"), ["train_done.json is damaged"]),
        (killed_after(lambda: corrupt_file(run / "last.ckpt")), ["last.ckpt is damaged"]),
        (killed_after(lambda: truncate_file(run / "best.ckpt")), ["best.ckpt is damaged"]),
    ]


def test_damaged_files_are_said_and_their_stage_redone(
    tmp_path: Path, make_config: Callable[..., TextConfig]
) -> None:
    config = make_config("training.epochs=2")
    run = tmp_path / "run"
    first = run_pipeline(config, run, progress=False)
    for damage, messages in _damage_rounds(run):
        damage()
        lines: list[str] = []
        again = run_pipeline(config, run, progress=False, log=lines.append)
        for message in messages:
            assert any(message in line for line in lines), (message, lines)
        assert again == first, messages
        load_torch(run / "model.pt")
        load_json(run / "metrics.json")


def test_foreign_or_unwritable_out_is_one_error_line(
    tmp_path: Path,
    files: dict[str, Path],
    tiny_bert: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = ["train", "--data", str(files["corpus"]), "--schema", str(files["schema"]),
            "--model-path", str(tiny_bert), "--epochs", "1", "--no-progress",
            "--set", "model.max_length=32", "--threads", "1"]  # fmt: skip
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main([*base, "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imbalance-text: error: ") and err.count("\n") == 1

    read_only = tmp_path / "ro"
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        if str(self).startswith(str(read_only)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", refuse)
        assert main([*base, "--out", str(read_only / "run")]) == 2
    err = capsys.readouterr().err
    assert err == f"imbalance-text: error: Read-only file system: {read_only / 'run'}\n"

    run = tmp_path / "run"
    assert main([*base, "--out", str(run)]) == 0
    capsys.readouterr()
    assert main([*base, "--out", str(run), "--focal-gamma", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds a run with another configuration (loss.focal_gamma: 2.0 -> 1.0)" in err
    assert "--restart" in err and err.count("\n") == 1
    assert main([*base, "--out", str(run), "--focal-gamma", "1", "--restart"]) == 0
    assert load_json(run / "train_done.json")["epochs"] == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_out_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["simulate", "--out", str(folder / "sub" / "c.csv"), "--n", "20"]) == 2
    finally:
        folder.chmod(0o755)
    assert capsys.readouterr().err.startswith("imbalance-text: error: Permission denied")
