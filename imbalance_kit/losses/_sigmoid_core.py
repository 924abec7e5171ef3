"""Argument checks and engine choice of the sigmoid focal family.

`check_sigmoid_focal_args` runs the static checks (types, dtypes, shapes, devices and
Python numbers; never tensor values) and returns the validated options;
`check_sigmoid_focal_weights` reads the weights' values (finite, non-negative) when
``validate_args`` is on; the targets' values (in [0, 1]) are checked by the engine that reads
them (``SigmoidFocalOptions.check_targets``), the compiled CPU kernel in its own pass.
`sigmoid_focal_engine` picks what computes the loss and its gradient: the Triton kernel
([`imbalance_kit.kernels.sigmoid_focal`][imbalance_kit.kernels.sigmoid_focal]), the compiled CPU
kernel ([`imbalance_kit.kernels.cpu`][imbalance_kit.kernels.cpu]) or the blocked torch code
(`imbalance_kit.losses._sigmoid_forward`).
"""

from __future__ import annotations

import math

import torch

from imbalance_kit._fused import SigmoidFocalOptions
from imbalance_kit._validation import (
    check_choice,
    check_dtype_floating,
    check_in_range,
    check_non_negative,
    check_tensor,
    error,
)
from imbalance_kit.losses._common import (
    BACKENDS,
    check_logits_device,
    check_reduction,
    check_weight_tensor,
    check_weight_values,
    resolve_backend,
)

__all__ = ["check_sigmoid_focal_args", "check_sigmoid_focal_weights", "sigmoid_focal_engine"]


def check_sigmoid_focal_args(
    logits: object,
    targets: object,
    pos_weight: object,
    weight: object,
    *,
    alpha: float | None,
    gamma: float,
    label_smoothing: float,
    ignore_index: float | None,
    reduction: str,
    backend: str,
    check_targets: bool = False,
) -> SigmoidFocalOptions:
    """Static checks (never tensor values); returns the options as the engines read them.

    ``check_targets`` (``validate_args``) asks the engine to check the target values.
    """
    logits = check_tensor("logits", logits)
    targets = check_tensor("targets", targets)
    check_dtype_floating("logits", logits)
    check_logits_device(logits)
    if targets.is_complex():
        raise error("targets", "a real tensor", f"dtype {targets.dtype}", TypeError, raw=True)
    if targets.shape != logits.shape:
        raise error(
            "targets",
            f"of the same shape as logits {tuple(logits.shape)}",
            f"shape {tuple(targets.shape)}",
            raw=True,
        )
    if targets.device != logits.device:
        raise error(
            "targets", f"on the logits' device {logits.device}", f"device {targets.device}",
            raw=True,
        )  # fmt: skip
    if alpha is not None:
        check_in_range("alpha", alpha, 0.0, 1.0)
    check_non_negative("gamma", gamma)
    for name, value in (("pos_weight", pos_weight), ("weight", weight)):
        if value is None:
            continue
        value = check_weight_tensor(name, value, logits)
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
    check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    if ignore_index is not None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, float)):
            raise error("ignore_index", "None or a number", ignore_index, TypeError)
        if not math.isfinite(ignore_index) or 0.0 <= ignore_index <= 1.0:
            raise error(
                "ignore_index",
                "None or a finite number outside [0, 1] (target values lie in [0, 1], so a "
                "value there cannot mark ignored elements)",
                ignore_index,
            )
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)
    if targets.requires_grad and torch.is_grad_enabled():
        raise error(
            "targets",
            "a constant tensor (detach soft targets; no gradient flows into them)",
            "a tensor that requires grad",
            raw=True,
        )
    return SigmoidFocalOptions(
        alpha=None if alpha is None else float(alpha),
        gamma=float(gamma),
        label_smoothing=float(label_smoothing),
        ignore_index=None if ignore_index is None else float(ignore_index),
        reduction=reduction,
        check_targets=bool(check_targets),
    )


def check_sigmoid_focal_weights(
    pos_weight: torch.Tensor | None, weight: torch.Tensor | None
) -> None:
    """Value checks of the weights (sync on CUDA): finite and >= 0."""
    for name, value in (("pos_weight", pos_weight), ("weight", weight)):
        if value is not None:
            check_weight_values(name, value)


def sigmoid_focal_engine(backend: str, logits: torch.Tensor):
    """The function that computes ``(loss, grad)`` for these logits and this backend."""
    if resolve_backend(backend, logits) == "triton":
        from imbalance_kit.kernels.sigmoid_focal import sigmoid_focal_forward

        return sigmoid_focal_forward
    if logits.device.type == "cpu":
        from imbalance_kit.kernels import cpu

        if cpu.handles(logits):
            return cpu.sigmoid_focal_cpu
    from imbalance_kit.losses._sigmoid_forward import sigmoid_focal_blocked

    return sigmoid_focal_blocked
