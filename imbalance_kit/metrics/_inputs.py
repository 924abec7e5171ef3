"""Checks of ``(preds, target)`` shared by the metric functions and their streaming forms.

Every metric takes the prediction first and the target second, as torch losses and
torchmetrics do. Calls that look swapped (floating scores where class indices are
expected and the other way round) get an error that says so, instead of a number.
"""

from __future__ import annotations

from typing import Any

import torch

from imbalance_kit._validation import check_inferred_num_classes, check_positive_int, error
from imbalance_kit.calibration._inputs import as_tensor

__all__ = [
    "check_order",
    "predicted_classes",
    "resolve_num_classes",
    "swapped",
    "target_classes",
]


def swapped(function: str, first: str, second: str) -> str:
    """The hint appended to errors of calls whose arguments look swapped."""
    return (
        f" (the arguments look swapped: call {function}({first}, {second}) with the "
        "prediction first and the target second)"
    )


def target_classes(target: Any, name: str = "target") -> torch.Tensor:
    """1-D, non-empty, integer class indices >= 0, as a detached int64 tensor."""
    tensor = as_tensor(target, name).detach()
    if tensor.ndim != 1:
        raise error(name, "1-D (N,) class indices", f"shape {tuple(tensor.shape)}", raw=True)
    if tensor.numel() == 0:
        raise error(name, "non-empty", "an empty array", raw=True)
    if tensor.is_floating_point() or tensor.is_complex():
        raise error(name, "integer class indices", f"dtype {tensor.dtype}", TypeError, raw=True)
    tensor = tensor.long()
    low = int(tensor.min())
    if low < 0:
        raise error(name, "class indices >= 0", low)
    return tensor


def predicted_classes(preds: Any, n: int, name: str = "preds") -> tuple[torch.Tensor, int | None]:
    """``(N,)`` predicted classes from ``(N,)`` class indices or ``(N, C)`` scores.

    Returns the int64 classes and ``C`` (``None`` for ``(N,)`` input). Scores must be
    finite and floating with ``C >= 2``; classes must be integers ``>= 0``.
    """
    tensor = as_tensor(preds, name).detach()
    if tensor.ndim == 2:
        if not tensor.is_floating_point():
            raise error(
                name,
                "(N,) integer classes or (N, C) floating scores",
                f"an integer tensor of shape {tuple(tensor.shape)}",
                TypeError,
                raw=True,
            )
        if tensor.shape[1] < 2:
            raise error(
                name,
                "(N, C) scores with C >= 2 (or (N,) classes)",
                f"shape {tuple(tensor.shape)}",
                raw=True,
            )
        if tensor.shape[0] == 0:
            raise error(name, "non-empty", f"shape {tuple(tensor.shape)}", raw=True)
        if not bool(torch.isfinite(tensor).all()):
            raise error(name, "finite scores (no NaN or inf)", "non-finite values", raw=True)
        width: int | None = tensor.shape[1]
        classes = tensor.argmax(dim=1)
    elif tensor.ndim == 1:
        if tensor.is_floating_point() or tensor.is_complex():
            raise error(
                name,
                "integer predicted classes or (N, C) scores (threshold binary scores first, "
                "e.g. (scores >= 0.5).long())",
                f"dtype {tensor.dtype}",
                TypeError,
                raw=True,
            )
        if tensor.numel() == 0:
            raise error(name, "non-empty", "an empty array", raw=True)
        classes = tensor.long()
        low = int(classes.min())
        if low < 0:
            raise error(name, "class indices >= 0", low)
        width = None
    else:
        raise error(name, "(N,) classes or (N, C) scores", f"shape {tuple(tensor.shape)}", raw=True)
    if classes.shape[0] != n:
        raise ValueError(
            f"{name} must have the same length as target ({n}), got {classes.shape[0]}"
        )
    return classes, width


def check_order(function: str, preds: torch.Tensor, target: torch.Tensor) -> None:
    """Refuse ``(target, scores)``: integer ``preds`` with a floating 2-D ``target``."""
    if not preds.is_floating_point() and target.is_floating_point() and target.ndim == 2:
        raise error(
            "preds",
            "(N,) classes or (N, C) scores, with target (N,) class indices"
            + swapped(function, "preds", "target"),
            f"integer preds of shape {tuple(preds.shape)} and floating target of shape "
            f"{tuple(target.shape)}",
            TypeError,
            raw=True,
        )


def resolve_num_classes(
    num_classes: int | None,
    target: torch.Tensor,
    preds: torch.Tensor,
    width: int | None,
) -> int:
    """The number of classes: given (and checked against the data) or inferred (at least 2).

    An inferred number is bounded as in
    [`imbalance_kit.weights.class_counts`][imbalance_kit.weights.class_counts] (``max(65536, 4 N)``)
    so a stray huge label cannot allocate a huge tensor.
    """
    if num_classes is not None:
        check_positive_int("num_classes", num_classes)
        if width is not None and width > num_classes:
            raise error("num_classes", f">= the number of score columns of preds ({width})",
                        num_classes)  # fmt: skip
        for name, tensor in (("target", target), ("preds", preds)):
            high = int(tensor.max())
            if high >= num_classes:
                raise error(name, f"class indices in [0, num_classes={num_classes})", high)
        return num_classes
    for name, tensor in (("target", target), ("preds", preds)):
        check_inferred_num_classes(name, int(tensor.max()), tensor.numel())
    seen = max(int(target.max()), int(preds.max())) + 1
    return max(seen, width or 0, 2)
