"""Logit adjustment for long-tailed classification: as a loss, and post hoc.

Menon et al., "Long-tail learning via logit adjustment", ICLR 2021.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from imbalance_kit._validation import (
    check_dtype_floating,
    check_ndim,
    check_non_negative,
    check_tensor,
)
from imbalance_kit.losses._common import Backend, Reduction, check_module_weight
from imbalance_kit.losses._softmax_core import softmax_family_loss
from imbalance_kit.losses.balanced_softmax import _num_classes, _per_class_vector

__all__ = ["LogitAdjustedLoss", "adjust_logits", "logit_adjusted_loss"]

Priors = torch.Tensor | np.ndarray | list[float]


def _log_priors(class_priors: Priors, num_classes: int | None, validate_args: bool) -> torch.Tensor:
    """``log(pi_c)`` in float64 after normalising the priors to sum to 1."""
    priors = _per_class_vector(
        "class_priors", class_priors, num_classes, validate_args=validate_args
    )
    return priors.log() - priors.sum().log()


def adjust_logits(
    logits: torch.Tensor,
    class_priors: Priors,
    tau: float = 1.0,
    *,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Post-hoc logit adjustment: subtract ``tau * log(prior)`` from the logits.

    A model trained with plain cross-entropy on long-tailed data learns
    $\log p(y \mid x) \approx z_y + \text{const}$, which is biased towards head
    classes. Subtracting the scaled log prior estimates the balanced posterior
    (Menon et al., eq. 8); ``argmax`` of the result is the balanced-error
    optimal prediction for ``tau = 1``:

    ```math
    \tilde z_c = z_c - \tau \log \pi_c .
    ```

    ``class_priors`` is normalised to sum to 1 first, so class counts can be
    passed as well. (Normalising only shifts every logit by the same constant,
    which changes no softmax probability and no ``argmax``.)

    Reference: Menon et al., "Long-tail learning via logit adjustment",
    ICLR 2021.

    Args:
        logits: scores ``(N, C)`` or ``(N, C, d1, ...)`` (class dimension 1).
        class_priors: ``(C,)`` positive, finite class priors or counts.
        tau: adjustment strength $\tau \ge 0$ (0 returns the logits unchanged).
        validate_args: check that the priors are positive and finite (reads
            them; a sync if they live on CUDA).

    Returns:
        The adjusted logits, same shape and dtype as ``logits``.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: priors of the wrong length, non-positive or non-finite;
            ``tau`` negative or not finite.

    Examples:
        >>> logits = torch.tensor([[1.0, 0.0, 0.8]])
        >>> adjust_logits(logits, [0.7, 0.2, 0.1]).argmax(dim=1)  # the tail class wins
        tensor([2])
    """
    check_tensor("logits", logits)
    check_dtype_floating("logits", logits)
    check_ndim("logits", logits, min_ndim=2)
    check_non_negative("tau", tau)
    log_pi = _log_priors(class_priors, logits.shape[1], validate_args)
    shift = (float(tau) * log_pi).to(device=logits.device, dtype=logits.dtype)
    return logits - shift.reshape(1, -1, *([1] * (logits.ndim - 2)))


def logit_adjusted_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_priors: Priors,
    tau: float = 1.0,
    *,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Logit-adjusted cross-entropy: train on ``logits + tau * log(prior)``.

    The loss form of logit adjustment (Menon et al., eq. 10): adding the
    scaled log prior during training makes the raw logits estimate the
    balanced posterior, so they are used unchanged at test time:

    ```math
    \ell = -\log \frac{\pi_y^{\tau}\, e^{z_y}}{\sum_c \pi_c^{\tau}\, e^{z_c}}
         = \mathrm{CE}\big(z + \tau \log \pi,\; y\big).
    ```

    ``tau = 0`` is plain cross-entropy; ``tau = 1`` with priors proportional
    to the counts is [`balanced_softmax_loss`][imbalance_kit.losses.balanced_softmax_loss].
    ``class_priors`` is normalised to sum to 1 (the loss does not depend on
    the normalisation, so class counts may be passed directly). Computed by
    the shared softmax engine (``offsets = tau * log prior``).

    Reference: Menon et al., "Long-tail learning via logit adjustment",
    ICLR 2021.

    Args:
        logits: unnormalised scores ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices ``(N,)`` or ``(N, d1, ...)``.
        class_priors: ``(C,)`` training label priors (or counts); positive
            and finite. A class absent from the training data needs a small
            positive prior (its log would be ``-inf``).
        tau: adjustment strength $\tau \ge 0$.
        weight: optional per-class rescaling ``(C,)`` as in ``F.cross_entropy``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"`` (fused kernel).
        validate_args: check tensor values (target range, priors positive
            and finite); reads the data and synchronises on CUDA.

    Returns:
        The reduced loss, or the per-position loss for ``"none"``.

    Raises:
        TypeError: non-tensor ``logits``/``target`` or wrong dtypes.
        ValueError: bad priors, negative ``tau``, target out of range, other
            argument errors (named in the message).

    Examples:
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> target = torch.tensor([0, 2])
        >>> logit_adjusted_loss(logits, target, [0.7, 0.2, 0.1], tau=1.0)
        tensor(1.1067)
        >>> torch.allclose(
        ...     logit_adjusted_loss(logits, target, [0.7, 0.2, 0.1], tau=0.0),
        ...     torch.nn.functional.cross_entropy(logits, target),
        ... )
        True
    """
    check_non_negative("tau", tau)
    log_pi = _log_priors(class_priors, _num_classes(logits), validate_args)
    offsets = float(tau) * log_pi
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


class LogitAdjustedLoss(nn.Module):
    r"""Module twin of [`logit_adjusted_loss`][imbalance_kit.losses.logit_adjusted_loss];
    ``forward`` only calls it.

    The priors are kept as given (a plain attribute, not a buffer, so
    ``.half()`` cannot round them); ``weight`` is a buffer.

    Args:
        class_priors: ``(C,)`` training label priors (or counts).
        tau: adjustment strength.
        weight: optional per-class rescaling ``(C,)``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check tensor values on every call.

    Examples:
        >>> loss_fn = LogitAdjustedLoss([0.7, 0.2, 0.1], tau=1.0)
        >>> loss_fn(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([0, 2]))
        tensor(1.1067)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        class_priors: Priors,
        tau: float = 1.0,
        *,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_non_negative("tau", tau)
        self.class_priors = _per_class_vector("class_priors", class_priors, None)
        self.tau = tau
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss; see
        [`logit_adjusted_loss`][imbalance_kit.losses.logit_adjusted_loss]."""
        return logit_adjusted_loss(
            logits,
            target,
            self.class_priors,
            self.tau,
            weight=self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"tau={self.tau}, reduction={self.reduction!r}"
