"""The run configuration: shipped YAML files, unknown keys, number coercion, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from imbalance_text.cli import build_config, build_parser
from imbalance_text.config import TextConfig, apply_overrides, load_config

CONFIGS = [
    p
    for p in sorted(
        (Path(__file__).resolve().parents[1] / "imbalance_text" / "configs").glob("*.yaml")
    )
    if p.stem != "schema"  # the label schema, not a run configuration
]


def test_shipped_configs_exist():
    assert {"default", "finetune", "quick"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load(path: Path) -> None:
    config = load_config(path)
    raw = yaml.safe_load(path.read_text())
    for section, values in raw.items():
        for key, value in values.items():
            assert getattr(getattr(config, section), key) == value, f"{section}.{key}"
    assert TextConfig.from_dict(config.to_dict()) == config  # the dict form round-trips


def test_default_yaml_lists_every_default() -> None:
    path = Path(__file__).resolve().parents[1] / "imbalance_text" / "configs" / "default.yaml"
    assert load_config(path) == load_config(None) == TextConfig().validate()


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"los": {}}, "config key 'los' must be one of 'data', 'model', 'loss'"),
        ({"loss": {"gama": 3.0}}, "config key 'loss.gama' must be one of 'focal_gamma', 'alpha'"),
        ({"loss": 3}, "config section 'loss' must be a mapping, got 3"),
        ({"loss": {"focal_gamma": -1}}, "loss.focal_gamma must be a finite number >= 0, got -1.0"),
        ({"training": {"lr": "1e999"}}, "training.lr must be a finite number, got inf"),
        ({"model": {"mode": ["frozen"]}}, r"model.mode must be a single value, got \['frozen'\]"),
        ({"evaluation": {"threshold": "best"}}, "evaluation.threshold must be one of"),
    ],
)
def test_config_errors_name_the_key(raw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TextConfig.from_dict(raw)


def test_yaml_numbers_written_as_text_are_read_as_floats(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("training:\n  encoder_lr: 3e-5\n  lr: 1\nloss:\n  alpha:\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.training.encoder_lr == 3e-5 and config.training.lr == 1.0
    assert isinstance(config.training.lr, float) and config.loss.alpha is None
    with pytest.raises(FileNotFoundError, match="config file not found: .*missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- loss\n")
    with pytest.raises(ValueError, match="list.yaml must be a YAML mapping, got list"):
        load_config(tmp_path / "list.yaml")


def test_overrides_return_a_new_validated_config() -> None:
    base = TextConfig().validate()
    config = apply_overrides(base, ["training.lr=1e-3", "loss.alpha=", "model.mode=finetune"])
    assert config.training.lr == 1e-3 and config.model.mode == "finetune"
    assert base.model.mode == "frozen"  # the input config is left alone
    assert load_config(None, ["loss.max_weight=5"]).loss.max_weight == 5.0
    for item, match in [
        ("loss.focal_gamma", "--set must be section.key=value, got 'loss.focal_gamma'"),
        ("loss..focal_gamma=1", "--set must be a dotted key such as loss.focal_gamma"),
        ("loss.gama=1", "config key 'loss.gama' must be one of"),
        ("training.batch_size=0", "training.batch_size must be an integer >= 1, got 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            apply_overrides(base, [item])


def test_cli_set_overrides_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("training:\n  epochs: 9\n  lr: 0.1\n")
    args = build_parser().parse_args(
        [
            "train",
            "--config",
            str(tmp_path / "c.yaml"),
            "--data",
            "corpus.csv",
            "--out",
            "run",
            "--epochs",
            "2",
            "--set",
            "training.lr=5e-4",
            "--set",
            "model.max_length=32",
        ]
    )
    config = build_config(args)
    assert config.training.epochs == 2 and config.training.lr == 5e-4
    assert config.model.max_length == 32 and config.data.train == "corpus.csv"


def test_shipped_configs_resolve_by_name_from_the_package() -> None:
    import imbalance_text

    from imbalance_kit.app import resolve_config_path

    folder = Path(imbalance_text.__file__).resolve().parent / "configs"
    for name in ("default", "quick", "finetune"):
        path = resolve_config_path(name, package="imbalance_text")
        assert path is not None and path.resolve() == folder / f"{name}.yaml"
    assert load_config("default") == TextConfig().validate()
    assert load_config("quick").training.epochs == 15
    args = build_parser().parse_args(["train", "--config", "finetune", "--out", "r"])
    assert build_config(args).model.mode == "finetune"
    with pytest.raises(FileNotFoundError, match="shipped configs: default, finetune, quick"):
        load_config("nope")


def _options(parser):  # type: ignore[no-untyped-def]
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {o}", h) for o, h in _options(sub))
        elif action.option_strings and action.dest != "help":
            yield "/".join(action.option_strings), action.help


def test_every_option_has_help_text() -> None:
    options = list(_options(build_parser()))
    assert len(options) > 60  # every sub-command was walked
    assert [o for o, h in options if not h or not h.strip()] == []
