"""Backward of the losses that compute their gradient in the forward pass.

The torch engines (``_sigmoid_forward``, ``_softmax_forward``) and the Triton kernels
(``imbalance_kit.kernels``) save one tensor, the gradient of the loss with respect to
the logits; backward only scales it by ``grad_output``.
"""

from __future__ import annotations

import torch

__all__ = [
    "SavedGradFunction",
    "check_first_order",
    "grad_output_is_one",
    "save_grad",
    "scale_saved_grad",
]


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
    return bool(grad_output.reshape(()) == 1)


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


class SavedGradFunction(torch.autograd.Function):
    """Autograd node of a fused loss whose forward also computes d(loss)/d(logits).

    Subclasses define ``forward(ctx, logits, ...)``, differentiable in its first input
    only, and end it with `save_grad`. ``backward`` refuses to build a graph
    (`check_first_order`) and returns the saved gradient scaled by ``grad_output``
    (`scale_saved_grad`: the buffer itself, without a copy, when a reduced loss gets
    ``grad_output == 1``), and ``None`` for every other input.
    """

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        check_first_order(ctx.what)
        (grad,) = ctx.saved_tensors
        grad = scale_saved_grad(grad, grad_output, ctx.reduction, per_row=ctx.per_row)
        return (grad,) + (None,) * (len(ctx.needs_input_grad) - 1)


def save_grad(
    ctx,
    grad: torch.Tensor | None,
    *,
    reduction: str,
    what: str,
    per_row: bool = False,
) -> None:
    """Keep what `SavedGradFunction.backward` reads: the gradient (if computed), the
    reduction, the loss's name for `check_first_order` and ``per_row`` (see
    `scale_saved_grad`)."""
    ctx.reduction, ctx.what, ctx.per_row = reduction, what, per_row
    if grad is not None:
        ctx.save_for_backward(grad)
