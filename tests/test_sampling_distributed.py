"""Two gloo processes: rank shards read rank and world size from torch.distributed.

The shards must be disjoint where sampling is without replacement and, put
together, be exactly the single-process draw, with no communication.
"""

from __future__ import annotations

import pytest
import torch

from imbalance_kit.sampling import (
    BalancedBatchSampler,
    ClassBalancedSampler,
    MultiLabelBalancedSampler,
    WeightedSampler,
)
from imbalance_kit.testing import run_distributed
from imbalance_kit.testing.references.sampling import distributed_positions

pytestmark = pytest.mark.distributed

LABELS = torch.repeat_interleave(torch.arange(4), torch.tensor([700, 200, 90, 10]))
WEIGHTS = torch.linspace(0.0, 1.0, 1000) ** 3
TARGETS = torch.stack([LABELS == 1, LABELS == 3, LABELS >= 2], 1).float()


def _make(num_replicas=None, rank=None):
    kw = {"seed": 13, "num_replicas": num_replicas, "rank": rank}
    return {
        # odd size: the last rank's shard is padded from the start of the draw
        "class_balanced": ClassBalancedSampler(LABELS, num_samples=1001, power=0.5, **kw),
        "class_balanced_wor": ClassBalancedSampler(LABELS, replacement=False, **kw),
        "weighted": WeightedSampler(WEIGHTS, num_samples=5000, **kw),
        "weighted_wor": WeightedSampler(WEIGHTS, num_samples=600, replacement=False, **kw),
        "batch": BalancedBatchSampler(LABELS, 2, 8, num_batches=31, **kw),
        "multilabel_wor": MultiLabelBalancedSampler(TARGETS, replacement=False, **kw),
    }


def _worker(rank: int, world_size: int, epoch: int) -> dict[str, list]:
    import torch.distributed as dist

    out = {}
    for name, sampler in _make().items():  # rank and world size come from torch.distributed
        assert (sampler.rank, sampler.num_replicas) == (dist.get_rank(), dist.get_world_size())
        sampler.set_epoch(epoch)
        out[name] = list(sampler)
    return out


def test_two_process_shards_equal_single_process_draw():
    epoch = 3
    results = run_distributed(_worker, world_size=2, args=(epoch,))
    for name, single in _make(num_replicas=1, rank=0).items():
        single.set_epoch(epoch)
        full = list(single)
        shards = [results[r][name] for r in range(2)]
        for r in range(2):
            assert shards[r] == [full[p] for p in distributed_positions(len(full), 2, r)], name
        if name.endswith("_wor"):
            assert not set(shards[0]) & set(shards[1]), name
            assert sorted(shards[0] + shards[1]) == sorted(full), name
        if name == "batch":
            assert shards[0][:15] == full[0:30:2] and shards[1][:15] == full[1:30:2]
