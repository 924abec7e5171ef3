"""Evaluation: the report of a set of predictions, and the evaluation stage of a run.

Predictions are ``prob >= threshold`` (per-label thresholds from
:mod:`imbalance_text.thresholds`), then
:func:`~imbalance_text.constraints.enforce_implications`. The report holds per-label
precision / recall / F1 / PR-AUC / ECE
(:func:`imbalance_kit.calibration.expected_calibration_error`), secondary
macro-F1, rare-label recall, micro / macro PR-AUC and the constraint violation
rate before and after enforcement. Precision, recall, F1 and average precision
come from scikit-learn. :func:`evaluate_stage` tunes the thresholds of a trained run and
writes its ``metrics.json``, ``predictions.csv`` and plots; :func:`evaluate_file` scores a
finished run on another labelled corpus. (Those two load Lightning and the model on call.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_fscore_support

from imbalance_kit.app import error, write_json, write_text
from imbalance_kit.calibration import expected_calibration_error
from imbalance_text.constraints import enforce_implications, violation_rate, violations_per_pair
from imbalance_text.schema import LabelSchema

__all__ = [
    "check_scores",
    "evaluate_file",
    "evaluate_predictions",
    "evaluate_stage",
    "predictions_frame",
    "rare_labels",
]


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def check_scores(targets: Any, probs: Any, schema: LabelSchema) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, probs)`` as float64 arrays of shape ``(N, L)``, probabilities in [0, 1].

    Raises:
        ValueError: a shape that does not fit the schema, or values outside [0, 1].
    """
    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    want = schema.num_labels
    if p.ndim != 2 or p.shape[1] != want:
        raise error("probs", f"(N, {want}) for the schema", f"shape {p.shape}", raw=True)
    if y.shape != p.shape:
        raise error("targets", f"the shape of probs {p.shape}", f"shape {y.shape}", raw=True)
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise error("probs", "probabilities in [0, 1]", "values outside", raw=True)
    return y, p


def rare_labels(train_targets: Any, schema: LabelSchema, rare_ratio: float = 50.0) -> list[str]:
    """The schema's ``rare`` list, else the labels with >= ``rare_ratio`` negatives per positive.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> y = np.zeros((202, 2)); y[:101, 0] = 1; y[:2, 1] = 1
        >>> rare_labels(y, LabelSchema(["common"], {"rare": "common"}))
        ['rare']
    """
    if schema.rare is not None:
        return list(schema.rare)
    y = np.asarray(train_targets, dtype=np.float64)
    pos = y.sum(axis=0)
    neg = y.shape[0] - pos
    return [
        name for j, name in enumerate(schema.names) if pos[j] == 0 or neg[j] / pos[j] >= rare_ratio
    ]


def evaluate_predictions(
    targets: Any,
    probs: Any,
    schema: LabelSchema,
    *,
    thresholds: dict[str, float] | Sequence[float] | float = 0.5,
    rare: Sequence[str] = (),
    enforce: bool = True,
    n_bins: int = 10,
) -> dict[str, Any]:
    """The evaluation report of multi-label probabilities.

    Args:
        targets: ``(N, L)`` 0/1 targets.
        probs: ``(N, L)`` probabilities.
        schema: the label schema (columns, implications, levels).
        thresholds: one threshold for all labels, one per label, or
            ``{label: threshold}``.
        rare: labels summarised as rare (``rare_recall``).
        enforce: apply :func:`enforce_implications` before scoring.
        n_bins: bins of the per-label ECE.

    Returns:
        A JSON-ready dict: ``per_label`` (precision, recall, F1, support,
        PR-AUC, ECE, threshold), ``secondary_f1_macro``,
        ``secondary_precision_macro``, ``secondary_recall_macro``,
        ``rare_recall`` (mean over ``rare``) and ``rare_recall_min``,
        ``micro_f1``, ``macro_f1``, ``pr_auc_micro``, ``pr_auc_macro``,
        ``ece_macro``, ``violation_rate_before`` / ``violation_rate_after``,
        ``violations_before`` per pair, and the same F1 summaries before
        enforcement under ``before_enforcement``. Undefined values (a label
        without positives) are ``None``.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> s = LabelSchema(["hate"], {"slur": "hate"})
        >>> y = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])
        >>> p = np.array([[0.4, 0.9], [0.8, 0.1], [0.2, 0.1], [0.1, 0.2]])
        >>> r = evaluate_predictions(y, p, s, rare=["slur"])
        >>> r["violation_rate_before"], r["violation_rate_after"], r["per_label"]["hate"]["recall"]
        (0.25, 0.0, 1.0)
    """
    y, p = check_scores(targets, probs, schema)
    names = schema.names
    if isinstance(thresholds, dict):
        unknown = sorted(set(thresholds) - set(names))
        if unknown:
            raise error("thresholds", f"keyed by labels of the schema {names}", unknown)
        cut = np.array([float(thresholds.get(n, 0.5)) for n in names])
    else:
        cut = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(names),)).copy()
    pairs = schema.implication_indices
    raw = p >= cut
    final = enforce_implications(raw, pairs) if enforce else raw
    truth = y > 0.5

    def summary(pred: np.ndarray) -> dict[str, Any]:
        prec, rec, f1, support = precision_recall_fscore_support(
            truth, pred, average=None, zero_division=0
        )
        rec = np.where(support > 0, rec, np.nan)
        sec = [names.index(n) for n in schema.secondary_names]
        rare_idx = [names.index(n) for n in rare if support[names.index(n)] > 0]
        return {
            "precision": prec, "recall": rec, "f1": f1, "support": support,
            "secondary_f1_macro": float(np.mean(f1[sec])) if sec else math.nan,
            "secondary_precision_macro": float(np.mean(prec[sec])) if sec else math.nan,
            "secondary_recall_macro": float(np.nanmean(rec[sec])) if sec else math.nan,
            "rare_recall": float(np.mean(rec[rare_idx])) if rare_idx else math.nan,
            "rare_recall_min": float(np.min(rec[rare_idx])) if rare_idx else math.nan,
            "micro_f1": float(precision_recall_fscore_support(
                truth, pred, average="micro", zero_division=0)[2]),
            "macro_f1": float(np.mean(f1)),
        }  # fmt: skip

    after, before = summary(final), summary(raw)
    has_pos = y.sum(axis=0) > 0
    per_label = {}
    eces = []
    for j, name in enumerate(names):
        ap = float(average_precision_score(truth[:, j], p[:, j])) if has_pos[j] else math.nan
        ece = float(expected_calibration_error(p[:, j], truth[:, j].astype(np.int64), n_bins))
        eces.append(ece)
        per_label[name] = {
            "level": "primary" if name in schema.primary else "secondary",
            "rare": name in rare,
            "threshold": float(cut[j]),
            "precision": float(after["precision"][j]),
            "recall": float(after["recall"][j]),
            "f1": float(after["f1"][j]),
            "support": int(after["support"][j]),
            "pr_auc": ap,
            "ece": ece,
        }
    keys = ("secondary_f1_macro", "secondary_precision_macro", "secondary_recall_macro",
            "rare_recall", "rare_recall_min", "micro_f1", "macro_f1")  # fmt: skip
    counts = violations_per_pair(raw, pairs)
    report = {
        "n_samples": int(len(y)),
        "labels": names,
        "rare_labels": list(rare),
        "enforced": bool(enforce),
        **{k: after[k] for k in keys},
        "pr_auc_micro": float(average_precision_score(truth, p, average="micro")),
        "pr_auc_macro": float(np.nanmean([per_label[n]["pr_auc"] for n in names]))
        if has_pos.any()
        else math.nan,
        "ece_macro": float(np.mean(eces)),
        "violation_rate_before": violation_rate(raw, pairs),
        "violation_rate_after": violation_rate(final, pairs),
        "violations_before": {
            f"{names[c]} -> {names[q]}": int(k) for (c, q), k in zip(pairs, counts)
        },
        "violation_rate_truth": violation_rate(truth, pairs),
        "per_label": per_label,
        "before_enforcement": {k: before[k] for k in keys},
    }
    return _nan_to_none(report)


def predictions_frame(
    ids: Sequence[str],
    texts: Sequence[str],
    probs: Any,
    schema: LabelSchema,
    *,
    thresholds: dict[str, float] | float = 0.5,
    enforce: bool = True,
    targets: Any = None,
) -> pd.DataFrame:
    """Prediction table: ``id``, ``text``, ``prob:<label>``, ``pred:<label>``, ``true:<label>``.

    ``pred`` columns are after enforcement (when ``enforce``); ``true`` columns
    only when ``targets`` are given.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> f = predictions_frame(["0"], ["x"], np.array([[0.2, 0.9]]),
        ...                       LabelSchema(["hate"], {"slur": "hate"}))
        >>> f[["pred:hate", "pred:slur"]].values.tolist()
        [[1, 1]]
    """
    p = np.asarray(probs, dtype=np.float64)
    names = schema.names
    if isinstance(thresholds, dict):
        cut = np.array([float(thresholds.get(n, 0.5)) for n in names])
    else:
        cut = np.full(len(names), float(thresholds))
    pred = p >= cut
    if enforce:
        pred = enforce_implications(pred, schema.implication_indices)
    frame = pd.DataFrame({"id": list(ids), "text": list(texts)})
    for j, name in enumerate(names):
        frame[f"prob:{name}"] = p[:, j]
    for j, name in enumerate(names):
        frame[f"pred:{name}"] = pred[:, j].astype(np.int64)
    if targets is not None:
        y = np.asarray(targets)
        for j, name in enumerate(names):
            frame[f"true:{name}"] = y[:, j].astype(np.int64)
    return frame


def evaluate_stage(
    config: Any,
    schema: LabelSchema,
    module: Any,
    datasets: Sequence[Any],
    train: Any,
    val: Any,
    test: Any | None,
    run: Path,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """Tune thresholds on validation, evaluate on test (validation without one), write outputs.

    Writes ``thresholds.json``, ``metrics.json``, ``predictions.csv`` and, with
    ``plots``, ``plots/*.png``; returns the metrics. ``metrics["test"]`` uses the
    tuned thresholds, ``metrics["test_at_0.5"]`` the default 0.5.

    Args:
        config: the run's :class:`~imbalance_text.config.TextConfig`.
        schema: the label schema.
        module: the trained :class:`~imbalance_text.module.TextModule`.
        datasets: train, validation and test datasets (test may be ``None``).
        train: the training :class:`~imbalance_text.data.Corpus` (rare labels).
        val: the validation corpus.
        test: the test corpus, or ``None``.
        run: the run folder.
        plots: write the PNG figures.
    """
    from imbalance_text.module import loader, predict_probs
    from imbalance_text.plots import (
        plot_per_label_scores,
        plot_pr_curves,
        plot_reliability,
        save_figure,
    )
    from imbalance_text.thresholds import tune_thresholds

    def probs_of(dataset: Any) -> np.ndarray:
        batches = loader(dataset, 4 * config.training.batch_size)
        return predict_probs(module, batches, config.training.device())

    ev = config.evaluation
    rare = rare_labels(train.targets, schema, ev.rare_ratio)
    val_probs = probs_of(datasets[1])
    if ev.threshold == "tuned":
        tuned = tune_thresholds(
            val.targets, val_probs, schema, target_recall=ev.target_recall,
            default=ev.fixed_threshold, min_positives=ev.min_tune_positives,
            pos_weight=module.hparams.get("pos_weight"), rule=ev.rare_threshold,
        )  # fmt: skip
    else:
        tuned = {n: {"threshold": ev.fixed_threshold, "tuned": False} for n in schema.names}
    write_json(run / "thresholds.json", tuned)
    cuts = {n: float(v["threshold"]) for n, v in tuned.items()}
    common = {"rare": rare, "enforce": ev.enforce_constraints, "n_bins": ev.n_bins}
    metrics: dict[str, Any] = {
        "val": evaluate_predictions(val.targets, val_probs, schema, thresholds=cuts, **common),
    }
    final, probs = (val, val_probs) if test is None else (test, probs_of(datasets[2]))
    metrics["test"] = evaluate_predictions(final.targets, probs, schema, thresholds=cuts, **common)
    metrics["test_at_0.5"] = evaluate_predictions(
        final.targets, probs, schema, thresholds=0.5, **common
    )
    metrics["evaluated_on"] = "val" if test is None else "test"
    write_json(run / "metrics.json", metrics)
    frame = predictions_frame(
        final.ids or [], final.texts, probs, schema, thresholds=cuts,
        enforce=ev.enforce_constraints, targets=final.targets,
    )  # fmt: skip
    write_text(run / "predictions.csv", frame.to_csv(index=False))
    if plots:
        folder = run / "plots"
        folder.mkdir(exist_ok=True)
        save_figure(plot_per_label_scores(metrics["test"]), folder / "per_label_scores.png")
        save_figure(plot_pr_curves(final.targets, probs, schema), folder / "pr_curves.png")
        save_figure(
            plot_reliability(final.targets, probs, schema, ev.n_bins), folder / "reliability.png"
        )
    return metrics


def evaluate_file(
    run_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    text_column: str = "text",
    labels_column: str | None = None,
    model_path: str | None = None,
) -> dict[str, Any]:
    """Score a trained run on a labelled corpus with the run's thresholds and enforcement.

    Writes ``metrics.json`` and ``predictions.csv`` to ``out_dir``; returns the
    :func:`evaluate_predictions` report.
    """
    from imbalance_kit.app import load_json
    from imbalance_text.data import read_corpus
    from imbalance_text.inference import load_run, predict

    _, config, schema, thresholds = load_run(run_dir, model_path=model_path)
    corpus = read_corpus(data, schema, text_column=text_column, labels_column=labels_column)
    frame = predict(run_dir, corpus.texts, ids=corpus.ids, model_path=model_path)
    probs = frame[[f"prob:{n}" for n in schema.names]].to_numpy()
    saved = load_json(Path(run_dir) / "metrics.json")
    ev = config.evaluation
    report = evaluate_predictions(
        corpus.targets, probs, schema, thresholds=thresholds or 0.5,
        rare=saved["test"]["rare_labels"], enforce=ev.enforce_constraints, n_bins=ev.n_bins,
    )  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", report)
    for j, name in enumerate(schema.names):
        frame[f"true:{name}"] = corpus.targets[:, j].astype(np.int64)
    write_text(out / "predictions.csv", frame.to_csv(index=False))
    return report
