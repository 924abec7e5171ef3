"""Evaluation of a ``demo`` run folder: ``metrics.json``, ``predictions.csv``, plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from imbalance_kit.app import load_json, write_csv, write_json
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import Episodes, load_episodes, split_real
from imbalance_world_model.diagnostics import (
    plot_std_ratio,
    plot_trust_histogram,
    std_ratio_per_step,
)
from imbalance_world_model.gates import TrustGate, load_scores
from imbalance_world_model.model import action_mse, load_policy
from imbalance_world_model.train import MIXES

__all__ = ["evaluate_run", "print_report"]


def evaluate_run(run_dir: str | Path, *, plots: bool = True) -> dict[str, Any]:
    """Collect the diagnostics of a ``demo`` run folder into ``metrics.json`` (and plots).

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
    need = [run / "data/real.npz", run / "data/synthetic.npz", run / "gate/scores.npz"]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"run folder {run} lacks {', '.join(missing)}")
    config = WMConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    train, test = split_real(load_episodes(run / "data/real.npz"))
    syn = load_episodes(run / "data/synthetic.npz")
    ratio = std_ratio_per_step(syn.z, train.z[syn.meta["source_episode"]])
    scores = load_scores(run / "gate/scores.npz")
    policies = {}
    for mix in MIXES:
        path = run / "policies" / mix / "summary.json"
        if path.is_file():
            p = load_json(path)
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
        "world_model": load_json(run / "world_model/summary.json"),
        "trust": load_json(run / "trust/metrics.json"),
        "gate": load_json(run / "gate/summary.json"),
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
    write_json(run / "metrics.json", metrics)
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
    rows = []
    for source in ("real", "synthetic"):
        p = scores[f"p_real_{source}"]
        bounds = scores[f"bounds_pass_{source}"]
        weight = np.ones_like(p) if source == "real" else gate.weights(p)
        for i in range(len(p)):
            rows.append(
                {
                    "episode": i,
                    "source": source,
                    "p_real": f"{p[i]:.6f}",
                    "bounds_pass": int(bounds[i]),
                    "trust_accepted": int(p[i] >= gate.threshold),
                    "trust_weight": f"{weight[i]:.6f}",
                }
            )
    columns = ["episode", "source", "p_real", "bounds_pass", "trust_accepted", "trust_weight"]
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
        (True, 7)
    """
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
