"""Independent reference implementations of the focal losses.

* `torchvision_sigmoid_focal_loss` is the formula of
  ``torchvision.ops.sigmoid_focal_loss`` as published (torchvision 0.15+), written out so
  the tests and the loss benchmark need no torchvision install. Plain autograd, eager ops.
* `naive_sigmoid_focal_loss` is the full formula of
  [`imbalance_kit.losses.sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss] (pos_weight,
  weight, label smoothing, ignore_index) written term by term with autograd.
* `naive_softmax_focal_loss` is the softmax-family formula (alpha, weight, label
  smoothing, ignore_index, offsets, margins, scale) written term by term with autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "naive_sigmoid_focal_loss",
    "naive_softmax_focal_loss",
    "torchvision_sigmoid_focal_loss",
]


def torchvision_sigmoid_focal_loss(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> torch.Tensor:
    """``torchvision.ops.sigmoid_focal_loss`` (Lin et al. 2017), body copied verbatim."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)

    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss

    if reduction == "none":
        pass
    elif reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    else:
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction}'")
    return loss


def naive_sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    *,
    pos_weight: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: float | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Element-wise sigmoid focal loss, term by term.

    ``loss = -w [a_pos pw t' (1-p)^g log p + a_neg (1-t') p^g log(1-p)]`` with
    ``t' = t (1 - eps) + eps / 2``; "mean" divides by the number of non-ignored elements.
    """
    x = logits.double()
    t = targets.double()
    keep = torch.ones_like(t, dtype=torch.bool)
    if ignore_index is not None:
        keep = t != ignore_index
        t = torch.where(keep, t, torch.zeros_like(t))
    t = t * (1 - label_smoothing) + label_smoothing / 2
    p = torch.sigmoid(x)
    log_p = F.logsigmoid(x)
    log_q = F.logsigmoid(-x)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1 - alpha)
    pw = 1.0 if pos_weight is None else pos_weight.double()
    w = 1.0 if weight is None else weight.double()
    pos = a_pos * pw * t * (1 - p) ** gamma * log_p
    neg = a_neg * (1 - t) * p**gamma * log_q
    loss = -w * (pos + neg)
    loss = torch.where(keep, loss, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()


def naive_softmax_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float | torch.Tensor | None = None,
    gamma: float = 2.0,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    offsets: torch.Tensor | None = None,
    margins: torch.Tensor | None = None,
    scale: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Softmax focal loss (class dim 1), term by term with one-hot matrices.

    ``loss_row = sum_c q_c a_c w_c (1 - p_c)^gamma (-log p_c)`` on
    ``z' = scale (z + o - m [c == y])``; "mean" divides by the sum of ``w_y`` over the
    non-ignored rows (their count without ``weight``).
    """
    num_classes = logits.shape[1]
    z = logits.double().movedim(1, -1).reshape(-1, num_classes)
    y = target.reshape(-1)
    keep = y != ignore_index
    y_safe = torch.where(keep, y, torch.zeros_like(y))
    one_hot = F.one_hot(y_safe, num_classes).double()
    if offsets is not None:
        z = z + offsets.double()
    if margins is not None:
        z = z - one_hot * margins.double()
    z = z * scale
    log_p = torch.log_softmax(z, dim=1)
    p = torch.softmax(z, dim=1)
    q = (1 - label_smoothing) * one_hot + label_smoothing / num_classes
    if alpha is None:
        a = torch.ones(num_classes, dtype=torch.float64)
    elif isinstance(alpha, torch.Tensor):
        a = alpha.double()
    else:
        a = torch.full((num_classes,), float(alpha), dtype=torch.float64)
    w = torch.ones(num_classes, dtype=torch.float64) if weight is None else weight.double()
    rows = (q * a * w * (1 - p) ** gamma * (-log_p)).sum(1)
    rows = torch.where(keep, rows, torch.zeros_like(rows))
    if reduction == "none":
        return rows.reshape(target.shape)
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / (w[y_safe] * keep).sum()
