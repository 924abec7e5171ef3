"""The application layer: run files, the study table, the command runner, resume state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from imbalance_kit.app import (
    DamagedFileError,
    add_command,
    add_common_options,
    load_json,
    load_torch,
    make_parser,
    run_cli,
    save_torch,
    summarise_study,
    write_json,
)
from imbalance_kit.app.trainer import capture_random_state, restore_random_state
from imbalance_kit.testing import corrupt_file, truncate_file


def test_save_and_load_torch_round_trip(tmp_path):
    path = save_torch({"w": torch.arange(5.0), "epoch": 3}, tmp_path / "m.pt")
    loaded = load_torch(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], torch.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


@pytest.mark.parametrize("damage", [truncate_file, corrupt_file])
def test_damaged_torch_file_is_one_clear_error(tmp_path, damage):
    path = save_torch({"w": torch.randn(1000)}, tmp_path / "model.pt")
    damage(path)
    with pytest.raises(DamagedFileError, match="model .*model.pt is damaged.*run train again"):
        load_torch(path, what="model", hint="run train again")


def test_pickled_object_is_refused_as_damaged(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": object()}, path)  # only loadable with weights_only=False
    with pytest.raises(DamagedFileError):
        load_torch(path)


def test_failed_write_leaves_the_old_file(tmp_path):
    path = write_json(tmp_path / "m.json", {"auc": 0.5})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert load_json(path) == {"auc": 0.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_write_json_is_strict_json(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": float("nan"), "b": np.float32(0.5), "c": [np.inf]})
    assert json.loads(path.read_text()) == {"a": None, "b": 0.5, "c": [None]}


def test_damaged_json_is_detected(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"auc": 0.')
    with pytest.raises(DamagedFileError, match="m.json is damaged"):
        load_json(path)


def test_study_summary_matches_numpy():
    rng = np.random.default_rng(0)
    values = rng.random(5)
    rows = [{"variant": "a", "seed": i, "m": float(v)} for i, v in enumerate(values)]
    rows.append({"variant": "b", "seed": 0, "m": float("nan")})
    summary = summarise_study(rows, ["m"])
    assert summary[0]["m"]["mean"] == pytest.approx(values.mean())
    assert summary[0]["m"]["std"] == pytest.approx(values.std(ddof=1))
    assert summary[1]["m"] is None
    assert summarise_study(rows, ["m"], ddof=0)[0]["m"]["std"] == pytest.approx(values.std())


def _parser(handler):
    parser, sub = make_parser("tool", "A tool.", "9.9")
    add_common_options(add_command(sub, "study", handler, help="run", aliases=["compare"]))
    return parser


def test_runner_aliases_threads_and_errors(tmp_path, capsys):
    seen = {}

    def handler(args):
        seen.update(command=args.command, threads=torch.get_num_threads(), set=args.overrides)
        return 0

    before = torch.get_num_threads()
    try:
        assert run_cli(_parser(handler), ["compare", "--threads", "1", "--set", "a.b=1"]) == 0
    finally:
        torch.set_num_threads(before)
    assert seen == {"command": "study", "threads": 1, "set": ["a.b=1"]}
    assert run_cli(_parser(handler), ["study", "--threads", "0"]) == 2
    assert "tool: error: --threads must be an integer >= 1, got 0" in capsys.readouterr().err
    assert run_cli(_parser(handler), ["--version"]) == 0
    assert capsys.readouterr().out.strip() == "tool 9.9"


def test_runner_reports_an_unwritable_folder_in_one_line(tmp_path, capsys):
    def handler(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out"))

    assert run_cli(_parser(handler), ["study"]) == 2
    err = capsys.readouterr().err
    assert err == f"tool: error: Permission denied: {tmp_path / 'out'}\n"


def test_random_state_round_trip_survives_weights_only(tmp_path):
    import random

    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002
    random.seed(3)
    save_torch(capture_random_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.manual_seed(99)
    np.random.seed(99)  # noqa: NPY002
    random.seed(99)
    restore_random_state(load_torch(tmp_path / "rng.pt"))
    got = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1]) and expected[2] == got[2]


_RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, torch, lightning as L
    from torch.utils.data import DataLoader, TensorDataset
    from imbalance_kit.app import build_trainer, fit, last_checkpoint, random_state_callback
    from imbalance_kit.testing import kill_at_epoch_start

    run, mode = sys.argv[1], sys.argv[2]

    class M(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5),
                                           torch.nn.Linear(8, 1))
        def training_step(self, batch, i):
            x, y = batch
            return ((self.net(x).squeeze(1) - y) ** 2).mean()
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    L.seed_everything(0, verbose=False)
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.randn(64, 4, generator=g), torch.randn(64, generator=g))
    loader = DataLoader(data, batch_size=8, shuffle=True)
    module = M()
    callbacks = [last_checkpoint(f"{run}/ckpt"), random_state_callback()]
    if mode == "kill":
        callbacks.append(kill_at_epoch_start(2))
    trainer = build_trainer(None, max_epochs=4, callbacks=callbacks, logger=False,
                            progress_bar=False)
    last = f"{run}/ckpt/last.ckpt"
    import os
    fit(trainer, module, train_dataloaders=loader,
        ckpt_path=last if mode == "resume" and os.path.exists(last) else None)
    torch.save(module.state_dict(), f"{run}/final.pt")
    """
)


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_RESUME_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def run(folder, mode):
        return subprocess.run(
            [sys.executable, str(script), str(tmp_path / folder), mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    whole = run("whole", "plain")
    assert whole.returncode == 0, whole.stderr
    killed = run("cut", "kill")
    assert killed.returncode == 137, killed.stderr
    assert not (tmp_path / "cut" / "final.pt").exists()
    assert load_torch(tmp_path / "cut" / "ckpt" / "last.ckpt")["epoch"] == 1
    resumed = run("cut", "resume")
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "whole" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "final.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
