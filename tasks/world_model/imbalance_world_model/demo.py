"""``demo``: the stages chained in a run folder.

The stages are functions of their modules: ``stage_simulate`` (:mod:`.simulate`),
``stage_train_world_model``, ``stage_train_trust``, ``stage_train_policy`` (:mod:`.train`),
``stage_generate`` (:mod:`.generate`) and ``stage_gate`` (:mod:`.gates`).

Run folder of ``demo`` (a stage whose output exists is skipped, so an interrupted demo
continues when run again)::

    OUT/config.yaml                 the resolved config
    OUT/data/real.npz               real episodes (meta: split_test, brick, economic metrics)
    OUT/data/bricks.json            brick manifest with value profiles
    OUT/world_model/model.pt        world model (+ summary.json, logs/)
    OUT/data/synthetic.npz          synthetic episodes
    OUT/trust/model.pt              trust net (+ metrics.json)
    OUT/gate/scores.npz             p(real) and bounds-filter result per episode (+ summary.json)
    OUT/policies/<mix>/model.pt     real_only, fixed_share, trust_weighted (+ summary.json)
    OUT/metrics.json, OUT/plots/*.png
    OUT/predictions.csv             per scored episode: source, p(real), bounds, gate, weight
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from imbalance_kit.app import write_json, write_text
from imbalance_world_model.config import WMConfig, load_config, shipped_config
from imbalance_world_model.evaluate import evaluate_run, print_report
from imbalance_world_model.gates import stage_gate
from imbalance_world_model.generate import stage_generate
from imbalance_world_model.simulate import stage_simulate
from imbalance_world_model.train import (
    MIXES,
    stage_train_policy,
    stage_train_trust,
    stage_train_world_model,
)

__all__ = ["TINY_OVERRIDES", "demo_config", "run_demo"]

Log = Callable[[str], None]


#: ``--set`` overrides of a run that takes a few seconds (examples and tests).
TINY_OVERRIDES: list[str] = [
    "simulate.n_episodes=12",
    "simulate.horizon=8",
    "simulate.n_bricks=2",
    "world_model.hidden_dim=4",
    "wm_train.epochs=1",
    "trust.hidden_dim=4",
    "trust.epochs=1",
    "policy.hidden_dim=4",
    "policy.epochs=1",
]


def demo_config(
    quick: bool,
    seed: int | None = 0,
    overrides: list[str] | None = None,
    path: str | Path | None = None,
) -> WMConfig:
    """The config of ``demo``, built in layers.

    The quick preset (the shipped ``configs/quick.yaml``, when ``quick``), then the YAML
    config ``path`` (a file or a shipped name), then ``seed`` (``None`` keeps the file's seed),
    then the ``section.key=value`` overrides.

    Examples:
        >>> demo_config(quick=True).simulate.n_episodes
        120
        >>> cfg = demo_config(quick=True, seed=3, overrides=["simulate.n_episodes=50"])
        >>> cfg.simulate.n_episodes, cfg.seed, cfg.wm_train.epochs
        (50, 3, 20)
    """
    first = [] if seed is None else [f"seed={seed}"]
    base = shipped_config("quick") if quick else None
    return load_config(path, [*first, *(overrides or [])], base=base)


def _stage(name: str, output: Path, log: Log) -> bool:
    if output.exists():
        log(f"[{name}] {output} exists, skipped")
        return False
    return True


def run_demo(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: list[str] | None = None,
    config: WMConfig | None = None,
    progress_bar: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """simulate -> world model -> generate -> trust net -> gate -> 3 policies -> evaluate.

    Args:
        out_dir: run folder (layout above); finished stages are skipped.
        quick: the small preset (``configs/quick.yaml``).
        seed: training seed (``config.seed``).
        overrides: ``section.key=value`` overrides.
        config: a full config instead of ``quick`` / ``seed`` / ``overrides``.
        progress_bar: Lightning progress bars.
        log: where progress lines go.

    Returns:
        The metrics (also in ``OUT/metrics.json``) plus ``seconds``.

    Examples:
        ``run_demo("runs/wm-demo", quick=True)`` is ``imbalance-world-model demo --quick``; a
        tiny run:

        >>> import tempfile
        >>> cfg = demo_config(False, 0, TINY_OVERRIDES)
        >>> metrics = run_demo(tempfile.mkdtemp(), config=cfg, log=lambda line: None)
        >>> sorted(metrics["policies"]), metrics["policies"]["fixed_share"]["synthetic_share"]
        (['fixed_share', 'real_only', 'trust_weighted'], 0.1)
    """
    start = time.perf_counter()
    cfg = config if config is not None else demo_config(quick, seed, overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.yaml"
    if config_path.is_file():
        saved = WMConfig.from_dict(yaml.safe_load(config_path.read_text()))
        if saved != cfg:
            raise ValueError(f"{out} holds a run with another config: use a new --out folder")
    else:
        write_text(config_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    real, syn = out / "data/real.npz", out / "data/synthetic.npz"
    stages: list[tuple[str, Path, Callable[[], Any]]] = [
        ("simulate", real, lambda: stage_simulate(cfg, real)),
        (
            "train-world-model",
            out / "world_model/model.pt",
            lambda: stage_train_world_model(
                cfg, real, out / "world_model", progress_bar=progress_bar
            ),
        ),
        ("generate", syn, lambda: stage_generate(cfg, out / "world_model/model.pt", real, syn)),
        (
            "train-trust",
            out / "trust/model.pt",
            lambda: stage_train_trust(cfg, real, syn, out / "trust", progress_bar=progress_bar),
        ),
        (
            "gate",
            out / "gate/scores.npz",
            lambda: stage_gate(cfg, out / "trust/model.pt", real, syn, out / "gate/scores.npz"),
        ),
    ]
    for mix in MIXES:
        stages.append(
            (
                f"train-policy {mix}",
                out / "policies" / mix / "model.pt",
                lambda mix=mix: stage_train_policy(
                    cfg,
                    mix,
                    real,
                    syn,
                    out / "gate/scores.npz",
                    out / "policies" / mix,
                    progress_bar=progress_bar,
                ),
            )
        )
    for name, output, run in stages:
        if _stage(name, output, log):
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed)
            run()
            log(f"[{name}] done ({time.perf_counter() - t0:.1f}s)")
    metrics = evaluate_run(out)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_json(out / "metrics.json", metrics)
    print_report(metrics, log)
    return metrics
