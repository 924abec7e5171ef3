"""End-to-end runs on a tiny random-init BERT: fine-tune, bf16, compare, demo and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imbalance_text.cli import main
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.data import Corpus, read_corpus, write_corpus
from imbalance_text.demo import run_demo
from imbalance_text.inference import predict
from imbalance_text.schema import DEFAULT_SCHEMA
from imbalance_text.study import run_study
from imbalance_text.train import run_pipeline

PNG = b"\x89PNG"


def test_finetune_trains_the_encoder(tmp_path: Path, small_corpus: Corpus, tiny_bert: Path) -> None:
    data = tmp_path / "c.csv"
    write_corpus(small_corpus.subset(range(240)), data)
    config = apply_overrides(
        TextConfig(),
        [
            f"data.train={data}",
            f"model.path={tiny_bert}",
            "model.mode=finetune",
            "model.max_length=32",
            "model.pooling=cls",
            "training.epochs=1",
            "training.batch_size=32",
            "training.threads=1",
            "training.encoder_lr=0.01",
        ],
    )
    metrics = run_pipeline(config, tmp_path / "run", progress=False)
    from safetensors.torch import load_file

    initial = load_file(tiny_bert / "model.safetensors")
    trained = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["state_dict"]
    key = next(k for k in initial if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not torch.allclose(initial[key], trained[f"encoder.transformer.{key}"])
    assert metrics["test"]["violation_rate_after"] == 0.0
    table = predict(tmp_path / "run", ["send me pics or else"])
    assert len(table) == 1


def test_bf16_mixed_precision_on_cpu(
    tmp_path: Path, make_config: Callable[..., TextConfig]
) -> None:
    metrics = run_pipeline(
        make_config("training.epochs=1", "training.precision=bf16-mixed"),
        tmp_path,
        progress=False,
    )
    assert np.isfinite(metrics["test"]["pr_auc_micro"])


def test_study_two_variants(tmp_path: Path, make_config: Callable[..., TextConfig]) -> None:
    config = make_config("training.epochs=1")
    result = run_study(config, tmp_path, variants=["bce", "weighted_focal_constr"], seeds=[0])
    summary = {entry["variant"]: entry for entry in result["summary"]}
    assert list(summary) == ["bce", "weighted_focal_constr"]
    assert summary["weighted_focal_constr"]["violations_output"]["mean"] == 0.0
    assert "| bce |" in (tmp_path / "study.md").read_text()
    weights = json.loads((tmp_path / "runs" / "bce-s0" / "weights.json").read_text())
    assert {r["source"] for r in weights} == {"none"}  # plain BCE: no pos_weight
    lines: list[str] = []
    again = run_study(
        config, tmp_path, variants=["bce", "weighted_focal_constr"], seeds=[0], log=lines.append
    )
    assert lines.count("training: reused (train_done.json)") == 0  # study runs log per run
    assert again["rows"] == result["rows"]  # finished runs reused, evaluation redone
    with pytest.raises(ValueError, match="variants must be among"):
        run_study(config, tmp_path, variants=["svm"])


def test_demo_quick(tmp_path: Path, tiny_bert: Path) -> None:
    run_demo(
        tmp_path,
        quick=True,
        n_texts=300,
        overrides=[f"model.path={tiny_bert}", "model.max_length=32", "training.epochs=2"],
    )
    assert (tmp_path / "analysis" / "label_distribution.png").read_bytes()[:4] == PNG
    assert "| label | level |" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_cli_commands(tmp_path: Path, tiny_bert: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = tmp_path / "c.jsonl"
    assert main(["simulate", "--out", str(corpus), "--n", "300", "--seed", "4"]) == 0
    schema = tmp_path / "schema.yaml"
    assert schema.is_file() and len(read_corpus(corpus, DEFAULT_SCHEMA)) == 300
    assert (
        main(
            [
                "analyze",
                "--data",
                str(corpus),
                "--schema",
                str(schema),
                "--out",
                str(tmp_path / "an"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "praising extremist acts" in out and "custom" in out and "warning:" in out
    assert (tmp_path / "an" / "label_distribution.png").read_bytes()[:4] == PNG
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(corpus),
                "--schema",
                str(schema),
                "--out",
                str(run),
                "--model-path",
                str(tiny_bert),
                "--epochs",
                "1",
                "--threads",
                "1",
                "--focal-gamma",
                "3",
                "--set",
                "model.max_length=32",
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "secondary macro-F1" in captured.out
    both = captured.out + captured.err
    for noise in ("GPU available", "LOCAL_RANK", "litlogger", "Trainable params", "Seed set"):
        assert noise not in both, noise  # Lightning's output only with --verbose
    assert captured.out.splitlines()[0].startswith("splits: train")
    assert (
        TextConfig.from_dict(
            __import__("yaml").safe_load((run / "config.yaml").read_text())
        ).loss.focal_gamma
        == 3.0
    )
    texts = tmp_path / "new.txt"
    texts.write_text("the bombing in the capital made me proud\nnice jacket\n")
    assert (
        main(["predict", "--run", str(run), "--data", str(texts), "--out", str(tmp_path / "p.csv")])
        == 0
    )
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2
    assert main(["evaluate", "--run", str(run), "--data", str(corpus)]) == 0
    assert (run / "eval-c" / "metrics.json").is_file()


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--out", str(tmp_path / "r")]) == 2
    assert "data.train must be a corpus path" in capsys.readouterr().err
    assert main(["analyze", "--data", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--data", "x.csv", "--out", "r", "--set", "loss.gama=1"]) == 2
    assert "config key 'loss.gama' must be one of 'focal_gamma'" in capsys.readouterr().err
    assert main(["demo"]) == 2  # --out is required
    err = capsys.readouterr().err
    assert err.startswith("imbalance-text: error: ") and "--out" in err


def test_cli_version_and_the_compare_alias(
    tmp_path: Path, files: dict[str, Path], tiny_bert: Path, capsys: pytest.CaptureFixture
) -> None:
    from imbalance_text import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"imbalance-text {__version__}"
    common = ["--data", str(files["corpus"]), "--schema", str(files["schema"]),
              "--model-path", str(tiny_bert), "--epochs", "1", "--seeds", "0",
              "--variants", "bce", "--set", "model.max_length=32", "--threads", "1"]  # fmt: skip
    for verb in ("study", "compare"):  # compare: the older name of study
        assert main([verb, "--out", str(tmp_path / verb), *common]) == 0
        out = capsys.readouterr().out
        assert "rare recall" in out and "bce" in out
        assert (tmp_path / verb / "study.md").is_file()
    a = json.loads((tmp_path / "study" / "study.json").read_text())["rows"]
    b = json.loads((tmp_path / "compare" / "study.json").read_text())["rows"]
    assert a == b
