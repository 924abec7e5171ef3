"""Fused Triton kernel for the softmax loss family (focal, class-prior offsets, LDAM).

One program handles one row of the ``(M, C)`` logits with an online softmax over blocks of
columns, so any number of classes works with bounded registers. For the row's target ``y``:

```math
z'_c = s\\,(z_c + o_c - m_c [c = y]), \\quad \\ell_c = \\log\\operatorname{softmax}(z')_c,
\\quad p_c = e^{\\ell_c}, \\quad q_c = (1-\\varepsilon)[c = y] + \\varepsilon / C,
```

```math
\\mathcal{L}_{\\text{row}} = \\sum_c k_c\\,(1 - p_c)^{\\gamma}\\,(-\\ell_c),
\\qquad k_c = q_c\\, a_c\\, w_c .
```

**Gradient.** Write the row loss as ``sum_c T_c(l_c)`` with
``T(l) = -k (1 - e^l)^gamma l``. Then

```math
G_c := \\frac{dT_c}{d\\ell_c} = -k_c\\,\\psi_c, \\qquad
\\psi_c = (1-p_c)^{\\gamma}\\Bigl(1 - \\gamma\\, p_c \\frac{\\ell_c}{1 - p_c}\\Bigr),
```

and since ``d l_c / d z'_j = [c = j] - p_j``,

```math
\\frac{\\partial \\mathcal{L}}{\\partial z'_j} = G_j - p_j S, \\quad S = \\sum_c G_c,
\\qquad \\frac{\\partial \\mathcal{L}}{\\partial z_j} = s\\,(G_j - p_j S)
```

(offsets and margins are constants, the scale enters by the chain rule). For ``gamma = 0``,
``psi = 1`` and this is ``s p_j sum_c k_c - s k_j``: the cross-entropy gradient. The ratio
``l / (1 - p)`` tends to ``-1`` as ``p -> 1`` and is evaluated by a series there, so
fractional ``gamma`` keeps a finite gradient (no ``(1 - p)^(gamma - 1)``).

**Passes over a row.** Pass 1 is the online max / sum-of-exponentials (and, for label
smoothing at ``gamma = 0``, the running sums ``sum_c a_c w_c`` and
``sum_c a_c w_c (z'_c - max)``, which give the smoothing part of the loss in closed form).
Without label smoothing only the target column has ``k_c != 0``, so ``S = G_y`` comes from
one scalar load and pass 2 writes the gradient. Label smoothing with ``gamma > 0`` needs one
extra pass for ``S``. The target column's gradient ``s G_y (1 - p_y)`` is finished in float32
from ``1 - p_y`` computed without cancellation, not as ``p_y - 1`` in the input dtype.

All arithmetic is float32 (float64 for float64 input). Reference: Lin et al., "Focal Loss
for Dense Object Detection", ICCV 2017; Ren et al., "Balanced Meta-Softmax", NeurIPS 2020;
Menon et al., "Long-tail learning via logit adjustment", ICLR 2021; Cao et al., "Learning
Imbalanced Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from imbalance_kit._fused import (
    Reduction,
    SoftmaxOptions,
    compute_dtype,
    fused_loss,
    gamma_mode,
    interpreting,
)
from imbalance_kit.kernels._utils import check_runnable, series_cut

__all__ = ["softmax_loss_forward", "softmax_loss_triton"]

# Largest column block per program on the GPU (4096 float32 values over 8-16 warps stay in
# registers); rows with more classes loop over blocks. The interpreter gets larger blocks.
MAX_BLOCK_C = 4096
INTERPRET_MAX_BLOCK_C = 16384


# --------------------------------------------------------------------------- kernels


@triton.jit
def _shifted_logits(
    x_row, off_ptr, cols, mask, y, margin_y, scale, HAS_OFFSET: tl.constexpr,
    HAS_MARGIN: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """``z' = s (z + o - m_y [c == y])`` for one block, ``-inf`` outside the row."""
    z = tl.load(x_row + cols, mask=mask, other=0.0).to(ACC)
    if HAS_OFFSET:
        z = z + tl.load(off_ptr + cols, mask=mask, other=0.0).to(ACC)
    if HAS_MARGIN:
        z = z - tl.where(cols == y, margin_y, 0.0)
    z = z * scale
    return tl.where(mask, z, float("-inf"))


@triton.jit
def _class_coef(
    alpha_ptr, w_ptr, cols, mask, HAS_ALPHA: tl.constexpr, HAS_WEIGHT: tl.constexpr,
    ACC: tl.constexpr,
):  # fmt: skip
    """``a_c w_c`` for one block (0 outside the row)."""
    aw = tl.where(mask, 1.0, 0.0).to(ACC)
    if HAS_ALPHA:
        aw = aw * tl.load(alpha_ptr + cols, mask=mask, other=0.0).to(ACC)
    if HAS_WEIGHT:
        aw = aw * tl.load(w_ptr + cols, mask=mask, other=0.0).to(ACC)
    return aw


@triton.jit
def _expm1_series(l):
    """``(1 - e^l) / (-l)`` by its Taylor series (accurate for small ``|l|``)."""
    return 1.0 + l * (0.5 + l * (1.0 / 6.0 + l * (1.0 / 24.0 + l * (1.0 / 120.0))))


@triton.jit
def _one_minus_exp(l, cut):
    """``1 - e^l`` for ``l <= 0`` without cancellation near ``l = 0``."""
    return tl.where(l > -cut, -l * _expm1_series(l), 1.0 - tl.exp(l))


@triton.jit
def _focal_factors(l, gamma, cut, GAMMA_MODE: tl.constexpr):
    """``((1-p)^gamma, psi)`` for log-probabilities ``l <= 0`` (``gamma > 0``)."""
    p = tl.exp(l)
    series = _expm1_series(l)
    small = l > -cut
    u = tl.where(small, -l * series, 1.0 - p)
    ratio = tl.where(small, -1.0 / series, l / tl.where(small, 1.0, u))  # l / (1 - p) -> -1
    if GAMMA_MODE == 1:
        f = u
    elif GAMMA_MODE == 2:
        f = u * u
    else:
        f = tl.exp(gamma * tl.log(u))
    psi = f * (1.0 - gamma * p * ratio)
    return f, psi


@triton.jit
def _softmax_loss_kernel(
    x_ptr,
    x_stride,
    t_ptr,
    alpha_ptr,
    w_ptr,
    off_ptr,
    margin_ptr,
    grad_ptr,
    grad_stride,
    loss_ptr,
    inv_den_ptr,
    C,
    ignore_index,
    gamma,
    eps,
    scale,
    cut,
    GAMMA_MODE: tl.constexpr,
    HAS_SMOOTH: tl.constexpr,
    HAS_ALPHA: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    HAS_OFFSET: tl.constexpr,
    HAS_MARGIN: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    MEAN: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_stride
    g_row = grad_ptr + row * grad_stride
    y = tl.load(t_ptr + row)
    if y == ignore_index:
        tl.store(loss_ptr + row, tl.full([], 0.0, ACC))
        if COMPUTE_GRAD:
            for start in range(0, C, BLOCK_C):
                cols = start + tl.arange(0, BLOCK_C)
                zero = tl.zeros([BLOCK_C], dtype=ACC)
                tl.store(g_row + cols, zero.to(grad_ptr.dtype.element_ty), mask=cols < C)
    elif (y < 0) | (y >= C):
        # A target outside [0, C) (only with validate_args=False): NaN, nothing read.
        tl.store(loss_ptr + row, tl.full([], float("nan"), ACC))
        if COMPUTE_GRAD:
            for start in range(0, C, BLOCK_C):
                cols = start + tl.arange(0, BLOCK_C)
                nan = tl.full([BLOCK_C], float("nan"), ACC)
                tl.store(g_row + cols, nan.to(grad_ptr.dtype.element_ty), mask=cols < C)
    else:
        yc = y
        margin_y = tl.full([], 0.0, ACC)
        if HAS_MARGIN:
            margin_y = tl.load(margin_ptr + yc).to(ACC)
        aw_y = tl.full([], 1.0, ACC)
        if HAS_ALPHA:
            aw_y = aw_y * tl.load(alpha_ptr + yc).to(ACC)
        if HAS_WEIGHT:
            aw_y = aw_y * tl.load(w_ptr + yc).to(ACC)
        inv_c = tl.full([], 1.0, ACC) / C

        # Pass 1: online max and sum of exponentials (plus smoothing sums at gamma = 0).
        m = tl.full([], float("-inf"), ACC)
        d = tl.full([], 0.0, ACC)
        acc_z = tl.full([], 0.0, ACC)  # sum_c a_c w_c (z'_c - m)
        acc_aw = tl.full([], 0.0, ACC)  # sum_c a_c w_c
        for start in range(0, C, BLOCK_C):
            cols = start + tl.arange(0, BLOCK_C)
            mask = cols < C
            z = _shifted_logits(x_row, off_ptr, cols, mask, yc, margin_y, scale, HAS_OFFSET,
                                HAS_MARGIN, ACC)  # fmt: skip
            m_new = tl.maximum(m, tl.max(z, axis=0))
            d = d * tl.exp(m - m_new) + tl.sum(tl.exp(z - m_new), axis=0)
            if HAS_SMOOTH and GAMMA_MODE == 0:
                aw = _class_coef(alpha_ptr, w_ptr, cols, mask, HAS_ALPHA, HAS_WEIGHT, ACC)
                # re-base the running sum on the new maximum (no-op before the first block)
                acc_z = acc_z - tl.where(acc_aw != 0.0, m_new - m, 0.0) * acc_aw
                acc_z = acc_z + tl.sum(aw * tl.where(mask, z - m_new, 0.0), axis=0)
                acc_aw = acc_aw + tl.sum(aw, axis=0)
            m = m_new
        log_d = tl.log(d)
        lse = m + log_d

        # Target column, in the accumulator dtype.
        z_y = tl.load(x_row + yc).to(ACC)
        if HAS_OFFSET:
            z_y = z_y + tl.load(off_ptr + yc).to(ACC)
        z_y = (z_y - margin_y) * scale
        l_y = tl.where(z_y - lse > 0.0, 0.0, z_y - lse)  # min(., 0) that keeps NaN
        u_y = _one_minus_exp(l_y, cut)
        coef_y = (1.0 - eps) * aw_y

        # Row loss and S = sum_c G_c.
        if GAMMA_MODE == 0:
            loss = -coef_y * l_y
            total = -coef_y
            if HAS_SMOOTH:
                # sum_c a_c w_c l_c = sum_c a_c w_c (z'_c - m) - log(d) sum_c a_c w_c
                loss = loss - eps * inv_c * (acc_z - log_d * acc_aw)
                total = total - eps * inv_c * acc_aw
        elif HAS_SMOOTH:
            loss = tl.full([], 0.0, ACC)
            total = tl.full([], 0.0, ACC)
            for start in range(0, C, BLOCK_C):
                cols = start + tl.arange(0, BLOCK_C)
                mask = cols < C
                z = _shifted_logits(x_row, off_ptr, cols, mask, yc, margin_y, scale, HAS_OFFSET,
                                    HAS_MARGIN, ACC)  # fmt: skip
                l = tl.where(mask, z - lse, -1.0)
                l = tl.where(l > 0.0, 0.0, l)
                aw = _class_coef(alpha_ptr, w_ptr, cols, mask, HAS_ALPHA, HAS_WEIGHT, ACC)
                k = eps * inv_c * aw + tl.where(cols == yc, coef_y, 0.0)
                f, psi = _focal_factors(l, gamma, cut, GAMMA_MODE)
                loss = loss + tl.sum(-k * f * l, axis=0)
                total = total + tl.sum(-k * psi, axis=0)
        else:
            f_y, psi_y = _focal_factors(l_y, gamma, cut, GAMMA_MODE)
            loss = -coef_y * f_y * l_y
            total = -coef_y * psi_y
        tl.store(loss_ptr + row, loss)

        # Last pass: dL/dz_j = s (G_j - p_j S), divided by the "mean" denominator.
        if COMPUTE_GRAD:
            g_scale = scale
            if MEAN:
                g_scale = g_scale * tl.load(inv_den_ptr).to(ACC)
            for start in range(0, C, BLOCK_C):
                cols = start + tl.arange(0, BLOCK_C)
                mask = cols < C
                z = _shifted_logits(x_row, off_ptr, cols, mask, yc, margin_y, scale, HAS_OFFSET,
                                    HAS_MARGIN, ACC)  # fmt: skip
                p = tl.exp(z - lse)
                if HAS_SMOOTH:
                    aw = _class_coef(alpha_ptr, w_ptr, cols, mask, HAS_ALPHA, HAS_WEIGHT, ACC)
                    k = eps * inv_c * aw + tl.where(cols == yc, coef_y, 0.0)
                    if GAMMA_MODE == 0:
                        g = -k
                    else:
                        l = tl.where(mask, z - lse, -1.0)
                        l = tl.where(l > 0.0, 0.0, l)
                        f, psi = _focal_factors(l, gamma, cut, GAMMA_MODE)
                        g = -k * psi
                    grad = g_scale * (g - p * total)
                else:
                    # Only G_y != 0 and S = G_y: the target column is s G_y (1 - p_y).
                    grad = g_scale * tl.where(cols == yc, total * u_y, -p * total)
                tl.store(g_row + cols, grad.to(grad_ptr.dtype.element_ty), mask=mask)


# --------------------------------------------------------------------------- launcher

_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


def _launch_config(num_classes: int) -> tuple[int, int]:
    """``(BLOCK_C, num_warps)`` for a row of ``num_classes`` columns."""
    limit = INTERPRET_MAX_BLOCK_C if interpreting() else MAX_BLOCK_C
    block = min(triton.next_power_of_2(max(num_classes, 1)), limit)
    if block >= 4096:
        warps = 16
    elif block >= 1024:
        warps = 8
    elif block >= 256:
        warps = 4
    else:
        warps = 2
    return block, warps


def softmax_loss_forward(
    logits2d: torch.Tensor,
    target1d: torch.Tensor,
    alpha: torch.Tensor | None,
    weight: torch.Tensor | None,
    offsets: torch.Tensor | None,
    margins: torch.Tensor | None,
    *,
    opts: SoftmaxOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Launch the kernel: ``(loss, grad)``.

    ``loss`` is reduced as asked, in the logits dtype (``(M,)`` for ``"none"``); ``grad``
    is d(loss)/d(logits) in the logits dtype (for ``"none"``: of the sum of the row losses),
    or ``None`` unless ``need_grad``. A scalar ``opts.alpha`` is applied as a ``(C,)`` vector.
    A row whose target is neither in ``[0, C)`` nor ``ignore_index`` gets a NaN loss and a NaN
    gradient row (the kernel never reads outside the row). The ``"mean"`` denominator, the
    sum of ``w_y`` over non-ignored rows, is computed from the targets before the launch (an
    ``(M,)`` gather) so that the kernel writes the final gradient.
    """
    check_runnable(logits2d)
    gamma, label_smoothing, ignore_index = opts.gamma, opts.label_smoothing, opts.ignore_index
    scale, reduction, compute_grad = opts.scale, opts.reduction, need_grad
    x = logits2d if logits2d.stride(-1) == 1 else logits2d.contiguous()
    num_rows, num_classes = x.shape
    device = x.device
    acc_dtype = compute_dtype(x.dtype)
    target = target1d.to(device=device, dtype=torch.int64).contiguous()

    def _vec(value: torch.Tensor | None) -> torch.Tensor | None:
        if value is None:
            return None
        return value.detach().to(device=device, dtype=acc_dtype).reshape(-1).contiguous()

    if alpha is None and opts.alpha is not None:
        alpha = torch.full((num_classes,), opts.alpha, device=device)
    alpha_v, weight_v, offsets_v, margins_v = map(_vec, (alpha, weight, offsets, margins))
    row_loss = torch.empty(num_rows, dtype=acc_dtype, device=device)
    denominator = None
    if reduction == "mean":
        valid = target != ignore_index
        if weight_v is None:
            denominator = valid.sum().to(acc_dtype)
        else:
            safe = target.clamp(0, max(num_classes - 1, 0))
            denominator = (weight_v[safe] * valid).sum() if num_classes else valid.sum()
        inv_den = denominator.reciprocal().reshape(1)
    grad = None
    if compute_grad:
        grad = torch.empty((num_rows, num_classes), dtype=x.dtype, device=device)
    if num_rows > 0 and num_classes > 0:
        block, warps = _launch_config(num_classes)
        _softmax_loss_kernel[(num_rows,)](
            x,
            x.stride(0),
            target,
            alpha_v if alpha_v is not None else x,
            weight_v if weight_v is not None else x,
            offsets_v if offsets_v is not None else x,
            margins_v if margins_v is not None else x,
            grad if grad is not None else x,
            grad.stride(0) if grad is not None else 0,
            row_loss,
            inv_den if denominator is not None else row_loss,
            num_classes,
            int(ignore_index),
            float(gamma),
            float(label_smoothing),
            float(scale),
            series_cut(acc_dtype),
            GAMMA_MODE=gamma_mode(gamma),
            HAS_SMOOTH=float(label_smoothing) > 0.0,
            HAS_ALPHA=alpha_v is not None,
            HAS_WEIGHT=weight_v is not None,
            HAS_OFFSET=offsets_v is not None,
            HAS_MARGIN=margins_v is not None,
            COMPUTE_GRAD=compute_grad,
            MEAN=denominator is not None,
            ACC=_TL_DTYPES[acc_dtype],
            BLOCK_C=block,
            num_warps=warps,
        )
    if reduction == "none":
        return row_loss.to(x.dtype), grad
    total = row_loss.sum()
    if reduction == "sum":
        return total.to(x.dtype), grad
    return (total / denominator).to(x.dtype), grad


# --------------------------------------------------------------------------- public entry


def softmax_loss_triton(
    logits2d: torch.Tensor,
    target1d: torch.Tensor,
    *,
    gamma: float,
    alpha: torch.Tensor | None,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: int,
    offsets: torch.Tensor | None,
    margins: torch.Tensor | None,
    scale: float,
    reduction: Reduction,
) -> torch.Tensor:
    """Softmax-family loss through the fused Triton kernel (loss and gradient in one go).

    Arguments are assumed validated by the caller (the softmax losses of
    [`imbalance_kit.losses`][imbalance_kit.losses] with ``backend="triton"``), which is what user
    code calls.

    ```math
    \\mathcal{L}_{\\text{row}} = \\sum_c q_c\\, a_c\\, w_c\\, (1 - p_c)^{\\gamma}\\,(-\\log p_c),
    \\quad p = \\operatorname{softmax}\\bigl(s (z + o - m_y e_y)\\bigr)
    ```

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits2d: ``(M, C)`` logits (float16 / bfloat16 / float32 / float64) on CUDA (or on
            CPU under ``TRITON_INTERPRET=1``); the last dimension must be contiguous or it is
            copied.
        target1d: ``(M,)`` int64 class indices or ``ignore_index``.
        gamma: focusing parameter >= 0.
        alpha: per-class ``a_c`` ``(C,)`` or ``None``.
        weight: per-class ``w_c`` ``(C,)`` or ``None``; the ``"mean"`` denominator is
            ``sum of w_y`` over non-ignored rows, as in ``F.cross_entropy``.
        label_smoothing: ``eps`` in [0, 1].
        ignore_index: target value whose rows give 0 loss and 0 gradient.
        offsets: per-class additive logit offsets ``(C,)`` or ``None``.
        margins: per-class margins ``(C,)`` subtracted from the target logit, or ``None``.
        scale: multiplier applied after offsets and margins.
        reduction: ``"none"`` (``(M,)``, 0 at ignored rows), ``"mean"`` or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits2d``. Differentiable with respect to ``logits2d``.

    Raises:
        RuntimeError: ``logits2d`` is not on a device Triton can run on.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from imbalance_kit.kernels import softmax_loss_triton
        >>> device = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: TRITON_INTERPRET=1
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]], device=device)
        >>> target = torch.tensor([0, 2], device=device)
        >>> loss = softmax_loss_triton(
        ...     logits, target, gamma=0.0, alpha=None, weight=None, label_smoothing=0.0,
        ...     ignore_index=-100, offsets=None, margins=None, scale=1.0, reduction="mean")
        >>> torch.allclose(loss, F.cross_entropy(logits, target))
        True
    """
    opts = SoftmaxOptions(
        gamma=float(gamma),
        alpha=None,
        label_smoothing=float(label_smoothing),
        ignore_index=int(ignore_index),
        scale=float(scale),
        reduction=reduction,
    )
    return fused_loss(
        softmax_loss_forward,
        logits2d,
        target1d,
        alpha,
        weight,
        offsets,
        margins,
        opts=opts,
        what="the Triton softmax-family kernel",
        per_row=True,
    )
