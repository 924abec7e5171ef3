"""Torch path of the sigmoid focal family: blocked loss and gradient in one pass.

Element-wise on logits ``x`` (any shape) and float targets ``t`` in [0, 1], with
``p = sigmoid(x)``:

$$
t' = t (1 - \\varepsilon) + \\varepsilon / 2, \\qquad
\\mathcal{L} = -w \\left[ a_+\\, \\omega\\, t' (1 - p)^{\\gamma} \\log p
             + a_-\\, (1 - t')\\, p^{\\gamma} \\log (1 - p) \\right],
$$

``a_+ = alpha``, ``a_- = 1 - alpha`` (both 1 for ``alpha=None``), ``omega`` = ``pos_weight``
and ``w`` = ``weight``, both broadcast to the logits. Elements whose target equals
``ignore_index`` contribute 0 and are not counted by ``"mean"``. Arguments arrive validated
from `imbalance_kit.losses._sigmoid_core.sigmoid_focal_family`.

With ``A = a_+ omega t'``, ``B = a_- (1 - t')``, ``q = 1 - p`` and ``log p = -softplus(-x)``,
``log q = -softplus(x)``, the derivative is

$$
\\frac{\\partial \\mathcal{L}}{\\partial x} =
  w \\left[ B\\, p^{\\gamma} \\bigl(p + \\gamma\\, q\\, s(x)\\bigr)
          - A\\, q^{\\gamma} \\bigl(q + \\gamma\\, p\\, s(-x)\\bigr) \\right],
\\qquad s = \\operatorname{softplus},
$$

which uses ``d q^gamma / dx = -gamma p q^gamma`` (no ``q^(gamma - 1)``), so fractional
``gamma`` keeps finite gradients where ``p_t -> 1``. Powers are ``exp(-gamma softplus(.))``
(squares for ``gamma = 2``, the probabilities themselves for ``gamma = 1``).

The input is walked in blocks: every block is computed with in-place and ``out=``
operations on a small reused workspace (three transcendental passes: two sigmoids and one
``log1p``), its gradient is written straight into the one full-size buffer that backward
returns, and its loss is either written into the output (``reduction="none"``) or summed per
block (torch's pairwise sum in the compute dtype, one value per block) with the block sums
added in float64: a float32 ``"mean"``/``"sum"`` stays within about 1e-7 relative of the
float64 result. No other full-size temporary exists, so the peak extra memory of a forward
and backward is one gradient-sized buffer.

Threads: each operation on a block runs on torch's own intra-op pool. A block holds
``_BLOCK_PER_THREAD`` elements per thread of ``torch.get_num_threads()`` (above ATen's grain
size, so every operation is split over all threads and the per-operation overhead is paid
once per block, not once per thread). An earlier version ran small blocks on its own Python
threads: their per-operation Python overhead holds the GIL, so two threads were slower than
one.

This is the engine of the sigmoid focal family where the compiled CPU kernel
([`imbalance_kit.kernels.cpu`][imbalance_kit.kernels.cpu]) cannot run: no C compiler,
float16/bfloat16 inputs, or a device other than the CPU without Triton. ``log p = -softplus(-x)``
and ``log(1 - p) = -softplus(x)`` are both formed as ``max(-+x, 0) + log1p(exp(-|x|))``; neither
is derived from the other (``softplus(-x) = softplus(x) - x`` cancels for large ``x``).
"""

from __future__ import annotations

import torch

from imbalance_kit._fused import SigmoidFocalOptions, check_unit_targets, compute_dtype

__all__ = ["sigmoid_focal_blocked"]

# Elements per block and thread on the CPU: 4 x ATen's grain size (32768), so every operation
# on a block is split over all intra-op threads and the eleven-buffer workspace stays within
# the last-level cache. Other devices use large blocks (per-operation launch cost dominates).
_BLOCK_PER_THREAD = 1 << 17
_BLOCK_ACCELERATOR = 1 << 20


def _block_limit(device: torch.device) -> int:
    if device.type != "cpu":
        return _BLOCK_ACCELERATOR
    return _BLOCK_PER_THREAD * max(1, torch.get_num_threads())


def _blocks(rows: int, cols: int, limit: int) -> list[tuple[int, int, int, int]]:
    """Cover a ``(rows, cols)`` matrix with blocks of at most ``limit`` elements."""
    if cols <= limit:
        step = max(1, limit // max(cols, 1))
        return [(r0, min(rows, r0 + step), 0, cols) for r0 in range(0, rows, step)]
    return [
        (r0, r0 + 1, c0, min(cols, c0 + limit))
        for r0 in range(rows)
        for c0 in range(0, cols, limit)
    ]


def _as_matrix(
    t: torch.Tensor | None, shape: torch.Size, cols: int, dtype: torch.dtype
) -> torch.Tensor | None:
    """Broadcast ``t`` to ``shape`` and view it as ``(-1, cols)`` (a copy only if needed)."""
    if t is None:
        return None
    return t.detach().to(dtype).expand(shape).reshape(-1, cols)


class _Plan:
    """Everything one block needs: inputs as ``(rows, cols)`` views, outputs and constants."""

    def __init__(
        self,
        x2: torch.Tensor,
        t2: torch.Tensor,
        pw2: torch.Tensor | None,
        w2: torch.Tensor | None,
        grad2: torch.Tensor | None,
        out2: torch.Tensor | None,
        partial: torch.Tensor | None,
        *,
        dtype: torch.dtype,
        a_pos: float,
        a_neg: float,
        gamma: float,
        eps: float,
        ignore_index: float | None,
        factor: float | torch.Tensor,
    ) -> None:
        self.x2, self.t2, self.pw2, self.w2 = x2, t2, pw2, w2
        self.grad2, self.out2, self.partial = grad2, out2, partial
        self.dtype, self.a_pos, self.a_neg, self.gamma, self.eps = dtype, a_pos, a_neg, gamma, eps
        self.ignore_index, self.factor = ignore_index, factor
        self.zero = torch.zeros((), dtype=dtype, device=x2.device)


def _run_block(
    plan: _Plan, views: tuple[torch.Tensor, ...], index: int, r0: int, r1: int, c0: int, c1: int
) -> None:
    """Loss and gradient of one block, written into the plan's outputs."""
    coef_a, coef_b, sp, sn, p, q, tmp_a, tmp_b, xb, tb, t_buf = views
    dtype, gamma, eps, factor = plan.dtype, plan.gamma, plan.eps, plan.factor
    a_pos, a_neg, ignore_index = plan.a_pos, plan.a_neg, plan.ignore_index

    x = plan.x2[r0:r1, c0:c1]
    if x.dtype != dtype:
        x = xb.copy_(x)
    t = plan.t2[r0:r1, c0:c1]
    if t.dtype != dtype:
        t = tb.copy_(t)

    # p, q = 1 - p, softplus(x) = -log q and softplus(-x) = -log p, sharing
    # log1p(exp(-|x|)) = -log1p(-min(p, q)).
    torch.sigmoid(x, out=p)
    torch.neg(x, out=q).sigmoid_()
    shared = torch.minimum(p, q, out=tmp_a).neg_().log1p_()  # = -log1p(exp(-|x|))
    torch.clamp_min(x, 0.0, out=sp).sub_(shared)
    torch.clamp_max(x, 0.0, out=sn).neg_().sub_(shared)  # not sp - x: that cancels for x >> 0

    # Focal factors q^gamma (positive term) and p^gamma (negative term).
    if gamma == 0.0:
        q_pow = p_pow = None
    elif gamma == 1.0:
        q_pow, p_pow = q, p
    elif gamma == 2.0:
        q_pow, p_pow = torch.mul(q, q, out=tmp_a), torch.mul(p, p, out=tmp_b)
    else:
        q_pow = torch.mul(sp, -gamma, out=tmp_a).exp_()
        p_pow = torch.mul(sn, -gamma, out=tmp_b).exp_()

    # Coefficients A = a+ pw t' k w q^g and B = a- (1 - t') k w p^g, where k is the
    # ignore mask times the reduction factor.
    t_eff = t if eps == 0.0 else torch.mul(t, 1.0 - eps, out=t_buf).add_(eps / 2.0)
    if ignore_index is None and plan.w2 is None:
        c_pos, c_neg = a_pos * factor, a_neg * factor
        if q_pow is None:
            torch.mul(t_eff, c_pos, out=coef_a)
            torch.mul(t_eff, -c_neg, out=coef_b).add_(c_neg)
        else:
            torch.addcmul(plan.zero, t_eff, q_pow, value=c_pos, out=coef_a)
            torch.mul(p_pow, c_neg, out=coef_b)
            coef_b.addcmul_(coef_b, t_eff, value=-1.0)
    else:
        if ignore_index is not None:
            scale = torch.ne(t, ignore_index, out=coef_b)
            if plan.w2 is not None:
                scale.mul_(plan.w2[r0:r1, c0:c1])
            if isinstance(factor, torch.Tensor) or factor != 1.0:
                scale.mul_(factor)
        else:
            scale = plan.w2[r0:r1, c0:c1]
            if factor != 1.0:
                scale = torch.mul(scale, factor, out=coef_b)
        torch.mul(t_eff, scale, out=coef_a)
        torch.sub(scale, coef_a, out=coef_b)
        if a_neg != 1.0:
            coef_b.mul_(a_neg)
        if a_pos != 1.0:
            coef_a.mul_(a_pos)
        if q_pow is not None:
            coef_a.mul_(q_pow)
            coef_b.mul_(p_pow)
    if plan.pw2 is not None:
        coef_a.mul_(plan.pw2[r0:r1, c0:c1])

    # Loss: A q^g softplus(-x) + B p^g softplus(x), written out or summed.
    if plan.out2 is not None:
        ob = plan.out2[r0:r1, c0:c1]
        dest = ob if ob.dtype == dtype else tmp_a
        torch.mul(coef_a, sn, out=dest).addcmul_(coef_b, sp)
        if dest is not ob:
            ob.copy_(dest)
    else:
        elements = torch.mul(coef_a, sn, out=tmp_a).addcmul_(coef_b, sp)
        torch.sum(elements.view(-1), 0, out=plan.partial[index])

    if plan.grad2 is None:
        return
    # Gradient: B p^g (p + g q softplus(x)) - A q^g (q + g p softplus(-x)).
    if gamma == 0.0:
        hb, ha = p, q
    else:
        hb = torch.addcmul(p, q, sp, value=gamma, out=tmp_b)
        ha = torch.addcmul(q, p, sn, value=gamma, out=tmp_a)
    gb = plan.grad2[r0:r1, c0:c1]
    if gb.dtype == dtype:
        torch.mul(coef_b, hb, out=gb).addcmul_(coef_a, ha, value=-1.0)
    else:
        gb.copy_(coef_b.mul_(hb).addcmul_(coef_a, ha, value=-1.0))


def _run_blocks(plan: _Plan, blocks: list[tuple[int, int, int, int]], size: int) -> None:
    """Run ``blocks`` in order with one workspace of ``size`` elements."""
    work = torch.empty((11, size), dtype=plan.dtype, device=plan.x2.device)
    views: tuple[torch.Tensor, ...] = ()
    view_shape = (-1, -1)
    with torch.no_grad(), torch.autocast(plan.x2.device.type, enabled=False):
        for index, (r0, r1, c0, c1) in enumerate(blocks):
            shape = (r1 - r0, c1 - c0)
            if shape[0] * shape[1] == 0:
                continue
            if shape != view_shape:
                n = shape[0] * shape[1]
                views = tuple(work[i, :n].view(shape) for i in range(11))
                view_shape = shape
            _run_block(plan, views, index, r0, r1, c0, c1)


def sigmoid_focal_blocked(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    *,
    opts: SigmoidFocalOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss (reduced) and, if ``need_grad``, d(loss)/d(logits) in the logits' dtype."""
    reduction, ignore_index = opts.reduction, opts.ignore_index
    if opts.check_targets:
        check_unit_targets(targets, ignore_index)
    shape = logits.shape
    dtype = compute_dtype(logits.dtype)
    device = logits.device
    if not targets.is_floating_point():
        targets = targets.to(logits.dtype)
    cols = shape[-1] if logits.ndim > 0 and shape[-1] > 0 else 1
    x2 = logits.detach().reshape(-1, cols)
    rows = x2.shape[0]

    # Factor that turns the per-element sum into the requested reduction.
    factor: float | torch.Tensor = 1.0
    if reduction == "mean":
        if ignore_index is None:
            factor = 1.0 / logits.numel() if logits.numel() else float("nan")
        else:
            factor = (targets != ignore_index).sum().to(dtype).reciprocal()

    limit = _block_limit(device)
    blocks = _blocks(rows, cols, limit)
    size = min(rows, max(1, limit // cols)) * cols if cols <= limit else limit
    plan = _Plan(
        x2,
        targets.reshape(-1, cols),
        _as_matrix(pos_weight, shape, cols, dtype),
        _as_matrix(weight, shape, cols, dtype),
        torch.empty(x2.shape, dtype=logits.dtype, device=device) if need_grad else None,
        torch.empty(x2.shape, dtype=logits.dtype, device=device) if reduction == "none" else None,
        None if reduction == "none" else torch.zeros(len(blocks), dtype=dtype, device=device),
        dtype=dtype,
        a_pos=opts.a_pos,
        a_neg=opts.a_neg,
        gamma=opts.gamma,
        eps=opts.label_smoothing,
        ignore_index=ignore_index,
        factor=factor,
    )
    _run_blocks(plan, blocks, max(size, 1))

    if plan.out2 is not None:
        loss = plan.out2.view(shape)
    elif reduction == "mean" and logits.numel() == 0:
        loss = torch.full((), float("nan"), dtype=logits.dtype, device=device)
    else:
        loss = plan.partial.sum(dtype=torch.float64).to(logits.dtype)
    return loss, (plan.grad2.view(shape) if plan.grad2 is not None else None)
