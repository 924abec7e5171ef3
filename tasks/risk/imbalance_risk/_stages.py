"""The stages that ``demo`` and ``study`` chain, each skipped when its output is already there.

A stage whose output exists is skipped, so an interrupted ``demo`` or ``study`` continues
when the same command runs again (training resumes from ``checkpoints/last.ckpt``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imbalance_kit.app import load_json
from imbalance_risk.config import RiskConfig
from imbalance_risk.labels import LabelConfig
from imbalance_risk.prepare import prepare_rollouts, settings_record, write_prepared
from imbalance_risk.rollouts import load_rollouts, save_rollouts
from imbalance_risk.simulate import SimulationConfig, simulate_rollouts

Log = Callable[[str], None]


def _needed(name: str, done: bool, log: Log) -> bool:
    if done:
        log(f"[{name}] output exists, skipped")
    return not done


def simulate_and_prepare(
    out: Path, simulation: dict[str, Any], labels: LabelConfig, log: Log
) -> Path:
    """Write ``out/rollouts.npz`` (simulated) and ``out/prepared/``; return the latter."""
    rollouts_path = out / "rollouts.npz"
    if _needed("simulate", rollouts_path.is_file(), log):
        start = time.perf_counter()
        rollouts = simulate_rollouts(SimulationConfig(**simulation))
        save_rollouts(rollouts, rollouts_path)
        log(
            f"[simulate] {rollouts.n_episodes} episodes, {rollouts.n_steps} steps, "
            f"{int((~rollouts.success).sum())} failed ({time.perf_counter() - start:.1f}s)"
        )
    prepared = out / "prepared"
    if _needed("prepare", (prepared / "prepared.npz").is_file(), log):
        data = prepare_rollouts(load_rollouts(rollouts_path), labels)
        summary = write_prepared(data, prepared, settings_record(labels, source=str(rollouts_path)))
        log(
            f"[prepare] {summary['n_steps']} steps, positive rate {summary['positive_rate']:.3f}, "
            "episodes per split: "
            f"{[summary['splits'][s]['n_episodes'] for s in ('train', 'val', 'test')]}"
        )
    return prepared


def train_and_evaluate(
    config: RiskConfig,
    prepared: Path,
    run: Path,
    log: Log,
    progress_bar: bool,
    plots: bool = True,
) -> dict[str, Any]:
    """Train into ``run`` (resuming), then evaluate on the test split; returns the metrics."""
    from imbalance_risk.evaluate import evaluate_run
    from imbalance_risk.train import train

    name = run.name
    if _needed(f"train {name}", (run / "model.pt").is_file(), log):
        result = train(config, prepared, run, resume=True, progress_bar=progress_bar)
        score = "n/a" if result.best_score is None else f"{result.best_score:.3f}"
        log(
            f"[train {name}] {result.epochs} epochs, best {config.train.monitor} "
            f"{score} ({result.seconds:.1f}s)"
        )
    metrics_path = run / "metrics.json"
    if _needed(f"evaluate {name}", metrics_path.is_file(), log):
        return evaluate_run(run, prepared, plots=plots)
    return load_json(metrics_path)


def fmt(value: Any) -> str:
    """Three decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value:.3f}"
