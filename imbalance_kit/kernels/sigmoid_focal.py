"""Fused Triton kernel for the sigmoid focal loss family (binary and multi-label).

One pass over the input reads ``logits`` and ``targets`` (plus the optional broadcast
``pos_weight`` / ``weight``) and writes the loss (element-wise, or one partial sum per
block) **and** the gradient of the reduced loss with respect to the logits. That gradient is
the only tensor kept for backward, which returns it as is when ``grad_output`` is 1 (the
plain ``loss.backward()``) and a scaled copy otherwise.

For ``p = sigmoid(x)`` and smoothed targets ``t' = t (1 - eps) + eps / 2``:

```math
\\ell = -w \\left[ a_+ \\, \\mathrm{pw} \\, t' (1-p)^{\\gamma} \\log p
        + a_- (1-t') \\, p^{\\gamma} \\log(1-p) \\right]
```

with ``a_+ = alpha``, ``a_- = 1 - alpha`` (both 1 when ``alpha`` is ``None``). With
``log p = logsigmoid(x)`` and ``log(1 - p) = logsigmoid(-x)`` computed stably and
``d log p / dx = 1 - p``, ``d log(1-p) / dx = -p``, ``d (1-p)^g / dx = -g p (1-p)^g`` and
``d p^g / dx = g (1-p) p^g``, the gradient is

```math
\\frac{\\partial \\ell}{\\partial x} = -w \\left[ a_+ \\mathrm{pw}\\, t' (1-p)^{\\gamma}
    \\bigl((1-p) - \\gamma p \\log p\\bigr)
  + a_- (1-t')\\, p^{\\gamma} \\bigl(\\gamma (1-p) \\log(1-p) - p\\bigr) \\right].
```

No power with exponent ``gamma - 1`` appears, so fractional ``gamma`` has a finite gradient
where ``p_t -> 1``; ``(1-p)^gamma`` is ``exp(gamma * logsigmoid(-x))`` (exactly 1 at
``gamma = 0``, where a constexpr branch skips it; integer ``gamma`` 1 and 2 are products).
Elements whose target equals ``ignore_index`` contribute 0 to the loss and the gradient and
are not counted by ``"mean"``, which divides by the number of remaining elements.

All arithmetic is float32 (float64 for float64 input); the loss and the gradient are
stored in the input dtype. Reference: Lin et al., "Focal Loss for Dense Object Detection",
ICCV 2017.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from imbalance_kit._fused import (
    Reduction,
    SigmoidFocalOptions,
    check_unit_targets,
    compute_dtype,
    fused_loss,
    gamma_mode,
    interpreting,
)
from imbalance_kit._validation import error
from imbalance_kit.kernels._utils import broadcast_mode, check_runnable, series_cut

__all__ = ["sigmoid_focal_forward", "sigmoid_focal_triton"]

# Elements per program and warps per program on the GPU (memory-bound element-wise
# kernel: 1024 elements over 8 warps, 4 per thread, keep registers near 40-80 so several
# blocks share an SM; checked by compiling for sm_90, not yet timed on a GPU). The interpreter
# runs programs one after another with a fixed cost each, so it gets larger blocks.
BLOCK_SIZE = 1024
NUM_WARPS = 8
INTERPRET_BLOCK_SIZE = 16384


# --------------------------------------------------------------------------- kernels


@triton.jit
def _load_operand(ptr, offs, mask, K, MODE: tl.constexpr, ACC: tl.constexpr):
    """Read a broadcast operand for the flattened offsets (see ``_utils.broadcast_mode``)."""
    if MODE == 1:
        v = tl.load(ptr + offs, mask=mask, other=0.0)
    elif MODE == 2:
        v = tl.load(ptr + offs % K, mask=mask, other=0.0)
    else:
        v = tl.load(ptr + offs // K, mask=mask, other=0.0)
    return v.to(ACC)


@triton.jit
def _sigmoid_focal_kernel(
    x_ptr,
    t_ptr,
    pw_ptr,
    w_ptr,
    loss_ptr,
    grad_ptr,
    partial_ptr,
    count_ptr,
    n,
    K,
    alpha,
    gamma,
    eps,
    ignore_value,
    cut,
    grad_scale,
    HAS_ALPHA: tl.constexpr,
    GAMMA_MODE: tl.constexpr,
    PW_MODE: tl.constexpr,
    W_MODE: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    STORE_LOSS: tl.constexpr,
    STORE_PARTIAL: tl.constexpr,
    COUNT: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(ACC)
    t = tl.load(t_ptr + offs, mask=mask, other=0.0).to(ACC)
    valid = mask
    if HAS_IGNORE:
        keep = t != ignore_value
        valid = valid & keep
        t = tl.where(keep, t, 0.0)
    t = t * (1.0 - eps) + 0.5 * eps

    # log sigmoid(+-x) = min(+-x, 0) - log1p(exp(-|x|)); log1p by series for small e.
    e = tl.exp(-tl.abs(x))
    log1p_series = e * (1.0 - e * (0.5 - e * (1.0 / 3.0 - e * (0.25 - e * (0.2 - e / 6.0)))))
    log1p_e = tl.where(e < cut, log1p_series, tl.log(1.0 + e))
    log_p = tl.minimum(x, 0.0) - log1p_e
    log_q = tl.minimum(-x, 0.0) - log1p_e
    r = 1.0 / (1.0 + e)
    pos = x >= 0
    p = tl.where(pos, r, e * r)  # sigmoid(x)
    q = tl.where(pos, e * r, r)  # 1 - sigmoid(x), without cancellation

    # Modulating factors (1 - p)^gamma and p^gamma.
    if GAMMA_MODE == 0:
        mod_pos = tl.full(x.shape, 1.0, ACC)
        mod_neg = tl.full(x.shape, 1.0, ACC)
    elif GAMMA_MODE == 1:
        mod_pos = q
        mod_neg = p
    elif GAMMA_MODE == 2:
        mod_pos = q * q
        mod_neg = p * p
    else:
        mod_pos = tl.exp(gamma * log_q)
        mod_neg = tl.exp(gamma * log_p)

    coef_pos = t
    coef_neg = 1.0 - t
    if HAS_ALPHA:
        coef_pos = coef_pos * alpha
        coef_neg = coef_neg * (1.0 - alpha)
    if PW_MODE != 0:
        coef_pos = coef_pos * _load_operand(pw_ptr, offs, mask, K, PW_MODE, ACC)
    w = tl.full(x.shape, 1.0, ACC)
    if W_MODE != 0:
        w = _load_operand(w_ptr, offs, mask, K, W_MODE, ACC)

    term_pos = coef_pos * mod_pos
    term_neg = coef_neg * mod_neg
    loss = -w * (term_pos * log_p + term_neg * log_q)
    loss = tl.where(valid, loss, 0.0)
    if STORE_LOSS:
        tl.store(loss_ptr + offs, loss.to(loss_ptr.dtype.element_ty), mask=mask)
    if STORE_PARTIAL:
        tl.store(partial_ptr + pid, tl.sum(loss, axis=0))
    if COUNT:
        tl.store(count_ptr + pid, tl.sum(valid.to(tl.int32), axis=0))
    if COMPUTE_GRAD:
        if GAMMA_MODE == 0:
            grad = -w * (term_pos * q - term_neg * p)
        else:
            grad = -w * (term_pos * (q - gamma * p * log_p) + term_neg * (gamma * q * log_q - p))
        grad = tl.where(valid, grad * grad_scale, 0.0)
        tl.store(grad_ptr + offs, grad.to(grad_ptr.dtype.element_ty), mask=mask)


# --------------------------------------------------------------------------- launcher

_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


def sigmoid_focal_forward(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    *,
    opts: SigmoidFocalOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Launch the kernel: ``(loss, grad)``.

    ``loss`` is element-wise (``"none"``) or the reduced scalar, in the input dtype;
    ``grad`` is d(loss)/d(logits) for the requested reduction, in the input dtype and shape
    (``None`` unless ``need_grad``). For ``"mean"`` without ``ignore_index`` the
    ``1 / numel`` factor is applied in the kernel; with it, the count is only known after
    the pass and the fresh gradient buffer is scaled in place.
    """
    if opts.check_targets:
        check_unit_targets(targets, opts.ignore_index)
    check_runnable(logits)
    alpha, gamma, reduction = opts.alpha, opts.gamma, opts.reduction
    label_smoothing, ignore_index, compute_grad = opts.label_smoothing, opts.ignore_index, need_grad
    x = logits.contiguous()
    shape = x.shape
    n = x.numel()
    device = x.device
    t = targets.to(device)
    if t.dtype == torch.bool:
        t = t.view(torch.uint8)
    t = t.expand(shape).contiguous()
    acc_dtype = compute_dtype(x.dtype)
    k = shape[-1] if len(shape) else 1
    pw_mode, pw = broadcast_mode(pos_weight, shape, device)
    w_mode, w = broadcast_mode(weight, shape, device)

    store_loss = reduction == "none"
    count_needed = reduction == "mean" and ignore_index is not None
    loss = torch.empty(shape if store_loss else (0,), dtype=x.dtype, device=device)
    grad = torch.empty(shape, dtype=x.dtype, device=device) if compute_grad else None
    block = INTERPRET_BLOCK_SIZE if interpreting() else BLOCK_SIZE
    grid = triton.cdiv(n, block)
    partial = torch.empty(grid if not store_loss else 0, dtype=acc_dtype, device=device)
    counts = torch.empty(grid if count_needed else 0, dtype=torch.int32, device=device)

    if n > 0:
        _sigmoid_focal_kernel[(grid,)](
            x,
            t,
            pw if pw is not None else x,
            w if w is not None else x,
            loss if store_loss else x,
            grad if grad is not None else x,
            partial if not store_loss else x,
            counts if count_needed else x,
            n,
            k,
            0.0 if alpha is None else float(alpha),
            float(gamma),
            float(label_smoothing),
            0.0 if ignore_index is None else float(ignore_index),
            series_cut(acc_dtype),
            1.0 / max(n, 1) if reduction == "mean" and not count_needed else 1.0,
            HAS_ALPHA=alpha is not None,
            GAMMA_MODE=gamma_mode(gamma),
            PW_MODE=pw_mode,
            W_MODE=w_mode,
            HAS_IGNORE=ignore_index is not None,
            STORE_LOSS=store_loss,
            STORE_PARTIAL=not store_loss,
            COUNT=count_needed,
            COMPUTE_GRAD=compute_grad,
            ACC=_TL_DTYPES[acc_dtype],
            BLOCK=block,
            num_warps=NUM_WARPS,
        )

    if store_loss:
        return loss, grad
    total = partial.sum()
    if reduction == "sum":
        return total.to(x.dtype), grad
    if not count_needed:
        return (total / n if n else total.new_tensor(float("nan"))).to(x.dtype), grad
    count = counts.sum().to(acc_dtype)
    if grad is not None:
        grad.mul_(count.reciprocal())
    return (total / count).to(x.dtype), grad


# --------------------------------------------------------------------------- public entry


def sigmoid_focal_triton(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float | None,
    gamma: float,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    label_smoothing: float,
    ignore_index: float | None,
    reduction: Reduction,
) -> torch.Tensor:
    """Sigmoid focal loss through the fused Triton kernel (loss and gradient in one pass).

    Arguments are assumed validated by the caller
    ([`imbalance_kit.losses.sigmoid_focal_loss`][imbalance_kit.losses.sigmoid_focal_loss],
    ``backend="triton"``), which is the function to call from user code.

    ```math
    \\ell = -w \\left[ a_+ \\, \\mathrm{pw} \\, t' (1-p)^{\\gamma} \\log p
            + a_- (1-t') \\, p^{\\gamma} \\log(1-p) \\right],
    \\quad t' = t (1 - \\varepsilon) + \\varepsilon / 2
    ```

    Reference: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017.

    Args:
        logits: any shape, float16 / bfloat16 / float32 / float64, on CUDA (or on CPU under
            ``TRITON_INTERPRET=1``).
        targets: same shape as ``logits``; values in [0, 1] or ``ignore_index``.
        alpha: weight of the positive term (``1 - alpha`` for the negative term), or
            ``None`` for 1 and 1.
        gamma: focusing parameter >= 0.
        pos_weight: weight of the positive term, broadcast over the last dimension
            (any tensor broadcastable to ``logits`` is accepted), or ``None``.
        weight: element weight broadcastable to ``logits``, or ``None``.
        label_smoothing: ``eps`` in [0, 1]; targets become ``t (1 - eps) + eps / 2``.
        ignore_index: target value whose elements are skipped, or ``None``.
        reduction: ``"none"``, ``"mean"`` (over non-ignored elements) or ``"sum"``.

    Returns:
        The loss in the dtype of ``logits``: same shape for ``"none"``, else a scalar.
        Differentiable with respect to ``logits`` only.

    Raises:
        ValueError: ``targets``, ``pos_weight`` or ``weight`` requires grad (the kernel
            differentiates with respect to ``logits`` only).
        RuntimeError: ``logits`` is not on a device Triton can run on.

    Examples:
        >>> import torch
        >>> from imbalance_kit.kernels import sigmoid_focal_triton
        >>> device = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: TRITON_INTERPRET=1
        >>> logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]], device=device, requires_grad=True)
        >>> targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]], device=device)
        >>> loss = sigmoid_focal_triton(
        ...     logits, targets, alpha=0.25, gamma=2.0, pos_weight=None, weight=None,
        ...     label_smoothing=0.0, ignore_index=None, reduction="sum")
        >>> round(loss.item(), 4)
        0.3005
        >>> loss.backward()
        >>> logits.grad.shape
        torch.Size([2, 2])
    """
    if torch.is_grad_enabled():
        for name, value in (("targets", targets), ("pos_weight", pos_weight), ("weight", weight)):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                raise error(
                    name,
                    "a tensor that does not require grad on the Triton path "
                    "(it differentiates with respect to logits only; use backend='torch')",
                    "a tensor that requires grad",
                    raw=True,
                )
    opts = SigmoidFocalOptions(
        alpha=None if alpha is None else float(alpha),
        gamma=float(gamma),
        label_smoothing=float(label_smoothing),
        ignore_index=None if ignore_index is None else float(ignore_index),
        reduction=reduction,
    )
    return fused_loss(
        sigmoid_focal_forward,
        logits,
        targets,
        pos_weight,
        weight,
        opts=opts,
        what="the Triton sigmoid focal kernel",
    )
