"""Fixtures of the world-model task tests: tiny simulated episodes and a tiny config."""

from __future__ import annotations

import logging

import pytest
import torch
from imbalance_world_model.simulate import simulate_episodes

torch.set_num_threads(1)
for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)

#: ``--set`` overrides that make the whole demo run in a few seconds.
TINY = [
    "simulate.n_episodes=24",
    "simulate.horizon=21",
    "simulate.n_bricks=2",
    "world_model.hidden_dim=8",
    "wm_train.epochs=2",
    "wm_train.batch_size=8",
    "trust.hidden_dim=8",
    "trust.epochs=2",
    "policy.hidden_dim=8",
    "policy.epochs=1",
    "policy.batch_size=64",
]


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture(scope="session")
def tiny_real():
    """32 real episodes of 21 states (2 oscillators: D = 4, A = 2)."""
    return simulate_episodes(n_episodes=32, horizon=21, seed=3)
