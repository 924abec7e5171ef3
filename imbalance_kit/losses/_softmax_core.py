"""One engine for every softmax-family loss (focal, balanced softmax, logit adjustment, LDAM, ...).

`softmax_family_loss` checks its arguments (shapes, dtypes and numbers always; target
values when ``validate_args``), moves the class dimension last, folds learnable offsets and
margins into the logits, then runs the fused Triton kernel
([`imbalance_kit.kernels.softmax_loss`][imbalance_kit.kernels.softmax_loss]) or the torch path
(`imbalance_kit.losses._softmax_forward`, where the loss, its gradient and the
``"mean"`` denominator are written out). With ``gamma=0`` and ``alpha=None`` the loss equals
``F.cross_entropy(z', y, weight=w, ignore_index=..., label_smoothing=eps)`` on the adjusted
logits ``z' = s (z + o - m [c = y])``.
"""

from __future__ import annotations

from typing import Literal

import torch

from imbalance_kit._validation import (
    check_choice,
    check_class_targets,
    check_dtype_floating,
    check_in_range,
    check_ndim,
    check_non_negative,
    check_non_negative_tensor,
    check_positive,
    check_reduction,
    check_tensor,
    error,
)
from imbalance_kit.losses._backend import BACKENDS, resolve_backend
from imbalance_kit.losses._softmax_forward import SoftmaxFamilyFunction, compute_dtype

__all__ = ["softmax_family_loss"]

Reduction = Literal["none", "mean", "sum"]


def _class_vector(name: str, value: object, num_classes: int) -> torch.Tensor | None:
    """Static check of an optional per-class tensor of shape ``(C,)``."""
    if value is None:
        return None
    tensor = check_tensor(name, value)
    check_dtype_floating(name, tensor)
    if tensor.shape != (num_classes,):
        raise error(
            name, f"a tensor of shape ({num_classes},)", f"shape {tuple(tensor.shape)}", raw=True
        )
    return tensor


def _validate(
    logits: object,
    target: object,
    *,
    gamma: float,
    alpha: float | torch.Tensor | None,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: int,
    offsets: torch.Tensor | None,
    margins: torch.Tensor | None,
    scale: float,
    reduction: str,
    backend: str,
) -> None:
    """Static checks (shapes, dtypes, Python numbers): never read tensor values."""
    logits = check_tensor("logits", logits)
    target = check_tensor("target", target)
    check_dtype_floating("logits", logits)
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
    num_classes = logits.shape[1]
    check_non_negative("gamma", gamma)
    if isinstance(alpha, torch.Tensor):
        _class_vector("alpha", alpha, num_classes)
    elif alpha is not None:
        check_in_range("alpha", alpha, 0.0, 1.0)
    _class_vector("weight", weight, num_classes)
    _class_vector("offsets", offsets, num_classes)
    _class_vector("margins", margins, num_classes)
    check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise error("ignore_index", "an int", ignore_index, TypeError)
    check_positive("scale", scale)
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)
    for name, value in (("alpha", alpha), ("weight", weight)):
        if isinstance(value, torch.Tensor) and value.requires_grad:
            raise error(
                name,
                "a constant tensor (no gradient flows into it)",
                "a tensor that requires grad",
                raw=True,
            )


def softmax_family_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 0.0,
    alpha: float | torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    offsets: torch.Tensor | None = None,
    margins: torch.Tensor | None = None,
    scale: float = 1.0,
    reduction: Reduction = "mean",
    backend: Literal["auto", "torch", "triton"] = "auto",
    validate_args: bool = True,
) -> torch.Tensor:
    """Shared softmax-family loss: focal modulation, alpha, weights, smoothing, offsets, margins.

    Every softmax-based loss of [`imbalance_kit.losses`][imbalance_kit.losses] is this function with
    some of its knobs set. Class dimension is 1, as in `torch.nn.functional.cross_entropy`.

    $$
    z'_c = s\\,(z_c + o_c - m_c [c = y]), \\quad
    \\mathcal{L}_{\\text{row}} = \\sum_c q_c\\, a_c\\, w_c\\, (1 - p_c)^{\\gamma}\\, (-\\log p_c),
    \\quad p = \\operatorname{softmax}(z'), \\quad q_c = (1-\\varepsilon)[c=y] + \\varepsilon/C
    $$

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits: unnormalised scores ``(N, C)`` or ``(N, C, d1, ...)``; float16/bfloat16 are
            computed in float32 and returned in their own dtype.
        target: class indices ``(N,)`` or ``(N, d1, ...)``, integer dtype.
        gamma: focusing parameter (0 turns the modulation off).
        alpha: ``None`` (1 for every class), a scalar in [0, 1] or a ``(C,)`` tensor.
        weight: per-class rescaling ``(C,)``; enters the ``"mean"`` denominator like
            ``F.cross_entropy``.
        label_smoothing: ``eps`` in [0, 1].
        ignore_index: target value whose rows contribute 0 and are not counted.
        offsets: per-class additive logit offsets ``(C,)`` (e.g. ``log`` class priors).
        margins: per-class margins ``(C,)`` subtracted from the target logit (LDAM).
        scale: positive multiplier applied after offsets and margins.
        reduction: ``"none"`` (shape of ``target``, 0 at ignored positions), ``"mean"`` or
            ``"sum"``.
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.
        validate_args: check target values (syncs on CUDA) before any computation.

    Returns:
        The loss, in the dtype of ``logits``. Gradients flow to ``logits`` (and to
        ``offsets``/``margins`` if they require grad); ``alpha`` and ``weight`` are constants.

    Raises:
        TypeError: a non-tensor or wrongly typed argument.
        ValueError: a shape, range or option error (the message names the argument).
        RuntimeError: ``backend="triton"`` where Triton cannot run.

    Examples:
        >>> import torch.nn.functional as F
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
        >>> target = torch.tensor([0, 2])
        >>> loss = softmax_family_loss(logits, target)
        >>> torch.allclose(loss, F.cross_entropy(logits, target))
        True
        >>> softmax_family_loss(logits, target, gamma=2.0, reduction="none")
        tensor([0.0111, 0.4013])
    """
    _validate(
        logits,
        target,
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        offsets=offsets,
        margins=margins,
        scale=scale,
        reduction=reduction,
        backend=backend,
    )
    num_classes = logits.shape[1]
    if validate_args:
        check_class_targets("target", target, num_classes, ignore_index)
        if isinstance(alpha, torch.Tensor):
            check_non_negative_tensor("alpha", alpha)
    gamma = float(gamma)
    label_smoothing = float(label_smoothing)
    scale = float(scale)

    # Class dimension last, then flatten to (M, C).
    if logits.ndim > 2:
        logits2d = logits.movedim(1, -1).reshape(-1, num_classes)
    else:
        logits2d = logits
    target1d = target.reshape(-1)
    if target1d.dtype != torch.int64:
        target1d = target1d.long()

    # Learnable offsets/margins: build z' with autograd, then run the engine on it.
    if any(isinstance(t, torch.Tensor) and t.requires_grad for t in (offsets, margins)):
        safe = torch.where(target1d != ignore_index, target1d, torch.zeros_like(target1d))
        z = logits2d.to(compute_dtype(logits.dtype))
        if offsets is not None:
            z = z + offsets
        if margins is not None:
            one_hot = torch.nn.functional.one_hot(safe, num_classes).to(z.dtype)
            z = z - one_hot * margins
        logits2d = (z * scale).to(logits.dtype)
        offsets = margins = None
        scale = 1.0

    device = logits.device

    def _vec(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(device=device, dtype=torch.float32)

    if resolve_backend(backend, logits) == "triton":
        from imbalance_kit.kernels.softmax_loss import softmax_loss_triton

        alpha_vec = (
            _vec(alpha)
            if isinstance(alpha, torch.Tensor) or alpha is None
            else torch.full((num_classes,), float(alpha), device=device)
        )
        loss = softmax_loss_triton(
            logits2d,
            target1d,
            gamma=gamma,
            alpha=alpha_vec,
            weight=_vec(weight),
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            offsets=_vec(offsets),
            margins=_vec(margins),
            scale=scale,
            reduction=reduction,
        )
    else:
        cdtype = compute_dtype(logits.dtype)

        def _cvec(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.detach().to(device=device, dtype=cdtype)

        loss = SoftmaxFamilyFunction.apply(
            logits2d,
            target1d,
            gamma,
            _cvec(alpha) if isinstance(alpha, torch.Tensor) else alpha,
            _cvec(weight),
            label_smoothing,
            ignore_index,
            _cvec(offsets),
            _cvec(margins),
            scale,
            reduction,
            logits2d.requires_grad and torch.is_grad_enabled(),
        )
    if reduction == "none":
        loss = loss.reshape(target.shape)
    return loss
