"""The YAML configuration: shipped files, validation, overrides, the baseline preset."""

from __future__ import annotations

from pathlib import Path

import pytest
from imbalance_risk.config import RiskConfig, apply_overrides, load_config
from imbalance_risk.demo import demo_config
from imbalance_risk.study import STUDY_VARIANTS, study_config

CONFIGS = Path(__file__).resolve().parents[1] / "imbalance_risk" / "configs"


def test_shipped_configs_match_the_code():
    assert load_config(CONFIGS / "default.yaml") == RiskConfig()
    assert load_config(CONFIGS / "quick.yaml") == demo_config(quick=True)
    assert load_config(CONFIGS / "baseline_mse.yaml") == RiskConfig().as_baseline()
    ddp = load_config(CONFIGS / "ddp_cpu.yaml").train
    assert (ddp.devices, ddp.strategy, ddp.accelerator) == (2, "ddp", "cpu")


def test_defaults_follow_the_issue():
    cfg = RiskConfig()
    assert cfg.active_tasks() == {
        "binary": 1.0,
        "risk": 1.0,
        "ttf": 0.5,
        "uncertainty": 0.1,
        "contrastive": 0.1,
    }
    assert cfg.imbalance.sampler.enabled and cfg.imbalance.noise_oversample.enabled
    assert cfg.loss.weighting == "uniform"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"trian": {}}, "config key 'trian' must be one of"),
        ({"loss": {"binary": {"gama": 1}}}, "config key 'loss.binary.gama' must be one of"),
        ({"data": {"batch_size": 0}}, "data.batch_size must be an integer >= 1, got 0"),
        ({"loss": {"binary": {"gamma": -1.0}}}, "loss.binary.gamma must be a finite number >= 0"),
        ({"loss": {"binary": {"pos_weight": "balanced"}}}, "loss.binary.pos_weight must be one of"),
        ({"loss": {"weighting": "magic"}}, "loss.weighting must be one of"),
        ({"loss": {"contrastive": {"label": "step"}}}, "loss.contrastive.label must be one of"),
        ({"imbalance": {"sampler": {"enabled": "yes"}}}, "must be true or false"),
        ({"imbalance": {"noise_oversample": {"ratio": 0}}}, "ratio must be in"),
        ({"train": {"monitor": "val_f1"}}, "train.monitor must be one of"),
        ({"model": {"hidden_dims": 64}}, "model.hidden_dims must be a list"),
        ({"model": {"dropout": 1.0}}, r"model.dropout must be in \[0.0, 1.0\)"),
        ({"evaluate": {"threshold": 2.0}}, "evaluate.threshold must be in"),
        ({"baseline": "ce"}, "baseline must be one of 'mse'"),
        ({"loss": 3}, "config section 'loss' must be a mapping"),
        ({"train": {"lr": float("nan")}}, "train.lr must be a finite number"),
    ],
)
def test_invalid_configs_name_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        RiskConfig.from_dict(mapping)


def test_yaml_integers_become_floats_and_overrides_parse():
    cfg = RiskConfig.from_dict({"loss": {"binary": {"gamma": 1}}})
    assert isinstance(cfg.loss.binary.gamma, float)
    mapping = apply_overrides({}, ["loss.binary.alpha=null", "train.max_epochs=3", "seed=4"])
    cfg = RiskConfig.from_dict(mapping)
    assert cfg.loss.binary.alpha is None and cfg.train.max_epochs == 3 and cfg.seed == 4
    with pytest.raises(ValueError, match="--set must be section.key=value"):
        apply_overrides({}, ["train.max_epochs"])
    with pytest.raises(ValueError, match="--set must be a dotted key"):
        apply_overrides({}, ["train..lr=1"])


def test_load_config_from_a_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.01\n")
    assert load_config(path, ["train.lr=0.02"]).train.lr == 0.02
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="must be a YAML mapping"):
        load_config(path)
    path.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_config(path)  # yaml.safe_load never builds Python objects
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_baseline_preset_and_ablation_ladder():
    base = RiskConfig.from_dict({"baseline": "mse", "imbalance": {"sampler": {"enabled": True}}})
    assert base.active_tasks() == {"risk_mse": 1.0}
    assert not base.imbalance.sampler.enabled and not base.imbalance.noise_oversample.enabled
    ladder = {v: study_config(v, RiskConfig(), seed=2) for v in STUDY_VARIANTS}
    assert ladder["mse_baseline"].baseline == "mse"
    assert set(ladder["focal_only"].active_tasks()) == {"binary", "risk"}
    assert not ladder["focal_only"].imbalance.sampler.enabled
    assert ladder["+sampler"].imbalance.sampler.enabled
    assert not ladder["+sampler"].imbalance.noise_oversample.enabled
    assert ladder["+noise_oversample"].imbalance.noise_oversample.enabled
    assert set(ladder["+contrastive"].active_tasks()) == {"binary", "risk", "contrastive"}
    assert ladder["full"] == RiskConfig(seed=2)
    assert all(c.seed == 2 for c in ladder.values())
