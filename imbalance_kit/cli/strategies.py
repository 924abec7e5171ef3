"""The strategies of ``imbalance-kit compare``: name, table label, loss and data handling.

Every loss, weight, sampler and oversampler comes from the library; each
strategy only fixes its hyper-parameters, a priori, at the values of its paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch.nn import functional as F

__all__ = ["LDAM_SCALE", "STRATEGIES", "LossFn", "Strategy"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Scale of the cosine classifier that LDAM trains (Cao et al. 2019 use s = 30).
LDAM_SCALE = 30.0


@dataclass(frozen=True)
class Strategy:
    """One way of training under imbalance.

    Attributes:
        name: command-line name, e.g. ``"balanced-softmax"``.
        label: name shown in tables.
        summary: one line on what it does and its fixed hyper-parameters.
        make_loss: ``make_loss(counts)`` returns ``loss(logits, target)``;
            ``counts`` are the training counts per class (float tensor on the
            training device).
        data: ``"plain"``, ``"smote"`` (oversample the training rows first) or
            ``"sampler"`` (class-balanced batches).
        cosine_head: train a cosine classifier (normalised features and
            weights), whose logits are ``LDAM_SCALE * cos``.
    """

    name: str
    label: str
    summary: str
    make_loss: Callable[[torch.Tensor], LossFn]
    data: Literal["plain", "smote", "sampler"] = "plain"
    cosine_head: bool = False


def _ce(counts: torch.Tensor) -> LossFn:
    return F.cross_entropy


def _weighted_ce(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.weights import compute_class_weights

    weight = compute_class_weights(counts, method="balanced", from_counts=True).to(counts.device)
    return lambda logits, target: F.cross_entropy(logits, target, weight=weight)


def _focal(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.losses import softmax_focal_loss

    return lambda logits, target: softmax_focal_loss(logits, target, gamma=2.0)


def _cb_focal(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.losses import class_balanced_loss

    return lambda logits, target: class_balanced_loss(
        logits, target, counts, beta=0.9999, loss_type="focal", gamma=1.0
    )


def _balanced_softmax(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.losses import balanced_softmax_loss

    return lambda logits, target: balanced_softmax_loss(logits, target, counts)


def _logit_adjustment(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.losses import logit_adjusted_loss

    priors = counts / counts.sum()
    return lambda logits, target: logit_adjusted_loss(logits, target, priors, tau=1.0)


def _ldam(counts: torch.Tensor) -> LossFn:
    from imbalance_kit.losses import ldam_loss

    return lambda cosine, target: ldam_loss(
        cosine, target, counts, max_margin=0.5, scale=LDAM_SCALE
    )


#: The strategies of ``imbalance-kit compare``, in table order.
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("ce", "cross-entropy", "plain cross-entropy (the baseline)", _ce),
        Strategy(
            "weighted-ce",
            "weighted CE",
            "cross-entropy with balanced class weights N / (C n_c)",
            _weighted_ce,
        ),
        Strategy("focal", "focal", "softmax focal loss, gamma = 2 (Lin et al. 2017)", _focal),
        Strategy(
            "cb-focal",
            "class-balanced focal",
            "focal loss (gamma = 1) weighted by effective numbers, beta = 0.9999 (Cui et al. 2019)",
            _cb_focal,
        ),
        Strategy(
            "balanced-softmax",
            "balanced softmax",
            "cross-entropy of logits + log n_c (Ren et al. 2020)",
            _balanced_softmax,
        ),
        Strategy(
            "logit-adjustment",
            "logit adjustment",
            "cross-entropy of logits + log prior_c, tau = 1 (Menon et al. 2021)",
            _logit_adjustment,
        ),
        Strategy(
            "ldam",
            "LDAM",
            "LDAM margins (max 0.5) on a cosine classifier, scale 30, no DRW (Cao et al. 2019)",
            _ldam,
            cosine_head=True,
        ),
        Strategy(
            "smote",
            "SMOTE + CE",
            "SMOTE every class to the majority count (k = min(5, n_c - 1)), then cross-entropy",
            _ce,
            data="smote",
        ),
        Strategy(
            "balanced-sampler",
            "balanced sampler + CE",
            "class-balanced batches (every class equally likely), cross-entropy",
            _ce,
            data="sampler",
        ),
    )
}
