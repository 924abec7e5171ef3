"""Backend selection for losses that have a fused Triton kernel."""

from __future__ import annotations

import importlib.util
import os
from typing import Literal

import torch

from imbalance_kit._validation import check_choice

Backend = Literal["auto", "torch", "triton"]
BACKENDS = ("auto", "torch", "triton")

__all__ = ["BACKENDS", "Backend", "resolve_backend", "triton_available"]


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (without importing it)."""
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


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
    if not tensor.is_cuda and not _interpreting():
        raise RuntimeError(
            "backend='triton' needs CUDA tensors (or TRITON_INTERPRET=1 for CPU testing), "
            f"got a tensor on {tensor.device}"
        )
    return "triton"
