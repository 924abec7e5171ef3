"""``demo``: the stages chained in a run folder.

The stages are functions of their modules: ``stage_simulate`` (:mod:`.simulate`),
``stage_train_world_model``, ``stage_train_trust``, ``stage_train_policy`` (:mod:`.train`),
``stage_generate`` (:mod:`.generate`) and ``stage_gate`` (:mod:`.gates`).

Run folder of ``demo`` (a stage whose outputs exist and load is skipped, so an interrupted
demo continues when run again; a training stage killed midway resumes from its last finished
epoch)::

    OUT/config.yaml                 the resolved config
    OUT/data/source.json            the real episodes file (--real) and its digest, or none
    OUT/data/real.npz               real episodes (meta: split_test, brick, economic metrics)
    OUT/data/bricks.json            brick manifest with value profiles (simulated data)
    OUT/data/split.json             the held-out split record (--real)
    OUT/world_model/model.pt        world model (+ summary.json, logs/, checkpoints/)
    OUT/data/synthetic.npz          synthetic episodes or segments (+ synthetic.json)
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
from imbalance_world_model._runs import file_digest, load_real
from imbalance_world_model.config import WMConfig, load_config, shipped_config
from imbalance_world_model.data import Episodes, load_episodes, save_episodes, writable_dir
from imbalance_world_model.diagnostics import format_headline
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

__all__ = [
    "TINY_OVERRIDES",
    "Stage",
    "demo_config",
    "demo_stages",
    "headline",
    "run_demo",
    "stage_real",
]

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


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def headline(stage: str, result: Any) -> str:
    """The headline figure of a stage's result (what the stage commands print).

    Examples:
        >>> headline("gate", {"synthetic": {"bounds": 0.9, "trust": 0.1, "accepted": 0.05},
        ...                   "rule": "both"})
        'synthetic passing: bounds 90.0%, trust 10.0%; accepted under rule both: 5.0%'
    """
    if stage in ("simulate", "real"):
        real, split = result
        return (
            f"{real.n_episodes} real episodes of {real.lengths.min()}-{real.lengths.max()} "
            f"states, {split['n_test']} held out"
            + (f" (split made: seed {split['seed']})" if split.get("made") else "")
        )
    if stage == "train-world-model":
        return (
            f"free-running MSE {result['initial_recon_mse']:.4f} -> "
            f"{result['final_recon_mse']:.4f} after {result['epochs']} epochs"
        )
    if stage == "generate":
        syn, summary = result
        return (
            f"{syn.n_episodes} synthetic {summary['mode']}, std ratio synthetic/real by "
            f"{format_headline(summary['std_ratio'])}"
        )
    if stage == "train-trust":
        m = result["val"] or {}
        return (
            f"validation accuracy {_f(m.get('accuracy'))}, ROC AUC {_f(m.get('roc_auc'))}, "
            f"trust gap {_f(m.get('trust_gap'))}"
        )
    if stage == "gate":
        g = result["synthetic"]
        return (
            f"synthetic passing: bounds {g['bounds']:.1%}, trust {g['trust']:.1%}; "
            f"accepted under rule {result['rule']}: {g['accepted']:.1%}"
        )
    return (  # train-policy
        f"held-out action MSE {result['action_mse_test']:.4f}, synthetic share "
        f"{result['synthetic_share']:.2%}"
    )


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


def stage_real(config: WMConfig, source: str | Path, out: str | Path) -> tuple[Episodes, dict]:
    """The user's real episodes into a run folder: ``out`` (with ``meta_split_test``, the
    file's own split or one made by episode) and ``split.json`` beside it (the split record,
    the source file and its digest)."""
    train, test, split = load_real(source, config)
    real = Episodes.concatenate([train, test])
    out = Path(out)
    writable_dir(out.parent)
    save_episodes(real, out)
    write_json(out.with_name("split.json"), {**split, "source": str(source)})
    return real, split


def _simulate(cfg: WMConfig, out: Path) -> tuple[Episodes, dict]:
    real = stage_simulate(cfg, out)
    n_test = int(real.meta["split_test"].sum())
    return real, {"made": False, "n_train": real.n_episodes - n_test, "n_test": n_test}


def _check_source(out: Path, real: str | Path | None) -> None:
    """Record the real episodes file of a run (``OUT/data/source.json``), or check it."""
    path = out / "data" / "source.json"
    digest = None if real is None else file_digest(real)
    if path.is_file():
        saved = load_json(path).get("digest")
        if saved != digest:
            what = "simulated episodes" if saved is None else "another real episodes file"
            raise ValueError(f"{out} holds a run on {what}: use a new --out folder")
    else:
        write_json(path, {"real": None if real is None else str(real), "digest": digest})


def demo_stages(
    cfg: WMConfig, out: Path, real_source: str | Path | None = None, **fit_options: Any
) -> list[Stage]:
    """The stages of a demo run folder ``out``, in order (``fit_options`` go to training)."""
    real, syn = out / "data/real.npz", out / "data/synthetic.npz"
    wm, trust, scores = out / "world_model", out / "trust", out / "gate/scores.npz"
    if real_source is None:
        first = Stage(
            "simulate",
            real,
            lambda: (load_episodes(real), load_json(real.with_name("bricks.json"))),
            lambda: _simulate(cfg, real),
        )
    else:
        first = Stage(
            "real",
            real,
            lambda: (load_episodes(real), load_json(real.with_name("split.json"))),
            lambda: stage_real(cfg, real_source, real),
        )
    stages = [
        first,
        Stage(
            "train-world-model",
            wm / "model.pt",
            lambda: (load_world_model(wm / "model.pt"), load_json(wm / "summary.json")),
            lambda: stage_train_world_model(cfg, real, wm, **fit_options),
        ),
        Stage(
            "generate",
            syn,
            lambda: (load_episodes(syn), load_json(syn.with_suffix(".json"))),
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
    real: str | Path | None = None,
    progress_bar: bool = False,
    verbose: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """simulate (or the user's ``real`` episodes) -> world model -> generate -> trust net ->
    gate -> 3 policies -> evaluate.

    A stage whose outputs exist and load is skipped; a damaged output (truncated, corrupt)
    is said in one line and its stage runs again, resuming its training from the last
    finished epoch when a checkpoint is there.

    Args:
        out_dir: run folder (layout above); finished stages are skipped.
        quick: the small preset (``configs/quick.yaml``).
        seed: training seed (``config.seed``).
        overrides: ``section.key=value`` overrides.
        config: a full config instead of ``quick`` / ``seed`` / ``overrides``.
        real: an episodes file (the package's format) to run on instead of simulating; a
            file without ``meta_split_test`` is split by episode (``split`` section).
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
    if cfg.trainer.devices * cfg.trainer.num_nodes > 1:
        raise ValueError(
            "demo runs on one process (trainer.devices=1, trainer.num_nodes=1); on a cluster "
            "run the stage commands under srun (the package README's SLURM recipe)"
        )
    out = writable_dir(out_dir)
    _check_config(out, cfg)
    _check_source(out, real)
    stages = demo_stages(cfg, out, real, progress_bar=progress_bar, verbose=verbose, log=log)
    for stage in stages:
        if not _finished(stage, log):
            t0 = time.perf_counter()
            torch.manual_seed(cfg.seed)
            result = stage.run()
            name = stage.name.split(" ")[0]
            log(f"[{stage.name}] done ({time.perf_counter() - t0:.1f}s): {headline(name, result)}")
    metrics = evaluate_run(out)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_json(out / "metrics.json", metrics)
    print_report(metrics, log)
    return metrics
