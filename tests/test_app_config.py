"""Typed config building shared by the task packages (imbalance_kit.app)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import pytest

from imbalance_kit.app import apply_overrides, build_dataclass, check_bool_option


@dataclass
class Model:
    hidden: list[int] = field(default_factory=lambda: [8])
    dims: tuple[int, ...] = (1, 2)
    head: list[int] | None = None
    act: Literal["relu", "gelu"] = "relu"


@dataclass
class Train:
    lr: float = 0.1
    epochs: int = 3
    amp: bool = False
    _private: int = 0


@dataclass
class Config:
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    seed: int = 0


def test_nested_defaults_and_coercion():
    cfg = build_dataclass(Config, {"train": {"lr": 1}, "model": {"hidden": (4, 4)}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.model.hidden == [4, 4] and isinstance(cfg.model.hidden, list)
    assert cfg.train.epochs == 3 and cfg.seed == 0
    # an integer field keeps its integer, a bool is not turned into a float
    assert build_dataclass(Config, {"train": {"epochs": 5, "amp": True}}).train.amp is True
    # a null section takes the defaults
    assert build_dataclass(Config, {"model": None}).model == Model()


def test_containers_are_accepted_where_the_hint_allows_them():
    cfg = build_dataclass(Config, {"model": {"head": [3], "dims": [5, 6]}})
    assert cfg.model.head == [3] and cfg.model.dims == [5, 6]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"train": {"rate": 1}}, "config key 'train.rate' must be one of 'lr', 'epochs', 'amp'"),
        ({"train": {"_private": 1}}, "config key 'train._private' must be one of"),
        ({"train": 3}, "config section 'train' must be a mapping, got 3"),
        ({"train": {"lr": math.inf}}, "train.lr must be a finite number, got inf"),
        ({"model": {"act": ["relu"]}}, r"model.act must be a single value, got \['relu'\]"),
        ({"seed": {"a": 1}}, "seed must be a single value"),
    ],
)
def test_errors_name_the_dotted_key(raw, match):
    with pytest.raises(ValueError, match=match):
        build_dataclass(Config, raw)


@dataclass
class Head:
    loss: str = "ce"
    gamma: float = 2.0


@dataclass
class MultiHead:
    heads: dict[str, Head] = field(default_factory=lambda: {"main": Head()})
    extra: dict[str, int] = field(default_factory=dict)


def test_named_sections_are_built_as_dataclasses():
    cfg = build_dataclass(MultiHead, {"heads": {"a": {"gamma": 1}, 2: None}, "extra": {"x": 1}})
    assert cfg.heads == {"a": Head(gamma=1.0), "2": Head()}
    assert isinstance(cfg.heads["a"].gamma, float) and cfg.extra == {"x": 1}
    assert build_dataclass(MultiHead, {}).heads == {"main": Head()}
    assert build_dataclass(MultiHead, {"heads": {}}).heads == {}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"heads": None}, "config section 'heads' must be a mapping of name -> settings, got None"),
        ({"heads": ["a"]}, "config section 'heads' must be a mapping of name -> settings"),
        ({"heads": {"a": 3}}, "config section 'heads.a' must be a mapping, got 3"),
        ({"heads": {"a": {"gama": 1}}}, "config key 'heads.a.gama' must be one of 'loss', 'gamma'"),
        ({"heads": {"a": {"gamma": "1e400"}}}, "heads.a.gamma must be a finite number, got inf"),
    ],
)
def test_named_section_errors_name_the_dotted_key(raw, match):
    with pytest.raises(ValueError, match=match):
        build_dataclass(MultiHead, raw)


def test_any_mapping_is_accepted():
    raw = MappingProxyType({"train": MappingProxyType({"lr": "1e-3"})})
    assert build_dataclass(Config, raw).train.lr == 0.001
    with pytest.raises(ValueError, match="train.lr must be a single value"):
        build_dataclass(Config, {"train": {"lr": MappingProxyType({"a": 1})}})


def test_root_must_be_a_mapping():
    with pytest.raises(ValueError, match="config section 'root' must be a mapping"):
        build_dataclass(Config, [1, 2])


def test_overrides_parse_yaml_values_and_copy_the_input():
    base = {"train": {"lr": 0.1}}
    out = apply_overrides(base, ["train.lr=1e-3", "model.head=[2, 3]", "model.act=gelu"])
    # PyYAML reads 1e-3 as text; the float field takes it as a number
    assert out == {"train": {"lr": "1e-3"}, "model": {"head": [2, 3], "act": "gelu"}}
    assert base == {"train": {"lr": 0.1}}  # the input mapping is left alone
    cfg = build_dataclass(Config, out)
    assert cfg.train.lr == 0.001 and cfg.model.head == [2, 3] and cfg.model.act == "gelu"
    with pytest.raises(ValueError, match="seed must be a single value"):
        build_dataclass(Config, apply_overrides({}, ["seed=[1]"]))


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("train.lr", "--set must be section.key=value, got 'train.lr'"),
        ("train..lr=1", "--set must be a dotted key such as policy.lr, got 'train..lr'"),
    ],
)
def test_override_errors(item, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides({}, [item], example="policy.lr")


def test_check_bool_option():
    check_bool_option("train.amp", False)
    with pytest.raises(ValueError, match="train.amp must be true or false, got 1"):
        check_bool_option("train.amp", 1)


def test_merge_mappings_merges_nested_sections_and_copies():
    from imbalance_kit.app import merge_mappings

    base = {"train": {"lr": 0.1, "dims": [8]}, "seed": 0}
    extra = {"train": {"lr": 0.01}, "model": {"hidden": 4}, "seed": None}
    out = merge_mappings(base, extra)
    assert out == {"train": {"lr": 0.01, "dims": [8]}, "seed": None, "model": {"hidden": 4}}
    out["train"]["dims"].append(16)
    out["model"]["hidden"] = 5
    assert base == {"train": {"lr": 0.1, "dims": [8]}, "seed": 0}
    assert extra["model"] == {"hidden": 4}
    # a section replaced by a non-mapping value, and the other way round
    assert merge_mappings({"a": {"b": 1}}, {"a": 2}) == {"a": 2}
    assert merge_mappings({"a": 2}, {"a": {"b": 1}}) == {"a": {"b": 1}}
