"""The cluster recipe on one machine: ``train-world-model`` launched as 2 SLURM tasks.

The two processes get the environment ``srun --ntasks-per-node=2`` gives its tasks (the
variables Lightning's ``SLURMEnvironment`` reads), and train under Lightning DDP with the gloo
backend, batch B/2 per process. The seed fixes everything (the sampler's draw, each sample's
window start), so the model equals a single-process run with batch B. The shipped sbatch
template is checked for syntax and for the options the commands read.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from importlib.resources import files

import pytest
import torch
from imbalance_world_model.cli import build_parser, main
from imbalance_world_model.config import load_config
from imbalance_world_model.simulate import stage_simulate

pytestmark = pytest.mark.distributed

SETTINGS = [
    "simulate.n_episodes=22",  # 16 training episodes: 2 batches of 8, or 2 x (2 batches of 4)
    "simulate.horizon=12",
    "simulate.n_bricks=2",
    "world_model.hidden_dim=8",
    "wm_train.mode=teacher_forcing",
    "wm_train.horizon=5",  # random windows: each sample's start is keyed by (seed, epoch, index)
    "wm_train.epochs=2",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurm_env(rank: int, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SLURM_") and k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")
    }
    env.update(
        SLURM_NTASKS="2",
        SLURM_NTASKS_PER_NODE="2",
        SLURM_NNODES="1",
        SLURM_NODEID="0",
        SLURM_PROCID=str(rank),
        SLURM_LOCALID=str(rank),
        SLURM_NODELIST="127.0.0.1",
        SLURM_JOB_ID="4242",
        SLURM_JOB_NAME="wm-train",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        PYTHONWARNINGS="ignore",
    )
    return env


def test_two_slurm_tasks_train_the_single_process_model(tmp_path):
    real = tmp_path / "real.npz"
    split = stage_simulate(load_config(None, SETTINGS), real).meta["split_test"]
    assert int((split == 0).sum()) == 16
    sets = [x for o in SETTINGS for x in ("--set", o)]
    ddp = ["--set", "trainer.devices=2", "--set", "trainer.strategy=ddp"]
    port = _free_port()
    argv = [sys.executable, "-m", "imbalance_world_model.cli", "train-world-model", "--real",
            str(real), "--out", str(tmp_path / "ddp"), *sets, "--set", "wm_train.batch_size=4",
            *ddp, "--no-progress"]  # fmt: skip
    tasks = [
        subprocess.Popen(
            argv,
            env=_slurm_env(rank, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [task.communicate(timeout=600) for task in tasks]
    for task, (_, err) in zip(tasks, outputs):
        assert task.returncode == 0, err[-3000:]
    assert "free-running MSE" in outputs[0][0]
    single = ["--set", "wm_train.batch_size=8", "--no-progress"]
    assert main(["train-world-model", "--real", str(real), "--out", str(tmp_path / "one"),
                 *sets, *single]) == 0  # fmt: skip
    a = torch.load(tmp_path / "ddp/model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "one/model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)
    # not a coincidence: one process with the per-process batch alone trains another model
    assert main(["train-world-model", "--real", str(real), "--out", str(tmp_path / "half"),
                 *sets, "--set", "wm_train.batch_size=4", "--no-progress"]) == 0  # fmt: skip
    c = torch.load(tmp_path / "half/model.pt", weights_only=True)["state_dict"]
    assert not torch.allclose(a["head.2.weight"], c["head.2.weight"], rtol=1e-3, atol=1e-5)


def test_sbatch_template_is_valid_and_uses_the_commands_options():
    template = files("imbalance_world_model") / "cluster" / "train.sbatch"
    text = template.read_text()
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(template)], check=True)
    for needle in (
        "srun imbalance-world-model train-world-model",
        "trainer.strategy=ddp",
        "trainer.devices=$SLURM_NTASKS_PER_NODE",
        "trainer.num_nodes=$SLURM_NNODES",
        "#SBATCH --ntasks-per-node",
        "imbalance-world-model evaluate --run",
    ):
        assert needle in text, needle
    parser = build_parser()
    parser.parse_args(["train-world-model", "--real", "r.npz", "--out", "o", "--no-progress",
                       "--set", "trainer.strategy=ddp"])  # fmt: skip


def test_td3bc_and_demo_refuse_several_processes(tmp_path, capsys):
    ddp = ["--set", "trainer.devices=2", "--set", "trainer.strategy=ddp"]
    assert main(["demo", "--out", str(tmp_path / "d"), *ddp]) == 2
    assert "demo runs on one process" in capsys.readouterr().err
    assert main(["train-policy", "--mix", "real_only", "--real", "r.npz", "--out", "o", *ddp,
                 "--set", "policy.algo=td3bc"]) == 2  # fmt: skip
    assert "td3bc trains on one process" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "r.npz"), "--set", "trainer.devices=2"]) == 2
    assert "trainer.strategy must be ddp for more than one process" in capsys.readouterr().err
