"""Engine of the sigmoid focal family: argument checks and backend dispatch.

`sigmoid_focal_family` checks its arguments (types, shapes and numbers always; target
values when ``validate_args``), then runs the fused Triton kernel
([`imbalance_kit.kernels.sigmoid_focal`][imbalance_kit.kernels.sigmoid_focal]) or the torch path
(`imbalance_kit.losses._sigmoid_forward`: one autograd Function that computes the loss
and its analytic gradient in one blocked pass; the formula and its derivative are written out
there). Elements whose target equals ``ignore_index`` contribute 0 and are not counted;
``"mean"`` divides by the number of counted elements (weights are not in the denominator,
exactly as `torch.nn.functional.binary_cross_entropy_with_logits`).
"""

from __future__ import annotations

from typing import Literal

import torch

from imbalance_kit._validation import (
    check_choice,
    check_dtype_floating,
    check_in_range,
    check_non_negative,
    check_reduction,
    check_tensor,
    error,
)
from imbalance_kit.losses._backend import BACKENDS, resolve_backend
from imbalance_kit.losses._sigmoid_forward import BlockedSigmoidFocalFunction

__all__ = ["sigmoid_focal_family"]

Reduction = Literal["none", "mean", "sum"]


def _validate(
    logits: object,
    targets: object,
    *,
    alpha: float | None,
    gamma: float,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: float | None,
    reduction: str,
    backend: str,
) -> None:
    """Static checks: types, dtypes, shapes and Python numbers (never tensor values)."""
    logits = check_tensor("logits", logits)
    targets = check_tensor("targets", targets)
    check_dtype_floating("logits", logits)
    if targets.is_complex():
        raise error("targets", "a real tensor", f"dtype {targets.dtype}", TypeError, raw=True)
    if targets.shape != logits.shape:
        raise error(
            "targets",
            f"of the same shape as logits {tuple(logits.shape)}",
            f"shape {tuple(targets.shape)}",
            raw=True,
        )
    if alpha is not None:
        check_in_range("alpha", alpha, 0.0, 1.0)
    check_non_negative("gamma", gamma)
    for name, value in (("pos_weight", pos_weight), ("weight", weight)):
        if value is None:
            continue
        check_tensor(name, value)
        check_dtype_floating(name, value)
        try:
            ok = torch.broadcast_shapes(value.shape, logits.shape) == logits.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise error(
                name,
                f"broadcastable to the logits' shape {tuple(logits.shape)}",
                f"shape {tuple(value.shape)}",
                raw=True,
            )
        if value.requires_grad:
            raise error(
                name,
                "a constant tensor (no gradient flows into it)",
                "a tensor that requires grad",
                raw=True,
            )
    check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, float))
    ):
        raise error("ignore_index", "None or a number", ignore_index, TypeError)
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)
    if targets.requires_grad and torch.is_grad_enabled():
        raise error(
            "targets",
            "a constant tensor (detach soft targets; no gradient flows into them)",
            "a tensor that requires grad",
            raw=True,
        )


def _check_target_values(targets: torch.Tensor, ignore_index: float | None) -> None:
    """Value check (syncs on CUDA): targets in [0, 1] unless equal to ``ignore_index``."""
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


def sigmoid_focal_family(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    pos_weight: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: float | None = None,
    reduction: Reduction = "mean",
    backend: Literal["auto", "torch", "triton"] = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    """Validated sigmoid focal loss with backend dispatch (the engine of ``sigmoid_focal_loss``).

    $$
    \\mathcal{L} = -w \\left[ a_+\\, \\omega\\, t' (1 - p)^{\\gamma} \\log p
                 + a_-\\, (1 - t')\\, p^{\\gamma} \\log (1 - p) \\right],
    \\qquad t' = t (1 - \\varepsilon) + \\varepsilon / 2
    $$

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits: raw scores of any shape; float16/bfloat16 are computed in float32.
        targets: same shape, values in [0, 1] (soft targets allowed) or ``ignore_index``;
            bool and integer tensors are accepted and read as 0/1.
        alpha: weight of positives in [0, 1] (negatives get ``1 - alpha``); ``None`` for 1/1.
        gamma: focusing parameter >= 0.
        pos_weight: weight of the positive term, broadcast to the logits (usually ``(C,)``
            over the last dimension), like ``BCEWithLogitsLoss``.
        weight: element weight broadcast to the logits.
        label_smoothing: ``eps`` in [0, 1]: targets move towards 1/2.
        ignore_index: target value whose elements contribute 0 and are not counted.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check target values (syncs on CUDA) before any kernel runs.

    Returns:
        The loss in the logits' dtype (shape of ``logits`` for ``reduction="none"``).

    Raises:
        TypeError: wrong argument types or dtypes.
        ValueError: a shape, range or option error (the message names the argument).
        RuntimeError: ``backend="triton"`` where Triton cannot run.

    Examples:
        >>> logits = torch.tensor([[3.0, -1.0], [0.5, -4.0]])
        >>> targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> sigmoid_focal_family(logits, targets, reduction="none")
        tensor([[2.7321e-05, 1.6994e-02],
                [2.8306e-01, 9.6873e-01]])
    """
    _validate(
        logits,
        targets,
        alpha=alpha,
        gamma=gamma,
        pos_weight=pos_weight,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        reduction=reduction,
        backend=backend,
    )
    if validate_args:
        _check_target_values(targets, ignore_index)
    alpha = None if alpha is None else float(alpha)
    gamma = float(gamma)
    label_smoothing = float(label_smoothing)
    if not targets.is_floating_point():
        targets = targets.to(logits.dtype)
    if ignore_index is not None:
        ignore_index = float(ignore_index)

    if resolve_backend(backend, logits) == "triton":
        from imbalance_kit.kernels.sigmoid_focal import sigmoid_focal_triton

        return sigmoid_focal_triton(
            logits,
            targets,
            alpha=alpha,
            gamma=gamma,
            pos_weight=pos_weight,
            weight=weight,
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            reduction=reduction,
        )

    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32

    def _prepare(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(device=logits.device, dtype=dtype)

    return BlockedSigmoidFocalFunction.apply(
        logits,
        targets,
        alpha,
        gamma,
        _prepare(pos_weight),
        _prepare(weight),
        label_smoothing,
        ignore_index,
        reduction,
        logits.requires_grad and torch.is_grad_enabled(),
    )
