"""Brier score for binary and multiclass probabilities."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from imbalance_kit.calibration._inputs import prepare_labels, prepare_probs

__all__ = ["brier_score"]


def brier_score(probs: Any, labels: Any, *, from_logits: bool = False) -> torch.Tensor:
    r"""Brier score: mean squared difference between probabilities and outcomes.

    Binary ``(N,)`` input (positive-class probabilities, 0/1 labels) gives

    $$
    \mathrm{BS} = \frac{1}{N} \sum_{i=1}^{N} (p_i - y_i)^2 \in [0, 1],
    $$

    equal to scikit-learn's ``brier_score_loss(labels, probs)``. Multiclass
    ``(N, C)`` input uses the original definition, summed over classes,

    $$
    \mathrm{BS} = \frac{1}{N} \sum_{i=1}^{N} \sum_{c=1}^{C} (p_{ic} - [y_i = c])^2 \in [0, 2],
    $$

    equal to scikit-learn's ``brier_score_loss(labels, probs, labels=range(C))``
    (scikit-learn >= 1.7). A binary problem written as ``(N, 2)`` therefore gives
    twice the ``(N,)`` value.

    The score is differentiable in ``probs`` (it can be used as a loss).

    Reference: Brier 1950, "Verification of forecasts expressed in terms of probability".

    Args:
        probs: ``(N, C)`` class probabilities or ``(N,)`` positive-class probabilities.
        labels: ``(N,)`` class indices (0/1 for ``(N,)`` input).
        from_logits: apply softmax (``(N, C)``) or sigmoid (``(N,)``) first.

    Returns:
        A 0-d tensor on the input's device.

    Raises:
        ValueError: empty input, values that are not probabilities, labels out of range.

    Examples:
        >>> import torch
        >>> brier_score(torch.tensor([0.1, 0.9, 0.8, 0.3]), torch.tensor([0, 1, 1, 0]))
        tensor(0.0375)
        >>> brier_score(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1]))
        tensor(0.0500)
    """
    prepared = _prepare_keep_grad(probs, from_logits=from_logits)
    targets = prepare_labels(labels, prepared.detach())
    if prepared.ndim == 1:
        return (prepared - targets.to(prepared.dtype)).square().mean()
    one_hot = F.one_hot(targets, prepared.shape[1]).to(prepared.dtype)
    return (prepared - one_hot).square().sum(dim=1).mean()


def _prepare_keep_grad(probs: Any, *, from_logits: bool) -> torch.Tensor:
    """Validate through `prepare_probs` but keep the autograd graph of a tensor input."""
    checked = prepare_probs(probs, from_logits=from_logits)
    if not isinstance(probs, torch.Tensor) or not probs.requires_grad:
        return checked
    tensor = probs if probs.dtype in (torch.float32, torch.float64) else probs.float()
    if from_logits:
        return torch.sigmoid(tensor) if tensor.ndim == 1 else torch.softmax(tensor, dim=1)
    return tensor
