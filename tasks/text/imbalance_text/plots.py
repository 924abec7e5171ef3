"""PNG figures of a run (matplotlib, Agg backend, no pyplot state).

* ``per_label_scores.png``: precision, recall and F1 per label (rare labels marked);
* ``pr_curves.png``: one precision-recall curve per label;
* ``reliability.png``: one reliability curve per label
  (:func:`imbalance_kit.calibration.reliability_curve`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from imbalance_kit.calibration import reliability_curve
from imbalance_text.schema import LabelSchema

__all__ = ["plot_per_label_scores", "plot_pr_curves", "plot_reliability", "save_figure"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG (120 dpi) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    file = Path(path)
    fig.savefig(file, dpi=120)
    return file


def plot_per_label_scores(report: dict[str, Any], title: str = "") -> Any:
    """Grouped bars of precision / recall / F1 per label from an evaluation report.

    Examples:
        >>> report = {"per_label": {"a": {"precision": 0.5, "recall": 1.0, "f1": 0.67,
        ...                               "rare": False}}}
        >>> len(plot_per_label_scores(report).axes)
        1
    """
    per = report["per_label"]
    names = list(per)
    fig = _figure(max(6.0, 0.9 * len(names) + 2), 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    for k, (key, color) in enumerate(
        [("precision", "#3f51b5"), ("recall", "#e91e63"), ("f1", "#4caf50")]
    ):
        values = [per[n][key] if per[n][key] is not None else 0.0 for n in names]
        ax.bar(x + (k - 1) * 0.27, values, width=0.27, label=key, color=color)
    ticks = [f"{n} *" if per[n].get("rare") else n for n in names]
    ax.set_xticks(x)
    ax.set_xticklabels(ticks, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncols=3)
    ax.set_title(title or "per-label scores (* rare)")
    fig.tight_layout()
    return fig


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, n)
    return math.ceil(n / cols), cols


def plot_pr_curves(targets: Any, probs: Any, schema: LabelSchema) -> Any:
    """One precision-recall curve per label (labels without positives are left empty)."""
    y, p = np.asarray(targets) > 0.5, np.asarray(probs, dtype=np.float64)
    rows, cols = _grid(schema.num_labels)
    fig = _figure(3.0 * cols, 2.6 * rows)
    for j, name in enumerate(schema.names):
        ax = fig.add_subplot(rows, cols, j + 1)
        if y[:, j].any():
            precision, recall, _ = precision_recall_curve(y[:, j], p[:, j])
            ax.plot(recall, precision, color="#3f51b5")
            ax.axhline(y[:, j].mean(), color="grey", lw=0.8, ls="--")
        ax.set_title(name, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=7)
    fig.suptitle("precision (y) vs recall (x); dashed: prevalence", fontsize=9)
    fig.tight_layout()
    return fig


def plot_reliability(targets: Any, probs: Any, schema: LabelSchema, n_bins: int = 10) -> Any:
    """One reliability curve per label (mean predicted probability vs observed frequency)."""
    y = np.asarray(targets).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    rows, cols = _grid(schema.num_labels)
    fig = _figure(3.0 * cols, 2.6 * rows)
    for j, name in enumerate(schema.names):
        ax = fig.add_subplot(rows, cols, j + 1)
        conf, acc, count = reliability_curve(p[:, j], y[:, j], n_bins)
        keep = (count > 0).numpy()
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.plot(conf.numpy()[keep], acc.numpy()[keep], marker="o", ms=3, color="#e91e63")
        ax.set_title(name, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=7)
    fig.suptitle("observed frequency (y) vs mean predicted probability (x)", fontsize=9)
    fig.tight_layout()
    return fig
