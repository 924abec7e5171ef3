"""``imbalance-risk evaluate``: metrics, predictions and plots of a trained run.

Written into the run folder (``_val`` / ``_train`` suffixes for other splits):

* ``metrics.json``: binary AUC, AP, balanced accuracy, F1, precision and recall
  at the chosen threshold and at 0.5 (``at_0.5``), quantiles of the scores, ECE
  and Brier (:mod:`imbalance_kit.calibration`), the same for the calibrated probability
  (``ece_calibrated``, ``brier_calibrated``, ``temperature``),
  per-dimension risk AUC, time-to-failure error, uncertainty quality (AUROC of each
  uncertainty estimate for predicting the classifier's errors) and prediction clustering.
* ``predictions.csv``: one row per step, with the raw probability ``prob`` and the
  calibrated one ``prob_calibrated``.
* ``reliability.png`` and ``reliability_calibrated.png``, ``curves.png`` (ROC and
  precision-recall), ``timeline.png`` (predicted risk along failed test episodes).

**Calibrated output.** The network is trained on re-balanced batches (a 50% prior) with a
focal loss, so its raw probabilities overstate the risk. A temperature fitted on the
validation split (:class:`imbalance_kit.calibration.TemperatureScaling`) rescales its logit;
that probability (``prob_calibrated``) is the one to read as a probability and to compare
with a fixed level. Scaling is monotone and keeps the logit 0 at probability 0.5, so AUC,
AP, the decisions at the validation threshold and the decisions at 0.5 are unchanged.

The decision threshold (``pred``) is the validation split's best-F1 threshold on the raw
probability unless ``evaluate.threshold`` fixes one.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from imbalance_kit.app import DamagedFileError, atomic_open, check_choice, load_json, write_json
from imbalance_kit.calibration import TemperatureScaling, expected_calibration_error
from imbalance_kit.metrics import probability_clustering
from imbalance_risk._plots import write_plots
from imbalance_risk.data import SPLITS, PreparedData, load_prepared
from imbalance_risk.model import Predictions, predict
from imbalance_risk.train import load_model

__all__ = [
    "best_f1_threshold",
    "binary_auc",
    "binary_report",
    "check_outputs",
    "evaluate_run",
    "file_sha256",
    "uncertainty_auroc",
]

Split = Literal["train", "val", "test"]


def binary_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC, or ``None`` when ``labels`` has a single class.

    Examples:
        >>> binary_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
        0.75
        >>> binary_auc(np.array([1, 1]), np.array([0.1, 0.4])) is None
        True
    """
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def uncertainty_auroc(errors: np.ndarray, uncertainty: np.ndarray | None) -> float | None:
    """AUROC of an uncertainty estimate for predicting errors (0.5: uninformative).

    Examples:
        >>> uncertainty_auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.9]))
        1.0
    """
    if uncertainty is None:
        return None
    return binary_auc(errors, uncertainty)


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return -(q * np.log(q) + (1 - q) * np.log(1 - q))


def _ttf_horizon(data_path: Path) -> int | None:
    folder = data_path if data_path.is_dir() else data_path.parent
    summary = folder / "summary.json"
    if not summary.is_file():
        return None
    horizon = load_json(summary).get("settings", {}).get("ttf_horizon")
    return int(horizon) if horizon else None


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def binary_report(labels: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, Any]:
    """The decisions ``prob >= threshold`` scored against the 0/1 ``labels``.

    Returns the positive class's precision, recall and F1, the balanced accuracy, the share
    of steps flagged, the Brier score and the confusion matrix (rows: truth).

    Examples:
        >>> r = binary_report(np.array([0, 0, 1, 1]), np.array([0.2, 0.6, 0.7, 0.4]), 0.5)
        >>> r["recall"], r["precision"], r["balanced_accuracy"], r["confusion_matrix"]
        (0.5, 0.5, 0.5, [[1, 1], [1, 1]])
    """
    y = np.asarray(labels).astype(np.int64)
    p = np.asarray(prob, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, labels=[0, 1], zero_division=0
    )
    present = [c for c in (0, 1) if (y == c).any()]
    return {
        "balanced_accuracy": float(np.mean(recall[present])),
        "precision": float(precision[1]),
        "recall": float(recall[1]),
        "f1": float(f1[1]),
        "predicted_positive_rate": float(pred.mean()),
        "brier": float(np.mean((p - y) ** 2)),
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
    }


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the highest F1 (the highest threshold among ties).

    Thresholds are the distinct scores (scikit-learn's ``precision_recall_curve``); a step is
    flagged when ``score >= threshold``.

    Examples:
        >>> y = np.array([0, 0, 0, 0, 1, 0, 1, 1])
        >>> s = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
        >>> best_f1_threshold(y, s)
        0.4
    """
    precision, recall, thresholds = precision_recall_curve(labels, np.asarray(scores, np.float64))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))
    return float(thresholds[best])


def _metrics(
    part: PreparedData,
    preds: Predictions,
    calibrated: np.ndarray,
    threshold: float,
    n_bins: int,
    horizon: int | None,
) -> dict[str, Any]:
    y = (part.binary > 0.5).astype(np.int64)
    report = binary_report(y, preds.prob, threshold)
    errors = (preds.prob >= threshold).astype(np.int64) != y
    metrics: dict[str, Any] = {
        "n_steps": int(y.shape[0]),
        "positive_rate": float(y.mean()),
        "auc": binary_auc(y, preds.score),
        "ap": float(average_precision_score(y, preds.score)) if y.any() else None,
        "threshold": float(threshold),
        "balanced_accuracy": report["balanced_accuracy"],
        "f1": report["f1"],
        "precision": report["precision"],
        "recall": report["recall"],
        "ece": float(expected_calibration_error(preds.prob, y, n_bins)),
        "brier": report["brier"],
        "confusion_matrix": report["confusion_matrix"],
        # The temperature-scaled probability (fitted on the validation split): the one to
        # read as a probability and to cut at a fixed level.
        "ece_calibrated": float(expected_calibration_error(calibrated, y, n_bins)),
        "brier_calibrated": float(np.mean((calibrated.astype(np.float64) - y) ** 2)),
    }
    # At the plain 0.5 cut: a model squeezed towards 0 (the MSE failure) flags nothing here.
    keys = ("balanced_accuracy", "recall", "precision", "f1", "predicted_positive_rate")
    half = binary_report(y, preds.prob, 0.5)
    metrics["at_0.5"] = {k: half[k] for k in keys}  # the same for the calibrated probability
    metrics["score_quantiles"] = {
        q: float(np.quantile(preds.score, float(q))) for q in ("0.5", "0.9", "0.99", "1.0")
    }
    if preds.mc_mean is not None:
        metrics["auc_mc_dropout"] = binary_auc(y, preds.mc_mean)
    per_dim: list[float | None] = []
    per_dim_pos: list[float | None] = []
    spearman: list[float | None] = []
    positive_rows = y == 1
    for j in range(part.action_dim if preds.risk is not None else 0):
        truth = part.risk[:, j]
        per_dim.append(binary_auc(truth > 0, preds.risk[:, j]))
        on_pos = truth[positive_rows]
        if on_pos.size >= 3:
            high = on_pos > np.median(on_pos)
            per_dim_pos.append(binary_auc(high, preds.risk[positive_rows, j]))
            rho = spearmanr(on_pos, preds.risk[positive_rows, j]).statistic
            spearman.append(None if not np.isfinite(rho) else float(rho))
        else:
            per_dim_pos.append(None)
            spearman.append(None)
    metrics["per_dim_auc"] = per_dim
    metrics["per_dim_auc_on_positives"] = per_dim_pos
    metrics["per_dim_spearman_on_positives"] = spearman
    if preds.ttf is not None:
        failed = part.steps_to_failure >= 0
        within = failed & (part.ttf < 1.0)
        mae = float(np.abs(preds.ttf[within] - part.ttf[within]).mean()) if within.any() else None
        metrics["ttf_mae"] = mae
        metrics["ttf_mae_steps"] = None if mae is None or horizon is None else mae * horizon
    metrics["uncertainty_auroc"] = {
        "entropy": uncertainty_auroc(errors, _entropy(preds.prob)),
        "ensemble_std": uncertainty_auroc(errors, preds.ensemble_std),
        "mc_dropout_std": uncertainty_auroc(errors, preds.mc_std),
        "aleatoric_std": uncertainty_auroc(errors, preds.aleatoric_std),
    }
    metrics["error_rate"] = float(errors.mean())
    # The MSE baseline's score is a regression output that can leave [0, 1]: its repeats are
    # counted after a sigmoid (order- and tie-preserving), the risk model's on the score itself.
    unbounded = bool(preds.score.size) and not (
        0.0 <= preds.score.min() <= preds.score.max() <= 1.0
    )
    clustering = probability_clustering(preds.score, decimals=4, from_logits=unbounded)
    metrics["prediction_clustering"] = clustering._asdict()
    return metrics


def _write_predictions(
    path: Path, part: PreparedData, preds: Predictions, calibrated: np.ndarray, threshold: float
) -> None:
    columns: dict[str, np.ndarray] = {
        "episode": part.episode,
        "step": part.step,
        "label": part.binary.astype(np.int64),
        "steps_to_failure": part.steps_to_failure,
        "score": preds.score,
        "prob": preds.prob,
        "prob_calibrated": calibrated,
        "pred": (preds.prob >= threshold).astype(np.int64),
    }
    optional = {
        "ensemble_std": preds.ensemble_std,
        "mc_mean": preds.mc_mean,
        "mc_std": preds.mc_std,
        "aleatoric_std": preds.aleatoric_std,
        "ttf_true": part.ttf if preds.ttf is not None else None,
        "ttf_pred": preds.ttf,
    }
    columns.update({k: v for k, v in optional.items() if v is not None})
    for j in range(part.action_dim):
        columns[f"risk_true_{j}"] = part.risk[:, j]
        if preds.risk is not None:
            columns[f"risk_pred_{j}"] = preds.risk[:, j]
    names = list(columns)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        cols = [columns[n] for n in names]
        for i in range(part.n_steps):
            writer.writerow(
                [f"{c[i]:.6g}" if isinstance(c[i], np.floating) else int(c[i]) for c in cols]
            )


def evaluate_run(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    *,
    split: Split = "test",
    mc_samples: int | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Evaluate a trained run on one split and write metrics, predictions and plots.

    Args:
        run_dir: the run folder (holding ``model.pt``).
        data_path: prepared data; defaults to the run config's ``data.path``.
        split: ``"test"``, ``"val"`` or ``"train"``.
        mc_samples: MC-dropout passes (default: the config's ``evaluate.mc_samples``).
        plots: write the PNG figures.

    Returns:
        The metrics dict (also written to ``metrics.json``).

    Raises:
        FileNotFoundError: no model or prepared data.
        ValueError: a bad split, or no data path anywhere.

    Examples:
        After ``train(config, "prepared", "runs/risk")`` (see
        :func:`imbalance_risk.train.train`, whose example trains a run):

        >>> metrics = evaluate_run("runs/risk", "prepared", mc_samples=10)  # doctest: +SKIP
        >>> metrics["auc"], metrics["at_0.5"]["recall"]  # doctest: +SKIP
        >>> evaluate_run("runs/risk", split="dev")
        Traceback (most recent call last):
        ...
        ValueError: split must be one of 'train', 'val', 'test', got 'dev'
    """
    check_choice("split", split, SPLITS)
    run = Path(run_dir)
    net, config = load_model(run)
    path = Path(data_path) if data_path is not None else None
    if path is None:
        if config.data.path is None:
            raise ValueError("data_path must be given: the run config has no data.path")
        path = Path(config.data.path)
    data = load_prepared(path)
    part = data.subset(split)
    n_mc = config.evaluate.mc_samples if mc_samples is None else mc_samples
    batch = config.data.eval_batch_size
    preds = predict(net, part.features, mc_samples=n_mc, batch_size=batch, seed=config.seed)
    val = data.subset("val")
    val_preds = predict(net, val.features, batch_size=batch)
    val_labels = (val.binary > 0.5).astype(np.int64)
    if isinstance(config.evaluate.threshold, str):
        threshold = best_f1_threshold(val_labels, val_preds.prob)
        source = "val_f1"
    else:
        threshold, source = float(config.evaluate.threshold), "fixed"
    # Calibrated output: one temperature fitted on the validation logits (monotone, so the
    # ranking metrics and the decisions at the validation threshold do not change).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*max_temperature.*")
        scaler = TemperatureScaling().fit(
            torch.from_numpy(val_preds.logit), torch.from_numpy(val_labels)
        )
    calibrated = scaler.predict_proba(torch.from_numpy(preds.logit)).numpy()
    n_bins = config.evaluate.n_bins
    metrics = _metrics(part, preds, calibrated, threshold, n_bins, _ttf_horizon(path))
    metrics["temperature"] = float(scaler.temperature_)
    metrics["split"] = split
    metrics["threshold_source"] = source
    metrics["model"] = "mse_baseline" if config.baseline == "mse" else "risk_model"
    metrics["mc_samples"] = n_mc
    suffix = "" if split == "test" else f"_{split}"
    written = [f"predictions{suffix}.csv"]
    _write_predictions(run / written[0], part, preds, calibrated, threshold)
    if plots:
        metrics["plots"] = write_plots(run, suffix, part, preds, threshold, n_bins, calibrated)
        written += metrics["plots"]
    # metrics.json is written last, with the checksums of the other outputs: it marks the
    # evaluation complete (see check_outputs).
    metrics["files"] = {name: file_sha256(run / name) for name in written}
    metrics = _nan_to_none(metrics)
    write_json(run / f"metrics{suffix}.json", metrics)
    return metrics


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f.txt"
        >>> _ = p.write_text("abc")
        >>> file_sha256(p)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_outputs(run_dir: str | Path, split: Split = "test") -> dict[str, Any]:
    """The metrics of a finished evaluation, after checking every file it wrote is intact.

    Raises:
        FileNotFoundError: no ``metrics.json`` (the evaluation has not finished).
        imbalance_kit.app.DamagedFileError: ``metrics.json`` does not parse, or a file it
            lists is missing or differs from what the evaluation wrote.
    """
    run = Path(run_dir)
    suffix = "" if split == "test" else f"_{split}"
    path = run / f"metrics{suffix}.json"
    if not path.is_file():
        raise FileNotFoundError(f"metrics not found: {path}")
    metrics = load_json(path)
    files = metrics.get("files") if isinstance(metrics, dict) else None
    if not isinstance(files, dict):
        raise DamagedFileError(f"{path} lists no output files; evaluate again")
    for name, digest in files.items():
        target = run / name
        if not target.is_file() or file_sha256(target) != digest:
            raise DamagedFileError(f"{target} is missing or damaged; evaluate again")
    return metrics
