"""Naive full-matrix SupCon and NT-Xent, written from the papers' formulas.

These materialise the whole similarity matrix and rely on plain autograd; they
are the reference the tests and the loss benchmark compare
``imbalance_kit.losses.contrastive`` against. The layout deliberately differs
from the library's (views are stacked view-major, as in the official SupCon
code, and NT-Xent pairs are handled through an explicit partner index).
"""

from __future__ import annotations

import torch

__all__ = ["nt_xent_reference", "supcon_reference"]


def _unit(z: torch.Tensor) -> torch.Tensor:
    return z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def supcon_reference(
    features: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 0.1,
    normalize: bool = True,
) -> torch.Tensor:
    """Khosla et al. 2020, L_out: mean over anchors having at least one positive.

    ``features`` is ``(N, D)`` or ``(N, V, D)``; ``labels=None`` makes every
    sample its own class (positives are the other views). Returns 0 (attached
    to the graph) when no anchor has a positive.
    """
    if features.ndim == 2:
        features = features[:, None, :]
    n, v, _ = features.shape
    z = torch.cat(torch.unbind(features, dim=1), dim=0)  # (V*N, D), view-major
    if normalize:
        z = _unit(z)
    y = torch.arange(n) if labels is None else labels
    y = y.repeat(v)
    m = n * v
    eye = torch.eye(m, dtype=torch.bool)
    sim = z @ z.T / temperature
    denominator = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    log_prob = sim - denominator
    positives = (y[:, None] == y[None, :]) & ~eye
    n_pos = positives.sum(dim=1)
    per_anchor = -(log_prob * positives).sum(dim=1) / n_pos.clamp_min(1)
    valid = n_pos > 0
    if not bool(valid.any()):
        return z.sum() * 0.0
    return per_anchor[valid].mean()


def nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Chen et al. 2020: rows 2k and 2k+1 are the two views of sample k.

    l(i, j) = -log(exp(sim(i, j)/t) / sum_{k != i} exp(sim(i, k)/t)),
    loss = 1/(2N) sum_k [l(2k, 2k+1) + l(2k+1, 2k)], sim = cosine similarity.
    """
    n = z1.shape[0]
    z = _unit(torch.stack([z1, z2], dim=1).reshape(2 * n, -1))
    sim = z @ z.T / temperature
    idx = torch.arange(2 * n)
    partner = idx ^ 1
    others = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    losses = -(sim[idx, partner] - torch.logsumexp(others, dim=1))
    return losses.sum() / (2 * n)
