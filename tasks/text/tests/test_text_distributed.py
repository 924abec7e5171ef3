"""Two gloo processes: the training objective under DDP gives the single-process gradient."""

from __future__ import annotations

import pytest
import torch
from imbalance_text.model import MultiLabelHead
from imbalance_text.objective import TextObjective
from imbalance_text.schema import DEFAULT_SCHEMA
from torch.nn.parallel import DistributedDataParallel

from imbalance_kit.testing import run_distributed

pytestmark = pytest.mark.distributed

N, DIM = 24, 16


def _model() -> tuple[MultiLabelHead, TextObjective]:
    """The head and objective a TextModule builds (Lightning stays out of the workers)."""
    torch.manual_seed(0)
    weights = torch.tensor([3.0, 3.0, 3.0, 3.0, 10.0, 10.0, 5.0, 5.0, 5.0])
    head = MultiLabelHead(DIM, DEFAULT_SCHEMA.num_labels, hidden=8, dropout=0.0)
    objective = TextObjective(
        DEFAULT_SCHEMA.implication_indices, pos_weight=weights, gamma=2.0, constraint_lambda=0.5
    )
    return head, objective


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, DIM, generator=g)
    y = (torch.rand(N, DEFAULT_SCHEMA.num_labels, generator=g) < 0.2).float()
    return x, y


def _gradients(head: MultiLabelHead) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in head.parameters()])


def _worker(rank: int, world_size: int) -> torch.Tensor:
    head, objective = _model()
    x, y = _data()
    shard = slice(rank * N // world_size, (rank + 1) * N // world_size)
    ddp = DistributedDataParallel(head)
    objective(ddp(x[shard]), y[shard])["loss"].backward()
    return _gradients(head)


def test_objective_gradients_under_ddp_match_single_process() -> None:
    head, objective = _model()
    x, y = _data()
    objective(head(x), y)["loss"].backward()
    reference = _gradients(head)
    results = run_distributed(_worker, world_size=2)
    for grad in results:
        torch.testing.assert_close(grad, reference, rtol=1e-5, atol=1e-6)
