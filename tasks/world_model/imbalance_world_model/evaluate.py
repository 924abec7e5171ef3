"""Evaluation of a run folder: ``metrics.json``, ``predictions.csv``, plots.

A run folder is what ``demo`` writes, or what the stage commands write when their ``--out``
paths follow the same layout (see the package README)::

    DIR/data/real.npz             (or DIR/real.npz)         real episodes
    DIR/data/synthetic.npz        (or DIR/synthetic.npz)    synthetic episodes
    DIR/world_model/summary.json                             train-world-model
    DIR/trust/metrics.json                                   train-trust
    DIR/gate/scores.npz           (or DIR/scores.npz)        gate (+ summary.json beside)
    DIR/policies/<mix>/model.pt, summary.json                train-policy
    DIR/config.yaml                                          optional (demo writes it)

Every part that is there is evaluated; at least the real and the synthetic episodes are
needed. Without ``config.yaml`` the held-out split and the gate's rule are read from the
stages' summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from imbalance_kit.app import load_json, write_csv, write_json
from imbalance_world_model._runs import load_real
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import Episodes, load_episodes
from imbalance_world_model.diagnostics import (
    plot_std_ratio,
    plot_trust_histogram,
    ratio_headline,
    std_ratio_per_step,
)
from imbalance_world_model.gates import TrustGate, load_scores
from imbalance_world_model.generate import real_counterparts
from imbalance_world_model.model import action_mse, load_policy
from imbalance_world_model.train import MIXES

__all__ = ["evaluate_run", "find_run_files", "print_report"]

#: Where each run file may be, in order of preference.
RUN_FILES = {
    "real": ("data/real.npz", "real.npz"),
    "synthetic": ("data/synthetic.npz", "synthetic.npz"),
    "scores": ("gate/scores.npz", "scores.npz"),
    "world_model": ("world_model/summary.json",),
    "trust": ("trust/metrics.json",),
    "config": ("config.yaml",),
}


def find_run_files(run_dir: str | Path) -> dict[str, Path]:
    """The run files present in ``run_dir`` (name -> path), policies as ``policy:<mix>``.

    Examples:
        >>> import tempfile
        >>> find_run_files(tempfile.mkdtemp())
        {}
    """
    run = Path(run_dir)
    found: dict[str, Path] = {}
    for name, candidates in RUN_FILES.items():
        for candidate in candidates:
            if (run / candidate).is_file():
                found[name] = run / candidate
                break
    policies = sorted((run / "policies").glob("*/summary.json")) if run.is_dir() else []
    order = {mix: i for i, mix in enumerate(MIXES)}
    for path in sorted(policies, key=lambda p: (order.get(p.parent.name, 99), p.parent.name)):
        if path.with_name("model.pt").is_file():
            found[f"policy:{path.parent.name}"] = path
    return found


def _run_config(files: dict[str, Path]) -> WMConfig:
    """The run's config, or one rebuilt from the stages' records of split and gate."""
    if "config" in files:
        return WMConfig.from_dict(yaml.safe_load(files["config"].read_text()))
    mapping: dict[str, Any] = {}
    records = [load_json(p) for k, p in files.items() if k in ("world_model", "trust")]
    records += [load_json(p) for k, p in files.items() if k.startswith("policy:")]
    if "scores" in files and files["scores"].with_name("summary.json").is_file():
        gate = load_json(files["scores"].with_name("summary.json"))
        records.append(gate)
        mapping["gate"] = {
            k: gate[k] for k in ("trust_threshold", "rule") if gate.get(k) is not None
        }
    for record in records:
        split = record.get("split") if isinstance(record, dict) else None
        if isinstance(split, dict) and split.get("made"):
            mapping["split"] = {"test_fraction": split["test_fraction"], "seed": split["seed"]}
            break
    return WMConfig.from_dict(mapping)


def evaluate_run(run_dir: str | Path, *, plots: bool = True) -> dict[str, Any]:
    """Collect the diagnostics of a run folder into ``metrics.json`` (and plots).

    Raises:
        FileNotFoundError: the folder lacks the real or the synthetic episodes.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config, run_demo
        >>> d = tempfile.mkdtemp()
        >>> _ = run_demo(d, config=demo_config(False, 0, TINY_OVERRIDES), log=lambda line: None)
        >>> m = evaluate_run(d, plots=False)
        >>> m["std_ratio"]["per_step"][0], m["policies"]["real_only"]["synthetic_share"]
        (1.0, 0.0)
    """
    run = Path(run_dir)
    files = find_run_files(run)
    missing = [name for name in ("real", "synthetic") if name not in files]
    if missing:
        wanted = " and ".join(f"{RUN_FILES[m][0]} (or {RUN_FILES[m][1]})" for m in missing)
        raise FileNotFoundError(f"run folder {run} has no {wanted}")
    config = _run_config(files)
    train, test, split = load_real(files["real"], config)
    syn = load_episodes(files["synthetic"])
    paired = "source_episode" in syn.meta and "source_start" in syn.meta
    ref = real_counterparts(train, syn) if paired else train
    ratio = std_ratio_per_step(syn.z, ref.z, syn.lengths, ref.lengths)
    finite = ratio[np.isfinite(ratio)]
    metrics: dict[str, Any] = {
        "split": split,
        "synthetic": {
            "n_episodes": syn.n_episodes,
            "n_transitions": syn.n_transitions,
            "segments": bool(syn.meta.get("source_start", np.zeros(1)).any()),
        },
        "std_ratio": {
            "at_10": _at(ratio, 10),
            "at_60": _at(ratio, 60),
            "final": float(finite[-1]) if finite.size else None,
            "by_step": ratio_headline(ratio),
            "per_step": [None if not np.isfinite(r) else round(float(r), 4) for r in ratio],
        },
    }
    if "world_model" in files:
        metrics["world_model"] = load_json(files["world_model"])
    if "trust" in files:
        metrics["trust"] = load_json(files["trust"])
    scores = None
    if "scores" in files:
        scores = load_scores(files["scores"])
        gate_summary = files["scores"].with_name("summary.json")
        if gate_summary.is_file():
            metrics["gate"] = load_json(gate_summary)
        metrics["bricks"] = _brick_table(train, syn, scores, config)
        _write_predictions(run / "predictions.csv", scores, config)
    policies = {}
    for key, path in files.items():
        if key.startswith("policy:"):
            p = load_json(path)
            # re-evaluated from the saved checkpoint, which must load with weights_only=True
            p["action_mse_test"] = round(
                action_mse(load_policy(path.with_name("model.pt")), test), 6
            )
            policies[key.split(":", 1)[1]] = p
    base = policies.get("real_only", {}).get("action_mse_test")
    for p in policies.values():
        if base:
            p["vs_real_only_pct"] = round(100 * (p["action_mse_test"] - base) / base, 2)
    metrics["policies"] = policies
    if "trust_weighted" in policies and base:
        tw = policies["trust_weighted"]["vs_real_only_pct"]
        metrics["do_no_harm"] = bool(tw <= 5.0)
        metrics["accepted_synthetic_helps"] = bool(tw < 0.0)
    if plots:
        label = metrics.get("world_model", {}).get("mode", "world model")
        plot_std_ratio({label: ratio}, run / "plots/std_ratio.png")
        if scores is not None:
            p_all = np.concatenate([scores["p_real_real"], scores["p_real_synthetic"]])
            syn_mask = np.r_[
                np.zeros(len(scores["p_real_real"]), bool),
                np.ones(len(scores["p_real_synthetic"]), bool),
            ]
            plot_trust_histogram(
                p_all, syn_mask, config.gate.trust_threshold, run / "plots/trust_hist.png"
            )
    write_json(run / "metrics.json", metrics)
    return metrics


def _at(ratio: np.ndarray, step: int) -> float | None:
    """The ratio at ``step`` (the last step when the episodes are shorter), if it has one."""
    value = ratio[min(step, len(ratio) - 1)]
    return float(value) if np.isfinite(value) else None


def _brick_table(
    train: Episodes, syn: Episodes, scores: dict[str, np.ndarray], config: WMConfig
) -> list[dict[str, Any]]:
    """Per data brick: real episodes, the synthetic episodes started from them, their trust.

    A synthetic episode belongs to the brick of the real episode whose states and actions it
    reuses.
    """
    if "brick" not in train.meta or len(scores["p_real_synthetic"]) != syn.n_episodes:
        return []
    gate = TrustGate(config.gate.trust_threshold, config.gate.rule)
    syn_brick = train.meta["brick"][syn.meta["source_episode"]]
    p, passed = scores["p_real_synthetic"], scores["bounds_pass_synthetic"]
    accepted = gate.accepts(p, passed)
    rows = []
    for b in np.unique(train.meta["brick"]):
        mine = syn_brick == b
        some = bool(mine.any())
        rows.append(
            {
                "brick": int(b),
                "n_real": int((train.meta["brick"] == b).sum()),
                "n_synthetic": int(mine.sum()),
                "synthetic_mean_trust": float(p[mine].mean()) if some else None,
                "synthetic_trust_pass": float((p[mine] >= gate.threshold).mean()) if some else None,
                "synthetic_bounds_pass": float(passed[mine].mean()) if some else None,
                "synthetic_accepted": float(accepted[mine].mean()) if some else None,
            }
        )
    return rows


def _write_predictions(path: Path, scores: dict[str, np.ndarray], config: WMConfig) -> None:
    """One row per scored episode: source, p(real), bounds result, gate decision, weight."""
    gate = TrustGate(config.gate.trust_threshold, config.gate.rule)
    rows = []
    for source in ("real", "synthetic"):
        p = scores[f"p_real_{source}"]
        bounds = scores[f"bounds_pass_{source}"].astype(bool)
        accepted = gate.accepts(p, bounds)
        weight = np.ones_like(p) if source == "real" else gate.weights(p, bounds)
        for i in range(len(p)):
            rows.append(
                {
                    "episode": i,
                    "source": source,
                    "p_real": f"{p[i]:.6f}",
                    "bounds_pass": int(bounds[i]),
                    "trust_accepted": int(p[i] >= gate.threshold),
                    "gate_accepted": int(accepted[i]),
                    "weight": f"{weight[i]:.6f}",
                }
            )
    columns = [
        "episode",
        "source",
        "p_real",
        "bounds_pass",
        "trust_accepted",
        "gate_accepted",
        "weight",
    ]
    write_csv(path, rows, columns)


def print_report(m: dict[str, Any], log: Callable[[str], None] = print) -> None:
    """Print the summary of :func:`evaluate_run`'s metrics (std ratio, trust, gates, policies).

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config, run_demo
        >>> m = run_demo(tempfile.mkdtemp(), config=demo_config(False, 0, TINY_OVERRIDES),
        ...              log=lambda line: None)
        >>> lines = []
        >>> print_report(m, lines.append)
        >>> lines[0].startswith("std ratio synthetic/real"), len(lines)
        (True, 8)
    """
    from imbalance_world_model.diagnostics import format_headline

    log(f"std ratio synthetic/real by step: {format_headline(m['std_ratio']['by_step'])}")
    t = m.get("trust", {}).get("val")
    if t is not None:
        auc = "n/a" if t["roc_auc"] is None else f"{t['roc_auc']:.3f}"
        gap = "n/a" if t["trust_gap"] is None else f"{t['trust_gap']:.3f}"
        log(f"trust net (validation): accuracy {t['accuracy']:.3f}, ROC AUC {auc}, gap {gap}")
    if "gate" in m:
        g = m["gate"]["synthetic"]
        log(
            f"synthetic passing: bounds {g['bounds']:.1%}, trust {g['trust']:.1%}, both "
            f"{g['both']:.1%}; accepted under rule {m['gate'].get('rule', 'trust')!r}: "
            f"{g.get('accepted', g['trust']):.1%}"
        )
    if m["policies"]:
        log(f"{'policy':16} {'action MSE':>10} {'vs real':>8} {'synthetic share':>16}")
        for name, p in m["policies"].items():
            log(
                f"{name:16} {p['action_mse_test']:10.4f} "
                f"{p.get('vs_real_only_pct', 0.0):+7.2f}% {p['synthetic_share']:16.2%}"
            )
    if "do_no_harm" in m:
        verdict = "yes" if m["do_no_harm"] else "NO"
        log(f"do no harm (trust-weighted within 5% of real only): {verdict}")
