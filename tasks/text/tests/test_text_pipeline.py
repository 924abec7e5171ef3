"""End-to-end runs on a tiny random-init BERT: frozen, fine-tune, resume, predict, CLI, demo."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from imbalance_text.cli import main
from imbalance_text.compare import compare_variants
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.constraints import violation_rate
from imbalance_text.data import Corpus, read_corpus, write_corpus
from imbalance_text.demo import run_demo
from imbalance_text.pipeline import evaluate_file, load_run, predict, run_pipeline
from imbalance_text.schema import DEFAULT_SCHEMA

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    write_corpus(small_corpus, folder / "corpus.csv")
    DEFAULT_SCHEMA.save(folder / "schema.yaml")
    return {"corpus": folder / "corpus.csv", "schema": folder / "schema.yaml"}


def _config(files: dict[str, Path], tiny_bert: Path, *extra: str) -> TextConfig:
    return apply_overrides(
        TextConfig(),
        [
            f"data.train={files['corpus']}",
            f"data.schema={files['schema']}",
            f"model.path={tiny_bert}",
            "model.max_length=32",
            "model.head_hidden=32",
            "training.epochs=3",
            "training.batch_size=32",
            "training.threads=1",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def frozen_run(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path], tiny_bert: Path
) -> tuple[Path, TextConfig, dict]:
    run = tmp_path_factory.mktemp("run")
    config = _config(files, tiny_bert)
    metrics = run_pipeline(config, run, progress=False)
    return run, config, metrics


def test_frozen_run_writes_every_output(frozen_run: tuple[Path, TextConfig, dict]) -> None:
    run, _, metrics = frozen_run
    for name in (
        "config.yaml",
        "schema.yaml",
        "weights.json",
        "model.pt",
        "train_done.json",
        "thresholds.json",
        "metrics.json",
        "predictions.csv",
        "logs/metrics.csv",
        "splits/train.csv",
        "splits/val.csv",
        "splits/test.csv",
    ):
        assert (run / name).is_file(), name
    for png in ("per_label_scores", "pr_curves", "reliability"):
        assert (run / "plots" / f"{png}.png").read_bytes()[:4] == PNG
    assert list((run / "cache").glob("emb-*.npy"))
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test"]["secondary_f1_macro"] == metrics["test"]["secondary_f1_macro"]
    test = metrics["test"]
    assert test["violation_rate_after"] == 0.0
    assert set(test["rare_labels"]) == {"anti-democratic rhetoric", "praising extremist acts"}
    assert 0.0 <= test["pr_auc_micro"] <= 1.0
    weights = {r["label"]: r for r in json.loads((run / "weights.json").read_text())}
    assert weights["praising extremist acts"]["weight"] == 10.0
    assert weights["sexual harassment"]["weight"] == 5.0
    assert weights["hate"]["source"] == "auto" and weights["hate"]["weight"] <= 3.0
    state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    assert state["hparams"]["labels"] == DEFAULT_SCHEMA.names
    frame = pd.read_csv(run / "predictions.csv")
    assert len(frame) == test["n_samples"]
    preds = frame[[f"pred:{n}" for n in DEFAULT_SCHEMA.names]].to_numpy()
    assert violation_rate(preds, DEFAULT_SCHEMA.implication_indices) == 0.0


def test_lightning_checkpoints_load_weights_only(frozen_run: tuple[Path, TextConfig, dict]) -> None:
    run = frozen_run[0]
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(run / name, map_location="cpu", weights_only=True)
        assert "head.out.weight" in ckpt["state_dict"]


def test_resume_reuses_a_finished_run(frozen_run: tuple[Path, TextConfig, dict]) -> None:
    run, config, metrics = frozen_run
    lines: list[str] = []
    again = run_pipeline(config, run, resume=True, progress=False, log=lines.append)
    assert "training: reused (train_done.json)" in lines
    assert again["test"] == metrics["test"]


class _Epochs(L.Callback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen.append(trainer.current_epoch)


def test_resume_after_an_interrupted_fit(
    tmp_path: Path, files: dict[str, Path], tiny_bert: Path
) -> None:
    run_pipeline(_config(files, tiny_bert, "training.epochs=1"), tmp_path, progress=False)
    (tmp_path / "train_done.json").unlink()  # as if the process died after the checkpoint
    (tmp_path / "model.pt").unlink()
    epochs = _Epochs()
    metrics = run_pipeline(
        _config(files, tiny_bert, "training.epochs=2"),
        tmp_path,
        resume=True,
        progress=False,
        callbacks=[epochs],
    )
    assert epochs.seen == [1]  # continued from last.ckpt instead of starting over
    assert (tmp_path / "model.pt").is_file() and metrics["test"]["n_samples"] > 0


def test_predict_and_evaluate_file_agree_with_the_run(
    frozen_run: tuple[Path, TextConfig, dict],
) -> None:
    run, _, metrics = frozen_run
    report = evaluate_file(run, run / "splits" / "test.csv", run / "eval")
    for key in ("secondary_f1_macro", "pr_auc_micro", "violation_rate_before", "rare_recall"):
        assert report[key] == pytest.approx(metrics["test"][key], abs=1e-6), key
    table = predict(run, ["the bombing in the capital made me proud", "nice jacket"])
    probs = table[[f"prob:{n}" for n in DEFAULT_SCHEMA.names]].to_numpy()
    assert probs.shape == (2, 9) and np.all((probs >= 0) & (probs <= 1))
    module, _, schema, thresholds = load_run(run)
    assert set(thresholds) == set(schema.names) and not module.training


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
    tmp_path: Path, files: dict[str, Path], tiny_bert: Path
) -> None:
    metrics = run_pipeline(
        _config(files, tiny_bert, "training.epochs=1", "training.precision=bf16-mixed"),
        tmp_path,
        progress=False,
    )
    assert np.isfinite(metrics["test"]["pr_auc_micro"])


def test_compare_two_variants(tmp_path: Path, files: dict[str, Path], tiny_bert: Path) -> None:
    config = _config(files, tiny_bert, "training.epochs=1")
    result = compare_variants(
        config, tmp_path, variants=["bce", "weighted_focal_constr"], seeds=[0]
    )
    assert list(result["rows"]) == ["bce", "weighted_focal_constr"]
    assert result["rows"]["weighted_focal_constr"]["violations (output)"][0] == 0.0
    assert "| bce |" in (tmp_path / "compare.md").read_text()
    weights = json.loads((tmp_path / "runs" / "bce-s0" / "weights.json").read_text())
    assert {r["source"] for r in weights} == {"none"}  # plain BCE: no pos_weight
    with pytest.raises(ValueError, match="variants must be among"):
        compare_variants(config, tmp_path, variants=["svm"])


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
    assert "secondary macro-F1" in capsys.readouterr().out
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
    assert "loss key must be one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo"])  # --out is required
