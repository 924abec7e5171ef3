"""What the fused losses and their engines share: option types, dtypes and one autograd node.

The losses ([`imbalance_kit.losses`][imbalance_kit.losses]) check their arguments, then hand the
tensors and a frozen options record (`SigmoidFocalOptions`, `SoftmaxOptions`) to an *engine*:
the fused Triton kernels (`imbalance_kit.kernels`), the compiled CPU kernels
([`imbalance_kit.kernels.cpu`][imbalance_kit.kernels.cpu]) or the blocked torch code of the losses.
Every engine is a function ``engine(logits, *tensors, opts=..., need_grad=...) -> (loss, grad)``
that computes the loss and its analytic gradient with respect to the logits in one forward pass;
`fused_loss` wraps it in the one autograd node they all use, which saves only that
gradient. Imports run one way: losses -> kernels -> this module (never back).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from imbalance_kit._validation import error

__all__ = [
    "BACKENDS",
    "REDUCTIONS",
    "Backend",
    "Reduction",
    "SigmoidFocalOptions",
    "SoftmaxOptions",
    "check_first_order",
    "compute_dtype",
    "fused_loss",
    "grad_output_is_one",
    "interpreting",
    "scale_saved_grad",
]

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")
Backend = Literal["auto", "torch", "triton"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "triton")


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype is computed in float32.

    Examples:
        >>> compute_dtype(torch.bfloat16), compute_dtype(torch.float64)
        (torch.float32, torch.float64)
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def interpreting() -> bool:
    """Whether the Triton interpreter is on (``TRITON_INTERPRET=1``): kernels on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@dataclass(frozen=True)
class SigmoidFocalOptions:
    """The scalar options of the sigmoid focal family, validated by the loss.

    ``alpha=None`` weighs both terms by 1; ``ignore_index=None`` ignores nothing.
    """

    alpha: float | None
    gamma: float
    label_smoothing: float
    ignore_index: float | None
    reduction: str
    check_targets: bool = False  # validate_args: every engine checks targets in [0, 1]

    @property
    def a_pos(self) -> float:
        """Weight of the positive term (``alpha``, or 1)."""
        return 1.0 if self.alpha is None else self.alpha

    @property
    def a_neg(self) -> float:
        """Weight of the negative term (``1 - alpha``, or 1)."""
        return 1.0 if self.alpha is None else 1.0 - self.alpha


@dataclass(frozen=True)
class SoftmaxOptions:
    """The scalar options of the softmax family, validated by the loss.

    ``alpha`` here is the scalar alpha (a per-class alpha travels as a tensor).
    """

    gamma: float
    alpha: float | None
    label_smoothing: float
    ignore_index: int
    scale: float
    reduction: str


def gamma_mode(gamma: float) -> int:
    """0, 1 and 2 have closed forms in the kernels; 3 means a general power.

    Examples:
        >>> [gamma_mode(g) for g in (0.0, 1.0, 2.0, 0.5)]
        [0, 1, 2, 3]
    """
    return {0.0: 0, 1.0: 1, 2.0: 2}.get(float(gamma), 3)


def check_unit_targets(targets: torch.Tensor, ignore_index: float | None) -> None:
    """Raise the standard error if a target (other than ``ignore_index``) is outside [0, 1].

    NaN targets count as outside. The message names the first such value.

    Examples:
        >>> check_unit_targets(torch.tensor([0.0, 0.5, 1.0]), None)
        >>> check_unit_targets(torch.tensor([0.0, -1.0]), -1.0)
        >>> check_unit_targets(torch.tensor([0.0, 2.0]), None)
        Traceback (most recent call last):
        ...
        ValueError: targets must be in [0, 1], got 2.0
    """
    if targets.numel() == 0 or targets.dtype == torch.bool:
        return
    low, high = torch.aminmax(targets)  # one read-only pass; NaN propagates into both
    if bool(low >= 0) and bool(high <= 1):
        return
    values = targets if ignore_index is None else targets[targets != ignore_index]
    bad = (values < 0) | (values > 1)
    if values.is_floating_point():
        bad |= torch.isnan(values)
    if bool(bad.any()):
        first = values[bad][0].item()
        extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise error("targets", f"in [0, 1]{extra}", f"{first!r}", raw=True)


# ----------------------------------------------------------------------------- backward


def check_first_order(what: str) -> None:
    """Refuse a backward pass that builds a graph (``create_graph=True``).

    The fused losses compute their gradient without a graph, so a gradient they hand to
    ``create_graph=True`` would be a constant: second-order methods (MAML, gradient
    penalties through the loss, Hessian-vector products) would silently lose the loss's
    second derivative. Autograd enables grad mode in ``backward`` exactly when a graph is
    being built, so that is what is checked; call this first in ``backward``.

    Raises:
        RuntimeError: backward runs with ``create_graph=True``.

    Examples:
        >>> check_first_order("sigmoid_focal_loss")  # grad mode on: create_graph=True
        Traceback (most recent call last):
        ...
        RuntimeError: sigmoid_focal_loss has no second derivative: ...
        >>> with torch.no_grad():  # as in a plain backward
        ...     check_first_order("sigmoid_focal_loss")
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{what} has no second derivative: its fused path computes the gradient without "
            "a graph, so backward with create_graph=True (double backward: MAML, gradient "
            "penalties through the loss, Hessian-vector products) is not supported; write "
            "the loss with plain torch operations for second-order methods"
        )


def grad_output_is_one(grad_output: torch.Tensor) -> bool:
    """Whether a scalar ``grad_output`` is exactly 1 (the plain ``loss.backward()`` case).

    Lets backward return the saved gradient itself instead of a scaled copy. On CUDA the
    test reads one value (a host sync, as Liger-Kernel does); it is skipped, answering
    ``False``, while a CUDA graph is being captured or ``torch.compile`` is tracing.

    Examples:
        >>> grad_output_is_one(torch.tensor(1.0)), grad_output_is_one(torch.tensor(0.5))
        (True, False)
    """
    if grad_output.numel() != 1 or grad_output.requires_grad:
        return False
    if torch.compiler.is_compiling():
        return False
    if grad_output.is_cuda and torch.cuda.is_current_stream_capturing():
        return False
    return grad_output.item() == 1


def scale_saved_grad(
    grad: torch.Tensor, grad_output: torch.Tensor, reduction: str, *, per_row: bool = False
) -> torch.Tensor:
    """``grad * grad_output``, or ``grad`` itself when a reduced loss gets ``grad_output == 1``.

    Returned as is, the saved gradient becomes ``.grad`` without a copy (autograd copies
    it itself if the graph is retained). ``per_row``: with ``reduction="none"`` the loss
    has one value per row of ``grad`` (softmax losses), so ``grad_output`` is broadcast
    over the class dimension.

    Examples:
        >>> g = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
        >>> scale_saved_grad(g, torch.tensor(1.0), "mean") is g
        True
        >>> scale_saved_grad(g, torch.tensor([2.0, 3.0]), "none", per_row=True)
        tensor([[ 2., -2.],
                [ 6.,  0.]])
    """
    if reduction == "none":
        scale = grad_output.unsqueeze(1) if per_row else grad_output
        return grad * scale.to(grad.dtype)
    if grad_output_is_one(grad_output):
        return grad
    return grad * grad_output.to(grad.dtype)


Engine = Callable[..., tuple[torch.Tensor, "torch.Tensor | None"]]


class _FusedLoss(torch.autograd.Function):
    """Autograd node of every fused loss: forward runs the engine, backward scales its gradient.

    The engine computes d(loss)/d(logits) together with the loss; that gradient is the one
    tensor saved. Backward refuses to build a graph (`check_first_order`) and returns
    it scaled by ``grad_output`` (`scale_saved_grad`: the buffer itself, without a
    copy, when a reduced loss gets ``grad_output == 1``).
    """

    @staticmethod
    def forward(ctx, logits, engine, tensors, opts, what, per_row, need_grad):  # type: ignore[override]
        loss, grad = engine(logits.detach(), *tensors, opts=opts, need_grad=need_grad)
        ctx.reduction, ctx.what, ctx.per_row = opts.reduction, what, per_row
        if grad is not None:
            ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        check_first_order(ctx.what)
        (grad,) = ctx.saved_tensors
        grad = scale_saved_grad(grad, grad_output, ctx.reduction, per_row=ctx.per_row)
        return grad, None, None, None, None, None, None


def fused_loss(
    engine: Engine,
    logits: torch.Tensor,
    *tensors: torch.Tensor | None,
    opts: SigmoidFocalOptions | SoftmaxOptions,
    what: str,
    per_row: bool = False,
) -> torch.Tensor:
    """Run ``engine(logits, *tensors, opts=opts, need_grad=...)`` under the fused autograd node.

    The engine returns the loss and, when ``need_grad``, the gradient of the loss with respect
    to ``logits`` in their shape. Differentiable in ``logits`` only. ``what`` names the loss
    in the double-backward error; ``per_row``: a ``reduction="none"`` loss has one value per
    row of the gradient.

    Examples:
        >>> def engine(x, *, opts, need_grad):  # loss = sum(x^2), gradient 2x
        ...     return (x * x).sum(), (2 * x if need_grad else None)
        >>> opts = SoftmaxOptions(0.0, None, 0.0, -100, 1.0, "sum")
        >>> x = torch.tensor([1.0, -2.0], requires_grad=True)
        >>> fused_loss(engine, x, opts=opts, what="x^2").backward()
        >>> x.grad
        tensor([ 2., -4.])
    """
    need_grad = logits.requires_grad and torch.is_grad_enabled()
    return _FusedLoss.apply(logits, engine, tensors, opts, what, per_row, need_grad)
