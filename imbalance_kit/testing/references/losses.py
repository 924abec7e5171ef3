"""Naive reference implementations of the re-balanced and multi-label losses.

Each function writes the paper's formula out literally, in float64, with Python
loops over samples and classes where that is clearer than vectorised code. They
are deliberately slow and share no code with [`imbalance_kit.losses`][imbalance_kit.losses], so a
test comparing the two checks the library against the paper, not against itself.
All return the *unreduced* loss (per sample, or per element for multi-label).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "ref_asymmetric",
    "ref_balanced_softmax",
    "ref_class_balanced",
    "ref_effective_number_weights",
    "ref_implication",
    "ref_ldam",
    "ref_ldam_margins",
    "ref_logit_adjusted",
]


def _rows(logits: torch.Tensor) -> np.ndarray:
    return logits.detach().to(torch.float64).cpu().numpy()


def _log_softmax_entry(row: np.ndarray, k: int) -> float:
    """log( exp(row[k]) / sum_j exp(row[j]) ), shifted by the max for overflow only."""
    top = max(row)
    denom = sum(math.exp(v - top) for v in row)
    return (row[k] - top) - math.log(denom)


def ref_effective_number_weights(counts: Sequence[float], beta: float) -> np.ndarray:
    """Cui et al. 2019, eq. (3) and their reference code: w_c = (1-beta)/(1-beta^n_c), sum = C."""
    n = np.asarray(counts, dtype=np.float64)
    effective_num = 1.0 - np.power(beta, n)
    weights = (1.0 - beta) / effective_num
    return weights / weights.sum() * len(n)


def ref_class_balanced(
    logits: torch.Tensor,
    target: torch.Tensor,
    counts: Sequence[float],
    beta: float,
    loss_type: str,
    gamma: float = 1.0,
) -> np.ndarray:
    """Per-sample class-balanced loss, following the paper's section 4 and reference code.

    softmax: w_y * CE; sigmoid: w_y * sum_c BCE(z_c, [c == y]); focal: w_y * sum_c of the
    reference code's ``exp(-gamma*y*z - gamma*log(1+exp(-z))) * BCE``; softmax_focal:
    w_y * (1 - p_y)^gamma * CE.
    """
    z = _rows(logits)
    y = target.cpu().numpy()
    w = ref_effective_number_weights(counts, beta)
    out = np.zeros(len(y))
    for i in range(len(y)):
        if loss_type in ("softmax", "softmax_focal"):
            log_p = _log_softmax_entry(z[i], int(y[i]))
            focus = (1.0 - math.exp(log_p)) ** gamma if loss_type == "softmax_focal" else 1.0
            out[i] = -w[y[i]] * focus * log_p
            continue
        total = 0.0
        for c in range(z.shape[1]):
            label = 1.0 if c == y[i] else 0.0
            zc = z[i, c]
            p = 1.0 / (1.0 + math.exp(-zc))
            bce = -(label * math.log(p) + (1.0 - label) * math.log(1.0 - p))
            if loss_type == "focal" and gamma != 0.0:
                modulator = math.exp(-gamma * label * zc - gamma * math.log(1.0 + math.exp(-zc)))
            else:
                modulator = 1.0
            total += modulator * bce
        out[i] = w[y[i]] * total
    return out


def ref_balanced_softmax(
    logits: torch.Tensor, target: torch.Tensor, counts: Sequence[float]
) -> np.ndarray:
    """Ren et al. 2020, eq. (4): -log( n_y e^{z_y} / sum_c n_c e^{z_c} )."""
    z = _rows(logits)
    n = np.asarray(counts, dtype=np.float64)
    out = np.zeros(len(target))
    for i, yi in enumerate(target.tolist()):
        num = n[yi] * math.exp(z[i, yi])
        den = sum(n[c] * math.exp(z[i, c]) for c in range(len(n)))
        out[i] = -math.log(num / den)
    return out


def ref_logit_adjusted(
    logits: torch.Tensor, target: torch.Tensor, priors: Sequence[float], tau: float
) -> np.ndarray:
    """Menon et al. 2021, eq. (10): -log( pi_y^tau e^{z_y} / sum_c pi_c^tau e^{z_c} )."""
    z = _rows(logits)
    pi = np.asarray(priors, dtype=np.float64)
    out = np.zeros(len(target))
    for i, yi in enumerate(target.tolist()):
        num = pi[yi] ** tau * math.exp(z[i, yi])
        den = sum(pi[c] ** tau * math.exp(z[i, c]) for c in range(len(pi)))
        out[i] = -math.log(num / den)
    return out


def ref_ldam_margins(counts: Sequence[float], max_margin: float) -> np.ndarray:
    """Cao et al. 2019 reference code: m = 1 / n^(1/4), rescaled so max(m) = max_margin."""
    m = 1.0 / np.sqrt(np.sqrt(np.asarray(counts, dtype=np.float64)))
    return m * (max_margin / m.max())


def ref_ldam(
    logits: torch.Tensor,
    target: torch.Tensor,
    counts: Sequence[float],
    max_margin: float,
    scale: float,
) -> np.ndarray:
    """Cao et al. 2019, eq. (10) with the reference code's scale s: CE(s * (z - m_y e_y))."""
    z = _rows(logits)
    m = ref_ldam_margins(counts, max_margin)
    out = np.zeros(len(target))
    for i, yi in enumerate(target.tolist()):
        row = [scale * (z[i, c] - (m[yi] if c == yi else 0.0)) for c in range(z.shape[1])]
        out[i] = -_log_softmax_entry(np.asarray(row), yi)
    return out


def ref_asymmetric(
    logits: torch.Tensor, targets: torch.Tensor, gamma_pos: float, gamma_neg: float, clip: float
) -> np.ndarray:
    """Ridnik et al. 2021: -[y (1-p)^g+ log p + (1-y) p_m^g- log(1-p_m)], p_m = max(p-m, 0)."""
    z = _rows(logits)
    t = targets.detach().to(torch.float64).cpu().numpy()
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        p = 1.0 / (1.0 + math.exp(-z[idx]))
        p_m = max(p - clip, 0.0)
        pos = (1.0 - p) ** gamma_pos * math.log(p)
        neg = p_m**gamma_neg * math.log(1.0 - p_m)
        out[idx] = -(t[idx] * pos + (1.0 - t[idx]) * neg)
    return out


def ref_implication(
    logits: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    weight: Sequence[float] | None = None,
) -> np.ndarray:
    """(N, M) penalty w_k * max(0, sigmoid(z_child) - sigmoid(z_parent))."""
    z = _rows(logits)
    out = np.zeros((z.shape[0], len(pairs)))
    for n in range(z.shape[0]):
        for k, (child, parent) in enumerate(pairs):
            p_child = 1.0 / (1.0 + math.exp(-z[n, child]))
            p_parent = 1.0 / (1.0 + math.exp(-z[n, parent]))
            w = 1.0 if weight is None else weight[k]
            out[n, k] = w * max(0.0, p_child - p_parent)
    return out
