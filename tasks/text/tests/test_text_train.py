"""End-to-end runs on a tiny random-init BERT: frozen, fine-tune, resume, predict, CLI, demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from imbalance_text.config import TextConfig
from imbalance_text.constraints import violation_rate
from imbalance_text.evaluate import evaluate_file
from imbalance_text.inference import load_run, predict
from imbalance_text.schema import DEFAULT_SCHEMA
from imbalance_text.train import run_pipeline

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def frozen_run(
    tmp_path_factory: pytest.TempPathFactory, make_config: Callable[..., TextConfig]
) -> tuple[Path, TextConfig, dict]:
    run = tmp_path_factory.mktemp("run")
    config = make_config()
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
    tmp_path: Path, make_config: Callable[..., TextConfig]
) -> None:
    run_pipeline(make_config("training.epochs=1"), tmp_path, progress=False)
    (tmp_path / "train_done.json").unlink()  # as if the process died after the checkpoint
    (tmp_path / "model.pt").unlink()
    epochs = _Epochs()
    metrics = run_pipeline(
        make_config("training.epochs=2"),
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
