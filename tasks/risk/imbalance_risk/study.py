"""``imbalance-risk study`` (alias ``ablation``): every variant x seed on one data set.

The variants form a ladder from the MSE baseline of the field report to the full model,
each adding one technique; every variant trains with every seed and is evaluated on the
test episodes. Runs already finished are reused, so an interrupted study continues when the
same command runs again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import (
    format_table,
    markdown_table,
    merge_mappings,
    study_table,
    summarise_study,
    write_csv,
    write_json,
    write_text,
)
from imbalance_risk._stages import fmt, simulate_and_prepare, train_and_evaluate
from imbalance_risk.config import RiskConfig, load_config
from imbalance_risk.labels import LabelConfig

__all__ = ["STUDY_COLUMNS", "STUDY_VARIANTS", "run_study", "study_config"]

_NO_AUX = {"ttf": {"weight": 0.0}, "uncertainty": {"weight": 0.0}}

#: The variant ladder: each variant's overrides of the base config.
STUDY_VARIANTS: dict[str, dict[str, Any]] = {
    "mse_baseline": {"baseline": "mse"},
    "focal_only": {
        "loss": {**_NO_AUX, "contrastive": {"weight": 0.0}},
        "imbalance": {"sampler": {"enabled": False}, "noise_oversample": {"enabled": False}},
    },
    "+sampler": {
        "loss": {**_NO_AUX, "contrastive": {"weight": 0.0}},
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": False}},
    },
    "+noise_oversample": {
        "loss": {**_NO_AUX, "contrastive": {"weight": 0.0}},
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": True}},
    },
    "+contrastive": {
        "loss": dict(_NO_AUX),
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": True}},
    },
    "full": {},
}

#: Metric key -> column title of the study table.
STUDY_COLUMNS: dict[str, str] = {
    "auc": "AUC",
    "ap": "AP",
    "balanced_accuracy": "Bal. acc.",
    "recall_at_0.5": "Recall @0.5",
    "ece": "ECE",
    "ece_calibrated": "ECE cal.",
    "per_dim_auc_mean": "Per-dim AUC",
    "ttf_mae_steps": "TTF MAE (steps)",
}
_HIGHER = {"auc": True, "ap": True, "balanced_accuracy": True, "per_dim_auc_mean": True}


def study_config(variant: str, base: RiskConfig, seed: int) -> RiskConfig:
    """The config of one study variant on top of ``base``.

    Examples:
        >>> cfg = study_config("+sampler", RiskConfig(), seed=1)
        >>> cfg.imbalance.sampler.enabled, cfg.imbalance.noise_oversample.enabled, cfg.seed
        (True, False, 1)
    """
    if variant not in STUDY_VARIANTS:
        raise ValueError(f"variant must be one of {list(STUDY_VARIANTS)}, got {variant!r}")
    mapping = merge_mappings(base.to_dict(), STUDY_VARIANTS[variant])
    mapping["seed"] = seed
    if mapping.get("baseline") == "mse":
        mapping["baseline"] = None
        return RiskConfig.from_dict(mapping).as_baseline()
    return RiskConfig.from_dict(mapping)


def _row(variant: str, seed: int, metrics: dict[str, Any]) -> dict[str, Any]:
    dims = [v for v in metrics["per_dim_auc"] if v is not None]
    row: dict[str, Any] = {"variant": variant, "seed": seed}
    row.update({m: metrics.get(m) for m in ("auc", "ap", "balanced_accuracy", "ece")})
    row["ece_calibrated"] = metrics.get("ece_calibrated")
    row["recall_at_0.5"] = metrics["at_0.5"]["recall"]
    row["per_dim_auc_mean"] = float(np.mean(dims)) if dims else None
    row["ttf_mae_steps"] = metrics.get("ttf_mae_steps")
    return row


def run_study(
    out_dir: str | Path,
    *,
    seeds: Sequence[int],
    n_episodes: int = 600,
    data_seed: int = 0,
    variants: Sequence[str] | None = None,
    overrides: Sequence[str] | None = None,
    config: str | Path | None = None,
    rollouts: str | Path | None = None,
    allow_pickle: bool = False,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train and evaluate every variant for every seed on one data set.

    The data set is simulated (``n_episodes``, ``data_seed``), or read from ``rollouts``, a
    file in the rollout format (such as ``imbalance-risk convert-gym`` writes).

    Writes ``study.csv`` (one row per run), ``study.json`` and ``study.md`` (mean ±
    sample standard deviation per variant) into ``out_dir``.

    Args:
        out_dir: output folder (runs in ``runs/<variant>_seed<k>``).
        seeds: training seeds.
        n_episodes: simulated episodes (without ``rollouts``).
        data_seed: simulation seed (without ``rollouts``).
        variants: subset of :data:`STUDY_VARIANTS` (default: all).
        overrides: ``section.key=value`` overrides applied to every variant.
        config: base config file or shipped config name (``--config``).
        rollouts: the user's rollouts instead of the simulator's.
        allow_pickle: read legacy pickles / per-episode object arrays (trusted files only).
        verbose: show Lightning's own output.
        log: where progress lines go.

    Returns:
        The summary (one dict per variant, from :func:`imbalance_kit.app.summarise_study`).

    Examples:
        >>> import tempfile
        >>> summary = run_study(
        ...     tempfile.mkdtemp(), seeds=[0], n_episodes=80, variants=["mse_baseline"],
        ...     overrides=["train.max_epochs=1", "evaluate.mc_samples=0"], log=lambda line: None,
        ... )
        >>> [row["variant"] for row in summary], summary[0]["n_runs"]
        (['mse_baseline'], 1)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(variants or STUDY_VARIANTS)
    unknown = [v for v in chosen if v not in STUDY_VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {list(STUDY_VARIANTS)}, got {unknown}")
    base = load_config(config, overrides)
    prepared = simulate_and_prepare(
        out,
        {"n_episodes": n_episodes, "seed": data_seed},
        LabelConfig(),
        log,
        rollouts=None if rollouts is None else Path(rollouts),
        allow_pickle=allow_pickle,
    )
    rows = []
    for seed in seeds:
        for variant in chosen:
            run = out / "runs" / f"{variant.lstrip('+')}_seed{seed}"
            metrics = train_and_evaluate(
                study_config(variant, base, seed),
                prepared,
                run,
                log,
                False,
                plots=False,
                verbose=verbose,
            )
            row = _row(variant, seed, metrics)
            rows.append(row)
            log(f"[study] {variant} seed {seed}: AUC {fmt(row['auc'])} AP {fmt(row['ap'])}")
    write_csv(out / "study.csv", rows)
    summary = summarise_study(rows, list(STUDY_COLUMNS), order=chosen)
    write_json(out / "study.json", {"rows": rows, "summary": summary})
    head, cells = study_table(summary, STUDY_COLUMNS, title="Variant", higher_is_better=_HIGHER)
    note = f"Mean ± sample standard deviation over training seeds {list(seeds)} (test split)."
    write_text(out / "study.md", markdown_table(head, cells) + f"\n\n{note}\n")
    short = {
        "auc": "AUC",
        "ap": "AP",
        "balanced_accuracy": "BalAcc",
        "recall_at_0.5": "Rec@.5",
        "ece": "ECE",
        "ece_calibrated": "ECEcal",
        "per_dim_auc_mean": "DimAUC",
        "ttf_mae_steps": "TTF",
    }
    head, cells = study_table(summary, short, title="Variant", stacked=True)
    log(format_table(head, cells))
    log(note)
    return summary
