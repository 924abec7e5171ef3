"""The application layer: run files, the study table, the command runner, resume state."""

from __future__ import annotations

import hashlib
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
    ObjectArrayError,
    Progress,
    add_command,
    add_common_options,
    build_trainer,
    check_marker,
    file_sha256,
    is_marked_complete,
    load_json,
    load_npz,
    load_torch,
    make_parser,
    run_cli,
    save_npz,
    save_torch,
    summarise_study,
    writable_dir,
    write_json,
    write_marker,
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
    with pytest.raises(DamagedFileError, match="m.json is damaged.*; delete it and run again$"):
        load_json(path)
    with pytest.raises(DamagedFileError, match=r"m.json is damaged \(.*\); evaluate again$"):
        load_json(path, hint="evaluate again")


def test_file_sha256_matches_hashlib_over_several_blocks(tmp_path):
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # more than one read block
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("compress", [True, False])
def test_save_and_load_npz_round_trip(tmp_path, compress):
    arrays = {
        "z": np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32),
        "source": np.array(["real", "synthetic"]),
        "lengths": np.arange(4),
    }
    path = save_npz(tmp_path / "ep.npz", arrays, compress=compress)
    loaded = load_npz(path)
    with np.load(path, allow_pickle=False) as reference:  # numpy's own reader
        assert list(loaded) == list(reference.files)
        for name in reference.files:
            assert loaded[name].dtype == reference[name].dtype
            assert np.array_equal(loaded[name], reference[name])
    assert [p.name for p in tmp_path.iterdir()] == ["ep.npz"]  # no temporary file left


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("damage", [truncate_file, corrupt_file])
def test_damaged_npz_is_one_clear_error(tmp_path, damage, compress):
    values = np.random.default_rng(2).normal(size=20_000)
    path = save_npz(tmp_path / "rollouts.npz", {"obs": values}, compress=compress)
    damage(path)
    with pytest.raises(DamagedFileError, match="rollout file .*rollouts.npz is damaged") as info:
        load_npz(path, what="rollout file", hint="simulate again")
    message = str(info.value)
    assert "\n" not in message and message.endswith("; simulate again")


def test_npz_with_a_changed_byte_fails_its_checksum(tmp_path):
    path = save_npz(tmp_path / "a.npz", {"x": np.zeros(1000)}, compress=False)
    corrupt_file(path, offset=0.5, count=1)  # inside the stored array: only the CRC sees it
    with pytest.raises(DamagedFileError, match=r"checksum of x.npy fails"):
        load_npz(path)


def test_npz_object_arrays_need_allow_pickle(tmp_path):
    path = tmp_path / "obj.npz"
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros(2), np.zeros(3)]
    np.savez(path, obs=ragged, n=np.arange(2))
    with pytest.raises(ObjectArrayError, match=r"object arrays are not accepted \(field 'obs'\)"):
        load_npz(path, what="rollout file")
    try:
        load_npz(path)
    except ObjectArrayError as exc:
        assert exc.name == "obs" and exc.path == path and isinstance(exc, ValueError)
    loaded = load_npz(path, allow_pickle=True)
    assert [a.tolist() for a in loaded["obs"]] == [[0.0, 0.0], [0.0, 0.0, 0.0]]


def test_npz_missing_or_not_an_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="episodes file not found"):
        load_npz(tmp_path / "none.npz", what="episodes file")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DamagedFileError, match=r"is damaged \(not a zip archive\)"):
        load_npz(tmp_path / "text.npz")


def _stage(run):
    """A stage that writes two files and then its marker (one file in a sub-folder)."""
    (run / "splits").mkdir(parents=True, exist_ok=True)
    (run / "splits" / "train.csv").write_text("id,label\n" + "".join(f"{i},0\n" for i in range(50)))
    (run / "schema.yaml").write_text("labels: [a, b]\n")
    return write_marker(
        run / "splits" / "done.json",
        ["splits/train.csv", "schema.yaml"],
        root=run,
        extra={"rows": 50},
    )


def test_marker_records_each_file_and_checks_it(tmp_path):
    record = _stage(tmp_path)
    assert record["files"] == {
        "splits/train.csv": hashlib.sha256(
            (tmp_path / "splits/train.csv").read_bytes()
        ).hexdigest(),
        "schema.yaml": hashlib.sha256(b"labels: [a, b]\n").hexdigest(),
    }
    assert load_json(tmp_path / "splits" / "done.json") == record
    assert check_marker(tmp_path / "splits" / "done.json", root=tmp_path) == record
    assert is_marked_complete(tmp_path / "splits" / "done.json", root=tmp_path)
    # relative to the marker's own folder by default: the listed files are not there
    assert not is_marked_complete(tmp_path / "splits" / "done.json")


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda run: truncate_file(run / "splits" / "train.csv", keep=0.9), "train.csv is damaged"),
        (lambda run: corrupt_file(run / "schema.yaml", count=1), "schema.yaml is damaged"),
        (lambda run: (run / "schema.yaml").unlink(), "schema.yaml is missing"),
        (lambda run: truncate_file(run / "splits" / "done.json"), "done.json is damaged"),
        (lambda run: write_json(run / "splits" / "done.json", {"rows": 50}), "lists no output"),
    ],
)
def test_a_damaged_stage_output_is_one_line_naming_the_file(tmp_path, damage, said):
    _stage(tmp_path)
    damage(tmp_path)
    marker = tmp_path / "splits" / "done.json"
    with pytest.raises(DamagedFileError, match=said) as info:
        check_marker(marker, root=tmp_path, hint="split again")
    assert "\n" not in str(info.value)
    if "done.json" not in said:
        assert str(info.value).endswith("; split again")
    assert not is_marked_complete(marker, root=tmp_path)


def test_missing_marker_and_bad_extra(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics not found: .*metrics.json"):
        check_marker(tmp_path / "metrics.json", what="metrics")
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(ValueError, match="extra must be a mapping without the key 'files'"):
        write_marker(tmp_path / "m.json", ["a.csv"], extra={"files": 1})
    with pytest.raises(FileNotFoundError):
        write_marker(tmp_path / "m.json", ["b.csv"])
    assert not (tmp_path / "m.json").exists()


def test_writable_dir_names_a_read_only_folder(tmp_path, monkeypatch, capsys):
    assert writable_dir(tmp_path / "run" / "stage").is_dir()
    import errno
    import tempfile

    def read_only(*args, **kwargs):  # what a read-only file system answers (also to root)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError, match="Read-only file system") as info:
        writable_dir(tmp_path / "out")
    assert info.value.errno == errno.EROFS and info.value.filename == str(tmp_path / "out")

    def handler(args):
        writable_dir(tmp_path / "out")

    assert run_cli(_parser(handler), ["study"]) == 2
    err = capsys.readouterr().err
    assert err == f"tool: error: Read-only file system: {tmp_path / 'out'}\n"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only folders"
)
def test_writable_dir_refuses_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as info:
            writable_dir(locked / "run")
        assert str(locked / "run") in str(info.value)
    finally:
        locked.chmod(0o700)


class _Stream:
    def __init__(self, terminal):
        self.terminal = terminal

    def isatty(self):
        return self.terminal

    def write(self, text):
        return len(text)

    def flush(self):
        pass


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_none_follows_the_terminal(monkeypatch, terminal):
    pytest.importorskip("lightning")
    monkeypatch.setattr(sys, "stdout", _Stream(terminal))
    monkeypatch.setattr(sys, "stderr", _Stream(terminal))
    for auto in (
        build_trainer(None, max_epochs=1, logger=False, progress_bar=None),
        build_trainer(None, max_epochs=1, logger=False),  # None is the default
    ):
        assert (auto.progress_bar_callback is not None) is terminal
    for forced in (True, False):
        trainer = build_trainer(None, max_epochs=1, logger=False, progress_bar=forced)
        assert (trainer.progress_bar_callback is not None) is forced
    assert Progress(3, enabled=None).enabled is terminal
    assert Progress(3, enabled=True).enabled is terminal
    assert Progress(3, enabled=False).enabled is False


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
