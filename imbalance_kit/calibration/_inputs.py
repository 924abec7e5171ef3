"""Input conventions shared by the calibration metrics, the meter and the calibrators.

Two layouts are accepted everywhere:

* ``probs`` of shape ``(N, C)`` with ``C >= 2``: class probabilities, each row
  summing to 1; ``labels`` of shape ``(N,)`` with class indices in ``[0, C)``.
* ``probs`` of shape ``(N,)``: the probability of the positive class of a binary
  problem; ``labels`` of shape ``(N,)`` with values in ``{0, 1}`` (integer, bool, or
  floating point holding 0.0 / 1.0).

numpy arrays (and array-likes) are converted with ``torch.as_tensor``; torch
tensors stay on their device. Half-precision inputs are computed in float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from imbalance_kit._validation import (
    check_bool,
    check_data_device,
    check_ndim,
    check_same_length,
    error,
)

__all__ = ["as_tensor", "prepare_labels", "prepare_probs", "probability_tolerance"]


def as_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` as a tensor (numpy and array-likes are converted, tensors kept)."""
    if isinstance(value, torch.Tensor):
        check_data_device(name, value)
        return value
    if isinstance(value, (np.ndarray, list, tuple)) or np.isscalar(value):
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind in "USV":
            raise error(
                name, "a numeric array or tensor", f"dtype {array.dtype}", TypeError, raw=True
            )
        return torch.as_tensor(array)
    raise error(name, "a torch.Tensor or numpy array", type(value).__name__, TypeError, raw=True)


def probability_tolerance(dtype: torch.dtype) -> float:
    """Slack allowed on ``[0, 1]`` bounds and row sums: rounding, not logits, must pass."""
    return 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-3


def prepare_probs(
    probs: Any,
    *,
    from_logits: bool = False,
    validate: bool = True,
    allow_empty: bool = False,
    name: str = "probs",
) -> torch.Tensor:
    """Check and normalise a ``(N,)`` or ``(N, C)`` probability (or logit) input.

    Returns a detached floating tensor (float32 or float64) on the input's device.
    With ``from_logits`` the input goes through a sigmoid ``(N,)`` or softmax ``(N, C)``.
    ``N = 0`` is an error unless ``allow_empty`` (a streaming batch may be empty).
    """
    check_bool("from_logits", from_logits)
    tensor = as_tensor(probs, name).detach()
    if not tensor.is_floating_point():
        raise error(name, "a floating-point tensor", f"dtype {tensor.dtype}", TypeError, raw=True)
    check_ndim(name, tensor, (1, 2))
    if tensor.shape[0] == 0 and not allow_empty:
        raise error(name, "non-empty", f"shape {tuple(tensor.shape)}", raw=True)
    if tensor.ndim == 2 and tensor.shape[1] < 2:
        raise error(
            name,
            "(N, C) with C >= 2 (pass (N,) positive-class probabilities for a binary problem)",
            f"shape {tuple(tensor.shape)}",
            raw=True,
        )
    original_dtype = tensor.dtype
    if tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()
    if from_logits:
        tensor = torch.sigmoid(tensor) if tensor.ndim == 1 else torch.softmax(tensor, dim=1)
        if validate and tensor.numel() > 0 and not bool(torch.isfinite(tensor).all()):
            raise error(name, "finite logits (no NaN)", "non-finite values", raw=True)
        return tensor
    if validate and tensor.numel() > 0:
        _check_probabilities(name, tensor, probability_tolerance(original_dtype))
    return tensor


def _check_probabilities(name: str, probs: torch.Tensor, tol: float) -> None:
    """Value check: entries in [0, 1] and, for (N, C), rows summing to 1.

    Two reads of the data (``aminmax``, which NaN and inf propagate into, and
    the row sums) and a single host synchronisation for all four numbers.
    """
    hint = " (pass from_logits=True for logits)"
    lo, hi = torch.aminmax(probs)
    parts = [lo, hi]
    if probs.ndim == 2:
        parts.extend(torch.aminmax(probs.sum(dim=1)))
    values = torch.stack(parts).tolist()
    lo_f, hi_f = values[0], values[1]
    if math.isnan(lo_f) or math.isnan(hi_f):
        raise error(name, "finite probabilities", "NaN values", raw=True)
    if not (lo_f >= -tol and hi_f <= 1 + tol):
        raise error(
            name, "probabilities in [0, 1]" + hint, f"values in [{lo_f:.4g}, {hi_f:.4g}]", raw=True
        )
    if len(values) == 4:
        s_lo, s_hi = values[2], values[3]
        if not (s_lo >= 1 - tol and s_hi <= 1 + tol):
            raise error(
                name,
                "probabilities with rows summing to 1" + hint,
                f"row sums in [{s_lo:.4g}, {s_hi:.4g}]",
                raw=True,
            )


def prepare_labels(
    labels: Any,
    probs: torch.Tensor,
    *,
    validate: bool = True,
    name: str = "labels",
) -> torch.Tensor:
    """Check ``labels`` against prepared ``probs``; return an int64 tensor on its device.

    Binary ``(N,)`` probabilities take labels in ``{0, 1}``; ``(N, C)`` take class
    indices in ``[0, C)``. Floating labels are accepted when they hold whole numbers.
    """
    tensor = as_tensor(labels, name).detach()
    if tensor.is_complex():
        raise error(name, "real-valued class labels", f"dtype {tensor.dtype}", TypeError, raw=True)
    check_ndim(name, tensor, 1)
    check_same_length("probs", probs.shape[0], name, tensor.shape[0])
    num_classes = 2 if probs.ndim == 1 else probs.shape[1]
    if validate and tensor.numel() > 0:
        if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
            raise error(name, "whole-number class labels", "fractional values", raw=True)
        if tensor.dtype != torch.bool:
            lo, hi = torch.stack(torch.aminmax(tensor)).tolist()
            if lo < 0 or hi >= num_classes:
                bad = lo if lo < 0 else hi
                expected = (
                    "0 or 1 for (N,) binary probabilities"
                    if probs.ndim == 1
                    else f"class indices in [0, {num_classes})"
                )
                raise error(name, expected, f"{bad:g}", raw=True)
    return tensor.to(device=probs.device, dtype=torch.long)
