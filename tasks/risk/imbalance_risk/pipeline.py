"""End-to-end pipelines: ``demo`` (simulate -> prepare -> train -> evaluate) and the ablation.

Both skip every stage whose output already exists, so an interrupted run is
continued by running the same command again (training resumes from
``checkpoints/last.ckpt``).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import merge_mappings
from imbalance_risk.config import RiskConfig, apply_overrides
from imbalance_risk.labels import LabelConfig
from imbalance_risk.prepare import prepare_rollouts, settings_record, write_prepared
from imbalance_risk.rollouts import load_rollouts, save_rollouts
from imbalance_risk.simulate import SimulationConfig, simulate_rollouts

__all__ = [
    "ABLATION_VARIANTS",
    "DEMO_PRESETS",
    "ablation_config",
    "demo_config",
    "run_ablation",
    "run_demo",
]

#: Simulation size and training overrides of ``demo`` (``quick``) and ``demo`` without it.
DEMO_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "simulation": {"n_episodes": 160},
        "train": {
            "model": {"hidden_dims": [64, 64], "embed_dim": 32, "n_heads": 3},
            "data": {"batch_size": 512},
            "train": {"max_epochs": 6, "patience": 3},
            "evaluate": {"mc_samples": 10},
        },
    },
    "full": {
        "simulation": {"n_episodes": 600},
        "train": {},
    },
}

#: The ablation ladder: each variant's overrides of the default config.
ABLATION_VARIANTS: dict[str, dict[str, Any]] = {
    "mse_baseline": {"baseline": "mse"},
    "focal_only": {
        "loss": {
            "ttf": {"weight": 0.0},
            "uncertainty": {"weight": 0.0},
            "contrastive": {"weight": 0.0},
        },
        "imbalance": {"sampler": {"enabled": False}, "noise_oversample": {"enabled": False}},
    },
    "+sampler": {
        "loss": {
            "ttf": {"weight": 0.0},
            "uncertainty": {"weight": 0.0},
            "contrastive": {"weight": 0.0},
        },
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": False}},
    },
    "+noise_oversample": {
        "loss": {
            "ttf": {"weight": 0.0},
            "uncertainty": {"weight": 0.0},
            "contrastive": {"weight": 0.0},
        },
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": True}},
    },
    "+contrastive": {
        "loss": {"ttf": {"weight": 0.0}, "uncertainty": {"weight": 0.0}},
        "imbalance": {"sampler": {"enabled": True}, "noise_oversample": {"enabled": True}},
    },
    "full": {},
}

ABLATION_METRICS = (
    "auc",
    "ap",
    "balanced_accuracy",
    "recall_at_0.5",
    "ece",
    "per_dim_auc_mean",
    "ttf_mae_steps",
)


def demo_config(quick: bool, seed: int = 0, overrides: list[str] | None = None) -> RiskConfig:
    """The training config of ``demo`` (``configs/quick.yaml`` / ``configs/default.yaml``).

    Examples:
        >>> demo_config(quick=True).train.max_epochs
        6
    """
    preset = DEMO_PRESETS["quick" if quick else "full"]["train"]
    mapping = apply_overrides(merge_mappings(preset, {"seed": seed}), overrides or [])
    return RiskConfig.from_dict(mapping)


def ablation_config(variant: str, base: RiskConfig, seed: int) -> RiskConfig:
    """The config of one ablation variant on top of ``base``.

    Examples:
        >>> cfg = ablation_config("+sampler", RiskConfig(), seed=1)
        >>> cfg.imbalance.sampler.enabled, cfg.imbalance.noise_oversample.enabled, cfg.seed
        (True, False, 1)
    """
    if variant not in ABLATION_VARIANTS:
        raise ValueError(f"variant must be one of {list(ABLATION_VARIANTS)}, got {variant!r}")
    mapping = merge_mappings(base.to_dict(), ABLATION_VARIANTS[variant])
    mapping["seed"] = seed
    if mapping.get("baseline") == "mse":
        mapping["baseline"] = None
        return RiskConfig.from_dict(mapping).as_baseline()
    return RiskConfig.from_dict(mapping)


def _stage(name: str, done: bool, log: Callable[[str], None]) -> bool:
    if done:
        log(f"[{name}] output exists, skipped")
    return not done


def _simulate_and_prepare(
    out: Path, simulation: dict[str, Any], labels: LabelConfig, log: Callable[[str], None]
) -> Path:
    rollouts_path = out / "rollouts.npz"
    if _stage("simulate", rollouts_path.is_file(), log):
        start = time.perf_counter()
        rollouts = simulate_rollouts(SimulationConfig(**simulation))
        save_rollouts(rollouts, rollouts_path)
        log(
            f"[simulate] {rollouts.n_episodes} episodes, {rollouts.n_steps} steps, "
            f"{int((~rollouts.success).sum())} failed ({time.perf_counter() - start:.1f}s)"
        )
    prepared = out / "prepared"
    if _stage("prepare", (prepared / "prepared.npz").is_file(), log):
        data = prepare_rollouts(load_rollouts(rollouts_path), labels)
        summary = write_prepared(data, prepared, settings_record(labels, source=str(rollouts_path)))
        log(
            f"[prepare] {summary['n_steps']} steps, positive rate {summary['positive_rate']:.3f}, "
            "episodes per split: "
            f"{[summary['splits'][s]['n_episodes'] for s in ('train', 'val', 'test')]}"
        )
    return prepared


def _train_and_evaluate(
    config: RiskConfig,
    prepared: Path,
    run: Path,
    log: Callable[[str], None],
    progress_bar: bool,
    plots: bool = True,
) -> dict[str, Any]:
    from imbalance_risk.evaluate import evaluate_run
    from imbalance_risk.train import train

    name = run.name
    if _stage(f"train {name}", (run / "model.pt").is_file(), log):
        result = train(config, prepared, run, resume=True, progress_bar=progress_bar)
        log(
            f"[train {name}] {result.epochs} epochs, best {config.train.monitor} "
            f"{result.best_score:.3f} ({result.seconds:.1f}s)"
        )
    metrics_path = run / "metrics.json"
    if _stage(f"evaluate {name}", metrics_path.is_file(), log):
        return evaluate_run(run, prepared, plots=plots)
    return json.loads(metrics_path.read_text())


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run_demo(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: list[str] | None = None,
    progress_bar: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """simulate -> prepare -> train (risk model and MSE baseline) -> evaluate, in ``out_dir``.

    Args:
        out_dir: output folder: ``rollouts.npz``, ``prepared/``, ``run/`` (the risk
            model), ``baseline/`` (the MSE baseline), ``demo.json``.
        quick: the small preset (a few thousand steps, a few epochs).
        seed: training seed.
        overrides: ``section.key=value`` config overrides for the risk model.
        progress_bar: show Lightning's progress bars.
        log: where progress lines go.

    Returns:
        ``{"model": metrics, "baseline": metrics, "seconds": ...}``.

    Examples:
        The same as ``imbalance-risk demo --quick --out runs/risk-demo``; it takes about
        half a minute on a CPU, so only its preset is shown running here:

        >>> DEMO_PRESETS["quick"]["simulation"], demo_config(quick=True).train.max_epochs
        ({'n_episodes': 160}, 6)
        >>> result = run_demo("runs/risk-demo", quick=True)  # doctest: +SKIP
        >>> result["model"]["auc"], result["baseline"]["at_0.5"]["recall"]  # doctest: +SKIP
    """
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preset = DEMO_PRESETS["quick" if quick else "full"]
    prepared = _simulate_and_prepare(out, preset["simulation"], LabelConfig(), log)
    config = demo_config(quick, seed, overrides)
    model = _train_and_evaluate(config, prepared, out / "run", log, progress_bar)
    baseline = _train_and_evaluate(
        config.as_baseline(), prepared, out / "baseline", log, progress_bar
    )
    seconds = time.perf_counter() - start
    rows = [("MSE baseline", baseline), ("risk model", model)]
    log("")
    log(f"{'':14} {'AUC':>6} {'AP':>6} {'bal.acc':>8} {'recall@0.5':>11} {'ECE':>6}")
    for label, m in rows:
        log(
            f"{label:14} {_fmt(m['auc']):>6} {_fmt(m['ap']):>6} "
            f"{_fmt(m['balanced_accuracy']):>8} {_fmt(m['at_0.5']['recall']):>11} "
            f"{_fmt(m['ece']):>6}"
        )
    log("(bal.acc at the validation split's best-F1 threshold; recall of failures at a 0.5 cut)")
    log(f"\ntest positive rate {model['positive_rate']:.3f}; outputs in {out} ({seconds:.1f}s)")
    result = {"model": model, "baseline": baseline, "seconds": round(seconds, 2), "quick": quick}
    (out / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for variant in ABLATION_VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        if not mine:
            continue
        entry: dict[str, Any] = {"variant": variant, "n_seeds": len(mine)}
        for metric in ABLATION_METRICS:
            values = np.array([np.nan if r[metric] is None else r[metric] for r in mine], float)
            entry[f"{metric}_mean"] = (
                float(np.nanmean(values)) if np.isfinite(values).any() else None
            )
            entry[f"{metric}_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else None
        table.append(entry)
    return table


def _markdown(table: list[dict[str, Any]], seeds: list[int]) -> str:
    names = {
        "auc": "AUC",
        "ap": "AP",
        "balanced_accuracy": "Bal. acc.",
        "recall_at_0.5": "Recall @0.5",
        "ece": "ECE",
        "per_dim_auc_mean": "Per-dim AUC",
        "ttf_mae_steps": "TTF MAE (steps)",
    }
    head = "| Variant | " + " | ".join(names[m] for m in ABLATION_METRICS) + " |"
    lines = [head, "|" + "---|" * (len(ABLATION_METRICS) + 1)]
    for entry in table:
        cells = []
        for metric in ABLATION_METRICS:
            mean, std = entry[f"{metric}_mean"], entry[f"{metric}_std"]
            cells.append("n/a" if mean is None else f"{mean:.3f} ± {std:.3f}")
        lines.append(f"| {entry['variant']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean ± standard deviation over training seeds {seeds} (test split).")
    return "\n".join(lines) + "\n"


def run_ablation(
    out_dir: str | Path,
    *,
    seeds: list[int],
    n_episodes: int = 600,
    data_seed: int = 0,
    variants: list[str] | None = None,
    overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train and evaluate every ablation variant for every seed on one simulated data set.

    Writes ``ablation.csv`` (one row per run), ``ablation.json`` and
    ``ablation.md`` (mean ± std per variant) into ``out_dir``.

    Args:
        out_dir: output folder (runs in ``runs/<variant>_seed<k>``).
        seeds: training seeds.
        n_episodes: simulated episodes.
        data_seed: simulation seed.
        variants: subset of :data:`ABLATION_VARIANTS` (default: all).
        overrides: ``section.key=value`` overrides applied to every variant.
        log: where progress lines go.

    Returns:
        The summary table (one dict per variant).

    Examples:
        >>> import tempfile
        >>> table = run_ablation(
        ...     tempfile.mkdtemp(), seeds=[0], n_episodes=80, variants=["mse_baseline"],
        ...     overrides=["train.max_epochs=1", "evaluate.mc_samples=0"], log=lambda line: None,
        ... )
        >>> [row["variant"] for row in table], table[0]["n_seeds"]
        (['mse_baseline'], 1)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = _simulate_and_prepare(
        out, {"n_episodes": n_episodes, "seed": data_seed}, LabelConfig(), log
    )
    base = RiskConfig.from_dict(apply_overrides({}, overrides or []))
    chosen = variants or list(ABLATION_VARIANTS)
    rows = []
    for seed in seeds:
        for variant in chosen:
            config = ablation_config(variant, base, seed)
            run = out / "runs" / f"{variant.lstrip('+')}_seed{seed}"
            metrics = _train_and_evaluate(config, prepared, run, log, False, plots=False)
            dims = [v for v in metrics["per_dim_auc"] if v is not None]
            row = {"variant": variant, "seed": seed}
            row.update({m: metrics.get(m) for m in ("auc", "ap", "balanced_accuracy", "ece")})
            row["recall_at_0.5"] = metrics["at_0.5"]["recall"]
            row["per_dim_auc_mean"] = float(np.mean(dims)) if dims else None
            row["ttf_mae_steps"] = metrics.get("ttf_mae_steps")
            rows.append(row)
            log(f"[ablation] {variant} seed {seed}: AUC {_fmt(row['auc'])} AP {_fmt(row['ap'])}")
    with (out / "ablation.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = _summarise(rows)
    (out / "ablation.json").write_text(
        json.dumps({"rows": rows, "summary": table}, indent=2) + "\n"
    )
    (out / "ablation.md").write_text(_markdown(table, seeds))
    log(_markdown(table, seeds))
    return table
