"""Training under Lightning DDP on 2 gloo CPU processes equals single-process training.

Each rank draws its shard of the class-balanced sample (the shards together are
the single-process draw), the contrastive loss gathers the features of both
ranks and DDP averages the gradients. With dropout off, one epoch on 2
processes with a per-rank batch of B/2 must give the same parameters as one
process with batch B.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from imbalance_risk.config import RiskConfig
from imbalance_risk.data import RiskDataModule, load_prepared
from imbalance_risk.module import RiskModule
from imbalance_risk.train import train

from imbalance_kit.testing import lightning_ddp_strategy, run_distributed

pytestmark = pytest.mark.distributed


def _ddp_worker(rank: int, world_size: int, prepared: str, run_dir: str, config: dict) -> int:
    strategy = lightning_ddp_strategy(rank, world_size)
    result = train(
        RiskConfig.from_dict(config),
        prepared,
        run_dir,
        progress_bar=False,
        trainer_kwargs={
            "accelerator": "cpu",
            "devices": world_size,
            "strategy": strategy,
        },
    )
    return result.epochs


def test_ddp_training_equals_single_process(tiny_prepared, tiny_config, tmp_path):
    config = tiny_config(
        model={"dropout": 0.0},
        data={"batch_size": 64},
        train={"max_epochs": 1, "epoch_size": 256},  # 4 steps of 64 (2 x 32 under DDP)
        loss={"contrastive": {"weight": 0.5}},
        evaluate={"mc_samples": 0},
    )
    assert config.imbalance.sampler.enabled and config.imbalance.noise_oversample.enabled
    single = train(config, tiny_prepared, tmp_path / "single", progress_bar=False)
    assert single.epochs == 1
    epochs = run_distributed(
        _ddp_worker,
        world_size=2,
        args=(str(tiny_prepared), str(tmp_path / "ddp"), config.to_dict()),
        timeout=300,
    )
    assert epochs == [1, 1]
    one = torch.load(tmp_path / "single" / "model.pt", weights_only=True)["state_dict"]
    two = torch.load(tmp_path / "ddp" / "model.pt", weights_only=True)["state_dict"]
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    # The comparison is not vacuous: training moved the parameters away from their init.
    L.seed_everything(config.seed, verbose=False)
    data = RiskDataModule(load_prepared(tiny_prepared), config)
    init = RiskModule(config.to_dict(), data.input_dim, data.action_dim, data.pos_weight)
    start = {
        k.removeprefix("net."): v for k, v in init.state_dict().items() if k.startswith("net.")
    }
    moved = [k for k in one if k.endswith("weight") and not torch.allclose(start[k], one[k])]
    assert len(moved) >= len([k for k in one if k.endswith("weight")]) // 2
