"""Packaging and terminal output: shipped configs, license, dependency range, help texts,
quiet default output and --verbose."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pytest
from imbalance_world_model.cli import build_parser, main
from imbalance_world_model.config import PACKAGE, load_config

from imbalance_kit.app import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]


def test_configs_are_package_data_and_resolve_by_name():
    shipped = sorted(p.stem for p in (ROOT / "imbalance_world_model" / "configs").glob("*.yaml"))
    assert shipped == ["default", "quick", "short_horizon_trust"]
    for name in shipped:
        path = resolve_config_path(name, PACKAGE)
        assert path.parent.name == "configs" and path.parent.parent.name == PACKAGE, path
        load_config(name)
    meta = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python >= 3.11)
    assert f'{PACKAGE} = ["py.typed", "configs/*.yaml", "cluster/*.sbatch"]' in meta
    assert 'license-files = ["LICENSE"]' in meta
    assert (ROOT / "LICENSE").read_text() == (ROOT.parents[1] / "LICENSE").read_text()
    assert '"imbalance-kit>=0.1,<0.2"' in meta


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_subcommand_has_help():
    commands = _subcommands(build_parser())
    assert {"study", "policy-study", "horizon-study", "demo", "evaluate"} <= set(commands)
    for name, sub in commands.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), (name, action.dest)
        options = {s for a in sub._actions for s in a.option_strings}
        assert "--threads" in options, name
        if name not in ("evaluate", "rollouts"):  # the two commands without a config
            assert {"--config", "--set"} <= options, name


@pytest.mark.filterwarnings("ignore")  # --verbose shows Lightning's warnings too
@pytest.mark.parametrize("verbose", [False, True])
def test_default_output_is_ours_and_verbose_shows_lightnings(verbose, tmp_path, capfd):
    real = tmp_path / "real.npz"
    sets = ["--set", "simulate.n_episodes=8", "--set", "simulate.horizon=6"]
    assert main(["simulate", "--out", str(real), *sets]) == 0
    capfd.readouterr()
    argv = ["train-world-model", "--real", str(real), "--out", str(tmp_path / "wm"), *sets]
    argv += ["--set", "wm_train.epochs=1", "--set", "world_model.hidden_dim=4"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--verbose"] if verbose else argv) == 0
    out, err = capfd.readouterr()
    ours = [line for line in out.splitlines() if line.strip()]
    if not verbose:
        assert len(ours) == 1 and ours[0].startswith("free-running MSE"), out
        assert err == "", err
        assert [str(w.message) for w in caught] == []
    else:
        assert "Params" in out + err  # Lightning's model summary
