"""Asymmetric loss (ASL) for multi-label classification with rare positives.

Ridnik et al., "Asymmetric Loss For Multi-Label Classification", ICCV 2021.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit._validation import (
    check_dtype_floating,
    check_finite,
    check_in_range,
    check_non_negative,
    check_non_negative_tensor,
    check_same_shape,
    check_tensor,
    error,
)
from imbalance_kit.losses._common import (
    Reduction,
    check_logits_device,
    check_module_weight,
    check_reduction,
    check_weight_tensor,
    reduce_loss,
)

__all__ = ["AsymmetricLoss", "asymmetric_loss"]


def _check_broadcast_weight(weight: torch.Tensor, shape: torch.Size) -> None:
    try:
        out = torch.broadcast_shapes(weight.shape, shape)
    except RuntimeError:
        out = None
    if out != shape:
        raise error(
            "weight",
            f"broadcastable to the logits shape {tuple(shape)}",
            f"shape {tuple(weight.shape)}",
            raw=True,
        )


def _check_soft_targets(targets: torch.Tensor) -> None:
    check_finite("targets", targets)
    if targets.numel() and bool(((targets < 0) | (targets > 1)).any()):
        bad = targets[(targets < 0) | (targets > 1)][0].item()
        raise error("targets", "in [0, 1]", f"{bad!r}", raw=True)


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    *,
    weight: torch.Tensor | None = None,
    detach_focusing_weight: bool = False,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Asymmetric loss (ASL) for multi-label classification.

    Each label is an independent binary problem with probability
    $p = \sigma(z)$. Negatives are down-weighted twice: their probability is
    shifted by the margin ``clip`` (easy negatives with $p \le$ ``clip`` are
    discarded entirely) and focused with a larger exponent than positives:

    ```math
    p_m = \max(p - m, 0), \qquad
    \ell = -w \left[ y\,(1 - p)^{\gamma_+} \log p
           + (1 - y)\, p_m^{\gamma_-} \log(1 - p_m) \right].
    ```

    With ``gamma_pos=gamma_neg=0`` and ``clip=0`` it equals
    ``F.binary_cross_entropy_with_logits(logits, targets, weight=weight)``.

    Numerics: $\log p$ and $\log(1 - p)$ are computed with ``logsigmoid``, and
    $\log(1 - p_m) = \log \min(\sigma(-z) + m, 1)$, so no ``eps`` clamp is
    needed and values and gradients stay finite for logits of +-100 and
    beyond (the paper's reference code clamps the probabilities at
    ``eps=1e-8`` instead, which differs only where $|z| > 18$). Focusing
    weights are evaluated as $\exp(\gamma \log(\cdot))$ and are exactly 0 where
    $p_m = 0$, so exponents below 1 give finite gradients too.

    Reduction: ``"mean"`` averages over all ``N x L`` elements (weighted
    elements included, as ``F.binary_cross_entropy_with_logits`` does);
    the paper's reference code returns the ``"sum"``.

    Reference: Ridnik et al., "Asymmetric Loss For Multi-Label
    Classification", ICCV 2021.

    Args:
        logits: raw scores of any shape, typically ``(N, L)``; floating point
            (float16/bfloat16 are computed in float32 and returned in their dtype).
        targets: same shape as ``logits``; 0/1 labels or soft targets in
            ``[0, 1]`` (any dtype; converted to ``logits.dtype``).
        gamma_pos: focusing exponent $\gamma_+ \ge 0$ of the positive term.
        gamma_neg: focusing exponent $\gamma_- \ge 0$ of the negative term.
        clip: probability margin $m \in [0, 1)$ of the negative term; 0 turns
            probability shifting off.
        weight: optional non-negative element weight broadcastable to
            ``logits`` (for example a per-label ``(L,)`` vector).
        detach_focusing_weight: compute the focusing factors
            $(1-p)^{\gamma_+}$ and $p_m^{\gamma_-}$ without gradient, like
            the reference code's ``disable_torch_grad_focal_loss=True``.
            Default ``False``: the gradient flows through them, as in the
            paper's formula.
        reduction: ``"none"`` (element-wise loss, shape of ``logits``),
            ``"mean"`` or ``"sum"``.
        validate_args: check tensor values (targets in ``[0, 1]``, finite,
            non-negative ``weight``); this reads the data and synchronises on
            CUDA. Shape and argument checks always run.

    Returns:
        The reduced loss (0-D), or the element-wise loss for ``"none"``.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: shapes differ, ``gamma_pos``/``gamma_neg`` negative,
            ``clip`` outside ``[0, 1)``, targets outside ``[0, 1]``, a bad
            ``weight`` or ``reduction``.

    Examples:
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]])
        >>> targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
        >>> asymmetric_loss(logits, targets)
        tensor(0.2042)
        >>> torch.allclose(
        ...     asymmetric_loss(logits, targets, gamma_pos=0.0, gamma_neg=0.0, clip=0.0),
        ...     F.binary_cross_entropy_with_logits(logits, targets),
        ... )
        True
    """
    check_tensor("logits", logits)
    check_tensor("targets", targets)
    check_dtype_floating("logits", logits)
    check_logits_device(logits)
    check_same_shape("logits", logits, "targets", targets)
    if targets.device != logits.device:
        raise error(
            "targets", f"on the logits' device {logits.device}", f"device {targets.device}",
            raw=True,
        )  # fmt: skip
    check_non_negative("gamma_pos", gamma_pos)
    check_non_negative("gamma_neg", gamma_neg)
    check_in_range("clip", clip, 0.0, 1.0, high_inclusive=False)
    check_reduction(reduction)
    if weight is not None:
        check_weight_tensor("weight", weight, logits)
        _check_broadcast_weight(weight, logits.shape)
    targets = targets.to(logits.dtype)
    if validate_args:
        _check_soft_targets(targets)
        if weight is not None:
            check_non_negative_tensor("weight", weight)

    out_dtype = logits.dtype
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # logs and powers in float32; the result is cast back
        targets = targets.float()
    log_p = F.logsigmoid(logits)  # log p
    log_q = F.logsigmoid(-logits)  # log (1 - p)
    if clip > 0:
        # 1 - p_m = min(1 - p + m, 1) >= m > 0: the log is finite.
        log_one_minus_pm = torch.log(torch.clamp(torch.sigmoid(-logits) + clip, max=1.0))
    else:
        log_one_minus_pm = log_q

    pos = log_p
    neg = log_one_minus_pm
    if gamma_pos > 0:
        w_pos = torch.exp(gamma_pos * log_q)  # (1 - p)^gamma_pos
        pos = pos * (w_pos.detach() if detach_focusing_weight else w_pos)
    if gamma_neg > 0:
        if clip > 0:
            p_m = torch.clamp(torch.sigmoid(logits) - clip, min=0.0)
            alive = p_m > 0
            # Double `where` keeps the gradient of pow finite where p_m == 0.
            safe = torch.where(alive, p_m, torch.ones_like(p_m))
            w_neg = torch.where(alive, safe.pow(gamma_neg), torch.zeros_like(p_m))
        else:
            w_neg = torch.exp(gamma_neg * log_p)  # p^gamma_neg
        neg = neg * (w_neg.detach() if detach_focusing_weight else w_neg)

    loss = -(targets * pos + (1.0 - targets) * neg)
    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    return reduce_loss(loss, reduction).to(out_dtype)


class AsymmetricLoss(nn.Module):
    r"""Module twin of [`asymmetric_loss`][imbalance_kit.losses.asymmetric_loss]; ``forward`` only
    calls it.

    Args:
        gamma_pos: focusing exponent of the positive term.
        gamma_neg: focusing exponent of the negative term.
        clip: probability margin of the negative term.
        weight: optional element weight broadcastable to the logits,
            registered as a buffer (moves with ``.to(device)``).
        detach_focusing_weight: compute the focusing factors without gradient.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        validate_args: check tensor values on every call.

    Examples:
        >>> loss_fn = AsymmetricLoss(gamma_neg=4.0, clip=0.05)
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 1.0]])
        >>> targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
        >>> loss_fn(logits, targets)
        tensor(0.2042)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        *,
        weight: torch.Tensor | None = None,
        detach_focusing_weight: bool = False,
        reduction: Reduction = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_non_negative("gamma_pos", gamma_pos)
        check_non_negative("gamma_neg", gamma_neg)
        check_in_range("clip", clip, 0.0, 1.0, high_inclusive=False)
        check_reduction(reduction)
        if weight is not None:
            check_tensor("weight", weight)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.detach_focusing_weight = detach_focusing_weight
        self.reduction = reduction
        self.validate_args = validate_args
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss; see [`asymmetric_loss`][imbalance_kit.losses.asymmetric_loss]."""
        return asymmetric_loss(
            logits,
            targets,
            self.gamma_pos,
            self.gamma_neg,
            self.clip,
            weight=self.weight,
            detach_focusing_weight=self.detach_focusing_weight,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return (
            f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, "
            f"reduction={self.reduction!r}"
        )
