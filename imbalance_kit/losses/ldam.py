"""Label-distribution-aware margin (LDAM) loss.

Cao et al., "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
Loss", NeurIPS 2019.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from imbalance_kit._validation import check_non_negative, check_positive
from imbalance_kit.losses._common import Backend, Reduction, check_module_weight
from imbalance_kit.losses._softmax_core import softmax_family_loss
from imbalance_kit.losses.balanced_softmax import _num_classes, _per_class_vector

__all__ = ["LDAMLoss", "ldam_loss", "ldam_margins"]

Counts = torch.Tensor | np.ndarray | list[float]


def _margins(counts: torch.Tensor, max_margin: float) -> torch.Tensor:
    # m_c = C / n_c^(1/4) with C chosen so that the rarest class gets max_margin.
    inv_root = counts.pow(-0.25)
    return inv_root * (float(max_margin) / inv_root.max())


def ldam_margins(samples_per_class: Counts, max_margin: float = 0.5) -> torch.Tensor:
    r"""Per-class LDAM margins $m_c \propto n_c^{-1/4}$, the largest equal to ``max_margin``.

    ```math
    m_c = m_{\max} \left( \frac{\min_j n_j}{n_c} \right)^{1/4}.
    ```

    Args:
        samples_per_class: ``(C,)`` positive training-set counts.
        max_margin: the margin of the rarest class, ``>= 0``.

    Returns:
        ``float64`` margins of shape ``(C,)`` on the counts' device.

    Raises:
        ValueError: counts not 1-D, non-positive or non-finite; negative
            ``max_margin``.

    Examples:
        >>> ldam_margins([1000, 100, 10], max_margin=0.5)
        tensor([0.1581, 0.2812, 0.5000], dtype=torch.float64)
    """
    check_non_negative("max_margin", max_margin)
    counts = _per_class_vector("samples_per_class", samples_per_class, None)
    return _margins(counts, max_margin)


def ldam_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    samples_per_class: Counts,
    max_margin: float = 0.5,
    scale: float = 30.0,
    weight: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    backend: Backend = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""LDAM loss: cross-entropy with a larger margin for rarer classes.

    The target logit is lowered by a class-dependent margin
    $m_c \propto n_c^{-1/4}$ (the rarest class gets ``max_margin``), and the
    result is scaled by $s$ before the softmax, as in the paper's code (which
    expects normalised features and weights, i.e. cosine logits in
    ``[-1, 1]``):

    ```math
    \ell = -w_y \log \frac{e^{s (z_y - m_y)}}
           {e^{s (z_y - m_y)} + \sum_{c \ne y} e^{s z_c}}, \qquad
    m_c = m_{\max} \left( \frac{\min_j n_j}{n_c} \right)^{1/4}.
    ```

    ``max_margin=0, scale=1`` is plain cross-entropy. Computed by the shared
    softmax engine (``margins``, ``scale``) with torch's ``weight``,
    ``label_smoothing``, ``ignore_index`` and ``reduction`` semantics.

    **Deferred re-weighting (DRW).** The paper trains with ``weight=None``
    first and switches on class-balanced weights for the last stage (epoch
    160 of 200 on CIFAR), because re-weighting from the start hurts the
    learned features. Pass the weights from
    [`effective_number_weights`][imbalance_kit.weights.effective_number_weights] at that point
    (``beta=0.9999`` in the paper), or assign them to ``LDAMLoss.weight``:

    ```python
    weight = None if epoch < 160 else effective_number_weights(counts, beta=0.9999)
    loss = ldam_loss(logits, target, counts, weight=weight)
    ```

    Reference: Cao et al., "Learning Imbalanced Datasets with
    Label-Distribution-Aware Margin Loss", NeurIPS 2019.

    Args:
        logits: scores ``(N, C)`` or ``(N, C, d1, ...)``; the paper uses
            cosine similarities.
        target: class indices ``(N,)`` or ``(N, d1, ...)``.
        samples_per_class: ``(C,)`` training-set counts, all > 0 (a class
            without samples would get an infinite margin; give it a small
            pseudo-count).
        max_margin: margin of the rarest class $m_{\max} \ge 0$.
        scale: logit scale $s > 0$ applied after the margin.
        weight: optional per-class rescaling ``(C,)`` (the DRW weights).
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"`` (fused kernel).
        validate_args: check tensor values (target range, counts > 0 and
            finite); reads the data and synchronises on CUDA.

    Returns:
        The reduced loss, or the per-position loss for ``"none"``.

    Raises:
        TypeError: non-tensor ``logits``/``target`` or wrong dtypes.
        ValueError: bad counts, negative ``max_margin``, non-positive
            ``scale``, target out of range, other argument errors.

    Examples:
        >>> cosine = torch.tensor([[0.9, 0.1, -0.2], [0.2, 0.1, 0.4]])
        >>> target = torch.tensor([0, 2])
        >>> ldam_loss(cosine, target, [1000, 100, 10])
        tensor(4.5244)
        >>> torch.allclose(
        ...     ldam_loss(cosine, target, [1000, 100, 10], max_margin=0.0, scale=1.0),
        ...     torch.nn.functional.cross_entropy(cosine, target),
        ... )
        True
    """
    check_non_negative("max_margin", max_margin)
    check_positive("scale", scale)
    counts = _per_class_vector(
        "samples_per_class", samples_per_class, _num_classes(logits), validate_args=validate_args
    )
    margins = _margins(counts, max_margin)
    if isinstance(logits, torch.Tensor):
        margins = margins.to(logits.device)
    return softmax_family_loss(
        logits,
        target,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        margins=margins,
        scale=scale,
        reduction=reduction,
        backend=backend,
        validate_args=validate_args,
    )


class LDAMLoss(nn.Module):
    r"""Module twin of [`ldam_loss`][imbalance_kit.losses.ldam_loss]; ``forward`` only calls it.

    ``weight`` is a buffer: for deferred re-weighting assign the new weights
    when the re-weighting stage starts, e.g.
    ``loss_fn.weight = effective_number_weights(counts, beta=0.9999).to(device)``.
    The counts are kept as given (a plain attribute, so ``.half()`` cannot
    round them).

    Args:
        samples_per_class: ``(C,)`` training-set counts.
        max_margin: margin of the rarest class.
        scale: logit scale applied after the margin.
        weight: optional per-class rescaling ``(C,)``.
        label_smoothing: ``eps`` in ``[0, 1]``.
        ignore_index: target value whose positions are skipped.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check tensor values on every call.

    Examples:
        >>> from imbalance_kit.weights import effective_number_weights
        >>> loss_fn = LDAMLoss([1000, 100, 10])
        >>> cosine = torch.tensor([[0.9, 0.1, -0.2], [0.2, 0.1, 0.4]])
        >>> loss_fn(cosine, torch.tensor([0, 2]))
        tensor(4.5244)
        >>> loss_fn.weight = effective_number_weights([1000, 100, 10], beta=0.9999)  # DRW stage
        >>> loss_fn(cosine, torch.tensor([0, 2]))
        tensor(8.9547)
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        samples_per_class: Counts,
        max_margin: float = 0.5,
        scale: float = 30.0,
        weight: torch.Tensor | None = None,
        *,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        backend: Backend = "auto",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_non_negative("max_margin", max_margin)
        check_positive("scale", scale)
        self.samples_per_class = _per_class_vector("samples_per_class", samples_per_class, None)
        self.max_margin = max_margin
        self.scale = scale
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.backend = backend
        self.validate_args = validate_args
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss; see [`ldam_loss`][imbalance_kit.losses.ldam_loss]."""
        return ldam_loss(
            logits,
            target,
            self.samples_per_class,
            self.max_margin,
            self.scale,
            self.weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            backend=self.backend,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"max_margin={self.max_margin}, scale={self.scale}, reduction={self.reduction!r}"
