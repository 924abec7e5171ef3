"""Lightning training, resuming, safe checkpoints, the MSE baseline and the evaluation outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from imbalance_risk.data import load_prepared
from imbalance_risk.evaluate import evaluate_run
from imbalance_risk.train import load_model, train
from sklearn.metrics import average_precision_score, roc_auc_score

from imbalance_kit.testing.references.calibration import ece_reference


@pytest.fixture(scope="module")
def trained(tiny_prepared, tiny_config, tmp_path_factory):
    """One epoch, then a resumed second epoch, then the evaluation on the test split."""
    run = tmp_path_factory.mktemp("run")
    first = train(tiny_config(), tiny_prepared, run, progress_bar=False)
    second = train(
        tiny_config(train={"max_epochs": 2}), tiny_prepared, run, resume=True, progress_bar=False
    )
    metrics = evaluate_run(run, tiny_prepared)
    return run, first, second, metrics


def test_run_folder_and_resume(trained):
    run, first, second, _ = trained
    assert first.epochs == 1 and second.epochs == 2
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["resumed_from"].endswith("last.ckpt") and summary["epochs"] == 2
    assert summary["synthetic_steps"] > 0  # noise over-sampling is on by default
    for name in ("config.yaml", "model.pt", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    logs = sorted((run / "logs").glob("version_*/metrics.csv"))
    assert len(logs) == 2  # the resumed run logs into a new version and keeps the first
    epochs = [{int(r["epoch"]) for r in csv.DictReader(p.open()) if r.get("val_ap")} for p in logs]
    assert epochs == [{0}, {1}]


def test_checkpoints_load_with_weights_only(trained):
    run = trained[0]
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "model.pt"):
        state = torch.load(run / name, map_location="cpu", weights_only=True)
        assert isinstance(state, dict)
    net, config = load_model(run)
    assert not net.training and config.train.max_epochs == 2
    ckpt = torch.load(run / "checkpoints/best.ckpt", map_location="cpu", weights_only=True)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(ckpt["state_dict"][f"net.{key}"], value)


def test_metrics_agree_with_the_predictions_file(trained, tiny_prepared):
    run, _, _, metrics = trained
    test = load_prepared(tiny_prepared).subset("test")
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(rows) == test.n_steps
    label = np.array([int(r["label"]) for r in rows])
    np.testing.assert_array_equal(label, (test.binary > 0.5).astype(int))
    score = np.array([float(r["score"]) for r in rows])
    prob = np.array([float(r["prob"]) for r in rows])
    assert metrics["auc"] == pytest.approx(roc_auc_score(label, score), abs=1e-4)
    assert metrics["ap"] == pytest.approx(average_precision_score(label, score), abs=1e-3)
    assert metrics["ece"] == pytest.approx(ece_reference(prob, label, 15), abs=1e-4)
    pred = np.array([int(r["pred"]) for r in rows])
    recall = [np.mean(pred[label == c] == c) for c in (0, 1)]
    assert metrics["balanced_accuracy"] == pytest.approx(np.mean(recall), abs=1e-6)
    errors = pred != label
    mc_std = np.array([float(r["mc_std"]) for r in rows])
    expected = roc_auc_score(errors, mc_std) if 0 < errors.sum() < len(errors) else None
    assert metrics["uncertainty_auroc"]["mc_dropout_std"] == pytest.approx(expected, abs=1e-4)
    assert len(metrics["per_dim_auc"]) == test.action_dim
    assert metrics["auc"] > 0.7  # two tiny epochs already rank failures
    # The calibrated probability: a monotone rescaling of the raw one, its ECE and recall at 0.5
    calibrated = np.array([float(r["prob_calibrated"]) for r in rows])
    assert metrics["ece_calibrated"] == pytest.approx(
        ece_reference(calibrated, label, 15), abs=1e-4
    )
    assert roc_auc_score(label, calibrated) == pytest.approx(roc_auc_score(label, prob), abs=1e-3)
    # a temperature keeps logit 0 at 0.5: the decisions at 0.5 are the raw probability's
    np.testing.assert_array_equal(calibrated >= 0.5, prob >= 0.5)
    assert metrics["at_0.5"]["recall"] == pytest.approx(np.mean(prob[label == 1] >= 0.5))
    assert metrics["ttf_mae_steps"] == pytest.approx(metrics["ttf_mae"] * 50)


def test_temperature_is_the_validation_nll_minimum(trained, tiny_prepared):
    from imbalance_risk.model import predict
    from scipy.optimize import minimize_scalar

    run, _, _, metrics = trained
    net, _ = load_model(run)
    val = load_prepared(tiny_prepared).subset("val")
    logit = predict(net, val.features).logit.astype(np.float64)
    y = (val.binary > 0.5).astype(np.float64)

    def nll(t):
        z = logit / t
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    best = minimize_scalar(nll, bounds=(0.05, 100.0), method="bounded").x
    assert metrics["temperature"] == pytest.approx(best, rel=2e-2)
    assert nll(metrics["temperature"]) <= nll(1.0) + 1e-9


def test_plots_are_png_files(trained):
    run, _, _, metrics = trained
    assert metrics["plots"] == [
        "reliability.png",
        "reliability_calibrated.png",
        "curves.png",
        "timeline.png",
    ]
    for name in metrics["plots"]:
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run / "metrics.json").read_text())["auc"] == metrics["auc"]


def test_mse_baseline_trains_and_evaluates(tiny_prepared, tiny_config, tmp_path):
    config = tiny_config(train={"max_epochs": 1}).as_baseline()
    train(config, tiny_prepared, tmp_path, progress_bar=False)
    net, loaded = load_model(tmp_path)
    assert net.heads == ("risk_mse",) and loaded.baseline == "mse"
    metrics = evaluate_run(tmp_path, tiny_prepared, split="val", plots=False, mc_samples=2)
    assert metrics["model"] == "mse_baseline" and metrics["split"] == "val"
    assert (tmp_path / "metrics_val.json").is_file() and (
        tmp_path / "predictions_val.csv"
    ).is_file()
    assert metrics["uncertainty_auroc"]["ensemble_std"] is None  # no ensemble in the baseline
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["synthetic_steps"] == 0 and summary["pos_weight"] is None


def test_train_needs_data(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="data_path must be a prepared data set"):
        train(tiny_config(), None, tmp_path)
    with pytest.raises(FileNotFoundError, match="prepared data set not found"):
        train(tiny_config(), tmp_path / "nothing", tmp_path)


def test_dwa_weighting_reads_the_epoch_losses(tiny_prepared, tiny_config, tmp_path):
    config = tiny_config(
        loss={"weighting": "dwa", "contrastive": {"weight": 0.0}},
        train={"max_epochs": 3, "epoch_size": 512},
        evaluate={"mc_samples": 0},
    )
    train(config, tiny_prepared, tmp_path, progress_bar=False)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    extra = state["state_dict"]["objective._extra_state"]
    assert extra["epochs"] == 3 and len(extra["history"]) == 2  # one entry per closed epoch
    ratios = np.array(extra["history"][1]) / np.array(extra["history"][0])
    expected = np.exp(ratios / 2.0) / np.exp(ratios / 2.0).sum() * len(ratios)  # DWA, T = 2
    from imbalance_risk.objective import build_objective

    objective = build_objective(config)
    objective.set_extra_state(extra)
    np.testing.assert_allclose(list(objective.task_weights().values()), expected, rtol=1e-5)
