"""The stages that ``demo`` and ``study`` chain, each skipped when its output is already there.

A stage is skipped only when its output is complete and loads: the rollouts and the prepared
data set are read back, ``model.pt`` and ``train_summary.json`` are loaded, and the
evaluation's ``metrics.json`` lists the checksums of the files written before it. A damaged
output is reported in one line and its stage is run again; training resumes from
``checkpoints/last.ckpt`` (from the first epoch when that checkpoint is itself damaged).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imbalance_kit.app import DamagedFileError, load_json, load_torch
from imbalance_risk.config import RiskConfig
from imbalance_risk.labels import LabelConfig
from imbalance_risk.prepare import prepare_rollouts, settings_record, write_prepared
from imbalance_risk.rollouts import load_rollouts, save_rollouts
from imbalance_risk.simulate import SimulationConfig, simulate_rollouts

Log = Callable[[str], None]


def _needed(name: str, check: Callable[[], Any], log: Log) -> bool:
    """Whether stage ``name`` must run: its output is missing, or ``check`` finds it damaged."""
    try:
        check()
    except FileNotFoundError:
        return True
    except (DamagedFileError, ValueError) as exc:
        log(f"[{name}] damaged output, running the stage again: {exc}")
        return True
    log(f"[{name}] output exists, skipped")
    return False


def simulate_and_prepare(
    out: Path,
    simulation: dict[str, Any],
    labels: LabelConfig,
    log: Log,
    rollouts: Path | None = None,
    allow_pickle: bool = False,
) -> Path:
    """Write ``out/rollouts.npz`` (simulated) and ``out/prepared/``; return the latter.

    With ``rollouts`` (a file in the rollout format) nothing is simulated: that file is
    prepared instead.
    """
    from imbalance_risk.data import load_prepared

    rollouts_path = out / "rollouts.npz" if rollouts is None else Path(rollouts)
    if rollouts is None and _needed("simulate", lambda: load_rollouts(rollouts_path), log):
        start = time.perf_counter()
        rollouts = simulate_rollouts(SimulationConfig(**simulation))
        save_rollouts(rollouts, rollouts_path)
        log(
            f"[simulate] {rollouts.n_episodes} episodes, {rollouts.n_steps} steps, "
            f"{int((~rollouts.success).sum())} failed ({time.perf_counter() - start:.1f}s)"
        )
    prepared = out / "prepared"

    def prepared_ok() -> None:
        load_prepared(prepared)
        source = load_json(prepared / "summary.json").get("settings", {}).get("source")
        if source != str(rollouts_path):
            raise FileNotFoundError(prepared)  # prepared from another file: prepare again

    if _needed("prepare", prepared_ok, log):
        data = prepare_rollouts(load_rollouts(rollouts_path, allow_pickle=allow_pickle), labels)
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
    verbose: bool = False,
) -> dict[str, Any]:
    """Train into ``run`` (resuming), then evaluate on the test split; returns the metrics."""
    from imbalance_risk.evaluate import check_outputs, evaluate_run
    from imbalance_risk.train import train

    name = run.name

    def trained_ok() -> None:
        load_torch(run / "model.pt", what="model")
        load_json(run / "train_summary.json")

    if _needed(f"train {name}", trained_ok, log):
        try:
            result = train(
                config, prepared, run, resume=True, progress_bar=progress_bar, verbose=verbose
            )
        except DamagedFileError as exc:
            log(f"[train {name}] {exc}")
            log(f"[train {name}] training from the first epoch")
            result = train(
                config, prepared, run, restart=True, progress_bar=progress_bar, verbose=verbose
            )
        score = "n/a" if result.best_score is None else f"{result.best_score:.3f}"
        log(
            f"[train {name}] {result.epochs} epochs, best {config.train.monitor} "
            f"{score} ({result.seconds:.1f}s)"
        )
    metrics: dict[str, Any] = {}

    def evaluated_ok() -> None:
        metrics.update(check_outputs(run))

    if _needed(f"evaluate {name}", evaluated_ok, log):
        return evaluate_run(run, prepared, plots=plots)
    return metrics


def fmt(value: Any) -> str:
    """Three decimals, or ``n/a``."""
    return "n/a" if value is None else f"{value:.3f}"
