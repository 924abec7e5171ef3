"""The SLURM recipe: two tasks started the way ``srun`` starts them train as one process does.

Each process gets the variables SLURM sets for a task (``SLURM_NTASKS``, ``SLURM_PROCID``,
``SLURM_LOCALID``, ``SLURM_NODEID``, ``SLURM_NODELIST``, ...) and runs the ``train`` command of
``imbalance_risk/slurm/train.sbatch``; Lightning's ``SLURMEnvironment`` joins them into one
gloo process group. With dropout off, the 2-task run (per-task batch B/2, class-balanced draw
sharded by rank, contrastive features gathered) must end with the parameters of a 1-process
run with batch B.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from imbalance_risk.cli import build_parser, main

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

TEMPLATE = Path(__file__).resolve().parents[1] / "imbalance_risk" / "slurm" / "train.sbatch"
_SET = [
    "model.hidden_dims=[32]",
    "model.embed_dim=16",
    "model.head_hidden=8",
    "model.proj_dim=8",
    "model.n_heads=3",
    "model.dropout=0.0",
    "data.batch_size=64",
    "train.max_epochs=1",
    "train.patience=0",
    "train.epoch_size=256",
    "loss.contrastive.weight=0.5",
    "evaluate.mc_samples=0",
]


def _train_command(data: Path, out: Path, ntasks: int) -> list[str]:
    """The template's ``srun imbalance-risk train ...`` line with SLURM's values filled in."""
    text = TEMPLATE.read_text()
    command = re.search(r"^srun (imbalance-risk train .*?\"\$@\")$", text, re.M | re.S).group(1)
    values = {
        "$DATA": str(data),
        "$OUT": str(out),
        "$CONFIG": "default",
        "$ACCELERATOR": "cpu",
        "$SLURM_NTASKS_PER_NODE": str(ntasks),
        "$SLURM_NNODES": "1",
    }
    command = command.replace("\\\n", " ").replace('"$@"', "")
    for name, value in values.items():
        command = command.replace(f'"{name}"', value)
    args = shlex.split(command)[1:]  # drop the program name
    for item in _SET:
        args += ["--set", item]
    return args


def test_the_template_is_a_valid_train_command(tmp_path):
    args = build_parser().parse_args(_train_command(tmp_path / "p", tmp_path / "r", 4))
    assert args.command == "train" and args.resume and args.config == "default"
    assert {"train.strategy=ddp", "train.devices=4", "train.num_nodes=1"} <= set(args.overrides)
    assert "#SBATCH --ntasks-per-node=" in TEMPLATE.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_slurm_tasks_train_as_one_process(tiny_prepared, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LOCAL_RANK"))}
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"):
        base.pop(name, None)
    base["PYTHONWARNINGS"] = "ignore"
    script = "import sys, torch; torch.set_num_threads(1); from imbalance_risk.cli import main; "
    script += "sys.exit(main(sys.argv[1:]))"

    single = _train_command(tiny_prepared, tmp_path / "one", 1)
    assert main([*single, "--set", "train.strategy=auto"]) == 0  # in this process

    port = _free_port()
    tasks = []
    for rank in range(2):
        env = {
            **base,
            "SLURM_JOB_NAME": "imbalance-risk",
            "SLURM_JOB_ID": "4242",
            "SLURM_NTASKS": "2",
            "SLURM_NTASKS_PER_NODE": "2",
            "SLURM_NNODES": "1",
            "SLURM_NODELIST": "127.0.0.1",
            "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank),
            "SLURM_NODEID": "0",
            "MASTER_PORT": str(port),
        }
        command = [
            sys.executable,
            "-c",
            script,
            *_train_command(tiny_prepared, tmp_path / "two", 2),
        ]
        tasks.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [task.communicate(timeout=300) for task in tasks]
    for task, (_, err) in zip(tasks, outputs):
        assert task.returncode == 0, err[-3000:]
    summary = (tmp_path / "two" / "train_summary.json").read_text()
    assert '"world_size": 2' in summary
    one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["state_dict"]
    two = torch.load(tmp_path / "two" / "model.pt", weights_only=True)["state_dict"]
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
