"""YAML configs, the train command's flags and the CLI's error handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from imbalance_video.cli import apply_train_flags, build_parser, main
from imbalance_video.config import TaskConfig, VideoConfig, load_config

from imbalance_kit.app import UsageError, resolve_config_path

CONFIGS = sorted(
    (Path(__file__).resolve().parents[1] / "imbalance_video" / "configs").glob("*.yaml")
)


def test_shipped_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"default", "intravideo", "group", "boosted", "multitask"} <= names


def test_shipped_configs_resolve_by_name_from_the_package():
    import imbalance_video

    folder = Path(imbalance_video.__file__).parent / "configs"
    for name in ("default", "intravideo", "multitask"):
        assert resolve_config_path(name, "imbalance_video") == folder / f"{name}.yaml"
    assert load_config("default") == VideoConfig()  # the file lists the true defaults
    assert load_config("group").data.train == "data/splits/group/train.csv"
    with pytest.raises(FileNotFoundError, match="shipped configs: boosted, default, group"):
        load_config("no-such-config")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    config = load_config(path)
    raw = yaml.safe_load(path.read_text())
    assert config.training.monitor == raw.get("training", {}).get("monitor", "val_tail_f1")
    if "tasks" in raw:
        assert config.task_names == list(raw["tasks"])
    assert VideoConfig.from_dict(config.to_dict()) == config  # the dict form round-trips


def test_defaults_follow_the_field_notes():
    config = load_config(None)
    assert config.tasks["label"].loss == "focal" and config.tasks["label"].gamma == 2.0
    assert config.training.balanced_sampling and config.training.monitor == "val_tail_f1"
    assert config.training.label_smoothing > 0 and config.model.dropout > 0
    assert config.tta.clips == 5 and config.tta.aggregate == "mean"
    assert not config.multi_task


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"trainig": {}}, "config key 'trainig' must be one of 'data', 'model'"),
        ({"training": {"epoch": 3}}, "config key 'training.epoch' must be one of 'epochs', 'lr'"),
        ({"training": 3}, "config section 'training' must be a mapping, got 3"),
        ({"training": {"lr": "fast"}}, "training.lr must be a finite number > 0, got 'fast'"),
        ({"training": {"lr": "1e999"}}, "training.lr must be a finite number, got inf"),
        ({"model": {"name": ["c3d"]}}, r"model.name must be a single value, got \['c3d'\]"),
        ({"training": {"lr": -1.0}}, "training.lr must be a finite number > 0"),
        ({"training": {"class_weights": "inverse"}}, "training.class_weights must be one of"),
        ({"training": {"monitor": "tail_f1"}}, "training.monitor must be a validation metric"),
        ({"training": {"monitor": "val_loss"}}, "training.monitor must be a metric where higher"),
        ({"model": {"name": "resnet"}}, "model.name must be one of"),
        ({"model": {"pooling": "sum"}}, "model.pooling must be one of"),
        ({"tasks": {"label": {"loss": "hinge"}}}, "tasks.label.loss must be one of"),
        ({"tasks": {}}, "tasks must be a mapping of task name -> settings with one task or more"),
        ({"tasks": ["label"]}, "config section 'tasks' must be a mapping of name -> settings"),
        ({"tasks": {"label": 3}}, "config section 'tasks.label' must be a mapping, got 3"),
        ({"tasks": {"label": {"gama": 1}}}, "config key 'tasks.label.gama' must be one of"),
        ({"tta": {"aggregate": "median"}}, "tta.aggregate must be one of"),
        ({"augment": {"flip": 2.0}}, "flip must be in"),
        (
            {"multitask": {"weighting": "inverse_f1", "adaptive_weights": False}},
            "multitask.adaptive_weights must be true",
        ),
        (
            {"multitask": {"weighting": "uniform", "adaptive_weights": True}},
            "multitask.adaptive_weights must be false",
        ),
        ({"multitask": {"sample_by": "offence"}}, "multitask.sample_by must be one of the tasks"),
        (
            {"multitask": {"weighting": "uniform", "max_weight": 5.0}},
            "multitask.max_weight must be left at 10.0 with weighting 'uniform'",
        ),
        (
            {"multitask": {"weighting": "dwa", "metric_momentum": 0.5}},
            r"multitask.metric_momentum must be left at 0.0 with weighting 'dwa' \(read only by",
        ),
        ({"data": {"clip_len": 1}}, "data.clip_len must be an integer >= 2"),
    ],
)
def test_config_errors_name_the_key(raw, match):
    with pytest.raises(ValueError, match=match):
        VideoConfig.from_dict(raw)


def test_yaml_numbers_written_as_text_are_read_as_floats(tmp_path):
    (tmp_path / "c.yaml").write_text("training:\n  lr: 5e-4\n  weight_decay: 0\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.training.lr == 5e-4 and isinstance(config.training.weight_decay, float)
    with pytest.raises(FileNotFoundError, match="config file not found: .*missing.yaml"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- training\n")
    with pytest.raises(ValueError, match="list.yaml must be a YAML mapping, got list"):
        load_config(tmp_path / "list.yaml")


def test_load_config_applies_set_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("tasks:\n  label: {loss: ce}\ntraining:\n  epochs: 9\n")
    config = load_config(
        tmp_path / "c.yaml", ["training.epochs=2", "training.lr=1e-3", "tasks.label.gamma=1"]
    )
    assert config.training.epochs == 2 and config.training.lr == 1e-3
    assert config.tasks["label"].loss == "ce" and config.tasks["label"].gamma == 1.0
    assert isinstance(config.tasks["label"].gamma, float)
    with pytest.raises(ValueError, match="config key 'training.epoch' must be one of"):
        load_config(None, ["training.epoch=2"])
    with pytest.raises(ValueError, match="--set must be section.key=value, got 'training.epochs'"):
        load_config(None, ["training.epochs"])


def test_task_names_and_tail_classes_are_text():
    config = VideoConfig.from_dict(
        {"tasks": {1: {"tail": 3}, "severity": {"tail": [0, "high"]}, "offence": None}}
    )
    assert config.task_names == ["1", "severity", "offence"]
    assert config.tasks["1"].tail == ["3"] and config.tasks["severity"].tail == ["0", "high"]
    assert config.tasks["offence"] == TaskConfig()
    assert VideoConfig.from_dict(config.to_dict()) == config


def test_adaptive_weights_default_follows_the_strategy():
    for weighting, adaptive in [
        ("uniform", False),
        ("uncertainty", False),
        ("dwa", True),
        ("inverse_accuracy", True),
        ("difficulty", True),
    ]:
        config = VideoConfig.from_dict({"multitask": {"weighting": weighting}})
        assert config.multitask.adaptive is adaptive


def _train_args(*flags: str):
    return build_parser().parse_args(["train", "--out", "run", *flags])


def test_multi_task_flags_build_the_field_notes_setup():
    args = _train_args(
        "--multi-task",
        "--loss-types",
        "action_class",
        "ce",
        "severity",
        "focal",
        "offence",
        "ce",
        "--weighting-strategy",
        "difficulty",
        "--adaptive-weights",
        "--effective-class-weights",
    )
    config = VideoConfig.from_dict(apply_train_flags({}, args))
    assert {t: c.loss for t, c in config.tasks.items()} == {
        "action_class": "ce",
        "severity": "focal",
        "offence": "ce",
    }
    assert config.multitask.weighting == "difficulty" and config.multitask.adaptive
    assert config.training.class_weights == "effective"
    default = VideoConfig.from_dict(apply_train_flags({}, _train_args("--multi-task")))
    assert {t: c.loss for t, c in default.tasks.items()} == {
        "action_class": "ce",
        "severity": "focal",
        "offence": "ce",
    }


def test_single_task_flags_override_the_config():
    raw = {"tasks": {"label": {"loss": "focal", "gamma": 1.0}}, "training": {"epochs": 9}}
    args = _train_args(
        "--loss-types",
        "label",
        "ce",
        "--epochs",
        "2",
        "--no-balanced-sampling",
        "--class-weights",
        "balanced",
        "--threads",
        "1",
        "--model",
        "c3d",
    )
    config = VideoConfig.from_dict(apply_train_flags(raw, args))
    assert config.tasks["label"].loss == "ce" and config.tasks["label"].gamma == 1.0
    assert config.training.epochs == 2 and not config.training.balanced_sampling
    assert config.training.class_weights == "balanced" and config.training.num_threads == 1
    assert config.model.name == "c3d"
    assert raw["training"]["epochs"] == 9  # the input mapping is not changed


def test_conflicting_or_malformed_flags():
    with pytest.raises(ValueError, match="--loss-types must be TASK LOSS pairs"):
        apply_train_flags({}, _train_args("--loss-types", "label"))
    with pytest.raises(ValueError, match="--effective-class-weights must not be combined"):
        apply_train_flags(
            {}, _train_args("--effective-class-weights", "--class-weights", "balanced")
        )
    with pytest.raises(UsageError, match="not allowed with argument"):
        _train_args("--balanced-sampling", "--no-balanced-sampling")


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["split", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imbalance-video: error: manifest must be an existing CSV file")
    assert "\n" not in err
    (tmp_path / "bad.yaml").write_text("training:\n  epochz: 1\n")
    code = main(["train", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "config key 'training.epochz' must be one of" in capsys.readouterr().err
    code = main(["train", "--out", str(tmp_path / "r")])  # no manifests anywhere
    assert code == 2 and "data.train and data.val must be manifest paths" in capsys.readouterr().err


# Four videos are too few for scikit-learn's StratifiedGroupKFold to spread the tail class over
# every fold; it says so, and the split is still valid (checked below).
@pytest.mark.filterwarnings("ignore:The least populated class in y:UserWarning")
def test_cli_simulate_and_split(tmp_path, capsys):
    data = tmp_path / "data"
    assert (
        main(
            [
                "simulate",
                "--out",
                str(data),
                "--videos",
                "4",
                "--test-videos",
                "1",
                "--events",
                "4",
                "--event-frames",
                "4",
                "--gap-frames",
                "1",
                "--size",
                "16",
            ]
        )
        == 0
    )
    assert "wrote 5 videos, 20 events" in capsys.readouterr().out
    out = tmp_path / "split"
    code = main(
        [
            "split",
            "--manifest",
            str(data / "manifest.csv"),
            "--method",
            "group",
            "--test-manifest",
            str(data / "test_manifest.csv"),
            "--out",
            str(out),
            "--seed",
            "1",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "group split" in printed and "videos in train and val: 0" in printed
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["method"] == "group" and summary["splits"]["test"]["events"] == 4
    assert sorted(p.name for p in out.glob("*.csv")) == ["test.csv", "train.csv", "val.csv"]


def test_version_and_study_aliases(capsys):
    from imbalance_video import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"imbalance-video {__version__}"
    for verb in ("study", "demo"):  # the study's earlier name stays a command
        args = build_parser().parse_args([verb, "--out", "d", "--methods", "group", "--quick"])
        assert args.command == "study" and args.methods == ["group"] and args.quick


def test_set_overrides_reach_the_config(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "r"), "--set", "training.epoch=1"])
    assert code == 2
    assert "config key 'training.epoch' must be one of" in capsys.readouterr().err
    code = main(["study", "--out", str(tmp_path / "s"), "--set", "model.name=resnet"])
    assert code == 2 and "model.name must be one of" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # refused before any work


def test_every_option_of_every_command_has_help():
    import argparse

    parser = build_parser()
    commands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    missing = []
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings)}")
    assert set(commands.choices) >= {"simulate", "split", "train", "evaluate", "study", "demo"}
    assert missing == []


def test_package_metadata_ships_configs_and_license():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    root = Path(__file__).resolve().parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert "configs/*.yaml" in meta["tool"]["setuptools"]["package-data"]["imbalance_video"]
    assert meta["project"]["license-files"] == ["LICENSE"] and (root / "LICENSE").is_file()
    assert "imbalance-kit>=0.1,<0.2" in meta["project"]["dependencies"]
