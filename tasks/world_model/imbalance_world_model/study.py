"""``study``: the variant x seed comparisons behind the README's result tables.

``study --kind horizon`` (alias ``horizon-study``): std ratio per world-model training scheme.
``study --kind policy`` (alias ``policy-study``): ``demo`` over several seeds, the policy table.
Both report the mean and sample standard deviation over the seeds
(:func:`imbalance_kit.app.summarise_study`).

The horizon study trains one world model per variant and seed on freshly simulated real
episodes, rolls it out for the full episode (60 steps), and reports the std ratio at steps
10 and 60, the share of synthetic episodes passing the bounds filter and a trust net trained
on that variant's synthetic episodes, and the trust net's validation ROC AUC.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import (
    apply_overrides,
    check_choice,
    markdown_table,
    merge_mappings,
    read_yaml_mapping,
    resolve_config_path,
    study_table,
    summarise_study,
    write_json,
    write_text,
)
from imbalance_world_model._runs import load_real
from imbalance_world_model.config import PACKAGE, WMConfig
from imbalance_world_model.data import Episodes, split_real
from imbalance_world_model.demo import demo_config, run_demo
from imbalance_world_model.diagnostics import plot_std_ratio, std_ratio_per_step
from imbalance_world_model.gates import bounds_filter
from imbalance_world_model.generate import generate_episodes, real_counterparts
from imbalance_world_model.simulate import simulate_real
from imbalance_world_model.train import MIXES, train_trust, train_world_model
from imbalance_world_model.trust import trust_scores

__all__ = [
    "DEFAULT_VARIANTS",
    "HORIZON_VARIANTS",
    "STUDY_KINDS",
    "horizon_study",
    "policy_study",
    "run_study",
]

#: ``study --kind`` values.
STUDY_KINDS = ("policy", "horizon")

#: Variant name -> config overrides. ``+trust`` variants also train with the trust-aware term
#: (and feature matching) against a trust net fitted on the synthetic episodes of the variant
#: named before the ``+``.
HORIZON_VARIANTS: dict[str, dict[str, Any]] = {
    "tf_h10": {"wm_train": {"mode": "teacher_forcing", "horizon": 10}},
    "tf_h10+trust": {
        "wm_train": {
            "mode": "teacher_forcing",
            "horizon": 10,
            "trust_aware_weight": 1.0,
            "feature_match_weight": 0.1,
        }
    },
    "tf_h10_clip": {
        "wm_train": {"mode": "teacher_forcing", "horizon": 10},
        "world_model": {"residual_clip": 0.2},
    },
    "ss_full": {"wm_train": {"mode": "scheduled_sampling"}},
    "bptt_full": {"wm_train": {"mode": "bptt"}},
    "bptt_full+trust": {
        "wm_train": {"mode": "bptt", "trust_aware_weight": 1.0, "feature_match_weight": 0.1}
    },
    "bptt_full+var0.1": {"wm_train": {"mode": "bptt", "var_reg_weight": 0.1}},
    "bptt_full+var1": {"wm_train": {"mode": "bptt", "var_reg_weight": 1.0}},
}

#: The variants ``horizon-study`` runs without ``--variants`` (the README's main table).
DEFAULT_VARIANTS = [v for v in HORIZON_VARIANTS if v != "bptt_full+trust"]

#: Column key -> title of the horizon study's table.
HORIZON_COLUMNS = {
    "ratio_at_10": "std ratio step 10",
    "ratio_at_60": "std ratio step 60",
    "ratio_max": "max std ratio",
    "bounds_pass": "bounds pass",
    "trust_pass": "trust pass",
    "trust_auc": "trust ROC AUC",
    "free_running_mse": "free-running MSE",
    "seconds": "seconds",
}

#: Column key -> title of the policy study's table.
POLICY_COLUMNS = {
    "action_mse_test": "held-out action MSE",
    "vs_real_only_pct": "vs real only %",
    "synthetic_share": "synthetic share",
    "ratio_final": "std ratio last step",
    "bounds_pass": "bounds pass",
    "trust_pass": "trust pass",
    "accepted": "accepted",
    "trust_auc": "trust ROC AUC",
    "trust_gap": "trust gap",
}

Log = Callable[[str], None]


def _base_mapping(config: str | Path | None, overrides: list[str] | None) -> dict[str, Any]:
    """The mapping of ``--config`` (file or shipped name) with ``--set`` applied, validated."""
    base = apply_overrides(
        read_yaml_mapping(resolve_config_path(config, PACKAGE)),
        list(overrides or []),
        example="policy.lr",
    )
    WMConfig.from_dict(base)  # errors name the key
    return base


def _write_tables(
    out: Path,
    name: str,
    rows: list[dict[str, Any]],
    by: str,
    order: list[str],
    columns: dict[str, str],
    note: str,
    seeds: list[int],
) -> tuple[list[dict[str, Any]], str]:
    summary = summarise_study(rows, list(columns), by=by, order=order)
    head, cells = study_table(summary, columns, by=by, digits=4)
    md = markdown_table(head, cells) + "\n\n" + note + "\n"
    write_json(out / f"{name}.json", {"rows": rows, "summary": summary, "seeds": seeds})
    write_text(out / f"{name}.md", md)
    return summary, md


def horizon_study(
    out_dir: str | Path,
    *,
    seeds: list[int],
    variants: list[str] | None = None,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    real: str | Path | None = None,
    log: Log = print,
    **fit_options: Any,
) -> list[dict[str, Any]]:
    """Std ratio over the horizon for every variant and seed; writes ``horizon_study.{json,md}``
    and ``std_ratio.png`` (curves averaged over seeds) into ``out_dir``.

    Args:
        out_dir: output folder.
        seeds: each seed is the data seed (``simulate.seed``) and the training seed (``seed``),
            replacing any value of these two keys in ``config`` and ``overrides``.
        variants: names from :data:`HORIZON_VARIANTS` (default :data:`DEFAULT_VARIANTS`).
        config: a YAML config (file or shipped name) under every variant's own settings.
        overrides: ``section.key=value`` overrides applied after ``config``.
        real: real episodes to study instead of simulated ones (a file without a split is
            split by episode with each seed).
        log: where progress lines go.
        **fit_options: ``progress_bar`` and ``verbose`` of every training.

    Returns:
        One summary row per variant (:func:`imbalance_kit.app.summarise_study`: mean, std
        and count of every column over the seeds).

    Raises:
        ValueError: an unknown variant or override.

    Examples:
        >>> import tempfile
        >>> table = horizon_study(tempfile.mkdtemp(), seeds=[0], variants=["tf_h10"],
        ...     overrides=["simulate.n_episodes=16", "simulate.horizon=12", "wm_train.epochs=1",
        ...                "world_model.hidden_dim=8", "trust.epochs=1"], log=lambda s: None)
        >>> table[0]["variant"], table[0]["n_runs"]
        ('tf_h10', 1)
    """
    chosen = variants or DEFAULT_VARIANTS
    unknown = [v for v in chosen if v not in HORIZON_VARIANTS]
    if unknown:
        raise ValueError(f"variants must be among {list(HORIZON_VARIANTS)}, got {unknown}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = _base_mapping(config, overrides)
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[np.ndarray]] = {}
    for seed in seeds:
        cfg0 = WMConfig.from_dict(merge_mappings(base, {"seed": seed, "simulate": {"seed": seed}}))
        if real is None:
            train, _ = split_real(simulate_real(cfg0))
        else:
            train, _, _ = load_real(real, cfg0)
        bounds = bounds_filter(cfg0).fit(train.z, train.lengths)
        trust_nets: dict[str, Any] = {}
        for variant in chosen:
            cfg = WMConfig.from_dict(merge_mappings(cfg0.to_dict(), HORIZON_VARIANTS[variant]))
            start = time.perf_counter()
            parent = variant.split("+")[0] if "+trust" in variant else None
            if parent is not None and parent not in trust_nets:
                trust_nets[parent] = _variant_trust(train, cfg0, parent, seed, fit_options)
            wm, summary = train_world_model(
                train,
                cfg.world_model,
                cfg.wm_train,
                seed=seed,
                trust_net=trust_nets.get(parent) if parent else None,
                **fit_options,
            )
            syn = generate_episodes(
                wm, train, train.n_episodes, sample=cfg.generate.sample, seed=seed + 1
            )
            ref = real_counterparts(train, syn)
            ratio = std_ratio_per_step(syn.z, ref.z, syn.lengths, ref.lengths)
            net, tm = _trust(train, syn, cfg, seed, fit_options)
            if variant in [v.split("+")[0] for v in chosen if "+trust" in v]:
                trust_nets.setdefault(variant, net)
            p = trust_scores(net, syn.z, syn.lengths)
            row = {
                "variant": variant,
                "seed": seed,
                "ratio_at_10": _at(ratio, 10),
                "ratio_at_60": _at(ratio, 60),
                "ratio_max": float(np.nanmax(ratio)),
                "bounds_pass": float(bounds.passes(syn.z, syn.lengths).mean()),
                "trust_pass": float((p >= cfg.gate.trust_threshold).mean()),
                "trust_auc": tm["val"]["roc_auc"] if tm["val"] else None,
                "free_running_mse": summary["final_recon_mse"],
                "seconds": round(time.perf_counter() - start, 2),
            }
            rows.append(row)
            curves.setdefault(variant, []).append(ratio)
            log(
                f"[horizon-study] seed {seed} {variant}: ratio@10 {_fmt(row['ratio_at_10'])} "
                f"ratio@60 {_fmt(row['ratio_at_60'])} bounds {row['bounds_pass']:.0%} "
                f"trust {row['trust_pass']:.0%}"
            )
    note = (
        f"Mean ± std over seeds {seeds}; std ratio of the rollouts at steps 10 and 60 (or the "
        "last step of shorter episodes), share of synthetic episodes passing the bounds filter "
        "/ the trust threshold."
    )
    summary_rows, md = _write_tables(
        out, "horizon_study", rows, "variant", chosen, HORIZON_COLUMNS, note, seeds
    )
    plot_std_ratio({k: _mean_curve(v) for k, v in curves.items()}, out / "std_ratio.png")
    log(md)
    return summary_rows


def _at(ratio: np.ndarray, step: int) -> float | None:
    value = ratio[min(step, len(ratio) - 1)]
    return float(value) if np.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _mean_curve(curves: list[np.ndarray]) -> np.ndarray:
    """The mean of curves of several lengths (NaN where none has a value)."""
    t = max(len(c) for c in curves)
    stacked = np.full((len(curves), t), np.nan)
    for i, c in enumerate(curves):
        stacked[i, : len(c)] = c
    with np.errstate(all="ignore"):
        count = np.isfinite(stacked).sum(0)
        total = np.nansum(stacked, 0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _trust(
    train: Episodes, syn: Episodes, cfg: WMConfig, seed: int, fit_options: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    return train_trust(
        train.z,
        syn.z,
        real_lengths=train.lengths,
        synthetic_lengths=syn.lengths,
        **dataclasses.asdict(cfg.trust),
        seed=seed,
        **fit_options,
    )


def _variant_trust(
    train: Any, cfg: WMConfig, parent: str, seed: int, fit_options: dict[str, Any]
) -> Any:
    """Trust net fitted on the synthetic episodes of the ``parent`` variant (for ``+trust``)."""
    pcfg = WMConfig.from_dict(merge_mappings(cfg.to_dict(), HORIZON_VARIANTS[parent]))
    wm, _ = train_world_model(train, pcfg.world_model, pcfg.wm_train, seed=seed, **fit_options)
    syn = generate_episodes(wm, train, train.n_episodes, sample=cfg.generate.sample, seed=seed + 1)
    net, _ = _trust(train, syn, cfg, seed, fit_options)
    return net


def _variant(mix: str, mode: str) -> str:
    return mix if mode == "episodes" or mix == "real_only" else f"{mix} (segments)"


#: Run folders a segments run shares with the episodes run of the same seed (the real data,
#: the world model and the real-only policy do not depend on the generation mode).
SHARED = ("data/real.npz", "data/bricks.json", "data/split.json", "data/source.json",
          "world_model", "policies/real_only")  # fmt: skip


def policy_study(
    out_dir: str | Path,
    *,
    seeds: list[int],
    quick: bool = False,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    real: str | Path | None = None,
    modes: Sequence[str] = ("episodes", "segments"),
    log: Log = print,
    **fit_options: Any,
) -> list[dict[str, Any]]:
    """``demo`` for every seed and generation mode, then the policy table
    ``policy_study.{json,md}``: action MSE on held-out real episodes and synthetic share of
    real only, fixed share and trust-weighted, with synthetic episodes and with segments.

    Args:
        out_dir: output folder (one ``demo`` run folder per seed and mode:
            ``seed<N>/<mode>/``; the segments run reuses the episodes run's real data, world
            model and real-only policy).
        seeds: each seed is the data seed (``simulate.seed``, or the split of a ``real``
            file without one) and the training seed.
        quick: the quick preset under ``config``.
        config: a YAML config (file or shipped name).
        overrides: ``section.key=value`` overrides applied after ``config``.
        real: real episodes to run on instead of simulated ones.
        modes: ``"episodes"``, ``"segments"`` or both (``generate.mode``).
        log: where progress lines go.
        **fit_options: ``progress_bar`` and ``verbose`` of every training.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES
        >>> table = policy_study(tempfile.mkdtemp(), seeds=[0], overrides=TINY_OVERRIDES,
        ...                      modes=["episodes"], log=lambda line: None)
        >>> [row["variant"] for row in table], table[1]["synthetic_share"]["mean"]
        (['real_only', 'fixed_share', 'trust_weighted'], 0.1)
    """
    for mode in modes:
        check_choice("modes", mode, ("episodes", "segments"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        for mode in modes:
            extra = [f"simulate.seed={seed}", f"generate.mode={mode}", *(overrides or [])]
            cfg = demo_config(quick, seed, extra, config)
            folder = out / f"seed{seed}" / mode
            if mode != modes[0]:
                _share(out / f"seed{seed}" / modes[0], folder)
            m = run_demo(folder, config=cfg, real=real, log=log, **fit_options)
            for mix, p in m["policies"].items():
                if mix == "real_only" and mode != modes[0]:
                    continue
                rows.append(
                    {
                        "variant": _variant(mix, mode),
                        "mode": mode,
                        "seed": seed,
                        "action_mse_test": p["action_mse_test"],
                        "vs_real_only_pct": p.get("vs_real_only_pct"),
                        "synthetic_share": p["synthetic_share"],
                        "ratio_at_60": m["std_ratio"]["at_60"],
                        "ratio_final": m["std_ratio"]["final"],
                        "trust_pass": m["gate"]["synthetic"]["trust"],
                        "bounds_pass": m["gate"]["synthetic"]["bounds"],
                        "accepted": m["gate"]["synthetic"]["accepted"],
                        "trust_auc": (m["trust"]["val"] or {}).get("roc_auc"),
                        "trust_gap": (m["trust"]["val"] or {}).get("trust_gap"),
                    }
                )
    order = [_variant(mix, mode) for mode in modes for mix in MIXES]
    note = (
        f"Mean ± std over seeds {seeds} (data and training seed); action MSE on held-out "
        "real episodes; synthetic share = synthetic share of the sampling mass; accepted = "
        "share of synthetic episodes the gate accepts."
    )
    summary, md = _write_tables(
        out, "policy_study", rows, "variant", list(dict.fromkeys(order)), POLICY_COLUMNS, note,
        seeds,
    )  # fmt: skip
    log(md)
    return summary


def _share(source: Path, target: Path) -> None:
    """Copy the mode-independent parts of a finished run folder (see :data:`SHARED`)."""
    for name in SHARED:
        src, dst = source / name, target / name
        if dst.exists() or not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


def run_study(
    kind: str,
    out_dir: str | Path,
    *,
    seeds: list[int],
    variants: list[str] | None = None,
    quick: bool = False,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    real: str | Path | None = None,
    modes: Sequence[str] = ("episodes", "segments"),
    log: Log = print,
    **fit_options: Any,
) -> list[dict[str, Any]]:
    """``study --kind policy|horizon``: :func:`policy_study` or :func:`horizon_study`.

    Raises:
        ValueError: an unknown ``kind``, or an option the kind does not read.

    Examples:
        >>> run_study("magic", "unused", seeds=[0])
        Traceback (most recent call last):
        ...
        ValueError: kind must be one of 'policy', 'horizon', got 'magic'
    """
    check_choice("kind", kind, STUDY_KINDS)
    if kind == "horizon":
        if quick:
            raise ValueError("--quick is read by the policy study only (study --kind policy)")
        return horizon_study(
            out_dir,
            seeds=seeds,
            variants=variants,
            config=config,
            overrides=overrides,
            real=real,
            log=log,
            **fit_options,
        )
    if variants:
        raise ValueError("--variants is read by the horizon study only (study --kind horizon)")
    return policy_study(
        out_dir,
        seeds=seeds,
        quick=quick,
        config=config,
        overrides=overrides,
        real=real,
        modes=modes,
        log=log,
        **fit_options,
    )
