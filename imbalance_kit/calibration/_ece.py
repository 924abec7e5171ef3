"""Calibration error: the binning and bin-statistics math, used by the functions and the meter.

Everything reduces to three numbers per bin (and per class in classwise mode):
the count, the sum of confidences and the sum of hits. Those sums are
additive, which is what lets [`CalibrationMeter`][imbalance_kit.calibration.CalibrationMeter]
stream in O(bins x classes) memory and all-reduce under ``torch.distributed``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from imbalance_kit._validation import check_bool, check_choice, check_positive_int, error
from imbalance_kit.calibration._inputs import prepare_labels, prepare_probs

__all__ = ["expected_calibration_error", "maximum_calibration_error"]

Norm = Literal["l1", "l2", "max"]
Binning = Literal["uniform", "quantile"]
Mode = Literal["top_label", "classwise"]

NORMS = ("l1", "l2", "max")
BINNINGS = ("uniform", "quantile")
MODES = ("top_label", "classwise")


def check_options(n_bins: Any, norm: Any, binning: Any, mode: Any, debias: Any) -> None:
    """Static checks of the options every calibration-error entry point shares."""
    check_positive_int("n_bins", n_bins)
    check_choice("norm", norm, NORMS)
    check_choice("binning", binning, BINNINGS)
    check_choice("mode", mode, MODES)
    check_bool("debias", debias)
    if debias and norm != "l2":
        raise error("debias", "False unless norm='l2' (the debiased estimator is for L2)", debias)


def scores_and_hits(
    probs: torch.Tensor, labels: torch.Tensor, mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The values that get binned, and whether each one was right.

    * ``top_label`` on ``(N, C)``: the top probability and ``argmax == label``, shape ``(N,)``.
    * ``top_label`` on ``(N,)``: the positive-class probability and ``label == 1``.
    * ``classwise``: every class probability and ``label == c``, shape ``(C, N)``
      (a binary ``(N,)`` input is read as the two columns ``[1 - p, p]``).
    """
    if mode == "top_label":
        if probs.ndim == 1:
            return probs, labels.to(probs.dtype)
        confidence, prediction = probs.max(dim=1)
        return confidence, (prediction == labels).to(probs.dtype)
    if probs.ndim == 1:
        probs = torch.stack([1 - probs, probs], dim=1)
    classes = torch.arange(probs.shape[1], device=probs.device)
    hits = (labels[None, :] == classes[:, None]).to(probs.dtype)
    return probs.T.contiguous(), hits


def uniform_bin_index(scores: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Bin ``b`` holds scores in ``[b / n_bins, (b + 1) / n_bins)``; the last bin also holds 1.

    Scores below 0 land in the first bin and above 1 in the last, so the index
    is always valid without a data-dependent check.
    """
    edges = torch.linspace(0, 1, n_bins + 1, dtype=scores.dtype, device=scores.device)[1:-1]
    return torch.bucketize(scores.contiguous(), edges, right=True)


def quantile_edges(scores: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Equal-mass bin edges along the last dimension (Kumar et al. 2019).

    The sorted scores are split into ``n_bins`` runs of near-equal length (the
    first ``N % n_bins`` runs one longer, as ``numpy.array_split``); each inner
    edge is the midpoint between the last score of a run and the first of the
    next. Runs past the end of the data (``n_bins > N``) get an edge of ``+inf``,
    so their bins stay empty. Returns ``(..., n_bins - 1)`` edges.
    """
    n = scores.shape[-1]
    ordered = scores.sort(dim=-1).values
    q, r = divmod(n, n_bins)
    sizes = torch.full((n_bins,), q, dtype=torch.long)
    sizes[:r] += 1
    splits = sizes.cumsum(0)[:-1].to(scores.device)
    below = ordered.index_select(-1, (splits - 1).clamp(0, n - 1))
    above = ordered.index_select(-1, splits.clamp(max=n - 1))
    edges = (below + above) / 2
    return edges.masked_fill(splits >= n, float("inf"))


def quantile_bin_index(scores: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Bin index with `quantile_edges`; a score equal to an edge goes to the lower bin."""
    edges = quantile_edges(scores, n_bins)
    return torch.searchsorted(edges.contiguous(), scores.contiguous(), right=False)


def bin_statistics(
    bin_index: torch.Tensor,
    scores: torch.Tensor,
    hits: torch.Tensor,
    n_bins: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-bin ``(count, sum of scores, sum of hits)`` in float64, added into ``out``.

    ``bin_index``, ``scores`` and ``hits`` are ``(N,)`` (one group) or ``(G, N)``
    (one group per class). Returns (and fills ``out`` if given) a ``(3, G, n_bins)``
    tensor. No host synchronisation: ``index_add_`` on precomputed flat indices.
    """
    groups = 1 if bin_index.ndim == 1 else bin_index.shape[0]
    if out is None:
        out = torch.zeros(3, groups, n_bins, dtype=torch.float64, device=scores.device)
    flat_index = bin_index
    if bin_index.ndim == 2:
        offsets = torch.arange(groups, device=bin_index.device)[:, None] * n_bins
        flat_index = bin_index + offsets
    flat_index = flat_index.reshape(-1)
    flat_out = out.view(3, groups * n_bins)
    ones = torch.ones((), dtype=torch.float64, device=scores.device).expand(flat_index.shape[0])
    flat_out[0].index_add_(0, flat_index, ones)
    flat_out[1].index_add_(0, flat_index, scores.reshape(-1).to(torch.float64))
    flat_out[2].index_add_(0, flat_index, hits.reshape(-1).to(torch.float64))
    return out


def error_from_statistics(stats: torch.Tensor, norm: str, debias: bool = False) -> torch.Tensor:
    r"""Calibration error from ``(3, G, B)`` bin statistics (float64, 0-d result).

    Per group ``g`` (one for top-label, one per class for classwise), with
    ``n_b`` the bin count, ``N`` the group total, ``acc_b`` and ``conf_b`` the
    bin means:

    * ``l1``: $\sum_b \frac{n_b}{N} |acc_b - conf_b|$, averaged over groups;
    * ``l2``: $\sum_b \frac{n_b}{N} (acc_b - conf_b)^2$, averaged over groups, then
      the square root; ``debias`` subtracts $\frac{acc_b (1 - acc_b)}{n_b - 1}$ in
      each bin, drops bins with fewer than 2 samples and clips the per-group
      value at 0 before averaging (Kumar et al. 2019);
    * ``max``: the largest $|acc_b - conf_b|$ over non-empty bins and groups.
    """
    count, score_sum, hit_sum = stats.unbind(0)
    total = count.sum(dim=-1, keepdim=True).clamp_min(1)
    safe = count.clamp_min(1)
    gap = hit_sum / safe - score_sum / safe  # 0 in empty bins
    if norm == "l1":
        return ((hit_sum - score_sum).abs().sum(dim=-1) / total.squeeze(-1)).mean()
    if norm == "max":
        return gap.abs().amax()
    weight = count / total
    squared = weight * gap.square()
    if debias:
        accuracy = hit_sum / safe
        variance = accuracy * (1 - accuracy) / (count - 1).clamp_min(1)
        squared = torch.where(count >= 2, squared - weight * variance, torch.zeros_like(squared))
        return squared.sum(dim=-1).clamp_min(0).mean().sqrt()
    return squared.sum(dim=-1).mean().sqrt()


def calibration_statistics(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int, binning: str, mode: str
) -> torch.Tensor:
    """``(3, G, n_bins)`` statistics of prepared inputs (see `bin_statistics`)."""
    scores, hits = scores_and_hits(probs, labels, mode)
    if binning == "uniform":
        index = uniform_bin_index(scores, n_bins)
    else:
        index = quantile_bin_index(scores, n_bins)
    return bin_statistics(index, scores, hits, n_bins)


def _result_dtype(probs: torch.Tensor) -> torch.dtype:
    return torch.float64 if probs.dtype == torch.float64 else torch.float32


def expected_calibration_error(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    *,
    norm: Norm = "l1",
    binning: Binning = "uniform",
    mode: Mode = "top_label",
    debias: bool = False,
    from_logits: bool = False,
) -> torch.Tensor:
    r"""Expected calibration error (ECE) and its L2 / max variants.

    Predictions are grouped into bins by their score; in each bin the mean
    score (confidence) is compared with the fraction that was right (accuracy):

    $$
    \mathrm{ECE}_1 = \sum_{b=1}^{B} \frac{n_b}{N} \lvert \mathrm{acc}_b - \mathrm{conf}_b \rvert,
    \quad
    \mathrm{ECE}_2 = \sqrt{\textstyle\sum_{b} \frac{n_b}{N} (\mathrm{acc}_b - \mathrm{conf}_b)^2},
    \quad
    \mathrm{ECE}_\infty = \max_{b:\,n_b>0} \lvert \mathrm{acc}_b - \mathrm{conf}_b \rvert .
    $$

    * ``mode="top_label"`` bins the top probability of each row against
      ``argmax == label`` (Guo et al. 2017). For binary ``(N,)`` input it bins the
      positive-class probability against the 0/1 label, as
      ``sklearn.calibration.calibration_curve`` and torchmetrics'
      ``binary_calibration_error`` do.
    * ``mode="classwise"`` computes the error of every class probability against
      ``label == c`` and combines the classes: mean (``l1``), root of the mean of
      squares (``l2``) or max (``max``) (Kull et al. 2019; Kumar et al. 2019's
      marginal calibration error). Binary ``(N,)`` input is read as ``[1 - p, p]``.
    * ``binning="uniform"``: bin ``b`` holds scores in ``[b/B, (b+1)/B)`` (the last
      bin also holds 1). ``binning="quantile"``: equal-mass bins whose edges are
      midpoints between consecutive sorted scores (Kumar et al. 2019); ties share a bin.
    * ``debias=True`` (``norm="l2"`` only) subtracts the sampling variance
      ``acc_b (1 - acc_b) / (n_b - 1)`` from each bin, ignoring bins with fewer than
      two samples, and clips at 0 before the square root (Kumar et al. 2019).

    References: Guo et al. 2017, "On Calibration of Modern Neural Networks";
    Kumar, Liang & Ma 2019, "Verified Uncertainty Calibration";
    Kull et al. 2019, "Beyond temperature scaling".

    Args:
        probs: ``(N, C)`` class probabilities (rows sum to 1) or ``(N,)``
            positive-class probabilities; torch tensor (any device) or numpy.
        labels: ``(N,)`` class indices, or 0/1 for ``(N,)`` input.
        n_bins: number of bins ``B`` (>= 1).
        norm: ``"l1"`` (ECE), ``"l2"`` (RMS calibration error) or ``"max"`` (MCE).
        binning: ``"uniform"`` or ``"quantile"`` (equal-mass).
        mode: ``"top_label"`` or ``"classwise"``.
        debias: debiased L2 estimator; requires ``norm="l2"``.
        from_logits: apply softmax (``(N, C)``) or sigmoid (``(N,)``) first.

    Returns:
        A 0-d tensor on the input's device (float64 for float64 input, else float32).

    Raises:
        ValueError: empty input, probabilities outside ``[0, 1]`` or rows not
            summing to 1, labels out of range, mismatched lengths, bad options.
        TypeError: non-floating ``probs`` or a non-bool ``debias``.

    Examples:
        >>> import torch
        >>> probs = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.25, 0.75], [0.65, 0.35]])
        >>> labels = torch.tensor([0, 1, 1, 0])
        >>> expected_calibration_error(probs, labels, n_bins=5)
        tensor(0.3500)
        >>> expected_calibration_error(probs, labels, n_bins=5, norm="max")
        tensor(0.4000)
        >>> expected_calibration_error(torch.tensor([0.9, 0.25, 0.7]), torch.tensor([1, 0, 0]))
        tensor(0.3500)
    """
    check_options(n_bins, norm, binning, mode, debias)
    prepared = prepare_probs(probs, from_logits=from_logits)
    targets = prepare_labels(labels, prepared)
    with torch.no_grad():
        stats = calibration_statistics(prepared, targets, n_bins, binning, mode)
        value = error_from_statistics(stats, norm, debias)
    return value.to(_result_dtype(prepared))


def maximum_calibration_error(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    *,
    binning: Binning = "uniform",
    mode: Mode = "top_label",
    from_logits: bool = False,
) -> torch.Tensor:
    r"""Maximum calibration error: the largest bin gap (Naeini et al. 2015).

    $$
    \mathrm{MCE} = \max_{b:\,n_b>0} \lvert \mathrm{acc}_b - \mathrm{conf}_b \rvert
    $$

    Same as ``expected_calibration_error(..., norm="max")``; see there for the
    binning, mode and input conventions. With ``mode="classwise"`` it is the
    maximum over classes too.

    Reference: Naeini, Cooper & Hauskrecht 2015, "Obtaining Well Calibrated
    Probabilities Using Bayesian Binning".

    Args:
        probs: ``(N, C)`` class probabilities or ``(N,)`` positive-class probabilities.
        labels: ``(N,)`` class indices (0/1 for ``(N,)`` input).
        n_bins: number of bins (>= 1).
        binning: ``"uniform"`` or ``"quantile"``.
        mode: ``"top_label"`` or ``"classwise"``.
        from_logits: apply softmax / sigmoid first.

    Returns:
        A 0-d tensor on the input's device.

    Raises:
        ValueError: as
            [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error].

    Examples:
        >>> import torch
        >>> probs = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.25, 0.75], [0.65, 0.35]])
        >>> maximum_calibration_error(probs, torch.tensor([0, 1, 1, 0]), n_bins=5)
        tensor(0.4000)
    """
    return expected_calibration_error(
        probs, labels, n_bins, norm="max", binning=binning, mode=mode, from_logits=from_logits
    )
