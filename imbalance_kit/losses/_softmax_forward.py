"""Torch path of the softmax-family engine: loss and analytic gradient in one forward pass.

For one row with target class ``y`` (rows whose target equals ``ignore_index`` are skipped):

$$
z'_c = s\\,(z_c + o_c - m_c [c = y]), \\qquad
\\ell_c = \\log \\operatorname{softmax}(z')_c, \\qquad p_c = e^{\\ell_c},
$$

$$
q_c = (1 - \\varepsilon)[c = y] + \\varepsilon / C, \\qquad
\\mathcal{L}_{\\text{row}} = \\sum_c q_c\\, a_c\\, w_c\\, (1 - p_c)^{\\gamma}\\, (-\\ell_c),
$$

with offsets ``o``, margins ``m``, scale ``s``, label smoothing ``eps``, per-class (or
scalar) ``alpha`` ``a`` and class ``weight`` ``w``. ``"mean"`` divides the sum over the
non-ignored rows by the sum of ``w_y`` over those rows (their count without ``weight``),
which is exactly `torch.nn.functional.cross_entropy`'s denominator, also with label
smoothing. With ``gamma=0`` and ``alpha=None`` the loss equals
``F.cross_entropy(z', y, weight=w, ignore_index=..., label_smoothing=eps)``.

`SoftmaxFamilyFunction` computes the loss and its analytic gradient in one forward
pass and saves only the gradient; arguments arrive validated from
`imbalance_kit.losses._softmax_core.softmax_family_loss`. Writing
``g_c = -q_c a_c w_c \\psi_c`` with

$$
\\psi_c = (1 - p_c)^{\\gamma} + \\gamma\\, p_c\\, (1 - p_c)^{\\gamma}
          \\frac{-\\ell_c}{1 - p_c},
$$

the gradient is ``dL/dz'_j = g_j - p_j * sum_c g_c``. The ratio ``-l/(1-p)`` tends to 1
as ``p -> 1`` and is evaluated without ``(1 - p)^(gamma - 1)``, so fractional ``gamma``
keeps finite gradients for confident predictions. Without label smoothing only the target
column carries a coefficient, and the whole gradient costs one ``exp`` of the log-softmax.
"""

from __future__ import annotations

import torch

from imbalance_kit._fused import SoftmaxOptions, compute_dtype

__all__ = ["softmax_family_forward"]


def _focal_terms(
    log_p: torch.Tensor,
    gamma: float,
    *,
    need_grad: bool,
    p: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``phi = (1-p)^gamma * (-l)`` and ``psi = (1-p)^gamma * (1 + gamma p (-l)/(1-p))``.

    Works on any shape of log-probabilities ``log_p`` (always <= 0), with ``p = exp(log_p)``
    passed in when the caller has it; returns fresh tensors. ``gamma`` 1 and 2 need no
    division: ``psi = (1-p) + p (-l)`` and ``psi = (1-p) ((1-p) + 2 p (-l))``.
    """
    one_minus_p = torch.expm1(log_p).neg_()
    neg_log_p = log_p.neg()
    if need_grad and p is None:
        p = torch.exp(log_p)
    if gamma == 1.0:
        phi = one_minus_p * neg_log_p
        if not need_grad:
            return phi, None
        return phi, torch.addcmul(one_minus_p, p, neg_log_p)
    if gamma == 2.0:
        phi = (one_minus_p * one_minus_p).mul_(neg_log_p)
        if not need_grad:
            return phi, None
        return phi, torch.addcmul(one_minus_p, p, neg_log_p, value=2.0).mul_(one_minus_p)
    modulator = torch.log(one_minus_p).mul_(gamma).exp_()  # (1 - p)^gamma, 0 where p == 1
    phi = modulator * neg_log_p
    if not need_grad:
        return phi, None
    # rho = -l / (1 - p) in [1, inf); the clamp only acts where 1 - p == 0, i.e. l == 0,
    # where the modulator is 0 as well, so psi's limit (0 for gamma > 0) is kept.
    rho = neg_log_p.div_(one_minus_p.clamp_min_(torch.finfo(log_p.dtype).tiny))
    psi = rho.mul_(p).mul_(gamma).add_(1.0).mul_(modulator)
    return phi, psi


def softmax_family_forward(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha_vec: torch.Tensor | None,
    weight: torch.Tensor | None,
    offsets: torch.Tensor | None,
    margins: torch.Tensor | None,
    *,
    opts: SoftmaxOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss (reduced as asked) and, if ``need_grad``, d(loss)/d(logits), for 2-D input.

    A row whose target is neither a class index nor ``ignore_index`` (possible only with
    ``validate_args=False``) gets a NaN loss and a NaN gradient row, as on the Triton path.
    """
    loss, grad = _forward(
        logits,
        target,
        gamma=opts.gamma,
        alpha=alpha_vec if alpha_vec is not None else opts.alpha,
        weight=weight,
        label_smoothing=opts.label_smoothing,
        ignore_index=opts.ignore_index,
        offsets=offsets,
        margins=margins,
        scale=opts.scale,
        reduction=opts.reduction,
        need_grad=need_grad,
    )
    grad = None if grad is None else grad.to(logits.dtype)
    return loss.to(logits.dtype), grad


def _forward(
    logits: torch.Tensor,
    target: torch.Tensor,
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
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    num_rows, num_classes = logits.shape
    dtype = compute_dtype(logits.dtype)
    eps = float(label_smoothing)

    valid = target != ignore_index
    in_range = (target >= 0) & (target < num_classes)
    safe_target = torch.where(valid & in_range, target, torch.zeros_like(target)).unsqueeze(1)
    valid_f = valid.to(dtype)
    # NaN for a row whose target is out of range (only reachable with validate_args=False)
    valid_f = torch.where(valid & ~in_range, float("nan"), valid_f)

    # z' = scale * (z + o - m [c == y]) in a fresh buffer (or the input itself, untouched).
    z = logits.to(dtype)
    if offsets is not None:
        z = z + offsets.to(dtype)
    if margins is not None:
        if z is logits:
            z = z.clone()
        z.scatter_add_(1, safe_target, -margins.to(dtype)[safe_target])
    if scale != 1.0:
        z = z * scale if z is logits else z.mul_(scale)
    log_p = torch.log_softmax(z, dim=1)
    del z

    # Class coefficients a_c w_c (alpha scalar folded into `const`).
    const = 1.0
    class_coef: torch.Tensor | None = None
    if isinstance(alpha, torch.Tensor):
        class_coef = alpha.to(dtype)
    elif alpha is not None:
        const = float(alpha)
    if weight is not None:
        weight = weight.to(dtype)
        class_coef = weight if class_coef is None else class_coef * weight

    # Target-column coefficient (1 - eps) a_y w_y, zero on ignored rows.
    if class_coef is None:
        target_coef = valid_f
    else:
        target_coef = class_coef[safe_target.squeeze(1)] * valid_f

    if reduction == "mean":
        if weight is None:
            denominator = valid_f.sum()
        else:
            denominator = (weight[safe_target.squeeze(1)] * valid_f).sum()

    smooth = eps / num_classes if eps > 0.0 else 0.0
    log_p_target = log_p.gather(1, safe_target).squeeze(1)
    probs: torch.Tensor | None = None

    if gamma == 0.0:
        loss_rows = log_p_target * (-(1.0 - eps)) * target_coef
        if smooth:
            smooth_sum = log_p.sum(1) if class_coef is None else log_p @ class_coef
            loss_rows.addcmul_(smooth_sum, valid_f, value=-smooth)
        psi_target = None
        psi = None
    else:
        phi_t, psi_target = _focal_terms(log_p_target, gamma, need_grad=need_grad)
        loss_rows = phi_t.mul_(target_coef).mul_(1.0 - eps)
        psi = None
        if smooth:
            probs = torch.exp(log_p) if need_grad else None
            phi, psi = _focal_terms(log_p, gamma, need_grad=need_grad, p=probs)
            smooth_sum = phi.sum(1) if class_coef is None else phi @ class_coef
            del phi
            loss_rows.addcmul_(smooth_sum, valid_f, value=smooth)
    if const != 1.0:
        loss_rows.mul_(const)

    if reduction == "none":
        loss = loss_rows
    elif reduction == "sum":
        loss = loss_rows.sum()
    else:
        loss = loss_rows.sum() / denominator

    if not need_grad:
        return loss, None

    # Chain factor: alpha scalar, scale (z' = s * (...)) and 1/denominator for "mean".
    factor = const * float(scale)
    if reduction == "mean":
        row_factor = (factor / denominator) * valid_f
    else:
        row_factor = valid_f * factor if factor != 1.0 else valid_f
    # coefficient of the target column for each row: (1 - eps) a_y w_y psi_y
    coef_target = target_coef * (1.0 - eps)
    if psi_target is not None:
        coef_target = coef_target * psi_target
    if reduction == "mean" or factor != 1.0:
        coef_target = coef_target * (row_factor if reduction == "mean" else factor)

    # grad_j = p_j * (-G) - smooth * c_j * psi_j - [j == y] * coef_target, where
    # -G = coef_target + smooth * sum_c c_j psi_j (all times the row factor).
    grad = probs if probs is not None else log_p.exp_()
    minus_total = coef_target
    if smooth:
        if psi is None:  # gamma == 0: psi == 1
            smooth_rows = (
                torch.full_like(valid_f, float(num_classes))
                if class_coef is None
                else class_coef.sum().expand(num_rows)
            )
            weighted = None
        else:
            weighted = psi if class_coef is None else psi.mul_(class_coef)
            smooth_rows = weighted.sum(1)
        minus_total = minus_total + smooth_rows * row_factor * smooth
        grad.mul_(minus_total.unsqueeze(1))
        scaled_rows = (row_factor * (-smooth)).unsqueeze(1)
        if weighted is None:
            if class_coef is None:
                grad.add_(scaled_rows)
            else:
                grad.addcmul_(scaled_rows, class_coef.unsqueeze(0))
        else:
            grad.addcmul_(weighted, scaled_rows)
    else:
        grad.mul_(minus_total.unsqueeze(1))
    grad.scatter_add_(1, safe_target, coef_target.neg().unsqueeze(1))
    return loss, grad
