"""Trust-weighted policy training under Lightning DDP on 2 gloo CPU processes.

Each rank draws its shard of the trust-weighted sample (``WeightedSampler`` shards by
rank; the shards together are the single-process draw) and DDP averages the gradients. One
epoch of behaviour cloning on 2 processes with a per-rank batch of B/2 must give the same
actor as one process with batch B.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.config import PolicyConfig
from imbalance_world_model.data import Episodes
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.train import train_policy

from imbalance_kit.testing import lightning_ddp_strategy, run_distributed

pytestmark = pytest.mark.distributed


def _buffer(real: Episodes) -> ReplayBuffer:
    syn = real.subset(np.arange(8))
    syn = Episodes(syn.z * 1.3, syn.actions, syn.rewards, np.array(["synthetic"] * 8))
    episodes = Episodes.concatenate([real, syn])
    trust = np.r_[np.ones(real.n_episodes), np.linspace(0.2, 0.9, 8)]
    return ReplayBuffer.from_episodes(
        episodes, mix_weights(episodes.is_synthetic, "trust", trust=trust)
    )


def _ddp_worker(rank: int, world_size: int, real: Episodes, config: dict) -> dict:
    strategy = lightning_ddp_strategy(rank, world_size)
    module, summary = train_policy(
        _buffer(real),
        PolicyConfig(**config),
        seed=0,
        trainer_kwargs={
            "devices": world_size,
            "strategy": strategy,
        },
    )
    return {k: v.detach().clone() for k, v in module.actor.state_dict().items()}


@pytest.mark.parametrize("weighting", ["sample", "loss"])
def test_ddp_policy_training_equals_single_process(tiny_real, weighting):
    per_rank = {"hidden_dim": 16, "epochs": 1, "batch_size": 32, "weighting": weighting}
    results = run_distributed(_ddp_worker, world_size=2, args=(tiny_real, per_rank))
    single, _ = train_policy(
        _buffer(tiny_real), PolicyConfig(**{**per_rank, "batch_size": 64}), seed=0
    )
    for name, value in single.actor.state_dict().items():
        torch.testing.assert_close(results[0][name], results[1][name])
        torch.testing.assert_close(results[0][name], value, rtol=1e-4, atol=1e-5)
