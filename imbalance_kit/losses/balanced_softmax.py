"""Balanced softmax: cross-entropy with the log class counts added to the logits.

Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from imbalance_kit._validation import check_finite, check_ndim, error
from imbalance_kit.losses._common import Backend, Reduction, check_module_weight
from imbalance_kit.losses._softmax_core import softmax_family_loss

__all__ = ["BalancedSoftmaxLoss", "balanced_softmax_loss"]


def _per_class_vector(
    name: str,
    value: Any,
    num_classes: int | None,
    *,
    validate_args: bool = True,
    allow_zero: bool = False,
) -> torch.Tensor:
    """A per-class statistic (counts, priors) as a detached float64 1-D tensor.

    Accepts a tensor, numpy array or sequence of numbers on any device (it stays
    there). Shape and dtype are always checked; values (finite, > 0, or >= 0 with
    at least one > 0 when ``allow_zero``) only when ``validate_args``.
    """
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        if isinstance(value, (str, bytes)) or value is None:
            raise error(name, "a tensor, array or sequence of numbers", value, TypeError)
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise error(name, "a tensor, array or sequence of numbers", value, TypeError) from None
        tensor = torch.from_numpy(array)
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise error(name, "real-valued", f"dtype {tensor.dtype}", TypeError, raw=True)
    check_ndim(name, tensor, 1)
    if tensor.numel() == 0:
        raise error(name, "non-empty (one entry per class)", "an empty sequence", raw=True)
    if num_classes is not None and tensor.shape[0] != num_classes:
        raise error(
            name,
            f"of length {num_classes} (one entry per class, logits.shape[1])",
            f"length {tensor.shape[0]}",
            raw=True,
        )
    tensor = tensor.to(torch.float64)
    if validate_args:
        check_finite(name, tensor)
        if allow_zero:
            if bool((tensor < 0).any()):
                raise error(name, "non-negative", f"minimum {tensor.min().item()!r}", raw=True)
            if not bool((tensor > 0).any()):
                raise error(name, "non-zero for at least one class", "all zeros", raw=True)
        elif tensor.numel() and not bool((tensor > 0).all()):
            raise error(
                name,
                "> 0 for every class (give an empty class a small pseudo-count)",
                f"minimum {tensor.min().item()!r}",
                raw=True,
            )
    return tensor


def _num_classes(logits: Any) -> int | None:
    """``logits.shape[1]`` when it exists; the engine reports bad logits itself."""
    if isinstance(logits, torch.Tensor) and logits.ndim >= 2:
        return int(logits.shape[1])
    return None


def balanced_softmax_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    samples_per_class: torch.Tensor | np.ndarray | list[float],
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Balanced softmax loss: cross-entropy of the logits shifted by the log class counts.

    Training with the class counts $n_c$ added to the softmax makes the model
    learn the *balanced* posterior: the training label distribution is
    explained by the offset, so the raw logits, used unchanged at test time,
    stop favouring the head classes:

    ```math
    \ell = -\log \frac{n_y\, e^{z_y}}{\sum_c n_c\, e^{z_c}}
         = \mathrm{CE}\big(z + \log n,\; y\big).
    ```

    Only the ratios of the counts matter (a common factor cancels), so counts
    and priors give the same loss. Computed by the shared softmax engine
    (``offsets = log n``), with torch's ``weight``, ``label_smoothing``,
    ``ignore_index`` and ``reduction`` semantics.

    Reference: Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual
    Recognition", NeurIPS 2020.

    Args:
        logits: unnormalised scores ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices ``(N,)`` or ``(N, d1, ...)``.
        samples_per_class: training-set count of every class, ``(C,)``
            (tensor, array or list). Every count must be > 0: a class with no
            samples would get an offset of ``-inf``; give it a small
            pseudo-count (e.g. 1) instead.
        weight: optional per-class rescaling ``(C,)`` as in ``F.cross_entropy``.
        label_smoothing: ``eps`` in ``[0, 1]`` as in ``F.cross_entropy``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"`` (fused kernel).
        validate_args: check tensor values (target range, counts > 0 and
            finite); reads the data and synchronises on CUDA.

    Returns:
        The reduced loss, or the per-position loss (shape of ``target``) for
        ``"none"``.

    Raises:
        TypeError: non-tensor ``logits``/``target`` or wrong dtypes.
        ValueError: counts of the wrong length, non-positive or non-finite;
            target out of range; other argument errors (named in the message).

    Examples:
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> target = torch.tensor([0, 2])
        >>> counts = [900, 90, 10]
        >>> balanced_softmax_loss(logits, target, counts)
        tensor(2.2197)
        >>> torch.allclose(
        ...     balanced_softmax_loss(logits, target, counts),
        ...     torch.nn.functional.cross_entropy(logits + torch.tensor(counts).log(), target),
        ... )
        True
    """
    counts = _per_class_vector(
        "samples_per_class", samples_per_class, _num_classes(logits), validate_args=validate_args
    )
    offsets = counts.log()
    if isinstance(logits, torch.Tensor):
        offsets = offsets.to(logits.device)
    return softmax_family_loss(
        logits,
        target,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        offsets=offsets,
        reduction=reduction,
        backend=backend,
        validate_args=validate_args,
    )


class BalancedSoftmaxLoss(nn.Module):
    r"""Module twin of [`balanced_softmax_loss`][imbalance_kit.losses.balanced_softmax_loss];
    ``forward`` only calls it.

    The counts are kept as given (a plain attribute, not a buffer, so
    ``.half()`` cannot round them); ``weight`` is a buffer that moves with
    ``.to(device)``.

    Args:
        samples_per_class: training-set count of every class, ``(C,)``.
        weight: optional per-class rescaling ``(C,)``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check tensor values on every call.

    Examples:
        >>> loss_fn = BalancedSoftmaxLoss([900, 90, 10])
        >>> loss_fn(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([0, 2]))
        tensor(2.2197)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        samples_per_class: torch.Tensor | np.ndarray | list[float],
        *,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        self.samples_per_class = _per_class_vector("samples_per_class", samples_per_class, None)
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss; see
        [`balanced_softmax_loss`][imbalance_kit.losses.balanced_softmax_loss]."""
        return balanced_softmax_loss(
            logits,
            target,
            self.samples_per_class,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"num_classes={self.samples_per_class.numel()}, reduction={self.reduction!r}"
