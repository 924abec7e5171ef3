"""Trust-weighted policy training and trust-net training under Lightning DDP on 2 gloo CPU
processes.

Each rank draws its shard of the sample (``WeightedSampler`` shards by rank; the shards together
are the single-process draw) and DDP averages the gradients. One epoch of behaviour cloning (and
a few epochs of the trust net) on 2 processes with a per-rank batch of B/2 must give the same
network as one process with batch B. The world model's DDP run is ``test_wm_slurm.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.config import PolicyConfig
from imbalance_world_model.data import Episodes
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.train import train_policy, train_trust

from imbalance_kit.testing import lightning_ddp_strategy, run_distributed

pytestmark = pytest.mark.distributed

POLICY = {"hidden_dim": 16, "epochs": 1, "batch_size": 32}
TRUST = {"hidden_dim": 8, "epochs": 3, "val_fraction": 0.2}  # 32 training episodes


def _buffer(real: Episodes) -> ReplayBuffer:
    syn = real.subset(np.arange(8))
    syn = Episodes(syn.z * 1.3, syn.actions, syn.rewards, np.array(["synthetic"] * 8))
    episodes = Episodes.concatenate([real, syn])
    trust = np.r_[np.ones(real.n_episodes), np.linspace(0.2, 0.9, 8)]
    return ReplayBuffer.from_episodes(
        episodes, mix_weights(episodes.is_synthetic, "trust", trust=trust)
    )


def _trust_data(real: Episodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    syn = real.z[:8] * 1.5
    lengths = np.r_[real.lengths, np.arange(8) + 10]  # some synthetic episodes are shorter
    return real.z, syn, lengths


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _ddp_worker(rank: int, world_size: int, real: Episodes) -> dict:
    def kwargs() -> dict:  # a strategy object serves one Trainer
        return {"devices": world_size, "strategy": lightning_ddp_strategy(rank, world_size)}

    out = {}
    for weighting in ("sample", "loss"):
        module, _ = train_policy(
            _buffer(real),
            PolicyConfig(**POLICY, weighting=weighting),
            seed=0,
            trainer_kwargs=kwargs(),
        )
        out[weighting] = _state(module.actor)
    real_z, syn_z, lengths = _trust_data(real)
    net, _ = train_trust(
        real_z,
        syn_z,
        synthetic_lengths=lengths[len(real_z) :],
        **TRUST,
        batch_size=8,
        seed=0,
        trainer_kwargs=kwargs(),
    )
    out["trust"] = _state(net)
    return out


def test_ddp_training_equals_single_process(tiny_real):
    results = run_distributed(_ddp_worker, world_size=2, args=(tiny_real,))
    single = {}
    for weighting in ("sample", "loss"):
        cfg = PolicyConfig(**{**POLICY, "batch_size": 64}, weighting=weighting)
        module, _ = train_policy(_buffer(tiny_real), cfg, seed=0)
        single[weighting] = module.actor.state_dict()
    real_z, syn_z, lengths = _trust_data(tiny_real)
    net, _ = train_trust(
        real_z, syn_z, synthetic_lengths=lengths[len(real_z) :], **TRUST, batch_size=16, seed=0
    )
    single["trust"] = net.state_dict()
    for part, state in single.items():
        for name, value in state.items():
            torch.testing.assert_close(results[0][part][name], results[1][part][name])
            torch.testing.assert_close(
                results[0][part][name], value, rtol=1e-4, atol=1e-5, msg=f"{part} {name}"
            )
