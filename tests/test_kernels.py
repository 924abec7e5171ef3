"""Triton kernels against float64 references, torch's own losses and the torch backend.

The kernels run on CPU tensors through the Triton interpreter (``TRITON_INTERPRET=1`` is set
by ``tests/conftest.py`` before triton is imported). The interpreter executes programs one
after another, so shapes are chosen to cover the code paths (several blocks, a partial last
block, multi-block rows, ignored rows) at a small cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")

import imbalance_kit.kernels.sigmoid_focal as sigmoid_mod
import imbalance_kit.kernels.softmax_loss as softmax_mod
from imbalance_kit.kernels import sigmoid_focal_triton, softmax_loss_triton
from imbalance_kit.kernels._utils import (
    MODE_FULL,
    MODE_LAST,
    MODE_NONE,
    MODE_ROW,
    broadcast_mode,
)
from imbalance_kit.losses import (
    balanced_softmax_loss,
    ldam_loss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)
from imbalance_kit.losses._softmax_core import softmax_family_loss
from imbalance_kit.testing.references.focal import (
    naive_sigmoid_focal_loss,
    naive_softmax_focal_loss,
    torchvision_sigmoid_focal_loss,
)

# log(1 - p) at p == 1 is -inf on purpose (its power is then 0); numpy warns in the interpreter
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Per-dtype tolerance of the kernel's output (loss or gradient) against a float64 reference
# evaluated on the same (rounded) input values: (rtol, atol as a fraction of max |expected|).
TOL = {
    torch.float64: (1e-9, 1e-12),
    torch.float32: (2e-5, 2e-6),
    torch.float16: (2e-3, 1e-3),
    torch.bfloat16: (1.6e-2, 8e-3),
}
ODD = (41, 1271)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    rtol, atol = TOL[dtype]
    expected = expected.detach().double()
    scale = float(expected.abs().max()) if expected.numel() else 1.0
    # values below the smallest normal number are stored with a fixed spacing (float16: 6e-8)
    info = torch.finfo(dtype)
    floor = 2 * info.smallest_normal * info.eps
    torch.testing.assert_close(
        actual.detach().double(), expected, rtol=rtol, atol=max(atol * scale, floor)
    )


def _upstream(out: torch.Tensor) -> torch.Tensor:
    """A grad_output that is not 1: random for "none", 2.5 for a scalar."""
    if out.ndim == 0:
        return torch.full_like(out, 2.5)
    return torch.randn_like(out)


def _loss_and_grad(fn, x: torch.Tensor, upstream: torch.Tensor | None = None, **kw):
    x = x.detach().clone().requires_grad_()
    out = fn(x, **kw)
    if upstream is None:
        upstream = _upstream(out)
    (grad,) = torch.autograd.grad(out, x, upstream.to(out.dtype))
    return out, grad, upstream


# ============================================================================= sigmoid


def _sigmoid_case(shape, dtype, device, *, ignore=True):
    x = (torch.randn(shape, dtype=torch.float64) * 4).to(dtype).to(device)
    t = (torch.rand(shape) < 0.3).to(dtype).to(device)
    if ignore:
        t.view(-1)[::7] = -1  # ignored elements
    return x, t


def _sigmoid_kernel(x, t, **kw):
    opts = dict(
        alpha=None, gamma=2.0, pos_weight=None, weight=None, label_smoothing=0.0,
        ignore_index=None, reduction="mean",
    )  # fmt: skip
    opts.update(kw)
    return sigmoid_focal_triton(x, t, **opts)


def _check_sigmoid(x, t, dtype, **kw):
    out, grad, up = _loss_and_grad(lambda v, **o: _sigmoid_kernel(v, t, **o), x, **kw)
    ref_kw = dict(kw)
    ref_kw.setdefault("alpha", None)
    ref_out, ref_grad, _ = _loss_and_grad(
        lambda v, **o: naive_sigmoid_focal_loss(v, t.double(), **o),
        x.double(),
        up.double(),
        **ref_kw,
    )
    assert out.dtype == x.dtype and out.shape == ref_out.shape
    assert grad.dtype == x.dtype
    assert_close(out, ref_out, dtype)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_all_options_odd_shape(gamma, reduction, device):
    x, t = _sigmoid_case(ODD, torch.float32, device)
    pos_weight = torch.rand(ODD[1], device=device) * 3
    weight = torch.rand(ODD[0], 1, device=device)
    _check_sigmoid(
        x, t, torch.float32, alpha=0.25, gamma=gamma, pos_weight=pos_weight, weight=weight,
        label_smoothing=0.1, ignore_index=-1.0, reduction=reduction,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_dtypes(dtype, gamma, device):
    x, t = _sigmoid_case(ODD, dtype, device)
    _check_sigmoid(x, t, dtype, alpha=0.25, gamma=gamma, ignore_index=-1.0, reduction="mean")


@pytest.mark.parametrize(
    ("shape", "pw_shape", "w_shape", "modes"),
    [
        ((6, 5, 7), (7,), (6, 5, 7), (MODE_LAST, MODE_FULL)),
        ((6, 5, 7), (1,), (5, 7), (MODE_LAST, MODE_FULL)),
        ((6, 5, 7), (6, 5, 1), (6, 1, 7), (MODE_ROW, MODE_FULL)),
        ((30,), (), (30,), (MODE_LAST, MODE_FULL)),
    ],
)
def test_sigmoid_broadcast_operands(shape, pw_shape, w_shape, modes, device):
    pos_weight = torch.rand(pw_shape, device=device) * 2 + 0.5
    weight = torch.rand(w_shape, device=device)
    assert broadcast_mode(pos_weight, torch.Size(shape), device)[0] == modes[0]
    assert broadcast_mode(weight, torch.Size(shape), device)[0] == modes[1]
    x, t = _sigmoid_case(shape, torch.float32, device, ignore=False)
    _check_sigmoid(x, t, torch.float32, alpha=0.6, gamma=1.0, pos_weight=pos_weight, weight=weight)


def test_broadcast_mode_none_and_row(device):
    assert broadcast_mode(None, torch.Size((2, 3)), device) == (MODE_NONE, None)
    mode, value = broadcast_mode(torch.tensor([[1.0], [2.0]]), torch.Size((2, 3)), device)
    assert mode == MODE_ROW and value.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_gamma_zero_equals_bce_with_logits(reduction, device):
    x = torch.randn(37, 19, device=device, requires_grad=True)
    t = torch.rand(37, 19, device=device)  # soft targets
    weight = torch.rand(37, 19, device=device)
    pos_weight = torch.rand(19, device=device) * 4
    got = _sigmoid_kernel(
        x, t, gamma=0.0, pos_weight=pos_weight, weight=weight, reduction=reduction
    )
    want = F.binary_cross_entropy_with_logits(
        x, t, weight=weight, pos_weight=pos_weight, reduction=reduction
    )
    up = _upstream(want)
    (g_got,) = torch.autograd.grad(got, x, up)
    (g_want,) = torch.autograd.grad(want, x, up)
    assert_close(got, want, torch.float32)
    assert_close(g_got, g_want, torch.float32)


def test_sigmoid_equals_torchvision_formula(device):
    x, t = _sigmoid_case((64, 33), torch.float32, device, ignore=False)
    got = _sigmoid_kernel(x, t, alpha=0.25, gamma=2.0, reduction="none")
    assert_close(got, torchvision_sigmoid_focal_loss(x.double(), t.double()), torch.float32)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_extreme_logits_are_finite(gamma, device):
    x = torch.tensor([[-100.0, -30.0, 0.0, 30.0, 100.0]] * 2, device=device)
    t = torch.tensor([[1.0] * 5, [0.0] * 5], device=device)
    out, grad, _ = _loss_and_grad(
        lambda v: _sigmoid_kernel(v, t, alpha=0.25, gamma=gamma, reduction="none"),
        x,
        torch.ones(2, 5),
    )
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    want = naive_sigmoid_focal_loss(x.double(), t.double(), 0.25, gamma, reduction="none")
    assert_close(out, want, torch.float32)
    # the naive reference has 0 * inf = NaN gradients here; the torch backend does not
    _, want, _ = _loss_and_grad(
        lambda v: sigmoid_focal_loss(v, t, 0.25, gamma, reduction="none", backend="torch"),
        x.double(),
        torch.ones(2, 5, dtype=torch.float64),
    )
    assert_close(grad, want, torch.float32)


def test_sigmoid_gradcheck_float64(device):
    x = torch.randn(3, 5, dtype=torch.float64, device=device, requires_grad=True)
    t = torch.tensor([[1.0, 0.0, 0.3, -1.0, 1.0]] * 3, dtype=torch.float64, device=device)
    pos_weight = torch.rand(5, dtype=torch.float64, device=device) + 0.5
    weight = torch.rand(3, 1, dtype=torch.float64, device=device)
    for reduction in ("none", "mean"):
        assert torch.autograd.gradcheck(
            lambda v, r=reduction: _sigmoid_kernel(
                v,
                t,
                alpha=0.3,
                gamma=0.7,
                pos_weight=pos_weight,
                weight=weight,
                label_smoothing=0.1,
                ignore_index=-1.0,
                reduction=r,
            ),  # fmt: skip
            (x,),
            fast_mode=True,
        )


def test_sigmoid_edge_cases(device):
    x = torch.randn(4, 3, device=device, requires_grad=True)
    t = torch.full((4, 3), -1.0, device=device)
    # every element ignored: "mean" is 0 / 0 like torch's mean of nothing; "sum" is 0
    assert torch.isnan(_sigmoid_kernel(x, t, ignore_index=-1.0, reduction="mean"))
    total = _sigmoid_kernel(x, t, ignore_index=-1.0, reduction="sum")
    assert total.item() == 0.0
    total.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    # empty input
    empty = torch.empty(0, 5, device=device, requires_grad=True)
    assert _sigmoid_kernel(empty, empty.detach(), reduction="sum").item() == 0.0
    assert _sigmoid_kernel(empty, empty.detach(), reduction="none").shape == (0, 5)
    # non-contiguous logits, bool targets, no gradient wanted
    base = torch.randn(5, 8, device=device)
    tb = torch.rand(8, 5, device=device) < 0.5
    got = _sigmoid_kernel(base.t(), tb, alpha=0.25, reduction="none")
    want = naive_sigmoid_focal_loss(base.t().double(), tb.double(), reduction="none")
    assert_close(got, want, torch.float32)


def _check_backward_reuse(loss: torch.Tensor, x: torch.Tensor) -> None:
    """grad_output == 1 hands the saved gradient to .grad without a copy; retain_graph works."""
    saved = loss.grad_fn.saved_tensors[0].data_ptr()  # (holding the tensor would force a copy)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    assert x.grad.data_ptr() != saved  # retained graph: autograd copied it
    loss.backward(torch.tensor(3.0), retain_graph=True)
    torch.testing.assert_close(x.grad, 4 * first)
    x.grad = None
    loss.backward()
    assert x.grad.data_ptr() == saved  # no copy when the graph is released
    torch.testing.assert_close(x.grad, first)


def test_sigmoid_backward_reuses_the_saved_gradient_and_targets_must_be_constant(device):
    x = torch.randn(4, 3, device=device, requires_grad=True)
    t = torch.rand(4, 3, device=device)
    t[0, 0] = -1.0
    _check_backward_reuse(_sigmoid_kernel(x, t, ignore_index=-1.0), x)
    with pytest.raises(ValueError, match="targets must be a tensor that does not require grad"):
        _sigmoid_kernel(x, t.clone().requires_grad_())
    with pytest.raises(ValueError, match="weight must be"):
        _sigmoid_kernel(x, t, weight=torch.ones(3, requires_grad=True))


def test_sigmoid_no_grad_skips_the_gradient(device, monkeypatch):
    x, t = _sigmoid_case((9, 10), torch.float32, device)
    seen = []
    original = sigmoid_mod.sigmoid_focal_forward

    def spy(*args, **kw):
        seen.append(kw["need_grad"])
        return original(*args, **kw)

    monkeypatch.setattr(sigmoid_mod, "sigmoid_focal_forward", spy)
    with torch.no_grad():
        a = _sigmoid_kernel(x.requires_grad_(), t, ignore_index=-1.0)
    b = _sigmoid_kernel(x.detach(), t, ignore_index=-1.0)
    assert seen == [False, False]
    assert a.item() == b.item()


# ============================================================================= softmax


def _softmax_case(m, c, dtype, device, *, ignore=(3, 7)):
    x = (torch.randn(m, c, dtype=torch.float64) * 3).to(dtype).to(device)
    y = torch.randint(0, c, (m,), device=device)
    for row in ignore:
        if row < m:
            y[row] = -100
    return x, y


def _class_options(c, device, *, full=True):
    if not full:
        return dict(alpha=None, weight=None, offsets=None, margins=None, scale=1.0)
    return dict(
        alpha=torch.rand(c, device=device) + 0.2,
        weight=torch.rand(c, device=device) + 0.5,
        offsets=torch.randn(c, device=device),
        margins=torch.rand(c, device=device) * 0.5,
        scale=2.0,
    )


def _softmax_kernel(x, y, **kw):
    opts = dict(
        gamma=0.0, alpha=None, weight=None, label_smoothing=0.0, ignore_index=-100,
        offsets=None, margins=None, scale=1.0, reduction="mean",
    )  # fmt: skip
    opts.update(kw)
    return softmax_loss_triton(x, y, **opts)


def _check_softmax(x, y, dtype, **kw):
    out, grad, up = _loss_and_grad(lambda v, **o: _softmax_kernel(v, y, **o), x, **kw)
    ref_kw = {"gamma": 0.0, **kw}
    ref_out, ref_grad, _ = _loss_and_grad(
        lambda v, **o: naive_softmax_focal_loss(v, y, **o), x.double(), up.double(), **ref_kw
    )
    assert out.dtype == x.dtype and out.shape == ref_out.shape
    assert grad.dtype == x.dtype
    assert_close(out, ref_out, dtype)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("full", [False, True])
def test_softmax_options_odd_shape(gamma, label_smoothing, full, device):
    x, y = _softmax_case(*ODD, torch.float32, device)
    reduction = {0.0: "mean", 0.5: "none", 2.0: "sum"}[gamma]
    _check_softmax(
        x, y, torch.float32, gamma=gamma, label_smoothing=label_smoothing, reduction=reduction,
        **_class_options(ODD[1], device, full=full),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("gamma", "label_smoothing", "reduction"),
    [(0.0, 0.0, "none"), (0.0, 0.2, "mean"), (1.0, 0.0, "mean"), (0.5, 0.1, "none")],
)
def test_softmax_multi_block_rows(gamma, label_smoothing, reduction, device, monkeypatch):
    """Rows longer than one column block: the online softmax across 3 blocks of 512."""
    monkeypatch.setattr(softmax_mod, "INTERPRET_MAX_BLOCK_C", 512)
    x, y = _softmax_case(9, ODD[1], torch.float32, device)
    x[0, y[0]] += 12.0  # a block maximum far above the others, then rescaled
    _check_softmax(
        x, y, torch.float32, gamma=gamma, label_smoothing=label_smoothing, reduction=reduction,
        **_class_options(ODD[1], device),
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_softmax_dtypes(dtype, device):
    x, y = _softmax_case(*ODD, dtype, device)
    _check_softmax(x, y, dtype, gamma=2.0, label_smoothing=0.1, **_class_options(ODD[1], device))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_softmax_32k_classes(dtype, device):
    x, y = _softmax_case(3, 32768, dtype, device, ignore=(1,))
    _check_softmax(x, y, dtype, gamma=0.5, label_smoothing=0.1, reduction="sum")


def test_softmax_bf16_confident_target_gradient(device):
    """The target column's gradient ``-(1 - p_y)`` keeps its precision when ``p_y -> 1``."""
    c = 1000
    x = torch.zeros(4, c, dtype=torch.bfloat16, device=device)
    y = torch.tensor([0, 1, 2, 3], device=device)
    x[torch.arange(4), y] = torch.tensor([10.0, 12.0, 14.0, 16.0], dtype=torch.bfloat16)
    _, grad, _ = _loss_and_grad(
        lambda v: _softmax_kernel(v, y, reduction="sum"), x, torch.tensor(1.0)
    )
    x64 = x.double().requires_grad_()
    (want,) = torch.autograd.grad(F.cross_entropy(x64, y, reduction="sum"), x64)
    got_t = grad[torch.arange(4), y].double()
    want_t = want[torch.arange(4), y]
    # 1 - p_y is 4e-2 .. 1e-4 here: rounding p_y to bf16 first would lose it entirely
    torch.testing.assert_close(got_t, want_t, rtol=8e-3, atol=0.0)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_gamma_zero_equals_cross_entropy(reduction, device):
    x, y = _softmax_case(23, 17, torch.float32, device)
    weight = torch.rand(17, device=device) + 0.1
    x.requires_grad_()
    got = _softmax_kernel(x, y, weight=weight, label_smoothing=0.15, reduction=reduction)
    want = F.cross_entropy(x, y, weight=weight, label_smoothing=0.15, reduction=reduction)
    up = _upstream(want)
    (g_got,) = torch.autograd.grad(got, x, up)
    (g_want,) = torch.autograd.grad(want, x, up)
    assert_close(got, want, torch.float32)
    assert_close(g_got, g_want, torch.float32)


def test_softmax_ldam_and_offsets_against_cross_entropy(device):
    x, y = _softmax_case(19, 11, torch.float32, device, ignore=())
    margins = torch.rand(11, device=device) * 0.5
    offsets = torch.randn(11, device=device)
    got = _softmax_kernel(x, y, margins=margins, scale=30.0)
    shifted = 30.0 * (x - F.one_hot(y, 11) * margins)
    assert_close(got, F.cross_entropy(shifted, y), torch.float32)
    got = _softmax_kernel(x, y, offsets=offsets, reduction="none")
    assert_close(got, F.cross_entropy(x + offsets, y, reduction="none"), torch.float32)


def test_softmax_gradcheck_float64(device):
    x = torch.randn(5, 7, dtype=torch.float64, device=device, requires_grad=True)
    y = torch.tensor([0, 6, -100, 3, 3], device=device)
    opts = {k: (v.double() if isinstance(v, torch.Tensor) else v)
            for k, v in _class_options(7, device).items()}  # fmt: skip
    for gamma, eps, reduction in ((0.7, 0.1, "mean"), (2.0, 0.0, "none"), (0.0, 0.2, "sum")):
        assert torch.autograd.gradcheck(
            lambda v, g=gamma, e=eps, r=reduction: _softmax_kernel(
                v, y, gamma=g, label_smoothing=e, reduction=r, **opts
            ),
            (x,),
            fast_mode=True,
        )


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_extreme_logits_are_finite(gamma, device):
    x = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 50.0]], device=device)
    y = torch.tensor([0, 0], device=device)
    out, grad, _ = _loss_and_grad(
        lambda v: _softmax_kernel(v, y, gamma=gamma, label_smoothing=0.1, scale=30.0), x
    )
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    kw = dict(gamma=gamma, label_smoothing=0.1, scale=30.0, reduction="none")
    assert_close(_softmax_kernel(x, y, **kw), naive_softmax_focal_loss(x.double(), y, **kw),
                 torch.float32)  # fmt: skip
    _, want, _ = _loss_and_grad(
        lambda v: softmax_family_loss(v, y, backend="torch", **kw), x.double(), torch.ones(2)
    )
    _, grad, _ = _loss_and_grad(lambda v: _softmax_kernel(v, y, **kw), x, torch.ones(2))
    assert_close(grad, want, torch.float32)


def test_softmax_strided_rows_and_edge_cases(device):
    big = torch.randn(6, 40, device=device)
    x = big[:, 5:30]  # row stride 40, unit column stride: read in place
    y = torch.tensor([0, 24, 3, -100, 7, 7], device=device)
    got = _softmax_kernel(x, y, gamma=2.0, reduction="none")
    assert_close(got, naive_softmax_focal_loss(x.double(), y, reduction="none"), torch.float32)
    assert got[3].item() == 0.0
    # every row ignored: "mean" is NaN exactly like F.cross_entropy
    y_all = torch.full((6,), -100, device=device)
    assert torch.isnan(_softmax_kernel(x, y_all)) and torch.isnan(F.cross_entropy(x, y_all))
    xg = x.detach().clone().requires_grad_()
    _softmax_kernel(xg, y_all, reduction="sum").backward()
    assert torch.equal(xg.grad, torch.zeros_like(xg))
    # no rows
    assert _softmax_kernel(torch.empty(0, 5, device=device), y_all[:0], reduction="sum") == 0


def test_softmax_backward_reuses_the_saved_gradient(device):
    x, y = _softmax_case(9, 6, torch.float32, device)
    x.requires_grad_()
    _check_backward_reuse(_softmax_kernel(x, y, weight=torch.rand(6, device=device)), x)


# ============================================================================= properties


@settings(max_examples=25)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 40),
    gamma=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]),
    eps=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_softmax_property_matches_reference_and_reductions_agree(rows, cols, gamma, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=gen) * 5
    y = torch.randint(0, cols, (rows,), generator=gen)
    y[torch.rand(rows, generator=gen) < 0.2] = -100
    w = torch.rand(cols, generator=gen) + 0.1
    per_row = _softmax_kernel(x, y, gamma=gamma, label_smoothing=eps, weight=w, reduction="none")
    want = naive_softmax_focal_loss(x.double(), y, gamma=gamma, label_smoothing=eps, weight=w,
                                    reduction="none")  # fmt: skip
    assert_close(per_row, want, torch.float32)
    assert (per_row >= 0).all()
    total = _softmax_kernel(x, y, gamma=gamma, label_smoothing=eps, weight=w, reduction="sum")
    mean = _softmax_kernel(x, y, gamma=gamma, label_smoothing=eps, weight=w, reduction="mean")
    denominator = (w[y.clamp_min(0)] * (y != -100)).sum()
    torch.testing.assert_close(total, per_row.sum(), rtol=1e-5, atol=1e-6)
    if denominator > 0:
        torch.testing.assert_close(mean * denominator, total, rtol=1e-5, atol=1e-6)


@settings(max_examples=25)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    gamma=st.sampled_from([0.0, 0.25, 1.0, 2.0]),
    alpha=st.sampled_from([None, 0.25, 0.9]),
    eps=st.sampled_from([0.0, 0.2]),
    seed=st.integers(0, 2**16),
)
def test_sigmoid_property_matches_reference_and_reductions_agree(shape, gamma, alpha, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen) * 5
    t = torch.rand(shape, generator=gen)
    t[torch.rand(shape, generator=gen) < 0.2] = -1.0
    kw = dict(alpha=alpha, gamma=gamma, label_smoothing=eps, ignore_index=-1.0)
    none = _sigmoid_kernel(x, t, reduction="none", **kw)
    assert_close(none, naive_sigmoid_focal_loss(x.double(), t.double(), reduction="none", **kw),
                 torch.float32)  # fmt: skip
    assert (none >= 0).all()
    total = _sigmoid_kernel(x, t, reduction="sum", **kw)
    mean = _sigmoid_kernel(x, t, reduction="mean", **kw)
    count = (t != -1.0).sum()
    torch.testing.assert_close(total, none.sum(), rtol=1e-5, atol=1e-6)
    if count > 0:
        torch.testing.assert_close(mean * count, total, rtol=1e-5, atol=1e-6)


# ============================================================================= public losses


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_public_sigmoid_focal_loss_backends_agree(dtype, reduction, device):
    x, t = _sigmoid_case(ODD, dtype, device)
    kw = dict(
        alpha=0.25, gamma=0.5, pos_weight=torch.rand(ODD[1], device=device) + 0.5,
        weight=torch.rand(ODD, device=device), label_smoothing=0.05, ignore_index=-1,
        reduction=reduction,
    )  # fmt: skip
    up = None
    results = {}
    for backend in ("torch", "triton"):
        out, grad, up = _loss_and_grad(
            lambda v, b=backend: sigmoid_focal_loss(v, t, backend=b, **kw), x, up
        )
        results[backend] = (out, grad)
    # both paths against each other with the dtype's tolerance
    assert_close(results["triton"][0], results["torch"][0], dtype)
    assert_close(results["triton"][1], results["torch"][1], dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_public_softmax_losses_backends_agree(dtype, device):
    x, y = _softmax_case(*ODD, dtype, device)
    counts = torch.randint(1, 500, (ODD[1],), device=device)
    cases = [
        lambda v, b: softmax_focal_loss(v, y, alpha=0.25, gamma=2.0, label_smoothing=0.1,
                                        weight=torch.linspace(0.5, 2, ODD[1]), backend=b),
        lambda v, b: balanced_softmax_loss(v, y, counts, reduction="sum", backend=b),
        lambda v, b: ldam_loss(v, y, counts, backend=b),
    ]  # fmt: skip
    for case in cases:
        up = None
        results = {}
        for backend in ("torch", "triton"):
            out, grad, up = _loss_and_grad(lambda v, b=backend, c=case: c(v, b), x, up)
            results[backend] = (out, grad)
        assert_close(results["triton"][0], results["torch"][0], dtype)
        assert_close(results["triton"][1], results["torch"][1], dtype)


def test_sigmoid_focal_loss_nd_and_softmax_nd_through_public_api(device):
    x = torch.randn(2, 5, 4, 3, device=device)
    y = torch.randint(0, 5, (2, 4, 3), device=device)
    got = softmax_focal_loss(x, y, gamma=0.0, alpha=None, reduction="none", backend="triton")
    assert_close(got, F.cross_entropy(x, y, reduction="none"), torch.float32)
    t = torch.rand(2, 5, 4, 3, device=device)
    got = sigmoid_focal_loss(x, t, None, 0.0, reduction="none", backend="triton")
    assert_close(got, F.binary_cross_entropy_with_logits(x, t, reduction="none"), torch.float32)


# ============================================================================= packaging


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip


_BLOCKED_TRITON = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "triton" or name.startswith("triton."):
            raise ImportError("triton blocked for this test")
sys.meta_path.insert(0, Block())
import torch
import imbalance_kit, imbalance_kit.kernels, imbalance_kit.losses as L
assert "triton" not in sys.modules
x = torch.randn(4, 3)
print("auto:", float(L.sigmoid_focal_loss(x, torch.rand(4, 3), backend="auto")) >= 0)
try:
    imbalance_kit.kernels.sigmoid_focal_triton
except ImportError as exc:
    print("lazy:", "blocked" in str(exc))
"""


def test_packaging_lazy_import_and_device_check():
    """Without triton the losses import and run; CPU tensors need the interpreter."""
    result = _run_python(
        f"""
        import subprocess, sys
        import torch
        from imbalance_kit.kernels import softmax_loss_triton
        try:
            softmax_loss_triton(torch.randn(2, 3), torch.tensor([0, 1]), gamma=0.0, alpha=None,
                weight=None, label_smoothing=0.0, ignore_index=-100, offsets=None, margins=None,
                scale=1.0, reduction="mean")
        except RuntimeError as exc:
            print("refused:", "logits must be a CUDA tensor" in str(exc))
        out = subprocess.run([sys.executable, "-c", {_BLOCKED_TRITON!r}],
                             capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["refused:", "True", "auto:", "True", "lazy:", "True"]


_COMPILE_SM90 = """
import triton, triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from imbalance_kit.kernels import sigmoid_focal as sf, softmax_loss as sl

def build(fn, sig, consts, warps):
    sig = {**sig, **{k: "constexpr" for k in consts}}
    src = ASTSource(fn=fn, signature=sig, constexprs=consts)
    kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    return len(kernel.asm["cubin"]) > 0

sig = dict(x_ptr="*bf16", t_ptr="*bf16", pw_ptr="*fp32", w_ptr="*fp32", loss_ptr="*bf16",
           grad_ptr="*bf16", partial_ptr="*fp32", count_ptr="*i32", n="i64", alpha="fp32",
           gamma="fp32", eps="fp32", ignore_value="fp32", cut="fp32", grad_scale="fp32")
consts = dict(K=1, HAS_ALPHA=True, GAMMA_MODE=3, PW_MODE=2, W_MODE=3, HAS_IGNORE=True,
              STORE_LOSS=False, STORE_PARTIAL=True, COUNT=True, COMPUTE_GRAD=True,
              ACC=tl.float32, BLOCK=sf.BLOCK_SIZE)
print("sigmoid", build(sf._sigmoid_focal_kernel, sig, consts, sf.NUM_WARPS))
sig = dict(x_ptr="*bf16", x_stride="i64", t_ptr="*i64", alpha_ptr="*fp32", w_ptr="*fp32",
           off_ptr="*fp32", margin_ptr="*fp32", grad_ptr="*bf16", grad_stride="i64",
           loss_ptr="*fp32", inv_den_ptr="*fp32", ignore_index="i32", gamma="fp32", eps="fp32",
           scale="fp32", cut="fp32")
consts = dict(C=1, GAMMA_MODE=3, HAS_SMOOTH=True, HAS_ALPHA=True, HAS_WEIGHT=True,
              HAS_OFFSET=True, HAS_MARGIN=True, COMPUTE_GRAD=True, MEAN=True, ACC=tl.float32,
              BLOCK_C=sl.MAX_BLOCK_C)
print("softmax", build(sl._softmax_loss_kernel, sig, consts, 16))
"""


def test_kernels_compile_for_sm90_without_a_gpu():
    """Compile (not run) the richest variants for an H100 with triton's bundled ptxas.

    The interpreter does not type-check like the compiler does (e.g. integer arguments equal
    to 1 become compile-time constants on the GPU), so this catches GPU-only build errors.
    Sizes 1 (``K``, ``C``) are passed as constants, as triton's specialisation does.
    """
    ptxas = os.path.join(os.path.dirname(__import__("triton").__file__), "backends", "nvidia")
    if not os.path.exists(os.path.join(ptxas, "bin", "ptxas")):
        pytest.skip("triton's bundled ptxas is not installed")
    result = _run_python(_COMPILE_SM90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["sigmoid", "True", "softmax", "True"]
