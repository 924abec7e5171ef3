"""Argument checks and the library's one error template, for code built on imbalance-kit.

These are the checks the library itself uses, so errors read the same everywhere:
``"<name> must be <expectation>, got <value>"``. *Static* checks look at Python values,
shapes and dtypes only; *value* checks ([`check_finite`][imbalance_kit.app.checks.check_finite],
[`check_non_negative_tensor`][imbalance_kit.app.checks.check_non_negative_tensor],
[`check_class_targets`][imbalance_kit.app.checks.check_class_targets]) read tensor contents and
synchronise with the device.

Examples:
    >>> from imbalance_kit.app import check_positive_int
    >>> check_positive_int("--episodes", 0)
    Traceback (most recent call last):
    ...
    ValueError: --episodes must be an integer >= 1, got 0
"""

from __future__ import annotations

from imbalance_kit._validation import (
    check_bool,
    check_choice,
    check_class_targets,
    check_dtype_floating,
    check_finite,
    check_in_range,
    check_ndim,
    check_non_negative,
    check_non_negative_tensor,
    check_positive,
    check_positive_int,
    check_same_length,
    check_same_shape,
    check_tensor,
    describe,
    error,
)

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
    "check_same_length",
    "check_same_shape",
    "check_tensor",
    "describe",
    "error",
]
