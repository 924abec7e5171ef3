"""The stages (one function each, files in, files out) and ``demo``, which chains them.

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

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from imbalance_world_model.checkpoints import (
    load_policy,
    load_trust_net,
    load_world_model,
    save_checkpoint,
)
from imbalance_world_model.config import WMConfig, apply_overrides
from imbalance_world_model.diagnostics import (
    pass_shares,
    plot_std_ratio,
    plot_trust_histogram,
    std_ratio_per_step,
)
from imbalance_world_model.episodes import Episodes, load_episodes, save_episodes
from imbalance_world_model.gates import BoundsFilter, TrustGate
from imbalance_world_model.policy import action_mse, train_policy
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.simulate import data_bricks, simulate_episodes, write_bricks
from imbalance_world_model.trust import train_trust, trust_scores
from imbalance_world_model.world_model import generate_episodes

__all__ = [
    "MIXES",
    "QUICK_PRESET",
    "TINY_OVERRIDES",
    "demo_config",
    "evaluate_run",
    "run_demo",
    "split_real",
    "stage_gate",
    "stage_generate",
    "stage_simulate",
    "stage_train_policy",
    "stage_train_trust",
    "stage_train_world_model",
]

MIXES = ("real_only", "fixed_share", "trust_weighted")

#: Overrides of ``demo --quick`` (small data, small networks, few epochs).
QUICK_PRESET: dict[str, Any] = {
    "simulate": {"n_episodes": 120},
    "world_model": {"hidden_dim": 32},
    "wm_train": {"epochs": 20},
    "trust": {"hidden_dim": 32, "epochs": 20},
    "policy": {"hidden_dim": 32, "epochs": 15},
}

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

    The quick preset (when ``quick``), then the YAML file ``path``, then ``seed`` (``None``
    keeps the file's seed), then the ``section.key=value`` overrides.

    Examples:
        >>> demo_config(quick=True).simulate.n_episodes
        120
        >>> cfg = demo_config(quick=True, seed=3, overrides=["simulate.n_episodes=50"])
        >>> cfg.simulate.n_episodes, cfg.seed, cfg.wm_train.epochs
        (50, 3, 20)
    """
    from imbalance_world_model.config import _merge_dicts, load_config

    base = json.loads(json.dumps(QUICK_PRESET)) if quick else {}
    if path is not None:
        load_config(path)  # errors name the file and the key
        base = _merge_dicts(base, yaml.safe_load(Path(path).read_text()) or {})
    if seed is not None:
        base["seed"] = seed
    return WMConfig.from_dict(apply_overrides(base, overrides or []))


def split_real(real: Episodes) -> tuple[Episodes, Episodes]:
    """``(train, test)`` by ``meta["split_test"]`` (all training when the key is missing).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=4, horizon=5, seed=0)
        >>> real.meta["split_test"] = np.array([0, 1, 0, 0])
        >>> [part.n_episodes for part in split_real(real)]
        [3, 1]
    """
    test = real.meta.get("split_test", np.zeros(real.n_episodes)).astype(bool)
    return real.subset(~test), real.subset(test)


def stage_simulate(config: WMConfig, out: str | Path) -> Episodes:
    """Simulate real episodes, mark the held-out split, cluster bricks; write ``out`` and
    ``bricks.json`` beside it.

    Examples:
        >>> import tempfile
        >>> cfg = WMConfig.from_dict({"simulate": {"n_episodes": 8, "horizon": 6, "n_bricks": 2}})
        >>> real = stage_simulate(cfg, tempfile.mkdtemp() + "/real.npz")
        >>> int(real.meta["split_test"].sum()), sorted(real.meta)[:2]
        (2, ['action_noise', 'brick'])
    """
    s = config.simulate
    real = simulate_episodes(
        s.n_episodes,
        s.horizon,
        s.n_oscillators,
        dt=s.dt,
        damping=s.damping,
        coupling=s.coupling,
        process_noise=s.process_noise,
        seed=s.seed,
    )
    rng = np.random.default_rng(s.seed + 1)
    n_test = max(1, int(round(s.test_fraction * s.n_episodes)))
    test = np.zeros(s.n_episodes, dtype=np.int64)
    test[rng.permutation(s.n_episodes)[:n_test]] = 1
    real.meta["split_test"] = test
    manifest = data_bricks(real, min(s.n_bricks, s.n_episodes), seed=s.seed)
    out = Path(out)
    save_episodes(real, out)
    write_bricks(manifest, out.with_name("bricks.json"))
    return real


def stage_train_world_model(
    config: WMConfig,
    real_path: str | Path,
    out_dir: str | Path,
    *,
    trust_net_path: str | Path | None = None,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Train the world model on the real training episodes; write ``model.pt``, ``summary.json``.

    Examples:
        >>> import tempfile
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> _ = stage_simulate(cfg, f"{d}/real.npz")
        >>> summary = stage_train_world_model(cfg, f"{d}/real.npz", f"{d}/wm")
        >>> summary["mode"], sorted(p.name for p in Path(d, "wm").glob("*.*"))
        ('bptt', ['model.pt', 'summary.json'])
    """
    from imbalance_world_model.wm_train import train_world_model

    train, _ = split_real(load_episodes(real_path))
    trust_net = load_trust_net(trust_net_path) if trust_net_path is not None else None
    if config.wm_train.trust_aware_weight > 0 and trust_net is None:
        raise ValueError("wm_train.trust_aware_weight > 0 needs a trust net (--trust-net)")
    out = Path(out_dir)
    model, summary = train_world_model(
        train,
        config.world_model,
        config.wm_train,
        trust_net=trust_net,
        seed=config.seed,
        progress_bar=progress_bar,
        log_dir=out / "logs",
    )
    settings = {
        "latent_dim": train.latent_dim,
        "action_dim": train.action_dim,
        "hidden_dim": config.world_model.hidden_dim,
        "residual_clip": config.world_model.residual_clip,
    }
    save_checkpoint(out / "model.pt", "world_model", model, settings)
    summary.update(mode=config.wm_train.mode, horizon=config.wm_train.horizon)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def stage_generate(
    config: WMConfig, model_path: str | Path, real_path: str | Path, out: str | Path
) -> Episodes:
    """Roll the world model out from real training episodes; write synthetic episodes.

    Examples:
        >>> import tempfile
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> _ = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = stage_train_world_model(cfg, f"{d}/real.npz", f"{d}/wm")
        >>> syn = stage_generate(cfg, f"{d}/wm/model.pt", f"{d}/real.npz", f"{d}/syn.npz")
        >>> syn.n_episodes, syn.source[0]   # as many as the 9 real training episodes
        (9, np.str_('synthetic'))
    """
    train, _ = split_real(load_episodes(real_path))
    n = config.generate.n_episodes or train.n_episodes
    syn = generate_episodes(
        load_world_model(model_path), train, n, sample=config.generate.sample, seed=config.seed + 1
    )
    save_episodes(syn, out)
    return syn


def stage_train_trust(
    config: WMConfig,
    real_path: str | Path,
    synthetic_path: str | Path,
    out_dir: str | Path,
    *,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Train the trust net on real training vs synthetic episodes; write ``model.pt``,
    ``metrics.json``.

    Examples:
        >>> import tempfile
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> sorted(stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust"))
        ['pos_weight', 'seconds', 'train', 'val']
    """
    train, _ = split_real(load_episodes(real_path))
    syn = load_episodes(synthetic_path)
    t = config.trust
    out = Path(out_dir)
    net, metrics = train_trust(
        train.z,
        syn.z,
        kind=t.kind,
        hidden_dim=t.hidden_dim,
        epochs=t.epochs,
        lr=t.lr,
        batch_size=t.batch_size,
        val_fraction=t.val_fraction,
        seed=config.seed,
        progress_bar=progress_bar,
        log_dir=out / "logs",
    )
    save_checkpoint(
        out / "model.pt",
        "trust_net",
        net,
        {"trust_kind": t.kind, "latent_dim": train.latent_dim, "hidden_dim": t.hidden_dim},
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def stage_gate(
    config: WMConfig,
    trust_path: str | Path,
    real_path: str | Path,
    synthetic_path: str | Path,
    out: str | Path,
) -> dict[str, Any]:
    """Score synthetic (and real training) episodes with the trust net and the bounds filter.

    Writes ``out`` (``scores.npz``: ``p_real_synthetic``, ``bounds_pass_synthetic``,
    ``p_real_real``, ``bounds_pass_real``) and ``summary.json`` beside it.

    Examples:
        >>> import tempfile
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> _ = stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust")
        >>> s = stage_gate(cfg, f"{d}/trust/model.pt", f"{d}/real.npz", f"{d}/syn.npz",
        ...                f"{d}/gate/scores.npz")
        >>> sorted(s["synthetic"]), s["trust_threshold"]
        (['both', 'bounds', 'trust'], 0.5)
    """
    train, _ = split_real(load_episodes(real_path))
    syn = load_episodes(synthetic_path)
    net = load_trust_net(trust_path)
    g = config.gate
    bounds = BoundsFilter(
        quantile=g.quantile,
        margin=g.margin,
        std_tolerance=g.std_tolerance,
        max_outside=g.max_outside,
    ).fit(train.z)
    scores = {
        "p_real_synthetic": trust_scores(net, syn.z),
        "bounds_pass_synthetic": bounds.passes(syn.z),
        "p_real_real": trust_scores(net, train.z),
        "bounds_pass_real": bounds.passes(train.z),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **scores)
    summary = {
        "synthetic": pass_shares(
            scores["bounds_pass_synthetic"], scores["p_real_synthetic"], g.trust_threshold
        ),
        "real": pass_shares(scores["bounds_pass_real"], scores["p_real_real"], g.trust_threshold),
        "trust_threshold": g.trust_threshold,
    }
    out.with_name("summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def stage_train_policy(
    config: WMConfig,
    mix: str,
    real_path: str | Path,
    synthetic_path: str | Path | None,
    scores_path: str | Path | None,
    out_dir: str | Path,
    *,
    progress_bar: bool = False,
) -> dict[str, Any]:
    """Train one policy on a mix of real and synthetic transitions; evaluate on held-out real.

    ``mix``: ``"real_only"``, ``"fixed_share"`` (``policy.fixed_share`` synthetic) or
    ``"trust_weighted"`` (needs ``scores_path``).

    Examples:
        >>> import tempfile
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> s = stage_train_policy(cfg, "fixed_share", f"{d}/real.npz", f"{d}/syn.npz", None,
        ...                        f"{d}/policy")
        >>> s["mix"], round(s["synthetic_share"], 4), s["action_mse_test"] > 0
        ('fixed_share', 0.1, True)
    """
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {list(MIXES)}, got {mix!r}")
    train, test = split_real(load_episodes(real_path))
    if test.n_episodes == 0:
        raise ValueError("the real episodes have no held-out split (meta split_test)")
    episodes, trust = train, None
    if mix != "real_only":
        if synthetic_path is None:
            raise ValueError(f"mix {mix!r} needs synthetic episodes (--synthetic)")
        episodes = Episodes.concatenate([train, load_episodes(synthetic_path)])
    if mix == "trust_weighted":
        if scores_path is None:
            raise ValueError("mix 'trust_weighted' needs gate scores (--scores)")
        with np.load(scores_path, allow_pickle=False) as s:
            trust = np.concatenate([np.ones(train.n_episodes), s["p_real_synthetic"]])
    weights = mix_weights(
        episodes.is_synthetic,
        {"real_only": "real_only", "fixed_share": "fixed", "trust_weighted": "trust"}[mix],
        share=config.policy.fixed_share,
        trust=trust,
        threshold=config.gate.trust_threshold,
    )
    out = Path(out_dir)
    buffer = ReplayBuffer.from_episodes(episodes, weights)
    module, summary = train_policy(
        buffer, config.policy, seed=config.seed, progress_bar=progress_bar, log_dir=out / "logs"
    )
    summary["mix"] = mix
    summary["action_mse_test"] = round(action_mse(module.actor, test), 6)
    summary["action_mse_train_real"] = round(action_mse(module.actor, train), 6)
    save_checkpoint(
        out / "model.pt",
        "policy",
        module.actor,
        {
            "latent_dim": train.latent_dim,
            "action_dim": train.action_dim,
            "hidden_dim": config.policy.hidden_dim,
        },
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def evaluate_run(run_dir: str | Path, *, plots: bool = True) -> dict[str, Any]:
    """Collect the diagnostics of a ``demo`` run folder into ``metrics.json`` (and plots).

    Examples:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = run_demo(d, config=demo_config(False, 0, TINY_OVERRIDES), log=lambda line: None)
        >>> m = evaluate_run(d, plots=False)
        >>> m["std_ratio"]["per_step"][0], m["policies"]["real_only"]["synthetic_share"]
        (1.0, 0.0)
    """
    run = Path(run_dir)
    need = [run / "data/real.npz", run / "data/synthetic.npz", run / "gate/scores.npz"]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"run folder {run} lacks {', '.join(missing)}")
    config = WMConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    train, test = split_real(load_episodes(run / "data/real.npz"))
    syn = load_episodes(run / "data/synthetic.npz")
    ratio = std_ratio_per_step(syn.z, train.z[syn.meta["source_episode"]])
    with np.load(run / "gate/scores.npz", allow_pickle=False) as s:
        scores = {k: s[k] for k in s.files}
    policies = {}
    for mix in MIXES:
        path = run / "policies" / mix / "summary.json"
        if path.is_file():
            p = json.loads(path.read_text())
            # re-evaluated from the saved checkpoint, which must load with weights_only=True
            p["action_mse_test"] = round(
                action_mse(load_policy(path.with_name("model.pt")), test), 6
            )
            policies[mix] = p
    base = policies.get("real_only", {}).get("action_mse_test")
    for p in policies.values():
        if base:
            p["vs_real_only_pct"] = round(100 * (p["action_mse_test"] - base) / base, 2)
    metrics: dict[str, Any] = {
        "std_ratio": {
            "at_10": float(ratio[min(10, len(ratio) - 1)]),
            "at_60": float(ratio[min(60, len(ratio) - 1)]),
            "final": float(ratio[-1]),
            "per_step": [round(float(r), 4) for r in ratio],
        },
        "world_model": json.loads((run / "world_model/summary.json").read_text()),
        "trust": json.loads((run / "trust/metrics.json").read_text()),
        "gate": json.loads((run / "gate/summary.json").read_text()),
        "policies": policies,
        "bricks": _brick_table(train, syn, scores, config.gate.trust_threshold),
    }
    if "trust_weighted" in policies and base:
        tw = policies["trust_weighted"]["vs_real_only_pct"]
        metrics["do_no_harm"] = bool(tw <= 5.0)
        metrics["accepted_synthetic_helps"] = bool(tw < 0.0)
    if plots:
        plot_std_ratio({config.wm_train.mode: ratio}, run / "plots/std_ratio.png")
        p_all = np.concatenate([scores["p_real_real"], scores["p_real_synthetic"]])
        syn_mask = np.r_[
            np.zeros(len(scores["p_real_real"]), bool),
            np.ones(len(scores["p_real_synthetic"]), bool),
        ]
        plot_trust_histogram(
            p_all, syn_mask, config.gate.trust_threshold, run / "plots/trust_hist.png"
        )
    _write_predictions(run / "predictions.csv", scores, config)
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _brick_table(
    train: Episodes, syn: Episodes, scores: dict[str, np.ndarray], threshold: float
) -> list[dict[str, Any]]:
    """Per data brick: real episodes, the synthetic episodes started from them, their trust.

    A synthetic episode belongs to the brick of the real episode whose first state and
    actions it reuses.
    """
    if "brick" not in train.meta:
        return []
    syn_brick = train.meta["brick"][syn.meta["source_episode"]]
    p = scores["p_real_synthetic"]
    rows = []
    for b in np.unique(train.meta["brick"]):
        mine = syn_brick == b
        rows.append(
            {
                "brick": int(b),
                "n_real": int((train.meta["brick"] == b).sum()),
                "n_synthetic": int(mine.sum()),
                "synthetic_mean_trust": float(p[mine].mean()) if mine.any() else None,
                "synthetic_trust_pass": float((p[mine] >= threshold).mean())
                if mine.any()
                else None,
                "synthetic_bounds_pass": float(scores["bounds_pass_synthetic"][mine].mean())
                if mine.any()
                else None,
            }
        )
    return rows


def _write_predictions(path: Path, scores: dict[str, np.ndarray], config: WMConfig) -> None:
    """One row per scored episode: source, p(real), bounds result, gate decision, weight."""
    gate = TrustGate(config.gate.trust_threshold)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["episode", "source", "p_real", "bounds_pass", "trust_accepted", "trust_weight"]
        )
        for source in ("real", "synthetic"):
            p = scores[f"p_real_{source}"]
            bounds = scores[f"bounds_pass_{source}"]
            weight = np.ones_like(p) if source == "real" else gate.weights(p)
            for i in range(len(p)):
                writer.writerow(
                    [
                        i,
                        source,
                        f"{p[i]:.6f}",
                        int(bounds[i]),
                        int(p[i] >= gate.threshold),
                        f"{weight[i]:.6f}",
                    ]
                )


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
        quick: the small preset (:data:`QUICK_PRESET`).
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
        config_path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _report(metrics, log)
    return metrics


def _report(m: dict[str, Any], log: Log) -> None:
    r, t, g = m["std_ratio"], m["trust"]["val"], m["gate"]["synthetic"]
    log(f"std ratio synthetic/real: step 10 {r['at_10']:.2f}, step 60 {r['at_60']:.2f}")
    if t is not None:
        auc = "n/a" if t["roc_auc"] is None else f"{t['roc_auc']:.3f}"
        gap = "n/a" if t["trust_gap"] is None else f"{t['trust_gap']:.3f}"
        log(f"trust net (validation): accuracy {t['accuracy']:.3f}, ROC AUC {auc}, gap {gap}")
    log(f"synthetic passing: bounds {g['bounds']:.1%}, trust {g['trust']:.1%}")
    log(f"{'policy':16} {'action MSE':>10} {'vs real':>8} {'synthetic share':>16}")
    for name, p in m["policies"].items():
        log(
            f"{name:16} {p['action_mse_test']:10.4f} {p.get('vs_real_only_pct', 0.0):+7.2f}% "
            f"{p['synthetic_share']:16.2%}"
        )
