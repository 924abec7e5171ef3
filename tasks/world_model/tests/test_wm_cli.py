"""The command line: errors (exit 2, one line), the stage commands, demo and its resume."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from imbalance_world_model.cli import main


def _one_error_line(capsys, text):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("imbalance-world-model: error: "), err
    assert text in err[0]


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["simulate"], "the following arguments are required: --out"),
        (["nope"], "invalid choice"),
        (
            ["simulate", "--out", "x.npz", "--set", "simulate.n_episodes=0"],
            "simulate.n_episodes must be an integer >= 4, got 0",
        ),
        (
            ["train-world-model", "--real", "missing.npz", "--out", "o"],
            "episodes file not found: missing.npz",
        ),
        (["demo", "--out", "o", "--set", "wm_trian.epochs=1"], "config key 'wm_trian'"),
        (["demo", "--out", "o", "--threads", "0"], "--threads must be an integer >= 1, got 0"),
        (["horizon-study", "--out", "o", "--variants", "magic"], "variants must be among"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, text, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_error_line(capsys, text)


def test_stage_commands_chain(tmp_path, tiny_overrides, capsys):
    d = str(tmp_path)
    sets = [x for o in tiny_overrides for x in ("--set", o)]
    assert main(["simulate", "--out", f"{d}/real.npz", *sets]) == 0
    assert (tmp_path / "bricks.json").is_file()
    assert main(["train-world-model", "--real", f"{d}/real.npz", "--out", f"{d}/wm", *sets]) == 0
    assert (
        main(
            [
                "generate",
                "--model",
                f"{d}/wm/model.pt",
                "--real",
                f"{d}/real.npz",
                "--out",
                f"{d}/syn.npz",
                *sets,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train-trust",
                "--real",
                f"{d}/real.npz",
                "--synthetic",
                f"{d}/syn.npz",
                "--out",
                f"{d}/trust",
                *sets,
            ]
        )
        == 0
    )
    # the trust-aware term needs a trust net, and trains with one
    capsys.readouterr()
    aware = ["--set", "wm_train.trust_aware_weight=1.0", "--set", "wm_train.horizon=5"]
    assert (
        main(["train-world-model", "--real", f"{d}/real.npz", "--out", f"{d}/wm2", *sets, *aware])
        == 2
    )
    _one_error_line(capsys, "needs a trust net (--trust-net)")
    assert (
        main(
            [
                "train-world-model",
                "--real",
                f"{d}/real.npz",
                "--out",
                f"{d}/wm2",
                *sets,
                *aware,
                "--trust-net",
                f"{d}/trust/model.pt",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "wm2/summary.json").read_text())["horizon"] == 5
    # a world model where a trust net is expected: one line, exit 2
    capsys.readouterr()
    assert (
        main(
            [
                "gate",
                "--trust",
                f"{d}/wm/model.pt",
                "--real",
                f"{d}/real.npz",
                "--synthetic",
                f"{d}/syn.npz",
                "--out",
                f"{d}/g.npz",
            ]
        )
        == 2
    )
    _one_error_line(capsys, "must be a trust_net checkpoint, got a world_model checkpoint")
    assert (
        main(
            [
                "gate",
                "--trust",
                f"{d}/trust/model.pt",
                "--real",
                f"{d}/real.npz",
                "--synthetic",
                f"{d}/syn.npz",
                "--out",
                f"{d}/gate/scores.npz",
                *sets,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train-policy",
                "--mix",
                "trust_weighted",
                "--real",
                f"{d}/real.npz",
                "--out",
                f"{d}/p",
            ]
        )
        == 2
    )
    _one_error_line(capsys, "needs synthetic episodes (--synthetic)")
    assert (
        main(
            [
                "train-policy",
                "--mix",
                "fixed_share",
                "--real",
                f"{d}/real.npz",
                "--synthetic",
                f"{d}/syn.npz",
                "--out",
                f"{d}/p",
                *sets,
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "p/summary.json").read_text())
    assert summary["synthetic_share"] == pytest.approx(0.1, rel=1e-4)
    # the saved file holds tensors and plain values only
    assert torch.load(tmp_path / "p/model.pt", weights_only=True)["kind"] == "policy"


def test_demo_end_to_end_and_resume(tmp_path, tiny_overrides):
    out = tmp_path / "demo"
    sets = [x for o in tiny_overrides for x in ("--set", o)]
    assert main(["demo", "--quick", "--out", str(out), *sets]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    shares = {k: v["synthetic_share"] for k, v in metrics["policies"].items()}
    assert shares["real_only"] == 0.0
    assert shares["fixed_share"] == pytest.approx(0.1, rel=1e-4)
    assert 0.0 <= shares["trust_weighted"] < 1.0
    assert metrics["std_ratio"]["per_step"][0] == pytest.approx(1.0)
    assert len(metrics["std_ratio"]["per_step"]) == 21
    bricks = metrics["bricks"]
    assert [b["brick"] for b in bricks] == [0, 1]
    n_syn = sum(b["n_synthetic"] for b in bricks)
    assert n_syn == sum(b["n_real"] for b in bricks)  # as many synthetic as real training
    trust_pass = sum(
        b["synthetic_trust_pass"] * b["n_synthetic"] for b in bricks if b["n_synthetic"]
    )
    assert trust_pass / n_syn == pytest.approx(metrics["gate"]["synthetic"]["trust"])
    with (out / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    syn = [r for r in rows if r["source"] == "synthetic"]
    assert syn and len(rows) > len(syn)
    for r in syn:  # rule "both": p(real) >= 0.5 and the bounds filter; weight p(real) or 0
        p, trusted = float(r["p_real"]), r["trust_accepted"] == "1"
        accepted = r["gate_accepted"] == "1"
        assert trusted == (p >= 0.5)
        assert accepted == (trusted and r["bounds_pass"] == "1")
        assert float(r["weight"]) == pytest.approx(p if accepted else 0.0, abs=1e-6)
    for name in (
        "plots/std_ratio.png",
        "plots/trust_hist.png",
        "data/bricks.json",
        "world_model/model.pt",
        "trust/model.pt",
        "gate/scores.npz",
    ):
        assert (out / name).is_file(), name
    for name in ("world_model", "trust"):
        assert torch.load(out / name / "model.pt", weights_only=True)["kind"]

    # resume: delete one policy; only that stage runs again
    (out / "policies/trust_weighted/model.pt").unlink()
    before = (out / "world_model/model.pt").stat().st_mtime_ns
    lines: list[str] = []
    from imbalance_world_model.demo import demo_config, run_demo

    run_demo(out, config=demo_config(True, 0, tiny_overrides), log=lines.append)
    skipped = [line for line in lines if "skipped" in line]
    assert len(skipped) == 7
    assert any(line.startswith("[train-policy trust_weighted] done") for line in lines)
    assert (out / "world_model/model.pt").stat().st_mtime_ns == before
    # another config in the same folder is refused
    with pytest.raises(ValueError, match="another config"):
        run_demo(out, config=demo_config(True, 1, tiny_overrides), log=lines.append)


def _rows(path):
    rows = json.loads(path.read_text())["rows"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_study_verb_and_its_aliases(tmp_path, tiny_overrides, capsys):
    sets = [x for o in tiny_overrides for x in ("--set", o)]
    horizon = ["--seeds", "0", "--variants", "tf_h10", *sets]
    assert main(["study", "--kind", "horizon", "--out", str(tmp_path / "h1"), *horizon]) == 0
    assert main(["horizon-study", "--out", str(tmp_path / "h2"), *horizon]) == 0
    h1, h2 = (_rows(tmp_path / d / "horizon_study.json") for d in ("h1", "h2"))
    assert h1 == h2 and [r["variant"] for r in h1] == ["tf_h10"]
    policy = ["--seeds", "0", "--modes", "episodes", *sets]
    assert main(["study", "--out", str(tmp_path / "p1"), *policy]) == 0  # --kind policy
    assert main(["policy-study", "--out", str(tmp_path / "p2"), *policy]) == 0
    p1, p2 = (_rows(tmp_path / d / "policy_study.json") for d in ("p1", "p2"))
    assert p1 == p2
    assert [r["variant"] for r in p1] == ["real_only", "fixed_share", "trust_weighted"]
    capsys.readouterr()
    assert main(["horizon-study", "--kind", "policy", "--out", str(tmp_path / "x")]) == 2
    _one_error_line(capsys, "horizon-study is study --kind horizon, got --kind policy")
    assert main(["study", "--kind", "policy", "--variants", "tf_h10", "--out", "x"]) == 2
    _one_error_line(capsys, "--variants is read by the horizon study only")


def test_version_and_shipped_config_names(tmp_path, capsys):
    from imbalance_world_model import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"imbalance-world-model {__version__}"
    out = tmp_path / "real.npz"
    args = ["--set", "simulate.n_episodes=8", "--set", "simulate.horizon=5"]
    assert main(["simulate", "--config", "default", "--out", str(out), *args]) == 0
    assert main(["simulate", "--config", "nope", "--out", str(out)]) == 2
    _one_error_line(capsys, "config file not found: nope (shipped configs: default, quick")
