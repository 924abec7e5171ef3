"""What every loss shares: the reduction, backend selection and per-class tensor checks.

``Reduction`` and ``Backend`` (the ``Literal`` types of the ``reduction=`` and ``backend=``
options) are defined once in `imbalance_kit._fused` and re-exported here.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch

from imbalance_kit._fused import BACKENDS, REDUCTIONS, Backend, Reduction, interpreting
from imbalance_kit._validation import check_choice, check_finite, error

__all__ = [
    "BACKENDS",
    "REDUCTIONS",
    "Backend",
    "Reduction",
    "check_logits_device",
    "check_module_weight",
    "check_reduction",
    "check_weight_tensor",
    "check_weight_values",
    "reduce_loss",
    "resolve_backend",
    "triton_available",
]


def check_reduction(reduction: str, name: str = "reduction") -> None:
    """Raise unless ``reduction`` is ``"none"``, ``"mean"`` or ``"sum"``.

    Examples:
        >>> check_reduction("avg")
        Traceback (most recent call last):
        ...
        ValueError: reduction must be one of 'none', 'mean', 'sum', got 'avg'
    """
    check_choice(name, reduction, REDUCTIONS)


def reduce_loss(
    loss: torch.Tensor,
    reduction: str,
    denominator: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Apply torch's reduction semantics to an element-wise loss.

    Args:
        loss: unreduced loss.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        denominator: for ``"mean"``, what to divide the sum by (the weight mass
            of the non-ignored elements, as ``F.cross_entropy`` does); defaults
            to ``loss.numel()``. An empty or fully ignored batch gives NaN for
            ``"mean"``, as torch does.

    Examples:
        >>> reduce_loss(torch.tensor([1.0, 3.0]), "mean")
        tensor(2.)
    """
    check_reduction(reduction)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if denominator is None:
        return loss.mean()
    return loss.sum() / denominator


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (without importing it)."""
    return importlib.util.find_spec("triton") is not None


def resolve_backend(backend: str, tensor: torch.Tensor) -> Literal["torch", "triton"]:
    """Turn ``"auto" | "torch" | "triton"`` into the backend that will run.

    ``"auto"`` picks Triton for CUDA tensors when triton is installed, else
    torch. ``"triton"`` on a CPU tensor is allowed only under
    ``TRITON_INTERPRET=1`` (how the kernels are tested without a GPU).

    Raises:
        ValueError: unknown backend name.
        RuntimeError: ``"triton"`` requested where it cannot run.
    """
    check_choice("backend", backend, BACKENDS)
    if backend == "torch":
        return "torch"
    if backend == "auto":
        return "triton" if tensor.is_cuda and triton_available() else "torch"
    if not triton_available():
        raise RuntimeError(
            "backend must be 'torch' or 'auto' when triton is not installed, got 'triton' "
            "(install the 'gpu' extra: pip install 'imbalance-kit[gpu]')"
        )
    if not tensor.is_cuda and not interpreting():
        raise RuntimeError(
            "backend='triton' needs CUDA tensors (or TRITON_INTERPRET=1 for CPU testing), "
            f"got a tensor on {tensor.device}"
        )
    return "triton"


def check_logits_device(logits: torch.Tensor, name: str = "logits") -> None:
    """Refuse a meta tensor (a loss needs values).

    Examples:
        >>> check_logits_device(torch.empty(2, 3, device="meta"))
        Traceback (most recent call last):
        ...
        ValueError: logits must be a tensor with data (not on the meta device), got device meta
    """
    if logits.is_meta:
        raise error(name, "a tensor with data (not on the meta device)", "device meta", raw=True)


def check_weight_tensor(name: str, value: object, logits: torch.Tensor) -> torch.Tensor:
    """Static check of a weight-like tensor: a real floating tensor on the logits' device.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: on another device than ``logits`` (or on the meta device), or it
            requires grad.
    """
    if not isinstance(value, torch.Tensor):
        raise error(name, "a torch.Tensor", type(value).__name__, TypeError, raw=True)
    if not value.is_floating_point():
        raise error(name, "a floating-point tensor", f"dtype {value.dtype}", TypeError, raw=True)
    if value.device != logits.device and not (
        value.numel() == 1 and value.ndim == 0 and value.device.type == "cpu"
    ):
        raise error(
            name, f"on the logits' device {logits.device}", f"device {value.device}", raw=True
        )
    if value.is_meta:
        raise error(name, "a tensor with data (not on the meta device)", "device meta", raw=True)
    if value.requires_grad:
        raise error(
            name,
            "a constant tensor (no gradient flows into it)",
            "a tensor that requires grad",
            raw=True,
        )
    return value


def check_weight_values(name: str, value: torch.Tensor) -> None:
    """Value check (syncs on CUDA): every element finite and >= 0.

    Examples:
        >>> check_weight_values("weight", torch.tensor([1.0, -0.5]))
        Traceback (most recent call last):
        ...
        ValueError: weight must be finite and >= 0, got minimum -0.5
    """
    check_finite(name, value)
    if value.numel() and bool((value < 0).any()):
        raise error(name, "finite and >= 0", f"minimum {value.min().item()!r}", raw=True)


def check_module_weight(name: str, value: object, *, validate_args: bool = True) -> None:
    """Checks of a weight-like tensor given to a loss module's constructor.

    ``None`` passes. Otherwise a floating-point tensor with data (not on the meta device),
    and, when ``validate_args``, finite and >= 0 (the loss functions check the same on each
    call, together with its length and device against the logits).

    Examples:
        >>> check_module_weight("weight", torch.tensor([1.0, float("nan")]))
        Traceback (most recent call last):
        ...
        ValueError: weight must be finite (no NaN or inf), got 1 non-finite value(s)
    """
    if value is None:
        return
    if not isinstance(value, torch.Tensor):
        raise error(name, "a torch.Tensor or None", type(value).__name__, TypeError, raw=True)
    if not value.is_floating_point():
        raise error(name, "a floating-point tensor", f"dtype {value.dtype}", TypeError, raw=True)
    if value.is_meta:
        raise error(name, "a tensor with data (not on the meta device)", "device meta", raw=True)
    if validate_args:
        check_weight_values(name, value.detach())
