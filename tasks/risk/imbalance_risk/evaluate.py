"""``imbalance-risk evaluate``: metrics, predictions and plots of a trained run.

Written into the run folder (``_val`` / ``_train`` suffixes for other splits):

* ``metrics.json``: binary AUC, AP, balanced accuracy, F1, precision and recall
  at the chosen threshold and at 0.5 (``at_0.5``), quantiles of the scores, ECE
  and Brier (:mod:`imbalance_kit.calibration`,
  :func:`imbalance_kit.metrics.imbalance_report`), per-dimension risk AUC,
  time-to-failure error, uncertainty quality (AUROC of each uncertainty
  estimate for predicting the classifier's errors) and prediction clustering.
* ``predictions.csv``: one row per step.
* ``reliability.png``, ``curves.png`` (ROC and precision-recall),
  ``timeline.png`` (predicted risk along failed test episodes).

The decision threshold is the validation split's best-F1 threshold
(:func:`imbalance_kit.metrics.best_threshold`) unless ``evaluate.threshold``
fixes one.
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from imbalance_kit.app import DamagedFileError, atomic_open, check_choice, load_json, write_json
from imbalance_kit.calibration import (
    TemperatureScaling,
    expected_calibration_error,
    plot_reliability_diagram,
)
from imbalance_kit.metrics import best_threshold, imbalance_report, probability_clustering
from imbalance_risk.data import SPLITS, PreparedData, load_prepared
from imbalance_risk.model import Predictions, predict
from imbalance_risk.train import load_model

__all__ = ["binary_auc", "check_outputs", "evaluate_run", "file_sha256", "uncertainty_auroc"]

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


def _metrics(
    part: PreparedData, preds: Predictions, threshold: float, n_bins: int, horizon: int | None
) -> dict[str, Any]:
    y = (part.binary > 0.5).astype(np.int64)
    report = imbalance_report(y, preds.prob, threshold=threshold, n_bins=n_bins)
    positive = report["per_class"]["1"]
    errors = (preds.prob >= threshold).astype(np.int64) != y
    metrics: dict[str, Any] = {
        "n_steps": int(y.shape[0]),
        "positive_rate": float(y.mean()),
        "auc": binary_auc(y, preds.score),
        "ap": float(average_precision_score(y, preds.score)) if y.any() else None,
        "threshold": float(threshold),
        "balanced_accuracy": report["balanced_accuracy"],
        "f1": positive["f1"],
        "precision": positive["precision"],
        "recall": positive["recall"],
        "ece": float(expected_calibration_error(preds.prob, y, n_bins)),
        "brier": report["brier"],
        "confusion_matrix": report["confusion_matrix"],
    }
    # At the plain 0.5 cut: a model squeezed towards 0 (the MSE failure) flags nothing here.
    half = imbalance_report(y, preds.prob, threshold=0.5, n_bins=n_bins)
    metrics["at_0.5"] = {
        "balanced_accuracy": half["balanced_accuracy"],
        "recall": half["per_class"]["1"]["recall"],
        "precision": half["per_class"]["1"]["precision"],
        "f1": half["per_class"]["1"]["f1"],
        "predicted_positive_rate": float((preds.prob >= 0.5).mean()),
    }
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
    clustering = probability_clustering(preds.score, decimals=4)
    metrics["prediction_clustering"] = clustering._asdict()
    return metrics


def _write_predictions(
    path: Path, part: PreparedData, preds: Predictions, threshold: float
) -> None:
    columns: dict[str, np.ndarray] = {
        "episode": part.episode,
        "step": part.step,
        "label": part.binary.astype(np.int64),
        "steps_to_failure": part.steps_to_failure,
        "score": preds.score,
        "prob": preds.prob,
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


def _plots(
    out: Path, suffix: str, part: PreparedData, preds: Predictions, threshold: float, n_bins: int
) -> list[str]:
    from matplotlib.figure import Figure

    y = part.binary > 0.5
    written = []
    fig = plot_reliability_diagram(preds.prob, y.astype(np.int64), n_bins, title="Failure risk")
    fig.savefig(out / f"reliability{suffix}.png", dpi=110, bbox_inches="tight")
    written.append(f"reliability{suffix}.png")

    fig = Figure(figsize=(9, 4))
    ax_roc, ax_pr = fig.subplots(1, 2)
    if y.any() and not y.all():
        fpr, tpr, _ = roc_curve(y, preds.score)
        precision, recall, _ = precision_recall_curve(y, preds.score)
        ax_roc.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, preds.score):.3f}")
        ax_pr.plot(recall, precision, label=f"AP {average_precision_score(y, preds.score):.3f}")
    ax_roc.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax_pr.axhline(y.mean(), color="k", ls="--", lw=0.8, label=f"base rate {y.mean():.3f}")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax_roc.legend(loc="lower right")
    ax_pr.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / f"curves{suffix}.png", dpi=110)
    written.append(f"curves{suffix}.png")

    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    failed = np.unique(part.episode[part.steps_to_failure >= 0])[:6]
    for ep in failed:
        rows = part.episode == ep
        d = part.steps_to_failure[rows]
        line = ax.plot(-d, preds.prob[rows], lw=1.2, label=f"episode {int(ep)}")
        if preds.mc_std is not None:
            ax.fill_between(
                -d,
                np.clip(preds.prob[rows] - preds.mc_std[rows], 0, 1),
                np.clip(preds.prob[rows] + preds.mc_std[rows], 0, 1),
                color=line[0].get_color(),
                alpha=0.15,
            )
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:.2f}")
    ax.set(
        xlabel="steps relative to the failure (0 = failing step)",
        ylabel="predicted failure probability",
        title="Predicted risk along failed episodes (band: MC-dropout std)",
        ylim=(-0.02, 1.02),
    )
    if len(failed):
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / f"timeline{suffix}.png", dpi=110)
    written.append(f"timeline{suffix}.png")
    return written


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
        threshold = best_threshold(val_labels, val_preds.prob).threshold
        source = "val_f1"
    else:
        threshold, source = float(config.evaluate.threshold), "fixed"
    metrics = _metrics(part, preds, threshold, config.evaluate.n_bins, _ttf_horizon(path))
    # Post-hoc calibration check: one temperature fitted on the validation logits.
    scaler = TemperatureScaling().fit(
        torch.from_numpy(val_preds.logit), torch.from_numpy(val_labels)
    )
    scaled = scaler.predict_proba(torch.from_numpy(preds.logit))
    y = torch.from_numpy((part.binary > 0.5).astype(np.int64))
    metrics["temperature"] = float(scaler.temperature_)
    metrics["ece_temperature_scaled"] = float(
        expected_calibration_error(scaled, y, config.evaluate.n_bins)
    )
    metrics["split"] = split
    metrics["threshold_source"] = source
    metrics["model"] = "mse_baseline" if config.baseline == "mse" else "risk_model"
    metrics["mc_samples"] = n_mc
    suffix = "" if split == "test" else f"_{split}"
    written = [f"predictions{suffix}.csv"]
    _write_predictions(run / written[0], part, preds, threshold)
    if plots:
        metrics["plots"] = _plots(run, suffix, part, preds, threshold, config.evaluate.n_bins)
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
