"""Diagnostics against numpy; the config's keys, errors and shipped YAML files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from imbalance_world_model.config import WMConfig, load_config
from imbalance_world_model.diagnostics import pass_shares, std_ratio_per_step

CONFIGS = Path(__file__).resolve().parents[1] / "imbalance_world_model" / "configs"


def test_std_ratio_against_numpy_loop():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(20, 7, 3))
    syn = rng.normal(size=(25, 9, 3)) * np.linspace(1, 3, 9)[None, :, None]
    got = std_ratio_per_step(syn, real)
    assert got.shape == (7,)
    for t in range(7):
        v_syn = np.mean([np.var(syn[:, t, d]) for d in range(3)])
        v_real = np.mean([np.var(real[:, t, d]) for d in range(3)])
        assert got[t] == pytest.approx(np.sqrt(v_syn / v_real))
    with pytest.raises(ValueError, match="same D"):
        std_ratio_per_step(syn[:, :, :2], real)


def test_pass_shares():
    shares = pass_shares(np.array([1, 1, 1, 0], bool), np.array([0.2, 0.8, 0.9, 0.95]), 0.85)
    assert shares == {"bounds": 0.75, "trust": 0.5, "both": 0.25}


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="config key 'policy.lrr' must be one of"):
        WMConfig.from_dict({"policy": {"lrr": 1}})
    with pytest.raises(ValueError, match="wm_train.mode must be one of"):
        load_config(None, ["wm_train.mode=magic"])
    with pytest.raises(ValueError, match="wm_train.horizon must be < simulate.horizon"):
        load_config(None, ["wm_train.horizon=100"])
    with pytest.raises(ValueError, match="gate.trust_threshold must be in"):
        load_config(None, ["gate.trust_threshold=2"])
    with pytest.raises(ValueError, match="--set must be section.key=value"):
        load_config(None, ["policy.lr"])
    with pytest.raises(FileNotFoundError):
        load_config("missing.yaml")


def test_overrides_are_yaml_scalars():
    cfg = load_config(
        None,
        [
            "wm_train.horizon=null",
            "world_model.residual_clip=0.1",
            "policy.lr=1",
            "generate.sample=false",
        ],
    )
    assert cfg.wm_train.horizon is None and cfg.world_model.residual_clip == 0.1
    assert isinstance(cfg.policy.lr, float) and cfg.generate.sample is False


def test_demo_config_layers(tmp_path):
    from imbalance_world_model.demo import demo_config

    path = tmp_path / "c.yaml"
    path.write_text("seed: 7\nwm_train:\n  mode: teacher_forcing\n  horizon: 10\n")
    cfg = demo_config(True, None, ["policy.epochs=2"], path)
    # quick preset, then the file, then the seed (None keeps the file's), then --set
    assert cfg.simulate.n_episodes == 120 and cfg.wm_train.epochs == 20
    assert cfg.wm_train.mode == "teacher_forcing" and cfg.seed == 7 and cfg.policy.epochs == 2
    assert demo_config(False, 3, None, path).seed == 3
    assert demo_config(False, 3, None, path).simulate.n_episodes == 200
    path.write_text("wm_train:\n  modes: bptt\n")
    with pytest.raises(ValueError, match="config key 'wm_train.modes'"):
        demo_config(True, None, None, path)


def test_default_yaml_lists_every_key_with_its_default():
    assert yaml.safe_load((CONFIGS / "default.yaml").read_text()) == WMConfig().to_dict()
    for path in CONFIGS.glob("*.yaml"):
        load_config(path)
