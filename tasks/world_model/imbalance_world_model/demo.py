"""``demo``: the stages chained in a run folder.

The stages are functions of their modules: ``stage_simulate`` (:mod:`.simulate`),
``stage_train_world_model``, ``stage_train_trust``, ``stage_train_policy`` (:mod:`.train`),
``stage_generate`` (:mod:`.generate`) and ``stage_gate`` (:mod:`.gates`).

Run folder of ``demo`` (a stage whose outputs exist and load is skipped, so an interrupted
demo continues when run again; a training stage killed midway resumes from its last finished
epoch)::

    OUT/config.yaml                 the resolved config
    OUT/data/real.npz               real episodes (meta: split_test, brick, economic metrics)
    OUT/data/bricks.json            brick manifest with value profiles
    OUT/world_model/model.pt        world model (+ summary.json, logs/, checkpoints/)
    OUT/data/synthetic.npz          synthetic episodes
    OUT/trust/model.pt              trust net (+ metrics.json, logs/, checkpoints/)
    OUT/gate/scores.npz             p(real) and bounds-filter result per episode (+ summary.json)
    OUT/policies/<mix>/model.pt     real_only, fixed_share, trust_weighted (+ summary.json, ...)
    OUT/metrics.json, OUT/plots/*.png
    OUT/predictions.csv             per scored episode: source, p(real), bounds, gate, weight
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from imbalance_kit.app import DamagedFileError, load_json, write_json, write_text
from imbalance_world_model.config import WMConfig, load_config, shipped_config
from imbalance_world_model.data import load_episodes, writable_dir
from imbalance_world_model.evaluate import evaluate_run, print_report
from imbalance_world_model.gates import load_scores, stage_gate
from imbalance_world_model.generate import stage_generate
from imbalance_world_model.model import load_policy, load_trust_net, load_world_model
from imbalance_world_model.simulate import stage_simulate
from imbalance_world_model.train import (
    MIXES,
    stage_train_policy,
    stage_train_trust,
    stage_train_world_model,
)

__all__ = ["TINY_OVERRIDES", "Stage", "demo_config", "demo_stages", "run_demo"]

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


@dataclass
class Stage:
    """One stage of the demo: its name, the file it is known by, how to check its outputs
    (raises when one is missing or damaged) and how to run it."""

    name: str
    output: Path
    check: Callable[[], Any]
    run: Callable[[], Any]


def _finished(stage: Stage, log: Log) -> bool:
    """Whether ``stage``'s outputs are there and load; a damaged one is said in one line."""
    if not stage.output.exists():
        return False
    try:
        stage.check()
    except (OSError, ValueError) as exc:  # DamagedFileError is a ValueError
        log(f"[{stage.name}] {exc}; running the stage again")
        return False
    log(f"[{stage.name}] {stage.output} exists, skipped")
    return True


def _check_config(out: Path, cfg: WMConfig) -> None:
    """Write ``OUT/config.yaml``, or check that the run folder's one is ``cfg``."""
    path = out / "config.yaml"
    if not path.is_file():
        write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    try:
        saved = WMConfig.from_dict(yaml.safe_load(path.read_text()))
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DamagedFileError(
            f"{path} is damaged ({reason}): delete it to continue the run with this config, "
            "or use a new --out folder"
        ) from None
    if saved != cfg:
        raise ValueError(f"{out} holds a run with another config: use a new --out folder")


def demo_stages(cfg: WMConfig, out: Path, **fit_options: Any) -> list[Stage]:
    """The stages of a demo run folder ``out``, in order (``fit_options`` go to training)."""
    real, syn = out / "data/real.npz", out / "data/synthetic.npz"
    wm, trust, scores = out / "world_model", out / "trust", out / "gate/scores.npz"
    stages = [
        Stage(
            "simulate",
            real,
            lambda: (load_episodes(real), load_json(real.with_name("bricks.json"))),
            lambda: stage_simulate(cfg, real),
        ),
        Stage(
            "train-world-model",
            wm / "model.pt",
            lambda: (load_world_model(wm / "model.pt"), load_json(wm / "summary.json")),
            lambda: stage_train_world_model(cfg, real, wm, **fit_options),
        ),
        Stage(
            "generate",
            syn,
            lambda: load_episodes(syn),
            lambda: stage_generate(cfg, wm / "model.pt", real, syn),
        ),
        Stage(
            "train-trust",
            trust / "model.pt",
            lambda: (load_trust_net(trust / "model.pt"), load_json(trust / "metrics.json")),
            lambda: stage_train_trust(cfg, real, syn, trust, **fit_options),
        ),
        Stage(
            "gate",
            scores,
            lambda: (load_scores(scores), load_json(scores.with_name("summary.json"))),
            lambda: stage_gate(cfg, trust / "model.pt", real, syn, scores),
        ),
    ]
    for mix in MIXES:
        folder = out / "policies" / mix
        stages.append(
            Stage(
                f"train-policy {mix}",
                folder / "model.pt",
                lambda folder=folder: (
                    load_policy(folder / "model.pt"),
                    load_json(folder / "summary.json"),
                ),
                lambda mix=mix, folder=folder: stage_train_policy(
                    cfg, mix, real, syn, scores, folder, **fit_options
                ),
            )
        )
    return stages


def run_demo(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    overrides: list[str] | None = None,
    config: WMConfig | None = None,
    progress_bar: bool = False,
    verbose: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """simulate -> world model -> generate -> trust net -> gate -> 3 policies -> evaluate.

    A stage whose outputs exist and load is skipped; a damaged output (truncated, corrupt)
    is said in one line and its stage runs again, resuming its training from the last
    finished epoch when a checkpoint is there.

    Args:
        out_dir: run folder (layout above); finished stages are skipped.
        quick: the small preset (``configs/quick.yaml``).
        seed: training seed (``config.seed``).
        overrides: ``section.key=value`` overrides.
        config: a full config instead of ``quick`` / ``seed`` / ``overrides``.
        progress_bar: one progress bar per training.
        verbose: Lightning's own output.
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
    out = writable_dir(out_dir)
    _check_config(out, cfg)
    for stage in demo_stages(cfg, out, progress_bar=progress_bar, verbose=verbose, log=log):
        if not _finished(stage, log):
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed)
            stage.run()
            log(f"[{stage.name}] done ({time.perf_counter() - t0:.1f}s)")
    metrics = evaluate_run(out)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_json(out / "metrics.json", metrics)
    print_report(metrics, log)
    return metrics
