"""Compare loss set-ups on one corpus: plain BCE up to weighted focal + constraints.

The corpus is split and embedded once; each variant trains its head (several
seeds) on the same cached embeddings, tunes thresholds on validation and is
scored on test. Variants are config overrides (:data:`VARIANTS`):

======================== ===== ============================ ======= ===========
variant                  gamma pos_weight                   lambda  enforcement
======================== ===== ============================ ======= ===========
``bce``                  0     none                         0       no
``weighted_bce``         0     custom + automatic (capped)  0       no
``focal``                2     none                         0       no
``weighted_focal``       2     custom + automatic (capped)  0       no
``weighted_focal_constr`` 2    custom + automatic (capped)  0.5     yes
======================== ===== ============================ ======= ===========
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from imbalance_text._runtime import torch_threads
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.pipeline import _datasets, _fit, evaluate_stage, prepare_splits

__all__ = ["VARIANTS", "compare_variants", "format_table"]

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

# (column title, metrics key, report key)
_COLUMNS = [
    ("rare recall", "test", "rare_recall"),
    ("rare recall @0.5", "test_at_0.5", "rare_recall"),
    ("secondary macro-F1", "test", "secondary_f1_macro"),
    ("secondary precision", "test", "secondary_precision_macro"),
    ("PR-AUC macro", "test", "pr_auc_macro"),
    ("violations (model)", "test", "violation_rate_before"),
    ("violations (output)", "test", "violation_rate_after"),
]


def _mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return math.nan, math.nan
    return float(np.mean(clean)), float(np.std(clean))


def compare_variants(
    config: TextConfig,
    out_dir: str | os.PathLike[str],
    *,
    variants: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and score every variant with every seed on one split; write ``compare.json`` / ``.md``.

    The split uses ``config.training.seed``; the seeds vary the head's
    initialisation and batch order. Frozen-encoder mode only (embeddings are
    shared between runs).

    Args:
        config: the base configuration (data, model, training).
        out_dir: output folder; each run goes to ``runs/<variant>-s<seed>``.
        variants: names from :data:`VARIANTS` (default: all, in order).
        seeds: training seeds.
        log: receives progress lines.

    Returns:
        ``{"rows": {variant: {column: [mean, std]}}, "runs": {...}, "seeds": [...]}``.

    Raises:
        ValueError: an unknown variant, or fine-tune mode.
    """
    with torch_threads(config.training.threads):
        return _compare(config, Path(out_dir), variants, seeds, log or (lambda _m: None))


def _compare(
    config: TextConfig,
    out: Path,
    variants: Sequence[str] | None,
    seeds: Sequence[int],
    say: Callable[[str], None],
) -> dict[str, Any]:
    names = list(variants) if variants is not None else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {list(VARIANTS)}, got {unknown}")
    if config.model.mode != "frozen":
        raise ValueError(f"compare needs model.mode 'frozen', got {config.model.mode!r}")
    out.mkdir(parents=True, exist_ok=True)
    schema, train, val, test = prepare_splits(config, out)
    say(f"splits: train {len(train)}, val {len(val)}, test {0 if test is None else len(test)}")
    datasets, in_dim = _datasets(config, [train, val, test], out, say)
    runs: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        runs[name] = []
        for seed in seeds:
            cfg = apply_overrides(config, [*VARIANTS[name], f"training.seed={seed}"])
            run = out / "runs" / f"{name}-s{seed}"
            run.mkdir(parents=True, exist_ok=True)
            L.seed_everything(seed, workers=True, verbose=False)
            t0 = time.perf_counter()
            module = _fit(cfg, schema, train, datasets, in_dim, run, False, False)
            metrics = evaluate_stage(
                cfg, schema, module, datasets, train, val, test, run, plots=False
            )
            (run / "best.ckpt").unlink(missing_ok=True)
            (run / "last.ckpt").unlink(missing_ok=True)
            runs[name].append(metrics)
            say(f"{name} seed {seed}: rare recall {metrics['test']['rare_recall']}, "
                f"secondary F1 {metrics['test']['secondary_f1_macro']:.3f} "
                f"({time.perf_counter() - t0:.1f}s)")  # fmt: skip
    rows = {
        name: {
            title: list(_mean_std([m[part][key] for m in runs[name]]))
            for title, part, key in _COLUMNS
        }
        for name in names
    }
    result = {
        "rows": rows,
        "seeds": list(seeds),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": 0 if test is None else len(test),
        "rare_labels": runs[names[0]][0]["test"]["rare_labels"],
        "per_label_recall": {
            name: {
                label: _mean_std([m["test"]["per_label"][label]["recall"] for m in runs[name]])[0]
                for label in schema.secondary_names
            }
            for name in names
        },
    }
    (out / "compare.json").write_text(json.dumps(result, indent=2, allow_nan=True))
    (out / "compare.md").write_text(format_table(result) + "\n")
    return result


def format_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`compare_variants` (mean ± std over seeds).

    Examples:
        >>> print(format_table({"rows": {"bce": {"rare recall": [0.1, 0.05]}}}))
        | variant | rare recall |
        |---|---|
        | bce | 0.100 ± 0.050 |
    """
    rows = result["rows"]
    titles = list(next(iter(rows.values())))
    lines = ["| variant | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
    for name, row in rows.items():
        cells = []
        for title in titles:
            mean, std = row[title]
            cells.append("n/a" if math.isnan(mean) else f"{mean:.3f} ± {std:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
