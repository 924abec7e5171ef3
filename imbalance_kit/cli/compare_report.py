"""Tables, files and plots of ``imbalance-kit compare`` (and of the quality benchmark)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imbalance_kit.app import format_mean_std, markdown_table, summarise_study, write_json
from imbalance_kit.cli.compare import STRATEGIES, RunResult

__all__ = [
    "METRICS",
    "format_mean_std",
    "markdown_table",
    "plot_metric_bars",
    "plot_reliability",
    "summarise",
    "summary_table",
    "write_csv",
    "write_json",
]

#: metric key -> (column title, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "balanced_accuracy": ("bal. acc", True),
    "macro_f1": ("macro-F1", True),
    "tail_recall": ("tail recall", True),
    "pr_auc": ("PR-AUC", True),
    "ece": ("ECE", False),
    "ece_ts": ("ECE (TS)", False),
}


#: shorter column titles for the terminal table (it must read at 80 columns)
SHORT_TITLES: dict[str, str] = {
    "balanced_accuracy": "bal.acc",
    "macro_f1": "macro-F1",
    "tail_recall": "tail rec",
    "pr_auc": "PR-AUC",
    "ece": "ECE",
    "ece_ts": "ECE(TS)",
}


def summarise(runs: Sequence[RunResult]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation (ddof 1) of every metric per strategy.

    Returns:
        ``{strategy: {"label", "n_seeds", "seconds_per_run", metric: {"mean", "std", "n"}}}``
        in the order strategies first appear in ``runs``.
    """
    keys = [*METRICS, "temperature"]
    rows = [{"strategy": r.strategy, **r.metrics} for r in runs]
    out: dict[str, dict[str, Any]] = {}
    for stats in summarise_study(rows, keys, by="strategy"):
        name = stats["strategy"]
        mine = [r for r in runs if r.strategy == name]
        entry: dict[str, Any] = {
            "label": STRATEGIES[name].label if name in STRATEGIES else name,
            "n_seeds": len(mine),
            "seconds_per_run": float(np.mean([r.seconds for r in mine])),
        }
        entry.update({k: stats[k] for k in keys if stats[k] is not None})
        out[name] = entry
    return out


def _best(summary: dict[str, dict[str, Any]], key: str, higher: bool) -> set[str]:
    """Strategies whose mean, at the 3 decimals the table shows, is the best one."""
    means = {n: round(e[key]["mean"], 3) for n, e in summary.items() if key in e}
    if len(means) < 2:
        return set()
    target = max(means.values()) if higher else min(means.values())
    return {n for n, m in means.items() if m == target}


def summary_table(
    summary: dict[str, dict[str, Any]],
    *,
    mark_best: bool = True,
    timing: bool = True,
    stacked: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the mean ± std table; the best mean of each metric gets a ``*``.

    ``stacked`` puts each spread under its mean (two-line cells), so that the terminal table
    stays within 80 columns; a single seed shows the value alone.
    """
    keys = [k for k in METRICS if any(k in e for e in summary.values())]
    titles = SHORT_TITLES if stacked else {k: METRICS[k][0] for k in keys}
    columns = ["strategy", *(titles[k] for k in keys)]
    if timing:
        columns.append("s/run")
    best = {k: _best(summary, k, METRICS[k][1]) if mark_best else set() for k in keys}
    rows = []
    for name, entry in summary.items():
        cells = [entry["label"]]
        for k in keys:
            mean, sep, spread = format_mean_std(entry.get(k), stacked=stacked).partition("\n")
            mark = ("*" if name in best[k] else " ") if mark_best else ""
            cells.append(mean + mark + sep + spread + (" " if sep and mark_best else ""))
        if timing:
            cells.append(f"{entry['seconds_per_run']:.2f}")
        rows.append(cells)
    return columns, rows


def write_csv(path: str | os.PathLike[str], runs: Sequence[RunResult], **extra: Any) -> None:
    """One row per (strategy, seed): the metrics, seconds, and ``extra`` constant columns."""
    keys = [k for k in (*METRICS, "temperature") if any(k in r.metrics for r in runs)]
    fields = [*extra, "strategy", "seed", *keys, "seconds"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for r in runs:
            row = {**extra, "strategy": r.strategy, "seed": r.seed, "seconds": round(r.seconds, 4)}
            row.update({k: r.metrics.get(k, "") for k in keys})
            writer.writerow(row)


def plot_metric_bars(
    summary: dict[str, dict[str, Any]], path: str | os.PathLike[str], title: str = ""
) -> None:
    """Grouped bars (mean, with ± std error bars) of every metric and strategy, saved as PNG."""
    from matplotlib.figure import Figure

    keys = [k for k in METRICS if any(k in e for e in summary.values())]
    names = list(summary)
    fig = Figure(figsize=(min(14.0, max(6.0, 0.22 * len(keys) * len(names) + 2.5)), 4.8))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(names))
    x = np.arange(len(keys))
    for i, name in enumerate(names):
        means = [summary[name].get(k, {"mean": np.nan})["mean"] for k in keys]
        stds = [summary[name].get(k, {"std": 0.0})["std"] for k in keys]
        ax.bar(
            x + (i - (len(names) - 1) / 2) * width,
            means,
            width,
            yerr=stds,
            capsize=2,
            label=summary[name]["label"],
        )
    ax.set_xticks(x)
    ax.set_xticklabels([METRICS[k][0] + ("" if METRICS[k][1] else " (lower)") for k in keys])
    ax.set_ylim(0, 1)
    ax.set_ylabel("test score (mean ± std over seeds)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(5, len(names)), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.savefig(path, dpi=110)


def plot_reliability(
    probs: np.ndarray, labels: np.ndarray, path: str | os.PathLike[str], title: str
) -> None:
    """Reliability diagram of test probabilities (library plot), saved as PNG."""
    from imbalance_kit.calibration import plot_reliability_diagram

    fig = plot_reliability_diagram(probs, labels, n_bins=15, title=title)
    fig.savefig(path, dpi=100)
