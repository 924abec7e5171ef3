"""Fixtures of the risk task package tests: a tiny simulated, prepared data set and configs."""

from __future__ import annotations

import copy
import logging
import warnings

import pytest
import torch
from imbalance_risk.config import RiskConfig
from imbalance_risk.labels import LabelConfig
from imbalance_risk.prepare import prepare_rollouts, settings_record, write_prepared
from imbalance_risk.simulate import simulate_rollouts

torch.set_num_threads(1)
for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)

_TINY = {
    "model": {"hidden_dims": [32], "embed_dim": 16, "head_hidden": 8, "proj_dim": 8, "n_heads": 3},
    "data": {"batch_size": 128, "eval_batch_size": 2048},
    "train": {"max_epochs": 1, "patience": 0},
    "evaluate": {"mc_samples": 4},
}


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def tiny_config():
    """Factory: ``tiny_config(**sections)`` is a small ``RiskConfig`` that trains in seconds."""

    def make(**sections) -> RiskConfig:
        return RiskConfig.from_dict(_merge(_TINY, sections))

    return make


@pytest.fixture(scope="session")
def tiny_rollouts():
    """About 100 short episodes of the arm simulator (no scene nuisance: learnable in seconds)."""
    return simulate_rollouts(n_episodes=100, horizon=70, seed=5, scene_dim=0)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_rollouts, tmp_path_factory):
    """The tiny rollouts prepared into a folder (prepared.npz + summary.json)."""
    out = tmp_path_factory.mktemp("prepared")
    labels = LabelConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every split must have positives
        data = prepare_rollouts(tiny_rollouts, labels, seed=1)
    write_prepared(data, out, settings_record(labels))
    return out
