"""Reference calibration code in plain numpy / Python, written from the papers.

* `ece_reference` follows Guo et al. 2017 (top-label ECE / MCE) and Kumar,
  Liang & Ma 2019 ("Verified Uncertainty Calibration", the ``calibration``
  package: ``get_equal_bins``, ``plugin_ce``, ``unbiased_square_ce`` and the
  marginal (classwise) mode), one bin at a time with Python loops.
* `lbfgs_temperature` is the temperature-scaling recipe most projects copy
  (gpleiss/temperature_scaling: ``nn.Parameter(1.5)``, ``LBFGS(lr=0.01,
  max_iter=50)``), used by the benchmark as the peer.
* `nll_at_temperature` is the plain float64 NLL of ``softmax(logits / T)``.
"""

from __future__ import annotations

import bisect

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ece_reference", "lbfgs_temperature", "nll_at_temperature"]


def _groups(
    probs: np.ndarray, labels: np.ndarray, mode: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, hits) pairs: one for top-label, one per class for classwise."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if probs.ndim == 1:
        if mode == "top_label":
            return [(probs, (labels == 1).astype(np.float64))]
        probs = np.stack([1.0 - probs, probs], axis=1)
    if mode == "top_label":
        top = np.argmax(probs, axis=1)
        return [(probs.max(axis=1), (top == labels).astype(np.float64))]
    return [(probs[:, k], (labels == k).astype(np.float64)) for k in range(probs.shape[1])]


def _uniform_bins(scores: np.ndarray, n_bins: int) -> list[list[int]]:
    """Bin b holds [b/B, (b+1)/B); the last bin holds 1.0 too (sklearn's calibration_curve)."""
    inner = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for i, s in enumerate(scores):
        members[bisect.bisect_right(list(inner), s)].append(i)
    return members


def _equal_mass_bins(scores: np.ndarray, n_bins: int) -> list[list[int]]:
    """Kumar et al.'s get_equal_bins + bin(): midpoints between array_split runs, bisect_left."""
    sorted_scores = sorted(scores)
    num_bins = min(n_bins, len(sorted_scores))
    runs = np.array_split(sorted_scores, num_bins)
    edges = []
    for i in range(len(runs) - 1):
        edges.append((runs[i][-1] + runs[i + 1][0]) / 2.0)
    edges.append(np.inf)
    edges = sorted(set(edges))
    members: list[list[int]] = [[] for _ in range(len(edges))]
    for i, s in enumerate(scores):
        members[bisect.bisect_left(edges, s)].append(i)
    return members


def _one_group(scores, hits, n_bins, norm, binning, debias) -> float:
    """Calibration error of one (scores, hits) group; squared for l2."""
    bins = (
        _uniform_bins(scores, n_bins) if binning == "uniform" else _equal_mass_bins(scores, n_bins)
    )
    n = len(scores)
    total = 0.0
    worst = 0.0
    for members in bins:
        if not members:
            continue
        conf = float(np.mean(scores[members]))
        acc = float(np.mean(hits[members]))
        weight = len(members) / n
        worst = max(worst, abs(acc - conf))
        if norm == "l1":
            total += weight * abs(acc - conf)
        elif norm == "l2" and not debias:
            total += weight * (acc - conf) ** 2
        elif norm == "l2":  # Kumar et al.'s unbiased_square_ce: bins of size < 2 count 0
            if len(members) < 2:
                continue
            variance = acc * (1.0 - acc) / (len(members) - 1.0)
            total += weight * ((acc - conf) ** 2 - variance)
    if norm == "max":
        return worst
    if norm == "l2" and debias:
        return max(total, 0.0)
    return total


def ece_reference(
    probs,
    labels,
    n_bins: int = 15,
    norm: str = "l1",
    binning: str = "uniform",
    mode: str = "top_label",
    debias: bool = False,
) -> float:
    """Calibration error by the book (see the module docstring); returns a Python float."""
    per_group = [
        _one_group(s, h, n_bins, norm, binning, debias) for s, h in _groups(probs, labels, mode)
    ]
    if norm == "l1":
        return float(np.mean(per_group))
    if norm == "max":
        return float(np.max(per_group))
    return float(np.sqrt(np.mean(per_group)))  # l2: per-group values are squared


def nll_at_temperature(logits, labels, temperature: float) -> float:
    """Mean NLL of softmax(logits / T) (sigmoid for 1-D logits), in float64."""
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    y = torch.as_tensor(np.asarray(labels))
    if z.ndim == 1:
        return float(F.binary_cross_entropy_with_logits(z, y.to(torch.float64)))
    return float(F.cross_entropy(z, y.long()))


def lbfgs_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    init: float = 1.5,
    lr: float = 0.01,
    max_iter: int = 50,
    return_evaluations: bool = False,
) -> float | tuple[float, int]:
    """The usual temperature-scaling fit: LBFGS on T directly (gpleiss/temperature_scaling).

    Returns T, and with ``return_evaluations`` also the number of NLL + gradient evaluations.
    """
    temperature = torch.nn.Parameter(torch.ones(1, dtype=logits.dtype) * init)
    optimizer = torch.optim.LBFGS([temperature], lr=lr, max_iter=max_iter)
    calls = [0]

    def closure():
        calls[0] += 1
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / temperature, labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    if return_evaluations:
        return float(temperature.detach()), calls[0]
    return float(temperature.detach())
