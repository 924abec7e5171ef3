"""The PNG figures of ``imbalance-risk evaluate``: reliability, ROC / PR curves, risk timelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from imbalance_kit.calibration import plot_reliability_diagram
from imbalance_risk.data import PreparedData
from imbalance_risk.model import Predictions


def write_plots(
    out: Path,
    suffix: str,
    part: PreparedData,
    preds: Predictions,
    threshold: float,
    n_bins: int,
    calibrated: np.ndarray | None = None,
) -> list[str]:
    """Write the figures into ``out``; return their file names."""
    from matplotlib.figure import Figure

    y = part.binary > 0.5
    written = []
    fig = plot_reliability_diagram(preds.prob, y.astype(np.int64), n_bins, title="Failure risk")
    fig.savefig(out / f"reliability{suffix}.png", dpi=110, bbox_inches="tight")
    written.append(f"reliability{suffix}.png")
    if calibrated is not None:
        fig = plot_reliability_diagram(
            calibrated, y.astype(np.int64), n_bins, title="Failure risk, temperature-scaled"
        )
        fig.savefig(out / f"reliability_calibrated{suffix}.png", dpi=110, bbox_inches="tight")
        written.append(f"reliability_calibrated{suffix}.png")

    fig = Figure(figsize=(9, 4))
    ax_roc, ax_pr = fig.subplots(1, 2)
    if y.any() and not y.all():
        fpr, tpr, _ = roc_curve(y, preds.score)
        precision, recall, _ = precision_recall_curve(y, preds.score)
        ax_roc.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, preds.score):.3f}")
        ax_pr.plot(recall, precision, label=f"AP {average_precision_score(y, preds.score):.3f}")
    ax_roc.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax_pr.axhline(y.mean(), color="k", ls="--", lw=0.8, label=f"base rate {y.mean():.3f}")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax_roc.legend(loc="lower right")
    ax_pr.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / f"curves{suffix}.png", dpi=110)
    written.append(f"curves{suffix}.png")

    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    failed = np.unique(part.episode[part.steps_to_failure >= 0])[:6]
    for ep in failed:
        rows = part.episode == ep
        d = part.steps_to_failure[rows]
        line = ax.plot(-d, preds.prob[rows], lw=1.2, label=f"episode {int(ep)}")
        if preds.mc_std is not None:
            ax.fill_between(
                -d,
                np.clip(preds.prob[rows] - preds.mc_std[rows], 0, 1),
                np.clip(preds.prob[rows] + preds.mc_std[rows], 0, 1),
                color=line[0].get_color(),
                alpha=0.15,
            )
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:.2f}")
    ax.set(
        xlabel="steps relative to the failure (0 = failing step)",
        ylabel="predicted failure probability",
        title="Predicted risk along failed episodes (band: MC-dropout std)",
        ylim=(-0.02, 1.02),
    )
    if len(failed):
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / f"timeline{suffix}.png", dpi=110)
    written.append(f"timeline{suffix}.png")
    return written
