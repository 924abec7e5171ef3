"""Two gloo processes: the training objective under DDP gives the single-process gradient."""

from __future__ import annotations

import pytest
import torch
from imbalance_text.config import TextConfig
from imbalance_text.module import TextModule
from imbalance_text.schema import DEFAULT_SCHEMA
from torch.nn.parallel import DistributedDataParallel

from tests._distributed import run_distributed

pytestmark = pytest.mark.distributed

N, DIM = 24, 16


def _module() -> TextModule:
    cfg = TextConfig()
    torch.manual_seed(0)
    weights = [3.0, 3.0, 3.0, 3.0, 10.0, 10.0, 5.0, 5.0, 5.0]
    return TextModule(
        DEFAULT_SCHEMA.names, DEFAULT_SCHEMA.implication_indices, model=vars(cfg.model),
        loss=vars(cfg.loss), training=vars(cfg.training), in_dim=DIM, pos_weight=weights,
    )  # fmt: skip


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, DIM, generator=g)
    y = (torch.rand(N, DEFAULT_SCHEMA.num_labels, generator=g) < 0.2).float()
    return x, y


def _gradients(module: TextModule) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.head.parameters()])


def _worker(rank: int, world_size: int) -> torch.Tensor:
    module = _module().eval()  # eval: no dropout, so both sides see the same network
    x, y = _data()
    shard = slice(rank * N // world_size, (rank + 1) * N // world_size)
    ddp = DistributedDataParallel(module.head)
    out = module.objective(ddp(x[shard]), y[shard])
    out["loss"].backward()
    return _gradients(module)


def test_objective_gradients_under_ddp_match_single_process() -> None:
    module = _module().eval()
    x, y = _data()
    module.objective(module.head(x), y)["loss"].backward()
    reference = _gradients(module)
    results = run_distributed(_worker, world_size=2)
    for grad in results:
        torch.testing.assert_close(grad, reference, rtol=1e-5, atol=1e-6)
