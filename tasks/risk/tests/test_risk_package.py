"""The distribution and the terminal: shipped configs, licence, help texts, quiet default output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from imbalance_risk.cli import build_parser, main
from imbalance_risk.config import RiskConfig, load_config

from imbalance_kit.app import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_shipped_configs_resolve_from_the_installed_package():
    import imbalance_risk

    package_dir = Path(imbalance_risk.__file__).parent
    for name in ("default", "quick", "baseline_mse", "ddp_cpu"):
        path = resolve_config_path(name, "imbalance_risk")
        assert path == package_dir / "configs" / f"{name}.yaml"
    assert load_config("default") == RiskConfig()


def test_pyproject_ships_the_configs_and_the_licence():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "configs/*.yaml" in meta["tool"]["setuptools"]["package-data"]["imbalance_risk"]
    assert meta["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text() == (ROOT.parents[1] / "LICENSE").read_text()
    core = [d for d in meta["project"]["dependencies"] if d.startswith("imbalance-kit")]
    assert core == ["imbalance-kit>=0.1,<0.2"]
    shipped = sorted(p.name for p in (ROOT / "imbalance_risk" / "configs").glob("*.yaml"))
    assert shipped == ["baseline_mse.yaml", "ddp_cpu.yaml", "default.yaml", "quick.yaml"]


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_option_has_help_text():
    missing = []
    for name, sub in _subparsers(build_parser()):
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_commands_with_a_config_share_the_common_options():
    for name, sub in _subparsers(build_parser()):
        options = {o for a in sub._actions for o in a.option_strings}
        if name in ("train", "demo", "study", "ablation"):
            assert {"--config", "--set", "--threads", "--verbose"} <= options, name


_NOISE = ("GPU available", "TPU available", "litlogger", "| Name", "Params", "LOCAL_RANK", "💡")


def test_default_output_is_our_own_lines(tiny_prepared, tmp_path, capfd):
    argv = ["train", "--data", str(tiny_prepared), "--out", str(tmp_path / "quiet")]
    argv += ["--set", "train.max_epochs=1", "--set", "model.hidden_dims=[16]"]
    assert main(argv) == 0
    captured = capfd.readouterr()
    text = captured.out + captured.err
    assert not [n for n in _NOISE if n in text], text
    assert captured.out.splitlines()[0].startswith("1 epochs in ")
    assert main([*argv[:4], str(tmp_path / "loud"), *argv[5:], "--verbose"]) == 0
    captured = capfd.readouterr()
    assert "Params" in captured.out + captured.err  # Lightning's model summary
