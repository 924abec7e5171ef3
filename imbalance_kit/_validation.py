"""Shared argument checks and the one error-message template of the library.

Every public function validates its input through these helpers so that errors
read the same everywhere: ``"<name> must be <expectation>, got <value>"``.

Two kinds of checks exist:

* *Static* checks look only at Python values, shapes and dtypes. They never
  synchronise with a device and are always on (``check_*`` without a tensor
  value read).
* *Value* checks read tensor contents (target range, NaN, negative counts).
  On CUDA they force a host sync, so hot-path callers run them only when
  ``validate_args`` is true. They raise a Python exception before any kernel
  can hit a device-side assert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_class_targets",
    "check_dtype_floating",
    "check_finite",
    "check_in_range",
    "check_ndim",
    "check_non_negative",
    "check_non_negative_tensor",
    "check_positive",
    "check_positive_int",
    "check_same_shape",
    "check_same_length",
    "check_tensor",
    "describe",
    "error",
]


def describe(value: Any) -> str:
    """Short, readable rendering of a value for an error message."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":
            return f"a tensor of shape {tuple(value.shape)} on the meta device (no data)"
        if value.numel() == 1:
            return f"tensor({value.item()!r}, dtype={value.dtype})"
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy and friends
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def error(
    name: str, expected: str, got: Any, exc: type[Exception] = ValueError, *, raw: bool = False
) -> Exception:
    """Build (not raise) the library's standard error.

    Args:
        name: the argument's name as the user wrote it.
        expected: what was expected, phrased to follow "must be".
        got: the offending value (rendered with [`describe`][imbalance_kit.app.checks.describe]
            unless ``raw``).
        exc: the exception class.
        raw: use ``got`` verbatim (already a string).

    Examples:
        >>> str(error("gamma", ">= 0", -1.0))
        'gamma must be >= 0, got -1.0'
    """
    shown = got if raw else describe(got)
    return exc(f"{name} must be {expected}, got {shown}")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Examples:
        >>> check_choice("reduction", "avg", ("none", "mean", "sum"))
        Traceback (most recent call last):
        ...
        ValueError: reduction must be one of 'none', 'mean', 'sum', got 'avg'
    """
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise error(name, f"one of {listed}", value)


def check_bool(name: str, value: Any) -> None:
    """Raise a ``TypeError`` unless ``value`` is ``True`` or ``False``.

    Examples:
        >>> check_bool("return_indices", "yes")
        Traceback (most recent call last):
        ...
        TypeError: return_indices must be True or False, got 'yes'
    """
    if not isinstance(value, bool):
        raise error(name, "True or False", value, TypeError)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_non_negative(name: str, value: float) -> None:
    """Raise unless ``value`` is a finite real number >= 0."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise error(name, "a finite number >= 0", value)


def check_positive(name: str, value: float) -> None:
    """Raise unless ``value`` is a finite real number > 0."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise error(name, "a finite number > 0", value)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> None:
    """Raise unless ``value`` is an integer >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(name, f"an integer >= {minimum}", value)


def check_in_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise unless ``low <= value <= high`` (bounds inclusive or not).

    Examples:
        >>> check_in_range("beta", 1.0, 0.0, 1.0, high_inclusive=False)
        Traceback (most recent call last):
        ...
        ValueError: beta must be in [0.0, 1.0), got 1.0
    """
    lo = "[" if low_inclusive else "("
    hi = "]" if high_inclusive else ")"
    expected = f"in {lo}{low}, {high}{hi}"
    if not _is_number(value) or math.isnan(value):
        raise error(name, expected, value)
    ok_low = value >= low if low_inclusive else value > low
    ok_high = value <= high if high_inclusive else value < high
    if not (ok_low and ok_high):
        raise error(name, expected, value)


def check_tensor(name: str, value: Any) -> torch.Tensor:
    """Raise ``TypeError`` unless ``value`` is a ``torch.Tensor``; return it."""
    if not isinstance(value, torch.Tensor):
        raise error(name, "a torch.Tensor", type(value).__name__, TypeError, raw=True)
    return value


def check_dtype_floating(name: str, value: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``value`` has a floating-point dtype."""
    if not value.is_floating_point():
        raise error(name, "a floating-point tensor", f"dtype {value.dtype}", TypeError, raw=True)


def check_ndim(
    name: str,
    value: torch.Tensor,
    ndim: int | Sequence[int] | None = None,
    *,
    min_ndim: int | None = None,
) -> None:
    """Raise unless ``value.ndim`` equals ``ndim`` (or one of them) / is >= ``min_ndim``."""
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise error(name, want, f"shape {tuple(value.shape)}", raw=True)
    if min_ndim is not None and value.ndim < min_ndim:
        raise error(name, f"at least {min_ndim}-D", f"shape {tuple(value.shape)}", raw=True)


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Raise unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} must have the same shape as {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_same_length(name_a: str, len_a: int, name_b: str, len_b: int) -> None:
    """Raise unless two sequences have the same length."""
    if len_a != len_b:
        raise ValueError(
            f"{name_b} must have the same length as {name_a} ({len_a}), got length {len_b}"
        )


def check_finite(name: str, value: torch.Tensor) -> None:
    """Value check (syncs on CUDA): raise unless every element is finite."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise error(name, "finite (no NaN or inf)", f"{bad} non-finite value(s)", raw=True)


def check_non_negative_tensor(name: str, value: torch.Tensor) -> None:
    """Value check (syncs on CUDA): raise unless every element is finite and >= 0."""
    check_finite(name, value)
    if bool((value < 0).any()):
        raise error(name, "non-negative", f"minimum {value.min().item()!r}", raw=True)


def check_class_targets(
    name: str,
    target: torch.Tensor,
    num_classes: int,
    ignore_index: int | None = None,
) -> None:
    """Value check (syncs on CUDA): integer class targets must lie in ``[0, num_classes)``.

    Elements equal to ``ignore_index`` are allowed. This is the check that turns
    what would be a CUDA device-side assert into a readable ``ValueError``.
    """
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise error(
            name, "an integer tensor of class indices", f"dtype {target.dtype}", TypeError, raw=True
        )
    if target.numel() == 0:
        return
    valid = target if ignore_index is None else target[target != ignore_index]
    if valid.numel() == 0:
        return
    lo, hi = int(valid.min()), int(valid.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        extra = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise error(name, f"class indices in [0, {num_classes}){extra}", f"{bad}", raw=True)


# ------------------------------------------------------- devices and inferred class counts

#: The number of classes inferred from the largest label may be at most
#: ``max(INFERRED_CLASSES_FLOOR, INFERRED_CLASSES_PER_SAMPLE * number of labels)``; above
#: that the label is implausible (a corrupt value, a sentinel, an id instead of an index)
#: and the caller must say how many classes there are.
INFERRED_CLASSES_FLOOR = 2**16
INFERRED_CLASSES_PER_SAMPLE = 4


def check_data_device(name: str, value: Any) -> None:
    """Static check: refuse a tensor on the ``meta`` device (it has no values to read).

    Examples:
        >>> check_data_device("labels", torch.zeros(3, device="meta"))
        Traceback (most recent call last):
        ...
        ValueError: labels must be a tensor with data on a CPU or accelerator device, got ...
    """
    if isinstance(value, torch.Tensor) and value.device.type == "meta":
        raise error(name, "a tensor with data on a CPU or accelerator device", value)


def check_inferred_num_classes(
    name: str,
    largest: int,
    num_samples: int,
    *,
    hint: str = "pass num_classes to allow more classes",
) -> None:
    """Refuse a number of classes inferred from an implausibly large label.

    The number of classes ``largest + 1`` may be at most
    ``max(INFERRED_CLASSES_FLOOR, INFERRED_CLASSES_PER_SAMPLE * num_samples)``
    (65536, or 4 per label); a larger label would allocate per-class tensors far
    bigger than the data. ``hint`` tells the caller how to state the number of
    classes instead.

    Examples:
        >>> check_inferred_num_classes("labels", 10**9, 2)
        Traceback (most recent call last):
        ...
        ValueError: labels must be class indices below 65536 when ... got 1000000000
    """
    limit = max(INFERRED_CLASSES_FLOOR, INFERRED_CLASSES_PER_SAMPLE * num_samples)
    if largest >= limit:
        raise error(
            name,
            f"class indices below {limit} when the number of classes is inferred from the "
            f"largest label (at most max({INFERRED_CLASSES_FLOOR}, "
            f"{INFERRED_CLASSES_PER_SAMPLE} x {num_samples} labels)); {hint}",
            largest,
        )
