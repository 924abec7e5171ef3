"""Reliability curves (per-bin confidence, accuracy, count) and reliability diagrams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from imbalance_kit._validation import check_choice, check_positive_int
from imbalance_kit.calibration._ece import (
    BINNINGS,
    Binning,
    bin_statistics,
    error_from_statistics,
    quantile_bin_index,
    quantile_edges,
    scores_and_hits,
    uniform_bin_index,
)
from imbalance_kit.calibration._inputs import prepare_labels, prepare_probs

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure, SubFigure

__all__ = ["plot_reliability_diagram", "reliability_curve"]


def curve_from_statistics(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(confidence, accuracy, count)`` from ``(3, ..., B)`` statistics; NaN in empty bins."""
    count, score_sum, hit_sum = stats.unbind(0)
    empty = count == 0
    safe = count.clamp_min(1)
    confidence = (score_sum / safe).masked_fill(empty, float("nan"))
    accuracy = (hit_sum / safe).masked_fill(empty, float("nan"))
    return confidence, accuracy, count.to(torch.long)


def _curve(
    probs: Any, labels: Any, n_bins: int, binning: str, from_logits: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prepared statistics plus the bin edges (for drawing) of a top-label curve."""
    check_positive_int("n_bins", n_bins)
    check_choice("binning", binning, BINNINGS)
    prepared = prepare_probs(probs, from_logits=from_logits)
    targets = prepare_labels(labels, prepared)
    with torch.no_grad():
        scores, hits = scores_and_hits(prepared, targets, "top_label")
        if binning == "uniform":
            index = uniform_bin_index(scores, n_bins)
            edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
        else:
            index = quantile_bin_index(scores, n_bins)
            inner = quantile_edges(scores, n_bins).to("cpu", torch.float64)
            edges = torch.cat([torch.zeros(1, dtype=torch.float64), inner, torch.ones(1)])
        stats = bin_statistics(index, scores, hits, n_bins)[:, 0]
    return stats, edges, scores


def reliability_curve(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    *,
    binning: Binning = "uniform",
    from_logits: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-bin mean confidence, accuracy and count of a top-label reliability curve.

    For ``(N, C)`` input the score is the top probability and a hit is
    ``argmax == label``; for binary ``(N,)`` input the score is the
    positive-class probability and the hit is the 0/1 label (on non-empty bins
    this is ``sklearn.calibration.calibration_curve(labels, probs, n_bins=n_bins)``
    with ``accuracy = prob_true`` and ``confidence = prob_pred``). A perfectly
    calibrated model has $\mathrm{acc}_b = \mathrm{conf}_b$ in every bin:

    $$
    \mathrm{conf}_b = \frac{1}{n_b}\sum_{i \in b} s_i, \qquad
    \mathrm{acc}_b = \frac{1}{n_b}\sum_{i \in b} [\text{hit}_i].
    $$

    Reference: DeGroot & Fienberg 1983; Niculescu-Mizil & Caruana 2005.

    Args:
        probs: ``(N, C)`` class probabilities or ``(N,)`` positive-class probabilities.
        labels: ``(N,)`` class indices (0/1 for ``(N,)`` input).
        n_bins: number of bins (>= 1).
        binning: ``"uniform"`` or ``"quantile"`` (same bins as
            [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error]).
        from_logits: apply softmax / sigmoid first.

    Returns:
        ``(confidence, accuracy, count)``, each of length ``n_bins`` on the input's
        device; ``confidence`` and ``accuracy`` (float64) are NaN in empty bins,
        ``count`` is int64.

    Raises:
        ValueError: as
            [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error].

    Examples:
        >>> import torch
        >>> conf, acc, count = reliability_curve(
        ...     torch.tensor([0.15, 0.25, 0.85, 0.95]), torch.tensor([0, 1, 1, 1]), n_bins=2
        ... )
        >>> conf
        tensor([0.2000, 0.9000], dtype=torch.float64)
        >>> acc
        tensor([0.5000, 1.0000], dtype=torch.float64)
        >>> count
        tensor([2, 2])
    """
    stats = _curve(probs, labels, n_bins, binning, from_logits)[0]
    return curve_from_statistics(stats)


def plot_reliability_diagram(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    *,
    binning: Binning = "uniform",
    from_logits: bool = False,
    title: str | None = None,
    show_histogram: bool = True,
    figsize: tuple[float, float] | None = None,
    figure: Figure | SubFigure | None = None,
) -> Figure:
    """Reliability diagram: accuracy bars, the gap to the diagonal, and a confidence histogram.

    The top panel draws one bar per non-empty bin at its accuracy, a red
    hatched bar for the gap between accuracy and mean confidence, and the
    diagonal of perfect calibration; the legend shows the ECE of the same bins.
    The bottom panel (``show_histogram``) is the histogram of scores, with the
    average confidence and the accuracy marked, as in Guo et al. 2017 (Figure 1).

    The figure is a ``matplotlib.figure.Figure`` made without ``pyplot``, so no
    global state changes and no GUI backend is needed; save it with
    ``fig.savefig(path)``. matplotlib is an optional dependency
    (``pip install 'imbalance-kit[plot]'``), imported only here.

    Reference: Guo et al. 2017, "On Calibration of Modern Neural Networks".

    Args:
        probs: ``(N, C)`` class probabilities or ``(N,)`` positive-class probabilities.
        labels: ``(N,)`` class indices (0/1 for ``(N,)`` input).
        n_bins: number of bins (>= 1).
        binning: ``"uniform"`` or ``"quantile"``.
        from_logits: apply softmax / sigmoid first.
        title: title of the top panel.
        show_histogram: add the confidence histogram below the diagram.
        figsize: size in inches of a new figure; defaults to ``(4, 5)`` with the
            histogram, ``(4, 4)`` without. Not allowed together with ``figure``.
        figure: draw into this (empty) ``Figure`` or ``SubFigure`` instead of a new
            one, e.g. ``Figure().subfigures(1, 2)`` for diagrams side by side.

    Returns:
        The matplotlib ``Figure`` (the root figure when ``figure`` is a ``SubFigure``).

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: as
            [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error].

    Examples:
        >>> import torch
        >>> probs = torch.softmax(3 * torch.randn(500, 4), dim=1)
        >>> labels = torch.randint(0, 4, (500,))
        >>> fig = plot_reliability_diagram(probs, labels, n_bins=10, title="random")
        >>> len(fig.axes)
        2
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_reliability_diagram needs matplotlib: pip install 'imbalance-kit[plot]'"
        ) from exc
    stats, edges, scores = _curve(probs, labels, n_bins, binning, from_logits)
    ece = float(error_from_statistics(stats[:, None], "l1"))
    confidence, accuracy, count = (t.cpu() for t in curve_from_statistics(stats))
    edges = edges.numpy()
    left, width = edges[:-1], edges[1:] - edges[:-1]
    filled = (count > 0).numpy()
    conf, acc = confidence.numpy(), accuracy.numpy()

    if figure is not None and figsize is not None:
        raise ValueError("figsize must be None when figure is given (size the figure itself)")
    if figure is None:
        if figsize is None:
            figsize = (4.0, 5.0) if show_histogram else (4.0, 4.0)
        fig = Figure(figsize=figsize, layout="constrained")
    else:
        fig = figure
    root = fig.figure  # the figure itself, or the root of a SubFigure
    if show_histogram:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    else:
        top, bottom = fig.subplots(1, 1), None
    top.bar(
        left[filled], acc[filled], width=width[filled], align="edge",
        color="#4c72b0", edgecolor="black", linewidth=0.5, label="accuracy",
    )  # fmt: skip
    gap_low = np.minimum(acc[filled], conf[filled])
    top.bar(
        left[filled], np.abs(conf[filled] - acc[filled]), bottom=gap_low, width=width[filled],
        align="edge", color="#dd4444", alpha=0.35, edgecolor="#aa0000", hatch="//",
        linewidth=0.5, label="gap",
    )  # fmt: skip
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", linewidth=1)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", title=f"ECE = {100 * ece:.2f}%", fontsize="small")
    if title is not None:
        top.set_title(title)
    if bottom is None:
        top.set_xlabel("confidence")
        return root
    total = max(int(count.sum()), 1)
    bottom.bar(
        left, count.numpy() / total, width=width, align="edge",
        color="#8c8c8c", edgecolor="black", linewidth=0.5,
    )  # fmt: skip
    mean_conf = float(scores.double().mean())
    mean_acc = float(stats[2].sum() / stats[0].sum())
    bottom.axvline(mean_conf, color="#dd4444", linestyle="--", linewidth=1, label="avg conf.")
    bottom.axvline(mean_acc, color="#4c72b0", linestyle="-", linewidth=1, label="accuracy")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("fraction")
    bottom.legend(loc="upper left", fontsize="x-small")
    return root
