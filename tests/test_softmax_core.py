"""The shared softmax-family engine against F.cross_entropy and a term-by-term reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from imbalance_kit.losses._softmax_core import softmax_family_loss
from imbalance_kit.testing.references.focal import naive_softmax_focal_loss

REDUCTIONS = ["none", "mean", "sum"]
# (rtol, atol) of a low-precision input against float32 on the same (rounded) values.
DTYPE_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _grad(loss: torch.Tensor, x: torch.Tensor, upstream: torch.Tensor | None = None):
    if upstream is None:
        upstream = torch.ones_like(loss)
    return torch.autograd.grad(loss, x, upstream)[0]


def _data(shape, num_ignored=2, dtype=torch.float64):
    logits = (torch.randn(shape, dtype=dtype) * 3).requires_grad_()
    target_shape = (shape[0], *shape[2:])
    target = torch.randint(0, shape[1], target_shape)
    flat = target.view(-1)
    flat[torch.randperm(flat.numel())[:num_ignored]] = -100
    return logits, target


# ----------------------------------------------------------------------------- cross-entropy


@pytest.mark.parametrize("shape", [(13, 5), (4, 6, 3, 2)])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_equals_cross_entropy(shape, use_weight, label_smoothing, reduction):
    logits, target = _data(shape)
    weight = torch.rand(shape[1], dtype=torch.float64) + 0.2 if use_weight else None
    got = softmax_family_loss(
        logits, target, weight=weight, label_smoothing=label_smoothing, reduction=reduction
    )
    want = F.cross_entropy(
        logits, target, weight=weight, label_smoothing=label_smoothing, reduction=reduction
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


def test_custom_ignore_index_and_alpha_one_equal_cross_entropy():
    logits, target = _data((11, 4), num_ignored=0)
    target[::3] = 7
    got = softmax_family_loss(logits, target, alpha=1.0, ignore_index=7, label_smoothing=0.1)
    want = F.cross_entropy(logits, target, ignore_index=7, label_smoothing=0.1)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_offsets_margins_scale_equal_cross_entropy_of_adjusted_logits(reduction):
    logits, target = _data((10, 5))
    offsets = torch.randn(5, dtype=torch.float64)
    margins = torch.rand(5, dtype=torch.float64)
    safe = target.clamp_min(0)
    adjusted = 4.0 * (logits + offsets - F.one_hot(safe, 5) * margins[safe].unsqueeze(1))
    got = softmax_family_loss(
        logits, target, offsets=offsets, margins=margins, scale=4.0, reduction=reduction
    )
    want = F.cross_entropy(adjusted, target, reduction=reduction)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


# ----------------------------------------------------------------------------- focal formula


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.3, "tensor"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_term_by_term_reference(gamma, alpha, label_smoothing, reduction):
    logits, target = _data((7, 4, 3))
    if alpha == "tensor":
        alpha = torch.tensor([0.1, 0.5, 1.0, 2.0], dtype=torch.float64)
    weight = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    kwargs = dict(
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        label_smoothing=label_smoothing,
        offsets=torch.randn(4, dtype=torch.float64),
        margins=torch.rand(4, dtype=torch.float64),
        scale=1.5,
        reduction=reduction,
    )
    got = softmax_family_loss(logits, target, **kwargs)
    want = naive_softmax_focal_loss(logits, target, **kwargs)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


def test_hand_computed_focal_value():
    # p = softmax([2, 0]) = [0.8808, 0.1192]; target 0, gamma 2, alpha 0.25:
    # 0.25 * (1 - 0.8808)^2 * -log(0.8808)
    logits = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    p = torch.tensor(2.0, dtype=torch.float64).exp() / (1 + torch.tensor(2.0).exp())
    expected = 0.25 * (1 - p) ** 2 * -torch.log(p)
    got = softmax_family_loss(logits, torch.tensor([0]), gamma=2.0, alpha=0.25)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(gamma=0.0),
        dict(gamma=0.5),
        dict(gamma=2.0, alpha=0.25),
        dict(gamma=1.0, alpha="tensor", label_smoothing=0.2),
        dict(gamma=0.5, label_smoothing=0.1, weight="tensor"),
        dict(gamma=2.0, offsets="tensor", margins="tensor", scale=3.0),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck(kwargs, reduction):
    logits, target = _data((5, 4), num_ignored=1)
    resolved = {
        key: torch.rand(4, dtype=torch.float64) + 0.2 if value == "tensor" else value
        for key, value in kwargs.items()
    }
    assert torch.autograd.gradcheck(
        lambda x: softmax_family_loss(x, target, reduction=reduction, **resolved), (logits,)
    )


def test_grad_output_not_one():
    logits, target = _data((9, 5))
    kwargs = dict(gamma=2.0, alpha=0.5, label_smoothing=0.1)
    got = softmax_family_loss(logits, target, **kwargs)
    want = naive_softmax_focal_loss(logits, target, **kwargs)
    torch.testing.assert_close(_grad(got * 2, logits), _grad(want * 2, logits))
    upstream = torch.randn(9, dtype=torch.float64)
    got = softmax_family_loss(logits, target, reduction="none", **kwargs)
    want = naive_softmax_focal_loss(logits, target, reduction="none", **kwargs)
    torch.testing.assert_close(_grad(got, logits, upstream), _grad(want, logits, upstream))


def test_retained_graph_accumulates_correctly():
    logits, target = _data((6, 3))
    loss = softmax_family_loss(logits, target, gamma=2.0)
    loss.backward(retain_graph=True)
    first = logits.grad.clone()
    loss.backward()
    torch.testing.assert_close(logits.grad, 2 * first)


def test_learnable_offsets_and_margins_receive_gradients():
    logits, target = _data((8, 4))
    offsets = torch.randn(4, dtype=torch.float64, requires_grad=True)
    margins = torch.rand(4, dtype=torch.float64, requires_grad=True)
    kwargs = dict(gamma=1.0, offsets=offsets, margins=margins, scale=2.0)
    got = softmax_family_loss(logits, target, **kwargs)
    want = naive_softmax_focal_loss(logits, target, **kwargs)
    torch.testing.assert_close(got, want)
    for a, b in zip(
        torch.autograd.grad(got, (logits, offsets, margins)),
        torch.autograd.grad(want, (logits, offsets, margins)),
    ):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_extreme_logits_are_finite(gamma, label_smoothing):
    logits = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, -100.0]], requires_grad=True)
    target = torch.tensor([0, 2])
    loss = softmax_family_loss(logits, target, gamma=gamma, label_smoothing=label_smoothing)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    want = naive_softmax_focal_loss(
        logits.detach(), target, gamma=gamma, label_smoothing=label_smoothing
    )
    torch.testing.assert_close(loss.double(), want, rtol=1e-5, atol=1e-5)


def test_fractional_gamma_gradient_at_certain_prediction():
    # p_y == 1 exactly in float32: the gradient must be finite (0 in the limit).
    logits = torch.tensor([[100.0, -100.0]], requires_grad=True)
    softmax_family_loss(logits, torch.tensor([0]), gamma=0.3).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_low_precision_matches_float32(dtype, reduction):
    logits, target = _data((33, 10), dtype=torch.float32)
    low = logits.detach().to(dtype).requires_grad_()
    ref = low.detach().float().requires_grad_()
    kwargs = dict(gamma=2.0, alpha=0.25, label_smoothing=0.1, reduction=reduction)
    got = softmax_family_loss(low, target, **kwargs)
    want = softmax_family_loss(ref, target, **kwargs)
    assert got.dtype == dtype
    rtol, atol = DTYPE_TOL[dtype]
    torch.testing.assert_close(got.float(), want, rtol=rtol, atol=atol)
    g_low, g_ref = _grad(got, low), _grad(want, ref)
    assert g_low.dtype == dtype
    torch.testing.assert_close(g_low.float(), g_ref, rtol=rtol, atol=atol)


def test_odd_shape_float32():
    logits = torch.randn(41, 1271, requires_grad=True)
    target = torch.randint(0, 1271, (41,))
    got = softmax_family_loss(logits, target, gamma=2.0, label_smoothing=0.05)
    want = naive_softmax_focal_loss(logits, target, gamma=2.0, label_smoothing=0.05)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        _grad(got, logits).double(), _grad(want, logits).double(), rtol=1e-4, atol=1e-8
    )


def test_fully_ignored_mean_is_nan_like_torch():
    logits = torch.randn(3, 4)
    target = torch.full((3,), -100)
    got = softmax_family_loss(logits, target)
    assert torch.isnan(got) and torch.isnan(F.cross_entropy(logits, target))
    assert softmax_family_loss(logits, target, reduction="sum") == 0


def test_no_grad_mode_and_constant_logits():
    logits, target = _data((5, 3))
    with torch.no_grad():
        a = softmax_family_loss(logits, target, gamma=2.0)
    b = softmax_family_loss(logits.detach(), target, gamma=2.0)
    assert not a.requires_grad and not b.requires_grad
    torch.testing.assert_close(a, b)


def test_backends_torch_and_auto_agree_and_triton_needs_a_gpu(monkeypatch):
    logits, target = _data((6, 3))
    a = softmax_family_loss(logits, target, gamma=2.0, backend="torch")
    b = softmax_family_loss(logits, target, gamma=2.0, backend="auto")
    torch.testing.assert_close(a, b)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="triton"):
        softmax_family_loss(logits, target, backend="triton")


# ----------------------------------------------------------------------------- properties


@given(
    n=st.integers(1, 6),
    c=st.integers(2, 5),
    gamma=st.floats(0.0, 4.0),
    eps=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_properties(n, c, gamma, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=gen, dtype=torch.float64) * 5
    target = torch.randint(0, c, (n,), generator=gen)
    weight = torch.rand(c, generator=gen, dtype=torch.float64) + 0.1
    kw = dict(gamma=gamma, label_smoothing=eps, weight=weight)
    rows = softmax_family_loss(logits, target, reduction="none", **kw)
    assert (rows >= 0).all()
    total = softmax_family_loss(logits, target, reduction="sum", **kw)
    mean = softmax_family_loss(logits, target, reduction="mean", **kw)
    torch.testing.assert_close(total, mean * weight[target].sum())
    torch.testing.assert_close(total, rows.sum())
    ce = softmax_family_loss(logits, target, reduction="none", label_smoothing=eps, weight=weight)
    assert (rows <= ce + 1e-12).all()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(gamma=-1.0), ValueError, "gamma"),
        (dict(alpha=1.5), ValueError, "alpha"),
        (dict(alpha=torch.ones(3)), ValueError, "alpha"),
        (dict(alpha=torch.tensor([1.0, -1.0, 0.0, 1.0])), ValueError, "alpha"),
        (dict(weight=torch.ones(5)), ValueError, "weight"),
        (dict(weight=torch.ones(4, dtype=torch.long)), TypeError, "weight"),
        (dict(offsets=torch.ones(2)), ValueError, "offsets"),
        (dict(margins=torch.ones(4, 1)), ValueError, "margins"),
        (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
        (dict(scale=0.0), ValueError, "scale"),
        (dict(reduction="avg"), ValueError, "reduction"),
        (dict(backend="cuda"), ValueError, "backend"),
        (dict(ignore_index=1.5), TypeError, "ignore_index"),
        (dict(weight=torch.ones(4, requires_grad=True)), ValueError, "weight"),
    ],
)
def test_argument_errors_name_the_argument(kwargs, exc, match):
    logits, target = torch.randn(3, 4), torch.tensor([0, 1, 3])
    with pytest.raises(exc, match=match):
        softmax_family_loss(logits, target, **kwargs)


@pytest.mark.parametrize(
    ("logits", "target", "exc", "match"),
    [
        ([[0.0, 1.0]], torch.tensor([0]), TypeError, "logits"),
        (torch.randn(2, 3), [0, 1], TypeError, "target"),
        (torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 1]), TypeError, "logits"),
        (torch.randn(3), torch.tensor(0), ValueError, "logits"),
        (torch.randn(2, 3), torch.tensor([0.0, 1.0]), TypeError, "target"),
        (torch.randn(2, 3), torch.tensor([0, 1, 2]), ValueError, "target"),
        (torch.randn(2, 3, 4), torch.zeros(2, 5, dtype=torch.long), ValueError, "target"),
        (torch.randn(2, 3), torch.tensor([0, 3]), ValueError, "target"),
        (torch.randn(2, 3), torch.tensor([-1, 0]), ValueError, "target"),
    ],
)
def test_input_errors_name_the_argument(logits, target, exc, match):
    with pytest.raises(exc, match=match):
        softmax_family_loss(logits, target)


def test_validate_args_false_skips_value_checks_only():
    logits = torch.randn(2, 3)
    softmax_family_loss(logits, torch.tensor([0, 2]), validate_args=False)
    with pytest.raises(ValueError, match="gamma"):
        softmax_family_loss(logits, torch.tensor([0, 2]), gamma=-1.0, validate_args=False)
