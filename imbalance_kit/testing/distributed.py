"""Run a function on N gloo processes on CPU and collect what each returns.

Usage in a test::

    from imbalance_kit.testing import run_distributed

    def _worker(rank, world_size, x):
        ...  # torch.distributed is initialised here (gloo)
        return some_tensor_or_picklable

    results = run_distributed(_worker, world_size=2, args=(x,))  # list, index = rank

The worker must be a module-level function (it is pickled into the children).
Initialisation goes through a file in a temporary folder, so parallel test runs
never fight over a TCP port.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _entry(
    rank: int, world_size: int, init_file: str, fn: Callable, args: tuple, queue, received
) -> None:
    try:
        torch.set_num_threads(1)
        dist.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
        )
        try:
            result = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        queue.put((rank, "ok", result))
    except BaseException:  # report every failure to the parent
        queue.put((rank, "error", traceback.format_exc()))
    # Tensors travel through shared memory that this process hands over: stay alive
    # until the parent has unpickled every result.
    received.wait(60)


def lightning_ddp_strategy(rank: int, world_size: int) -> Any:
    """Lightning's gloo ``DDPStrategy`` for a worker of
    [`run_distributed`][imbalance_kit.testing.distributed.run_distributed].

    The process group exists already: the environment tells Lightning it was launched
    externally, so it neither starts processes nor opens a port. Lightning's info logs
    are silenced.
    """
    import logging

    from lightning.pytorch.strategies import DDPStrategy

    os.environ.update(
        {
            "LOCAL_RANK": str(rank),
            "RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "NODE_RANK": "0",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "1",
        }
    )
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    return DDPStrategy(process_group_backend="gloo")


def run_distributed(
    fn: Callable[..., Any], world_size: int = 2, args: tuple = (), timeout: float = 120.0
) -> list[Any]:
    """Spawn ``world_size`` processes running ``fn(rank, world_size, *args)``; return results."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    received = ctx.Event()
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        procs = [
            ctx.Process(target=_entry, args=(r, world_size, init_file, fn, args, queue, received))
            for r in range(world_size)
        ]
        for p in procs:
            p.start()
        results: dict[int, Any] = {}
        errors: list[str] = []
        for _ in range(world_size):
            try:
                rank, status, payload = queue.get(timeout=timeout)
            except Exception as exc:  # a child died without reporting
                received.set()
                for p in procs:
                    p.kill()
                codes = [p.exitcode for p in procs]
                raise RuntimeError(
                    f"distributed workers gave no result (exit codes {codes})"
                ) from exc
            if status == "ok":
                results[rank] = payload
            else:
                errors.append(f"rank {rank}:\n{payload}")
        received.set()
        for p in procs:
            p.join(timeout)
        if errors:
            raise RuntimeError("distributed worker failed\n" + "\n".join(errors))
    return [results[r] for r in range(world_size)]
