"""Focal losses against torch's BCE/CE, the torchvision formula and term-by-term references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import imbalance_kit.kernels.cpu as cpu_kernels
import imbalance_kit.losses._sigmoid_forward as sigmoid_forward
from imbalance_kit.losses import (
    SigmoidFocalLoss,
    SoftmaxFocalLoss,
    get_loss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)
from imbalance_kit.testing.references.focal import (
    naive_sigmoid_focal_loss,
    naive_softmax_focal_loss,
    torchvision_sigmoid_focal_loss,
)

REDUCTIONS = ["none", "mean", "sum"]
# (rtol, atol) of a low-precision input against float32 on the same (rounded) values.
DTYPE_TOL = {torch.float16: (2e-3, 1e-4), torch.bfloat16: (1.6e-2, 1e-3)}


def _grad(loss: torch.Tensor, x: torch.Tensor, upstream: torch.Tensor | None = None):
    if upstream is None:
        upstream = torch.ones_like(loss)
    return torch.autograd.grad(loss, x, upstream)[0]


def _data(shape, dtype=torch.float64, soft=False):
    logits = (torch.randn(shape, dtype=dtype) * 3).requires_grad_()
    targets = torch.rand(shape, dtype=dtype) if soft else (torch.rand(shape) < 0.3).to(dtype)
    return logits, targets


@pytest.fixture(params=[1, 2], ids=["one-thread", "two-threads"])
def small_blocks(monkeypatch, request):
    """Force the blocked engine through many (partial, column-split, threaded) blocks."""
    monkeypatch.setattr(sigmoid_forward, "_BLOCK_PER_THREAD", 8)
    monkeypatch.setattr(cpu_kernels, "handles", lambda logits: False)
    threads = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- sigmoid vs BCE


@pytest.mark.parametrize("shape", [(12, 5), (3, 4, 6), (7,)])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_pos_weight", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_gamma_zero_equals_bce(shape, use_weight, use_pos_weight, reduction):
    logits, targets = _data(shape, soft=True)
    weight = torch.rand(shape, dtype=torch.float64) if use_weight else None
    pos_weight = torch.rand(shape[-1], dtype=torch.float64) * 3 if use_pos_weight else None
    got = sigmoid_focal_loss(
        logits, targets, None, 0.0, weight=weight, pos_weight=pos_weight, reduction=reduction
    )
    want = F.binary_cross_entropy_with_logits(
        logits, targets, weight=weight, pos_weight=pos_weight, reduction=reduction
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_label_smoothing_is_bce_of_smoothed_targets(reduction):
    logits, targets = _data((9, 4))
    got = sigmoid_focal_loss(logits, targets, None, 0.0, label_smoothing=0.2, reduction=reduction)
    smoothed = targets * 0.8 + 0.1
    want = F.binary_cross_entropy_with_logits(logits, smoothed, reduction=reduction)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_ignore_index_drops_elements(reduction):
    logits, targets = _data((10, 6))
    targets[::2, 1] = -1.0
    targets[3] = -1.0
    keep = targets != -1
    got = sigmoid_focal_loss(logits, targets, None, 0.0, ignore_index=-1, reduction=reduction)
    if reduction == "none":
        want = F.binary_cross_entropy_with_logits(logits, targets.clamp(0, 1), reduction="none")
        want = want * keep
    else:
        want = F.binary_cross_entropy_with_logits(logits[keep], targets[keep], reduction=reduction)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_defaults_equal_torchvision(reduction):
    logits, targets = _data((16, 7))
    got = sigmoid_focal_loss(logits, targets, reduction=reduction)
    want = torchvision_sigmoid_focal_loss(logits, targets, 0.25, 2.0, reduction)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


def test_sigmoid_hand_computed_value():
    # x = 2, t = 1: p = sigmoid(2); alpha (1 - p)^2 (-log p)
    p = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    expected = 0.25 * (1 - p) ** 2 * -torch.log(p)
    got = sigmoid_focal_loss(torch.tensor([2.0], dtype=torch.float64), torch.tensor([1.0]))
    torch.testing.assert_close(got, expected.to(got.dtype))
    # x = 2, t = 0, gamma = 1: (1 - alpha) p (-log(1 - p))
    expected = 0.75 * p * -torch.log(1 - p)
    got = sigmoid_focal_loss(
        torch.tensor([2.0], dtype=torch.float64), torch.tensor([0.0]), gamma=1.0
    )
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 2.7])
@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_matches_term_by_term_reference(gamma, alpha, label_smoothing, reduction):
    logits, targets = _data((6, 5), soft=True)
    targets[0, ::2] = 255.0
    kwargs = dict(
        alpha=alpha,
        gamma=gamma,
        pos_weight=torch.rand(5, dtype=torch.float64) * 2,
        weight=torch.rand(6, 1, dtype=torch.float64),
        label_smoothing=label_smoothing,
        ignore_index=255,
        reduction=reduction,
    )
    got = sigmoid_focal_loss(logits, targets, **kwargs)
    want = naive_sigmoid_focal_loss(logits, targets, **kwargs)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("shape", [(7, 5), (2, 40), (3, 2, 5), ()])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_blocked_engine_covers_every_block_layout(small_blocks, shape, reduction):
    logits, targets = _data(shape, soft=True)
    weight = torch.rand(shape, dtype=torch.float64)
    kwargs = dict(gamma=1.5, weight=weight, label_smoothing=0.05, reduction=reduction)
    got = sigmoid_focal_loss(logits, targets, **kwargs)
    want = naive_sigmoid_focal_loss(logits, targets, **kwargs)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(gamma=0.0, alpha=None),
        dict(gamma=0.5),
        dict(gamma=1.0, alpha=0.75),
        dict(gamma=2.0),
        dict(gamma=3.2, alpha=None, label_smoothing=0.2),
        dict(gamma=2.0, pos_weight="pw", weight="w", ignore_index=-1),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_gradcheck(kwargs, reduction):
    logits, targets = _data((4, 3), soft=True)
    targets[1, 1] = -1.0
    resolved = dict(kwargs)
    if resolved.get("pos_weight") == "pw":
        resolved["pos_weight"] = torch.rand(3, dtype=torch.float64) + 0.5
        resolved["weight"] = torch.rand(4, 3, dtype=torch.float64)
    else:
        targets[1, 1] = 0.5
    assert torch.autograd.gradcheck(
        lambda x: sigmoid_focal_loss(x, targets, reduction=reduction, **resolved), (logits,)
    )


def test_sigmoid_grad_output_not_one():
    logits, targets = _data((8, 5), soft=True)
    got = sigmoid_focal_loss(logits, targets, gamma=2.0)
    want = naive_sigmoid_focal_loss(logits, targets, gamma=2.0)
    torch.testing.assert_close(_grad(got * 2, logits), _grad(want * 2, logits))
    upstream = torch.randn(8, 5, dtype=torch.float64)
    got = sigmoid_focal_loss(logits, targets, gamma=0.5, reduction="none")
    want = naive_sigmoid_focal_loss(logits, targets, gamma=0.5, reduction="none")
    torch.testing.assert_close(_grad(got, logits, upstream), _grad(want, logits, upstream))


def test_sigmoid_retained_graph_accumulates_correctly():
    logits, targets = _data((5, 3))
    loss = sigmoid_focal_loss(logits, targets)
    loss.backward(retain_graph=True)
    first = logits.grad.clone()
    loss.backward(retain_graph=True)
    loss.backward()
    torch.testing.assert_close(logits.grad, 3 * first)


# ----------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_extreme_logits_are_finite(gamma, alpha):
    logits = torch.tensor([100.0, -100.0, 100.0, -100.0, 0.0, 1e4], requires_grad=True)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 1.0])
    loss = sigmoid_focal_loss(logits, targets, alpha, gamma, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all()
    assert torch.isfinite(logits.grad).all()
    want = naive_sigmoid_focal_loss(logits.detach(), targets, alpha, gamma, reduction="none")
    torch.testing.assert_close(loss.double(), want, rtol=1e-5, atol=1e-5)


def test_sigmoid_fractional_gamma_gradient_at_certain_prediction():
    logits = torch.tensor([100.0, -100.0], requires_grad=True)
    sigmoid_focal_loss(logits, torch.tensor([1.0, 0.0]), gamma=0.3).backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_sigmoid_low_precision_matches_float32(dtype, reduction):
    logits, targets = _data((37, 11), dtype=torch.float32, soft=True)
    low = logits.detach().to(dtype).requires_grad_()
    ref = low.detach().float().requires_grad_()
    got = sigmoid_focal_loss(low, targets.to(dtype), reduction=reduction, label_smoothing=0.1)
    want = sigmoid_focal_loss(
        ref, targets.to(dtype).float(), reduction=reduction, label_smoothing=0.1
    )
    assert got.dtype == dtype
    rtol, atol = DTYPE_TOL[dtype]
    torch.testing.assert_close(got.float(), want, rtol=rtol, atol=atol)
    g_low, g_ref = _grad(got, low), _grad(want, ref)
    assert g_low.dtype == dtype
    torch.testing.assert_close(g_low.float(), g_ref, rtol=rtol, atol=atol)


_LARGE_OPTIONS = {
    "plain": {},
    "bce": {"alpha": None, "gamma": 0.0},
    "everything": {"gamma": 1.5, "label_smoothing": 0.1, "ignore_index": -1.0, "weighted": True},
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("options", list(_LARGE_OPTIONS))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sigmoid_float32_reduction_matches_float64_at_200k_elements(threads, options, reduction):
    """The float32 mean/sum of 200k elements is within 1e-6 relative of float64.

    Element losses are rounded to float32 (~6e-8 each, uncorrelated); a reduction that
    accumulated them sequentially in float32 (a dot product per block) drifts to ~1e-5.
    """
    gen = torch.Generator().manual_seed(7)
    shape = (400, 500)
    x32 = torch.randn(shape, generator=gen).mul_(3.0)
    t = (torch.rand(shape, generator=gen) < 0.3).float()
    kwargs = dict(_LARGE_OPTIONS[options])
    if kwargs.pop("weighted", False):
        t.view(-1)[::9] = -1.0
        kwargs["weight"] = torch.rand(shape, generator=gen) + 0.5
        kwargs["pos_weight"] = torch.rand(shape[-1], generator=gen) * 4 + 0.5
    kwargs64 = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = sigmoid_focal_loss(x32, t, reduction=reduction, **kwargs)
    finally:
        torch.set_num_threads(previous)
    # the same (rounded) input values, computed term by term in float64
    want = naive_sigmoid_focal_loss(x32.double(), t.double(), reduction=reduction, **kwargs64)
    assert got.dtype == torch.float32
    assert abs(got.item() / want.item() - 1.0) < 1e-6


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"gamma": 0.0}, {"gamma": 1.5, "label_smoothing": 0.1, "alpha": 0.25, "weighted": True}],
    ids=["focal", "cross-entropy", "everything"],
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_float32_reduction_matches_float64_at_200k_rows(kwargs, reduction):
    """The float32 mean/sum over 200k rows is within 1e-6 relative of float64."""
    gen = torch.Generator().manual_seed(11)
    x32 = torch.randn(200_000, 3, generator=gen).mul_(3.0)
    y = torch.randint(0, 3, (200_000,), generator=gen)
    y[::13] = -100
    kwargs = dict(kwargs)
    if kwargs.pop("weighted", False):
        kwargs["weight"] = torch.tensor([0.3, 1.0, 2.5])
    got = softmax_focal_loss(x32, y, reduction=reduction, **kwargs)
    want = naive_softmax_focal_loss(x32.double(), y, reduction=reduction, **kwargs)
    assert got.dtype == torch.float32
    assert abs(got.item() / want.item() - 1.0) < 1e-6


def test_sigmoid_odd_shape_float32():
    logits, targets = _data((41, 1271), dtype=torch.float32)
    got = sigmoid_focal_loss(logits, targets, gamma=2.0, alpha=0.25)
    want = torchvision_sigmoid_focal_loss(logits.double(), targets.double(), 0.25, 2.0, "mean")
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        _grad(got, logits).double(), _grad(want, logits).double(), rtol=1e-4, atol=1e-9
    )


def test_sigmoid_accepts_bool_and_integer_targets():
    logits, targets = _data((4, 3))
    want = sigmoid_focal_loss(logits, targets)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets.bool()), want)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets.long()), want)


def test_sigmoid_empty_and_fully_ignored():
    empty = torch.zeros(0, 3)
    assert torch.isnan(sigmoid_focal_loss(empty, empty))
    assert sigmoid_focal_loss(empty, empty, reduction="sum") == 0
    assert sigmoid_focal_loss(empty, empty, reduction="none").shape == (0, 3)
    logits = torch.randn(2, 3)
    ignored = torch.full((2, 3), -1.0)
    assert torch.isnan(sigmoid_focal_loss(logits, ignored, ignore_index=-1))
    assert sigmoid_focal_loss(logits, ignored, ignore_index=-1, reduction="sum") == 0


def test_sigmoid_no_grad_matches_grad_mode():
    logits, targets = _data((6, 4))
    with torch.no_grad():
        a = sigmoid_focal_loss(logits, targets)
    b = sigmoid_focal_loss(logits, targets)
    assert not a.requires_grad and b.requires_grad
    torch.testing.assert_close(a, b.detach())


def test_backends_torch_and_auto_agree_and_triton_needs_a_gpu(monkeypatch):
    logits, targets = _data((6, 3))
    a = sigmoid_focal_loss(logits, targets, backend="torch")
    b = sigmoid_focal_loss(logits, targets, backend="auto")
    torch.testing.assert_close(a, b)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="triton"):
        sigmoid_focal_loss(logits, targets, backend="triton")
    with pytest.raises(RuntimeError, match="triton"):
        softmax_focal_loss(logits, torch.tensor([0, 1, 2, 0, 1, 2]), backend="triton")


# ----------------------------------------------------------------------------- properties


@given(
    shape=st.sampled_from([(3,), (2, 4), (2, 3, 2)]),
    gamma=st.floats(0.0, 4.0),
    alpha=st.one_of(st.none(), st.floats(0.0, 1.0)),
    eps=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_sigmoid_properties(shape, gamma, alpha, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen, dtype=torch.float64) * 6
    targets = torch.rand(shape, generator=gen, dtype=torch.float64)
    kw = dict(alpha=alpha, gamma=gamma, label_smoothing=eps)
    elements = sigmoid_focal_loss(logits, targets, reduction="none", **kw)
    assert (elements >= 0).all()
    total = sigmoid_focal_loss(logits, targets, reduction="sum", **kw)
    mean = sigmoid_focal_loss(logits, targets, reduction="mean", **kw)
    torch.testing.assert_close(total, mean * logits.numel())
    torch.testing.assert_close(total, elements.sum())
    if alpha is None:
        bce = F.binary_cross_entropy_with_logits(
            logits, targets * (1 - eps) + eps / 2, reduction="none"
        )
        assert (elements <= bce + 1e-12).all()


@given(
    n=st.integers(1, 6),
    c=st.integers(2, 5),
    gamma=st.floats(0.0, 4.0),
    seed=st.integers(0, 2**16),
)
def test_softmax_focal_properties(n, c, gamma, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=gen, dtype=torch.float64) * 4
    target = torch.randint(0, c, (n,), generator=gen)
    rows = softmax_focal_loss(logits, target, gamma=gamma, reduction="none")
    assert (rows >= 0).all()
    assert (rows <= F.cross_entropy(logits, target, reduction="none") + 1e-12).all()
    mean = softmax_focal_loss(logits, target, gamma=gamma)
    torch.testing.assert_close(
        softmax_focal_loss(logits, target, gamma=gamma, reduction="sum"), mean * n
    )


# ----------------------------------------------------------------------------- softmax focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_softmax_focal_gamma_zero_equals_cross_entropy(reduction, label_smoothing):
    logits = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 4, (6, 3))
    target[0, 0] = -100
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    got = softmax_focal_loss(
        logits,
        target,
        None,
        0.0,
        weight=weight,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    want = F.cross_entropy(
        logits, target, weight=weight, label_smoothing=label_smoothing, reduction=reduction
    )
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


@pytest.mark.parametrize("alpha", [0.25, "tensor"])
def test_softmax_focal_matches_reference(alpha):
    logits = torch.randn(10, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 5, (10,))
    if alpha == "tensor":
        alpha = torch.tensor([0.1, 0.2, 0.3, 0.9, 1.0], dtype=torch.float64)
    got = softmax_focal_loss(logits, target, alpha, 2.0)
    want = naive_softmax_focal_loss(logits, target, alpha, 2.0)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grad(got, logits), _grad(want, logits))


# ----------------------------------------------------------------------------- modules


def test_modules_equal_functions_and_carry_buffers():
    logits, targets = _data((5, 3), soft=True)
    pos_weight = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    module = SigmoidFocalLoss(0.5, 1.0, pos_weight=pos_weight, reduction="sum")
    torch.testing.assert_close(
        module(logits, targets),
        sigmoid_focal_loss(logits, targets, 0.5, 1.0, pos_weight=pos_weight, reduction="sum"),
    )
    assert "pos_weight" in module.state_dict()

    alpha = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 1, 0])
    module = SoftmaxFocalLoss(alpha, 1.5, label_smoothing=0.1)
    torch.testing.assert_close(
        module(logits, target), softmax_focal_loss(logits, target, alpha, 1.5, label_smoothing=0.1)
    )
    assert "alpha" in module.state_dict()
    assert "gamma=1.5" in repr(module)


def test_registry_builds_the_modules():
    assert isinstance(get_loss("sigmoid_focal", gamma=1.0), SigmoidFocalLoss)
    assert isinstance(get_loss("softmax_focal", alpha=0.5), SoftmaxFocalLoss)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: SigmoidFocalLoss(gamma=-2.0), "gamma"),
        (lambda: SigmoidFocalLoss(alpha=2.0), "alpha"),
        (lambda: SigmoidFocalLoss(reduction="max"), "reduction"),
        (lambda: SoftmaxFocalLoss(label_smoothing=-0.1), "label_smoothing"),
        (lambda: SoftmaxFocalLoss(alpha=-0.5), "alpha"),
        (lambda: SoftmaxFocalLoss(backend="jax"), "backend"),
    ],
)
def test_modules_validate_at_construction(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(gamma=-1.0), ValueError, "gamma"),
        (dict(gamma=float("nan")), ValueError, "gamma"),
        (dict(alpha=1.5), ValueError, "alpha"),
        (dict(alpha=torch.tensor(0.5)), ValueError, "alpha"),
        (dict(label_smoothing=2.0), ValueError, "label_smoothing"),
        (dict(reduction="avg"), ValueError, "reduction"),
        (dict(backend="cuda"), ValueError, "backend"),
        (dict(ignore_index="x"), TypeError, "ignore_index"),
        (dict(pos_weight=torch.ones(4)), ValueError, "pos_weight"),
        (dict(pos_weight=[1.0, 2.0, 3.0]), TypeError, "pos_weight"),
        (dict(weight=torch.ones(3, 3)), ValueError, "weight"),
        (dict(weight=torch.ones(3, dtype=torch.long)), TypeError, "weight"),
        (dict(weight=torch.ones(3, requires_grad=True)), ValueError, "weight"),
    ],
)
def test_sigmoid_argument_errors_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sigmoid_focal_loss(torch.randn(2, 3), torch.ones(2, 3), **kwargs)


@pytest.mark.parametrize(
    ("logits", "targets", "exc", "match"),
    [
        ([0.0, 1.0], torch.ones(2), TypeError, "logits"),
        (torch.randn(2), [1.0, 0.0], TypeError, "targets"),
        (torch.ones(2, dtype=torch.long), torch.ones(2), TypeError, "logits"),
        (torch.randn(2, 3), torch.ones(3, 2), ValueError, "targets"),
        (torch.randn(3), torch.tensor([0.0, 1.5, 0.5]), ValueError, "targets"),
        (torch.randn(3), torch.tensor([0.0, -0.5, 0.5]), ValueError, "targets"),
        (torch.randn(3), torch.tensor([0.0, float("nan"), 0.5]), ValueError, "targets"),
        (torch.randn(3), torch.rand(3, requires_grad=True), ValueError, "targets"),
    ],
)
def test_sigmoid_input_errors_name_the_argument(logits, targets, exc, match):
    with pytest.raises(exc, match=match):
        sigmoid_focal_loss(logits, targets)


def test_sigmoid_validate_args_false_skips_value_checks_only():
    logits = torch.randn(3)
    sigmoid_focal_loss(logits, torch.tensor([0.0, 2.0, 1.0]), validate_args=False)
    with pytest.raises(ValueError, match="targets"):
        sigmoid_focal_loss(logits, torch.ones(4), validate_args=False)
    # ignored values outside [0, 1] pass the value check
    sigmoid_focal_loss(logits, torch.tensor([0.0, 255.0, 1.0]), ignore_index=255)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(gamma=-0.5), ValueError, "gamma"),
        (dict(alpha=torch.ones(4)), ValueError, "alpha"),
        (dict(weight=torch.ones(2)), ValueError, "weight"),
    ],
)
def test_softmax_focal_errors_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        softmax_focal_loss(torch.randn(2, 3), torch.tensor([0, 1]), **kwargs)
