"""The variant x seed study: loss set-ups from plain BCE to weighted focal + constraints.

The corpus is split and embedded once; each variant trains its head (several
seeds) on the same cached embeddings, tunes thresholds on validation and is
scored on test. Variants are config overrides (:data:`VARIANTS`):

========================= ===== ============================ ======= ===========
variant                   gamma pos_weight                   lambda  enforcement
========================= ===== ============================ ======= ===========
``bce``                   0     none                         0       no
``weighted_bce``          0     custom + automatic (capped)  0       no
``focal``                 2     none                         0       no
``weighted_focal``        2     custom + automatic (capped)  0       no
``weighted_focal_constr`` 2     custom + automatic (capped)  0.5     yes
========================= ===== ============================ ======= ===========

The table is :func:`imbalance_kit.app.summarise_study` over the runs (mean and
sample standard deviation over seeds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L

from imbalance_kit.app import (
    markdown_table,
    set_threads,
    study_table,
    summarise_study,
    write_json,
    write_text,
)
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.evaluate import evaluate_stage
from imbalance_text.train import embed_corpora, open_run, prepare_splits, train_stage

__all__ = ["COLUMNS", "VARIANTS", "format_table", "run_study"]

_OFF = ["loss.weights=none", "loss.use_custom_weights=false"]
_ON = ["loss.weights=positive", "loss.use_custom_weights=true"]
_RAW = ["loss.constraint_lambda=0", "evaluation.enforce_constraints=false"]

#: name -> config overrides of each compared set-up.
VARIANTS: dict[str, list[str]] = {
    "bce": ["loss.focal_gamma=0", *_OFF, *_RAW],
    "weighted_bce": ["loss.focal_gamma=0", *_ON, *_RAW],
    "focal": ["loss.focal_gamma=2", *_OFF, *_RAW],
    "weighted_focal": ["loss.focal_gamma=2", *_ON, *_RAW],
    "weighted_focal_constr": [
        "loss.focal_gamma=2",
        *_ON,
        "loss.constraint_lambda=0.5",
        "evaluation.enforce_constraints=true",
    ],  # fmt: skip
}

#: metric key of a run row -> (column title, metrics part, report key).
COLUMNS: dict[str, tuple[str, str, str]] = {
    "rare_recall": ("rare recall", "test", "rare_recall"),
    "rare_recall_at_0.5": ("rare recall @0.5", "test_at_0.5", "rare_recall"),
    "secondary_f1": ("secondary macro-F1", "test", "secondary_f1_macro"),
    "secondary_precision": ("secondary precision", "test", "secondary_precision_macro"),
    "pr_auc_macro": ("PR-AUC macro", "test", "pr_auc_macro"),
    "violations_model": ("violations (model)", "test", "violation_rate_before"),
    "violations_output": ("violations (output)", "test", "violation_rate_after"),
}
#: the columns printed on the terminal (the Markdown table has them all).
TERMINAL = ("rare_recall", "secondary_f1", "secondary_precision", "violations_output")


def run_study(
    config: TextConfig,
    out_dir: str | os.PathLike[str],
    *,
    variants: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    resume: bool = True,
    log: Callable[[str], None] | None = None,
    verbose: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and score every variant with every seed on one split; write ``study.json`` / ``.md``.

    The split uses ``config.training.seed``; the seeds vary the head's
    initialisation and batch order. Frozen-encoder mode only (embeddings are
    shared between runs). Running it again on the same folder reuses the finished runs
    and continues an interrupted one (as :func:`imbalance_text.train.run_pipeline`).

    Args:
        config: the base configuration (data, model, training).
        out_dir: output folder; each run goes to ``runs/<variant>-s<seed>``.
        variants: names from :data:`VARIANTS` (default: all, in order).
        seeds: training seeds.
        resume: reuse what the folder holds (``False``: start over).
        log: receives progress lines.
        verbose: show Lightning's own output.
        progress: a progress bar while the texts are embedded.

    Returns:
        ``{"summary": [...], "rows": [one per run], "seeds", "n_train", "n_val", "n_test",
        "rare_labels", "per_label": {variant: {label: {precision, recall, f1}}}}``.

    Raises:
        ValueError: an unknown variant, or fine-tune mode.
    """
    set_threads(config.training.threads)
    say = log or (lambda _m: None)
    out = Path(out_dir)
    names = list(variants) if variants is not None else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {list(VARIANTS)}, got {unknown}")
    if config.model.mode != "frozen":
        raise ValueError(f"study needs model.mode 'frozen', got {config.model.mode!r}")
    resume = open_run(config, out, resume, say)
    schema, train, val, test = prepare_splits(config, out, resume, say)
    say(f"splits: train {len(train)}, val {len(val)}, test {0 if test is None else len(test)}")
    datasets, in_dim = embed_corpora(config, [train, val, test], out, say, progress)
    rows: list[dict[str, Any]] = []
    reports: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        reports[name] = []
        for seed in seeds:
            cfg = apply_overrides(config, [*VARIANTS[name], f"training.seed={seed}"])
            run = out / "runs" / f"{name}-s{seed}"
            run.mkdir(parents=True, exist_ok=True)
            L.seed_everything(seed, workers=True, verbose=False)
            t0 = time.perf_counter()
            module = train_stage(
                cfg, schema, train, datasets, in_dim, run, resume=resume, progress=False,
                verbose=verbose,
            )  # fmt: skip
            metrics = evaluate_stage(
                cfg, schema, module, datasets, train, val, test, run, plots=False
            )
            (run / "best.ckpt").unlink(missing_ok=True)
            (run / "last.ckpt").unlink(missing_ok=True)
            reports[name].append(metrics["test"])
            row: dict[str, Any] = {"variant": name, "seed": seed}
            for key, (_, part, report_key) in COLUMNS.items():
                row[key] = metrics[part][report_key]
            rows.append(row)
            say(f"{name} seed {seed}: rare recall {row['rare_recall']}, "
                f"secondary F1 {row['secondary_f1']:.3f} "
                f"({time.perf_counter() - t0:.1f}s)")  # fmt: skip
    summary = summarise_study(rows, list(COLUMNS), order=names)
    result = {
        "summary": summary,
        "rows": rows,
        "seeds": list(seeds),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": 0 if test is None else len(test),
        "rare_labels": reports[names[0]][0]["rare_labels"],
        "per_label": {
            name: {
                label: {
                    k: _mean([r["per_label"][label][k] for r in reports[name]])
                    for k in ("precision", "recall", "f1")
                }
                for label in schema.secondary_names
            }
            for name in names
        },
    }
    write_json(out / "study.json", result)
    write_text(out / "study.md", format_table(result) + "\n")
    return result


def _mean(values: Sequence[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return sum(clean) / len(clean) if clean else None


def format_table(result: dict[str, Any], columns: Sequence[str] | None = None) -> str:
    """Markdown table of :func:`run_study` (mean ± std over seeds).

    Examples:
        >>> rows = [{"variant": "bce", "rare_recall": 0.1}, {"variant": "bce", "rare_recall": 0.2}]
        >>> from imbalance_kit.app import summarise_study
        >>> print(format_table({"summary": summarise_study(rows, ["rare_recall"])},
        ...                    ["rare_recall"]))
        | variant | rare recall |
        |:--|--:|
        | bce | 0.150 ± 0.071 |
    """
    keys = list(columns) if columns is not None else list(COLUMNS)
    head, body = study_table(result["summary"], {k: COLUMNS[k][0] for k in keys})
    return markdown_table(head, body)
