"""Host-side helpers shared by the Triton kernels (no triton import here)."""

from __future__ import annotations

import torch

from imbalance_kit._fused import interpreting

__all__ = ["broadcast_mode", "check_runnable", "series_cut"]

# How an optional tensor operand is read by an element-wise kernel over a flattened
# (..., K) input: not at all, one value per element, one value per last-dim index
# (offset % K), or one value per row (offset // K).
MODE_NONE = 0
MODE_FULL = 1
MODE_LAST = 2
MODE_ROW = 3


def check_runnable(tensor: torch.Tensor) -> None:
    """Raise ``RuntimeError`` unless a Triton kernel can run on ``tensor``'s device."""
    if tensor.is_cuda or interpreting():
        return
    raise RuntimeError(
        "logits must be a CUDA tensor for the Triton kernels (or TRITON_INTERPRET=1 must be "
        f"set before triton is imported, for CPU testing), got a tensor on {tensor.device}"
    )


def series_cut(dtype: torch.dtype) -> float:
    """Below this magnitude the kernels switch ``log1p``/``expm1`` to their Taylor series.

    The interpreter has no ``libdevice``, so ``log1p(e)`` and ``1 - exp(l)`` are written as
    ``log(1 + e)`` / ``1 - exp(l)`` above the cut and as a sixth-order series below it. The cut
    keeps both branches within a few ulp of the exact value: 0.1 in float32 (series error
    ~1e-8 relative) and 1e-3 in float64 (series error ~1e-19, direct error ~1e-13).
    """
    return 1e-3 if dtype == torch.float64 else 0.1


def broadcast_mode(
    value: torch.Tensor | None, shape: torch.Size, device: torch.device
) -> tuple[int, torch.Tensor | None]:
    """Describe how a tensor broadcastable to ``shape`` is read by a flattened kernel.

    Returns ``(mode, tensor)`` where ``tensor`` is contiguous and, for
    `MODE_LAST` / `MODE_ROW`, holds one value per last-dim index / per row.
    Broadcast patterns other than these are expanded to the full shape (a copy).
    """
    if value is None:
        return MODE_NONE, None
    value = value.detach().to(device)
    if not value.is_floating_point():
        value = value.float()
    ndim = len(shape)
    if value.ndim > ndim:
        value = value.reshape(value.shape[value.ndim - ndim :])
    padded = (1,) * (ndim - value.ndim) + tuple(value.shape)
    last = shape[-1] if ndim else 1
    if ndim == 0 or tuple(padded) == tuple(shape):
        return MODE_FULL, value.reshape(shape).contiguous()
    if all(d == 1 for d in padded[:-1]):
        return MODE_LAST, value.reshape(-1).expand(last).contiguous()
    if padded[-1] == 1 and tuple(padded[:-1]) == tuple(shape[:-1]):
        return MODE_ROW, value.reshape(-1).contiguous()
    return MODE_FULL, value.reshape(padded).expand(shape).contiguous()
