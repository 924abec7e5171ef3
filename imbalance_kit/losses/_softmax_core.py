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

import torch
import torch.nn.functional as F

from imbalance_kit._fused import SoftmaxOptions, compute_dtype, fused_loss
from imbalance_kit._validation import (
    check_choice,
    check_class_targets,
    check_dtype_floating,
    check_finite,
    check_in_range,
    check_ndim,
    check_non_negative,
    check_positive,
    check_tensor,
    error,
)
from imbalance_kit.losses._common import (
    BACKENDS,
    Backend,
    Reduction,
    check_logits_device,
    check_reduction,
    check_weight_tensor,
    check_weight_values,
    resolve_backend,
)

__all__ = ["softmax_family_loss"]


def _class_vector(
    name: str, value: object, num_classes: int, logits: torch.Tensor, *, learnable: bool = False
) -> torch.Tensor | None:
    """Static check of an optional per-class tensor of shape ``(C,)``."""
    if value is None:
        return None
    tensor = check_tensor(name, value)
    check_dtype_floating(name, tensor)
    if not (learnable and tensor.requires_grad):  # offsets / margins may be learned
        check_weight_tensor(name, tensor, logits)
    elif tensor.device != logits.device:
        raise error(
            name, f"on the logits' device {logits.device}", f"device {tensor.device}", raw=True
        )
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
    check_logits_device(logits)
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
    if target.device != logits.device:
        raise error(
            "target", f"on the logits' device {logits.device}", f"device {target.device}",
            raw=True,
        )  # fmt: skip
    num_classes = logits.shape[1]
    check_non_negative("gamma", gamma)
    if isinstance(alpha, torch.Tensor):
        _class_vector("alpha", alpha, num_classes, logits)
    elif alpha is not None:
        check_in_range("alpha", alpha, 0.0, 1.0)
    _class_vector("weight", weight, num_classes, logits)
    _class_vector("offsets", offsets, num_classes, logits, learnable=True)
    _class_vector("margins", margins, num_classes, logits, learnable=True)
    check_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise error("ignore_index", "an int", ignore_index, TypeError)
    check_positive("scale", scale)
    check_reduction(reduction)
    check_choice("backend", backend, BACKENDS)


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
    backend: Backend = "auto",
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
        for name, value in (("alpha", alpha), ("weight", weight)):
            if isinstance(value, torch.Tensor):
                check_weight_values(name, value)
        for name, value in (("offsets", offsets), ("margins", margins)):
            if value is not None:
                check_finite(name, value.detach())
    cdtype = compute_dtype(logits.dtype)

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
        z = logits2d.to(cdtype)
        if offsets is not None:
            z = z + offsets
        if margins is not None:
            z = z - F.one_hot(safe.clamp(0, num_classes - 1), num_classes).to(z.dtype) * margins
        logits2d = (z * scale).to(logits.dtype)
        offsets = margins = None
        scale = 1.0

    opts = SoftmaxOptions(
        gamma=float(gamma),
        alpha=None if isinstance(alpha, torch.Tensor) or alpha is None else float(alpha),
        label_smoothing=float(label_smoothing),
        ignore_index=int(ignore_index),
        scale=float(scale),
        reduction=reduction,
    )

    def vec(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(cdtype).contiguous()

    alpha_vec = vec(alpha) if isinstance(alpha, torch.Tensor) else None
    loss = fused_loss(
        _softmax_engine(backend, logits),
        logits2d,
        target1d,
        alpha_vec,
        vec(weight),
        vec(offsets),
        vec(margins),
        opts=opts,
        what="the softmax family (focal, balanced softmax, logit adjustment, LDAM)",
        per_row=True,
    )
    if reduction == "none":
        loss = loss.reshape(target.shape)
    return loss


def _softmax_engine(backend: str, logits: torch.Tensor):
    """The function that computes ``(loss, grad)`` for these logits and this backend."""
    if resolve_backend(backend, logits) == "triton":
        from imbalance_kit.kernels.softmax_loss import softmax_loss_forward

        return softmax_loss_forward
    if logits.device.type == "cpu":
        from imbalance_kit.kernels import cpu

        if cpu.handles(logits):
            return cpu.softmax_loss_cpu
    from imbalance_kit.losses._softmax_forward import softmax_family_forward

    return softmax_family_forward


def _softmax_family_formula(
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
    reduction: str = "mean",
) -> torch.Tensor:
    """The definition of `softmax_family_loss` in plain autograd operations.

    The fused engines compute exactly this (loss and gradient) in one pass; the tests hold
    them to it.

    Examples:
        >>> x, y = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]), torch.tensor([0, 2])
        >>> torch.allclose(_softmax_family_formula(x, y, gamma=2.0),
        ...                softmax_family_loss(x, y, gamma=2.0))
        True
    """
    num_classes = logits.shape[1]
    z = logits.movedim(1, -1).reshape(-1, num_classes)
    y = target.reshape(-1)
    keep = y != ignore_index
    one_hot = F.one_hot(torch.where(keep, y, 0), num_classes).to(z.dtype)
    if offsets is not None:
        z = z + offsets
    if margins is not None:
        z = z - one_hot * margins
    log_p = torch.log_softmax(z * scale, dim=1)
    q = (1 - label_smoothing) * one_hot + label_smoothing / num_classes
    a = 1.0 if alpha is None else alpha
    w = torch.ones(num_classes, dtype=z.dtype) if weight is None else weight
    modulator = (-torch.expm1(log_p)) ** gamma  # (1 - p)^gamma
    rows = torch.where(keep, (q * a * w * modulator * -log_p).sum(1), 0.0)
    if reduction == "none":
        return rows.reshape(target.shape)
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / (one_hot @ w * keep).sum()
