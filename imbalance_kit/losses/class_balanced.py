"""Class-balanced loss: re-weighting by the inverse effective number of samples.

Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit._validation import (
    check_choice,
    check_class_targets,
    check_dtype_floating,
    check_in_range,
    check_ndim,
    check_non_negative,
    check_tensor,
    error,
)
from imbalance_kit.losses._common import (
    BACKENDS,
    Backend,
    Reduction,
    check_logits_device,
    check_reduction,
)
from imbalance_kit.losses._softmax_core import softmax_family_loss
from imbalance_kit.losses.balanced_softmax import _num_classes, _per_class_vector
from imbalance_kit.losses.focal import sigmoid_focal_loss
from imbalance_kit.weights import effective_number_weights

__all__ = ["LOSS_TYPES", "ClassBalancedLoss", "class_balanced_loss"]

LossType = Literal["softmax", "sigmoid", "focal", "softmax_focal"]
LOSS_TYPES = ("softmax", "sigmoid", "focal", "softmax_focal")
Counts = torch.Tensor | np.ndarray | list[float]


def _check_class_input(logits: object, target: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Static checks of ``(N, C, d...)`` logits and ``(N, d...)`` integer targets."""
    logits = check_tensor("logits", logits)
    target = check_tensor("target", target)
    check_dtype_floating("logits", logits)
    check_logits_device(logits)
    if target.device != logits.device:
        raise error(
            "target", f"on the logits' device {logits.device}", f"device {target.device}",
            raw=True,
        )  # fmt: skip
    check_ndim("logits", logits, min_ndim=2)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise error(
            "target",
            "an integer tensor of class indices",
            f"dtype {target.dtype}",
            TypeError,
            raw=True,
        )
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise error(
            "target",
            f"of shape {expected} for logits of shape {tuple(logits.shape)}",
            f"shape {tuple(target.shape)}",
            raw=True,
        )
    return logits, target


def class_balanced_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    samples_per_class: Counts,
    beta: float = 0.9999,
    loss_type: LossType = "softmax",
    gamma: float = 1.0,
    reduction: Reduction = "mean",
    *,
    ignore_index: int = -100,
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Class-balanced loss: weight each sample by its class's inverse effective number.

    The effective number of $n$ samples, $E_n = (1 - \beta^n) / (1 - \beta)$,
    accounts for overlap between samples; a sample of class $y$ is weighted by
    $w_y \propto 1 / E_{n_y}$, with the weights normalised to sum to $C$
    ([`effective_number_weights`][imbalance_kit.weights.effective_number_weights]). ``beta=0``
    gives equal weights, ``beta -> 1`` inverse-frequency weights. The weight
    multiplies one of four base losses of sample $i$ ($p = \operatorname{softmax}(z)$
    for the softmax types, $\sigma(z_c)$ per class for the sigmoid types,
    $[c = y]$ the one-hot target):

    ```math
    w_c = C\,\frac{(1-\beta)/(1-\beta^{n_c})}{\sum_j (1-\beta)/(1-\beta^{n_j})}, \qquad
    \ell_i = w_{y_i}\, L_i, \qquad
    \text{mean} = \frac{\sum_i \ell_i}{\sum_i w_{y_i}},
    ```

    ```math
    L_i^{\text{softmax}} = -\log p_{y_i}, \qquad
    L_i^{\text{softmax\_focal}} = -(1 - p_{y_i})^{\gamma} \log p_{y_i},
    ```

    ```math
    L_i^{\text{sigmoid}} = \sum_{c=1}^{C} \mathrm{BCE}\big(z_{ic}, [c = y_i]\big), \qquad
    L_i^{\text{focal}} = \sum_{c=1}^{C} (1 - p^t_{ic})^{\gamma}\,
        \mathrm{BCE}\big(z_{ic}, [c = y_i]\big),
    ```

    with $p^t_{ic} = \sigma(z_{ic})$ if $c = y_i$ else $1 - \sigma(z_{ic})$.
    ``"focal"`` is the sigmoid focal loss on one-hot targets with the class
    weight in place of alpha, as in the paper's reference code.

    **Reduction.** For every ``loss_type`` a sample's loss $\ell_i$ is one
    number (the sigmoid types *sum* their $C$ binary terms, as the paper's
    equations do), ``"none"`` returns the ``(N, d1, ...)`` per-sample losses,
    ``"sum"`` their sum, and ``"mean"`` divides that sum by the weight mass
    $\sum_i w_{y_i}$ of the non-ignored samples, exactly as
    ``F.cross_entropy(logits, target, weight=w)`` does. So ``"softmax"`` is
    ``F.cross_entropy`` with the class-balanced ``weight``. The authors'
    reference code normalises differently: its softmax and focal variants
    divide the sum by the number of samples $N$ and its sigmoid variant by
    $N C$ (a per-element mean); ``reduction="sum"`` divided by those numbers
    reproduces it.

    Classes with a zero count get weight 0 (see
    [`effective_number_weights`][imbalance_kit.weights.effective_number_weights]): their samples
    contribute nothing. A batch whose samples all have weight 0 gives NaN for
    ``"mean"``, as ``F.cross_entropy`` does.

    Reference: Cui et al., "Class-Balanced Loss Based on Effective Number of
    Samples", CVPR 2019.

    Args:
        logits: unnormalised scores ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices ``(N,)`` or ``(N, d1, ...)``.
        samples_per_class: ``(C,)`` non-negative training-set counts, at least
            one non-zero. Always read (the weights are computed on the CPU):
            keep them in a list or CPU tensor to avoid a device sync.
        beta: hyper-parameter in ``[0, 1)``; the paper tries 0.9, 0.99,
            0.999 and 0.9999.
        loss_type: ``"softmax"`` (weighted cross-entropy), ``"sigmoid"``
            (weighted one-vs-all BCE), ``"focal"`` (weighted sigmoid focal,
            the paper's best) or ``"softmax_focal"`` (weighted softmax focal).
        gamma: focusing parameter $\gamma \ge 0$ of the two focal types; the
            other types do not use it.
        reduction: ``"none"``, ``"mean"`` or ``"sum"`` (see above).
        ignore_index: target value whose positions are skipped.
        backend: ``"auto"``, ``"torch"`` or ``"triton"`` (fused kernel of the
            underlying softmax or sigmoid focal engine).
        validate_args: check the target values (range); reads the data and
            synchronises on CUDA.

    Returns:
        The reduced loss, or the per-sample loss for ``"none"``.

    Raises:
        TypeError: non-tensor ``logits``/``target`` or wrong dtypes.
        ValueError: ``beta`` outside ``[0, 1)``; counts of the wrong length,
            negative, non-finite or all zero; unknown ``loss_type``; negative
            ``gamma``; target out of range; other argument errors.

    Examples:
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> target = torch.tensor([0, 2])
        >>> counts = [900, 90, 10]
        >>> class_balanced_loss(logits, target, counts, beta=0.999)
        tensor(0.9894)
        >>> class_balanced_loss(logits, target, counts, beta=0.999, loss_type="focal", gamma=2.0)
        tensor(0.5445)
        >>> w = effective_number_weights(counts, beta=0.999)
        >>> torch.allclose(
        ...     class_balanced_loss(logits, target, counts, beta=0.999),
        ...     F.cross_entropy(logits, target, weight=w),
        ... )
        True
    """
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_non_negative("gamma", gamma)
    check_in_range("beta", beta, 0.0, 1.0, high_inclusive=False)
    counts = _per_class_vector(
        "samples_per_class", samples_per_class, _num_classes(logits), allow_zero=True
    )
    weights = effective_number_weights(counts, beta=beta)
    if isinstance(logits, torch.Tensor):
        weights = weights.to(logits.device)

    if loss_type in ("softmax", "softmax_focal"):
        return softmax_family_loss(
            logits,
            target,
            gamma=float(gamma) if loss_type == "softmax_focal" else 0.0,
            weight=weights,
            ignore_index=ignore_index,
            reduction=reduction,
            backend=backend,
            validate_args=validate_args,
        )

    logits, target = _check_class_input(logits, target)
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise error("ignore_index", "an int", ignore_index, TypeError)
    num_classes = logits.shape[1]
    if validate_args:
        check_class_targets("target", target, num_classes, ignore_index)
    valid = target != ignore_index
    in_range = (target >= 0) & (target < num_classes)
    safe = torch.where(valid & in_range, target, torch.zeros_like(target)).long()
    one_hot = F.one_hot(safe, num_classes).movedim(-1, 1).to(logits.dtype)
    per_element = sigmoid_focal_loss(
        logits,
        one_hot,
        alpha=None,
        gamma=float(gamma) if loss_type == "focal" else 0.0,
        reduction="none",
        backend=backend,
        validate_args=False,  # the one-hot targets are valid by construction
    )
    row_weight = weights.to(per_element.dtype)[safe] * valid.to(per_element.dtype)
    # NaN for a target outside [0, C) (only reachable with validate_args=False), as on the
    # softmax types
    row_weight = torch.where(valid & ~in_range, float("nan"), row_weight)
    per_sample = per_element.sum(dim=1) * row_weight
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.sum() / row_weight.sum()


class ClassBalancedLoss(nn.Module):
    r"""Module twin of [`class_balanced_loss`][imbalance_kit.losses.class_balanced_loss];
    ``forward`` only calls it.

    The counts are kept as given (a plain attribute, not a buffer, so
    ``.half()`` cannot round them); the weights are derived from them on each
    call (``C`` numbers, on the CPU).

    Args:
        samples_per_class: ``(C,)`` training-set counts.
        beta: hyper-parameter in ``[0, 1)``.
        loss_type: ``"softmax"``, ``"sigmoid"``, ``"focal"`` or ``"softmax_focal"``.
        gamma: focusing parameter of the focal types.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        ignore_index: target value whose positions are skipped.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check the target values on every call.

    Examples:
        >>> loss_fn = ClassBalancedLoss([900, 90, 10], beta=0.999, loss_type="focal", gamma=2.0)
        >>> loss_fn(torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([0, 2]))
        tensor(0.5445)
    """

    def __init__(
        self,
        samples_per_class: Counts,
        beta: float = 0.9999,
        loss_type: LossType = "softmax",
        gamma: float = 1.0,
        reduction: Reduction = "mean",
        *,
        ignore_index: int = -100,
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_choice("loss_type", loss_type, LOSS_TYPES)
        check_non_negative("gamma", gamma)
        check_in_range("beta", beta, 0.0, 1.0, high_inclusive=False)
        self.samples_per_class = _per_class_vector(
            "samples_per_class", samples_per_class, None, allow_zero=True
        )
        self.beta = beta
        self.loss_type = loss_type
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss; see
        [`class_balanced_loss`][imbalance_kit.losses.class_balanced_loss]."""
        return class_balanced_loss(
            logits,
            target,
            self.samples_per_class,
            self.beta,
            self.loss_type,
            self.gamma,
            self.reduction,
            ignore_index=self.ignore_index,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return (
            f"loss_type={self.loss_type!r}, beta={self.beta}, gamma={self.gamma}, "
            f"reduction={self.reduction!r}"
        )
