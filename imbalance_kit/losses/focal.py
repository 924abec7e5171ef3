"""Focal losses (Lin et al. 2017): sigmoid (binary / multi-label) and softmax (multi-class).

The focal loss multiplies the cross-entropy of each prediction by ``(1 - p_t)^gamma`` so that
well-classified examples (the abundant easy negatives of an imbalanced problem) contribute
little and training concentrates on the hard, rare ones. ``alpha`` re-weights the classes.

Both losses run on one fused autograd Function (loss and analytic gradient computed in a
single forward pass, only the gradient saved) and, on CUDA with Triton installed, on a fused
Triton kernel (``backend="auto"``).

Reference: Lin, Goyal, Girshick, He, Dollar, "Focal Loss for Dense Object Detection",
ICCV 2017, https://arxiv.org/abs/1708.02002.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit._fused import fused_loss
from imbalance_kit._validation import check_choice, check_in_range, check_non_negative
from imbalance_kit.losses._common import (
    BACKENDS,
    Backend,
    Reduction,
    check_module_weight,
    check_reduction,
)
from imbalance_kit.losses._sigmoid_core import (
    check_sigmoid_focal_args,
    check_sigmoid_focal_weights,
    sigmoid_focal_engine,
)
from imbalance_kit.losses._softmax_core import softmax_family_loss

__all__ = [
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]


def sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    *,
    pos_weight: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: float | None = None,
    reduction: Reduction = "mean",
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    """Sigmoid focal loss for binary and multi-label targets of any shape.

    With ``p = sigmoid(x)`` and smoothed targets ``t' = t (1 - eps) + eps / 2``, element-wise:

    $$
    \\mathcal{L}(x, t) = -w \\Bigl[ \\alpha\\, \\omega\\, t' (1 - p)^{\\gamma} \\log p
        + (1 - \\alpha)(1 - t')\\, p^{\\gamma} \\log (1 - p) \\Bigr]
    $$

    where ``omega`` is ``pos_weight`` and ``w`` is ``weight`` (both 1 when ``None``) and
    ``alpha=None`` puts 1 in place of both ``alpha`` and ``1 - alpha``. With hard targets and
    the default ``alpha=0.25, gamma=2`` this is ``torchvision.ops.sigmoid_focal_loss``; with
    ``gamma=0, alpha=None`` it equals ``F.binary_cross_entropy_with_logits(logits, targets,
    weight=weight, pos_weight=pos_weight)`` for every reduction.

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits: raw scores, any shape, floating point (float16/bfloat16 are computed in
            float32 and the loss is returned in their dtype).
        targets: same shape as ``logits``; values in [0, 1] (soft targets allowed; bool and
            integer tensors are read as 0/1) or equal to ``ignore_index``. No gradient flows
            into them.
        alpha: weight of the positive term in [0, 1] (negatives get ``1 - alpha``);
            ``None`` disables it.
        gamma: focusing parameter >= 0; 0 gives (weighted) binary cross-entropy.
            Fractional values keep finite gradients for confident predictions.
        pos_weight: weight of positives broadcast to the logits (usually ``(C,)`` over the
            last dimension), as in ``BCEWithLogitsLoss``.
        weight: element weights broadcast to the logits; not part of the ``"mean"``
            denominator (as in ``BCEWithLogitsLoss``).
        label_smoothing: ``eps`` in [0, 1]; targets are pulled towards 1/2.
        ignore_index: target value marking elements that contribute 0 and are not counted in
            the ``"mean"`` denominator (``None`` ignores nothing).
        reduction: ``"none"`` (shape of ``logits``), ``"mean"`` (sum / number of non-ignored
            elements) or ``"sum"``.
        backend: ``"auto"`` (Triton on CUDA when installed, else torch), ``"torch"`` or
            ``"triton"``.
        validate_args: check that target values are in [0, 1] (reads the tensor, a device
            sync on CUDA). Shape, dtype and option checks always run.

    Returns:
        The loss in the dtype of ``logits``.

    Raises:
        TypeError: a non-tensor input or non-floating logits or weights.
        ValueError: mismatched shapes, out-of-range ``alpha``/``gamma``/``label_smoothing``,
            unknown ``reduction``/``backend``, target values outside [0, 1], or targets,
            ``pos_weight`` or ``weight`` that require grad.
        RuntimeError: ``backend="triton"`` where Triton cannot run.

    Examples:
        >>> logits = torch.tensor([[3.0, -1.0], [0.5, -4.0]])
        >>> targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> sigmoid_focal_loss(logits, targets)
        tensor(0.3172)
        >>> import torch.nn.functional as F
        >>> bce = F.binary_cross_entropy_with_logits(logits, targets)
        >>> torch.allclose(sigmoid_focal_loss(logits, targets, alpha=None, gamma=0.0), bce)
        True
    """
    opts = check_sigmoid_focal_args(
        logits,
        targets,
        pos_weight,
        weight,
        alpha=alpha,
        gamma=gamma,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        reduction=reduction,
        backend=backend,
        check_targets=validate_args,
    )
    if validate_args:
        check_sigmoid_focal_weights(pos_weight, weight)
    engine = sigmoid_focal_engine(backend, logits)
    return fused_loss(
        engine, logits, targets, pos_weight, weight, opts=opts, what="sigmoid_focal_loss"
    )


def _sigmoid_focal_formula(
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
    """The definition of [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss] in plain
    autograd operations.

    The fused engines compute exactly this (loss and gradient) in one pass; the tests hold
    them to it. ``log p`` and ``log(1 - p)`` are ``logsigmoid(x)`` and ``logsigmoid(-x)``.

    Examples:
        >>> x, t = torch.tensor([3.0, -1.0, 15.0]), torch.tensor([1.0, 0.0, 1.0])
        >>> torch.allclose(_sigmoid_focal_formula(x, t), sigmoid_focal_loss(x, t))
        True
    """
    t = targets.to(logits.dtype)
    keep = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    t = torch.where(keep, t, 0.0) * (1 - label_smoothing) + label_smoothing / 2
    p = torch.sigmoid(logits)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    pos = a_pos * t * torch.sigmoid(-logits) ** gamma * F.logsigmoid(logits)  # (1 - p)^g log p
    if pos_weight is not None:
        pos = pos * pos_weight
    neg = a_neg * (1 - t) * p**gamma * F.logsigmoid(-logits)
    loss = -(pos + neg) if weight is None else -weight * (pos + neg)
    loss = torch.where(keep, loss, 0.0)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / keep.sum()


def softmax_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float | torch.Tensor | None = None,
    gamma: float = 2.0,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    """Softmax (multi-class) focal loss; class dimension 1 as in ``F.cross_entropy``.

    With ``p = softmax(z)`` over the classes and ``q_c = (1 - eps)[c = y] + eps / C``, per
    position with target ``y``:

    $$
    \\mathcal{L} = \\sum_{c} q_c\\, a_c\\, w_c\\, (1 - p_c)^{\\gamma}\\, (-\\log p_c)
    $$

    ``a_c`` is 1 (``alpha=None``), the scalar ``alpha`` or ``alpha[c]``; ``w_c`` is
    ``weight[c]`` (or 1). ``"mean"`` divides by the sum of ``w_y`` over the non-ignored
    positions (their count without ``weight``), exactly like ``F.cross_entropy``; with
    ``gamma=0, alpha=None`` the loss equals ``F.cross_entropy(logits, target, weight=weight,
    ignore_index=ignore_index, label_smoothing=label_smoothing)`` for every reduction.

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits: ``(N, C)`` or ``(N, C, d1, ...)`` unnormalised scores (float16/bfloat16 are
            computed in float32 and returned in their dtype).
        target: ``(N,)`` or ``(N, d1, ...)`` integer class indices in ``[0, C)`` or
            ``ignore_index``.
        alpha: ``None``, a scalar in [0, 1] applied to every class, or a non-negative
            per-class tensor ``(C,)`` (e.g. inverse class frequencies).
        gamma: focusing parameter >= 0; 0 gives (alpha-weighted) cross-entropy.
        weight: per-class weights ``(C,)``; part of the ``"mean"`` denominator.
        label_smoothing: ``eps`` in [0, 1], as in ``F.cross_entropy``.
        ignore_index: target value whose positions contribute 0 and are not counted.
        reduction: ``"none"`` (shape of ``target``), ``"mean"`` or ``"sum"``.
        backend: ``"auto"`` (Triton on CUDA when installed, else torch), ``"torch"`` or
            ``"triton"``.
        validate_args: check target values (and a tensor ``alpha``) before computing
            (reads tensors, a device sync on CUDA).

    Returns:
        The loss in the dtype of ``logits``.

    Raises:
        TypeError: a non-tensor input, non-floating logits or non-integer targets.
        ValueError: mismatched shapes, out-of-range arguments, unknown options or target
            values outside ``[0, C)``.
        RuntimeError: ``backend="triton"`` where Triton cannot run.

    Examples:
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> target = torch.tensor([0, 2])
        >>> softmax_focal_loss(logits, target, gamma=2.0)
        tensor(0.2062)
        >>> import torch.nn.functional as F
        >>> ce = F.cross_entropy(logits, target)
        >>> torch.allclose(softmax_focal_loss(logits, target, gamma=0.0), ce)
        True
    """
    return softmax_family_loss(
        logits,
        target,
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        reduction=reduction,
        backend=backend,
        validate_args=validate_args,
    )


def _check_common(gamma: float, label_smoothing: float, reduction: str, backend: str) -> None:
    check_non_negative("gamma", gamma)
    check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)


class SigmoidFocalLoss(nn.Module):
    """Module form of [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss];
    ``forward(logits, targets)`` calls it.

    ``pos_weight`` and ``weight`` are registered as buffers, so they follow ``.to(device)``
    and are saved in the state dict.

    $$
    \\mathcal{L} = -w \\Bigl[ \\alpha\\, \\omega\\, t' (1 - p)^{\\gamma} \\log p
        + (1 - \\alpha)(1 - t')\\, p^{\\gamma} \\log (1 - p) \\Bigr]
    $$

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        alpha: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        gamma: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        pos_weight: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        weight: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        label_smoothing: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        ignore_index: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        reduction: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        backend: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].
        validate_args: see [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss].

    Raises:
        ValueError: an out-of-range scalar argument or unknown option (checked here too).

    Examples:
        >>> criterion = SigmoidFocalLoss(alpha=0.25, gamma=2.0)
        >>> logits = torch.tensor([[3.0, -1.0], [0.5, -4.0]], requires_grad=True)
        >>> loss = criterion(logits, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        >>> loss.backward()
        >>> round(loss.item(), 4)
        0.3172
    """

    pos_weight: torch.Tensor | None
    weight: torch.Tensor | None

    def __init__(
        self,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        *,
        pos_weight: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: float | None = None,
        reduction: Reduction = "mean",
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        if alpha is not None:
            check_in_range("alpha", alpha, 0.0, 1.0)
        _check_common(gamma, label_smoothing, reduction, backend)
        self.alpha = alpha
        self.gamma = gamma
        check_module_weight("pos_weight", pos_weight, validate_args=validate_args)
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("pos_weight", pos_weight)
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits`` against ``targets`` (see
        [`sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss])."""
        return sigmoid_focal_loss(
            logits,
            targets,
            self.alpha,
            self.gamma,
            pos_weight=self.pos_weight,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}"


class SoftmaxFocalLoss(nn.Module):
    """Module form of [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss];
    ``forward(logits, target)`` calls it.

    A tensor ``alpha`` and ``weight`` are registered as buffers (they follow ``.to(device)``).

    $$
    \\mathcal{L} = \\sum_{c} q_c\\, a_c\\, w_c\\, (1 - p_c)^{\\gamma}\\, (-\\log p_c)
    $$

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        alpha: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        gamma: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        weight: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        label_smoothing: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        ignore_index: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        reduction: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        backend: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].
        validate_args: see [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss].

    Raises:
        ValueError: an out-of-range scalar argument or unknown option (checked here too).

    Examples:
        >>> criterion = SoftmaxFocalLoss(alpha=torch.tensor([0.25, 0.5, 1.0]), gamma=2.0)
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> criterion(logits, torch.tensor([0, 2]))
        tensor(0.2020)
    """

    alpha: float | torch.Tensor | None
    weight: torch.Tensor | None

    def __init__(
        self,
        alpha: float | torch.Tensor | None = None,
        gamma: float = 2.0,
        *,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(alpha, torch.Tensor):
            check_module_weight("alpha", alpha, validate_args=validate_args)
            self.register_buffer("alpha", alpha)
        else:
            if alpha is not None:
                check_in_range("alpha", alpha, 0.0, 1.0)
            self.alpha = alpha
        _check_common(gamma, label_smoothing, reduction, backend)
        self.gamma = gamma
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits`` against class indices ``target`` (see
        [`softmax_focal_loss`][imbalance_kit.losses.softmax_focal_loss])."""
        return softmax_focal_loss(
            logits,
            target,
            self.alpha,
            self.gamma,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        alpha = "tensor" if isinstance(self.alpha, torch.Tensor) else self.alpha
        return f"alpha={alpha}, gamma={self.gamma}, reduction={self.reduction!r}"
