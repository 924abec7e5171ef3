"""Fused Triton kernels for the imbalance losses (optional, needs ``triton``).

The losses in [`imbalance_kit.losses`][imbalance_kit.losses] choose the kernel with
``backend="triton"`` (or ``"auto"`` on CUDA tensors when triton is installed); user code normally
never calls these functions directly. Each kernel module holds the ``@triton.jit`` kernels, a host
launcher that picks block sizes (the *engine* the losses call), and a public entry point that
runs the engine under the autograd node shared by every fused loss (``imbalance_kit._fused``),
whose forward computes the loss and its gradient in one pass. On CPU tensors the losses run
the compiled C loops of [`imbalance_kit.kernels.cpu`][imbalance_kit.kernels.cpu] instead
(same formulas; built on first use when a C compiler is present). This package is a leaf: it
imports nothing from [`imbalance_kit.losses`][imbalance_kit.losses].

Importing this package does not import triton: the two entry points are resolved on first
attribute access, so ``import imbalance_kit.kernels`` works without triton installed.

* [`sigmoid_focal_triton`][imbalance_kit.kernels.sigmoid_focal.sigmoid_focal_triton]: the sigmoid
  focal family (binary / multi-label).
* [`softmax_loss_triton`][imbalance_kit.kernels.softmax_loss.softmax_loss_triton]: the softmax
  family (focal, class-prior offsets, LDAM).

Example:
    >>> import imbalance_kit.kernels as kernels
    >>> sorted(kernels.__all__)
    ['sigmoid_focal_triton', 'softmax_loss_triton']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["sigmoid_focal_triton", "softmax_loss_triton"]

_LOCATIONS = {
    "sigmoid_focal_triton": "imbalance_kit.kernels.sigmoid_focal",
    "softmax_loss_triton": "imbalance_kit.kernels.softmax_loss",
}

if TYPE_CHECKING:  # pragma: no cover
    from imbalance_kit.kernels.sigmoid_focal import sigmoid_focal_triton
    from imbalance_kit.kernels.softmax_loss import softmax_loss_triton


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        value = getattr(importlib.import_module(_LOCATIONS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'imbalance_kit.kernels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
