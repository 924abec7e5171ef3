"""``imbalance-risk demo``: simulate -> prepare -> train (risk model and MSE baseline) -> evaluate.

Every stage skips its output when it is already there, so an interrupted demo is continued
by running the same command again (training resumes from ``checkpoints/last.ckpt``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imbalance_kit.app import format_table, merge_mappings, write_json
from imbalance_risk._stages import fmt, simulate_and_prepare, train_and_evaluate
from imbalance_risk.config import RiskConfig, load_config
from imbalance_risk.labels import LabelConfig

__all__ = ["DEMO_PRESETS", "demo_config", "run_demo"]

#: Simulation size and training overrides of ``demo --quick`` (``quick``) and ``demo`` (``full``).
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


def demo_config(
    quick: bool,
    seed: int = 0,
    overrides: Sequence[str] | None = None,
    source: str | Path | None = None,
) -> RiskConfig:
    """The training config of ``demo`` (the shipped ``quick`` / ``default`` configs).

    Args:
        quick: the ``--quick`` preset.
        seed: training seed.
        overrides: ``section.key=value`` strings, applied last.
        source: a config file or shipped config name merged onto the preset (``--config``).

    Examples:
        >>> demo_config(quick=True).train.max_epochs
        6
        >>> demo_config(quick=True, overrides=["train.max_epochs=2"]).train.max_epochs
        2
    """
    preset = DEMO_PRESETS["quick" if quick else "full"]["train"]
    return load_config(source, overrides, base=merge_mappings(preset, {"seed": seed}))


def run_demo(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: Sequence[str] | None = None,
    config: str | Path | None = None,
    progress_bar: bool = True,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """simulate -> prepare -> train (risk model and MSE baseline) -> evaluate, in ``out_dir``.

    Args:
        out_dir: output folder: ``rollouts.npz``, ``prepared/``, ``run/`` (the risk
            model), ``baseline/`` (the MSE baseline), ``demo.json``.
        quick: the small preset (a few thousand steps, a few epochs).
        seed: training seed.
        overrides: ``section.key=value`` config overrides for the risk model.
        config: a config file or shipped config name (``--config``) merged onto the preset.
        progress_bar: show a progress bar per training.
        verbose: show Lightning's own output.
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
    train_config = demo_config(quick, seed, overrides, config)
    preset = DEMO_PRESETS["quick" if quick else "full"]
    prepared = simulate_and_prepare(out, preset["simulation"], LabelConfig(), log)
    model = train_and_evaluate(
        train_config, prepared, out / "run", log, progress_bar, verbose=verbose
    )
    baseline = train_and_evaluate(
        train_config.as_baseline(), prepared, out / "baseline", log, progress_bar, verbose=verbose
    )
    seconds = time.perf_counter() - start
    rows = [
        [
            label,
            fmt(m["auc"]),
            fmt(m["ap"]),
            fmt(m["balanced_accuracy"]),
            fmt(m["at_0.5"]["recall"]),
            fmt(m["ece"]),
        ]
        for label, m in (("MSE baseline", baseline), ("risk model", model))
    ]
    log("")
    log(format_table(["", "AUC", "AP", "bal.acc", "recall@0.5", "ECE"], rows))
    log("(bal.acc at the validation split's best-F1 threshold; recall of failures at a 0.5 cut)")
    log(f"\ntest positive rate {model['positive_rate']:.3f}; outputs in {out} ({seconds:.1f}s)")
    result = {"model": model, "baseline": baseline, "seconds": round(seconds, 2), "quick": quick}
    write_json(out / "demo.json", result)
    return result
