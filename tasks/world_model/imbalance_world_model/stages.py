"""The stages of the loop, one function each: files in, files out.

``simulate`` -> ``train-world-model`` -> ``generate`` -> ``train-trust`` -> ``gate`` ->
``train-policy`` (one per mix). :func:`imbalance_world_model.pipeline.run_demo` chains them in a
run folder; the CLI runs each on its own.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_world_model.checkpoints import load_trust_net, load_world_model, save_checkpoint
from imbalance_world_model.config import WMConfig
from imbalance_world_model.diagnostics import pass_shares
from imbalance_world_model.episodes import Episodes, load_episodes, save_episodes
from imbalance_world_model.gates import BoundsFilter
from imbalance_world_model.policy import action_mse, train_policy
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.simulate import data_bricks, simulate_episodes, write_bricks
from imbalance_world_model.trust import train_trust, trust_scores
from imbalance_world_model.world_model import generate_episodes

__all__ = [
    "MIXES",
    "split_real",
    "stage_gate",
    "stage_generate",
    "stage_simulate",
    "stage_train_policy",
    "stage_train_trust",
    "stage_train_world_model",
]

#: The policy training mixes.
MIXES = ("real_only", "fixed_share", "trust_weighted")


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


def simulate_real(config: WMConfig) -> Episodes:
    """Real episodes of the ``simulate`` section, with the held-out ones marked in
    ``meta["split_test"]`` (``test_fraction`` of them, at least one).

    Examples:
        >>> cfg = WMConfig.from_dict({"simulate": {"n_episodes": 8, "horizon": 6}})
        >>> int(simulate_real(cfg).meta["split_test"].sum())
        2
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
    return real


def bounds_filter(config: WMConfig) -> BoundsFilter:
    """The (unfitted) bounds filter of the ``gate`` section.

    Examples:
        >>> bounds_filter(WMConfig()).quantile
        0.005
    """
    g = config.gate
    return BoundsFilter(
        quantile=g.quantile,
        margin=g.margin,
        std_tolerance=g.std_tolerance,
        max_outside=g.max_outside,
    )


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
    real = simulate_real(config)
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
        >>> from imbalance_world_model.pipeline import TINY_OVERRIDES, demo_config
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
        >>> from imbalance_world_model.pipeline import TINY_OVERRIDES, demo_config
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
        >>> from imbalance_world_model.pipeline import TINY_OVERRIDES, demo_config
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
        **dataclasses.asdict(t),
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
        >>> from imbalance_world_model.pipeline import TINY_OVERRIDES, demo_config
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
    bounds = bounds_filter(config).fit(train.z)
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
        >>> from imbalance_world_model.pipeline import TINY_OVERRIDES, demo_config
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
