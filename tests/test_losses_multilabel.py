"""Multi-label losses: asymmetric loss (ASL) and the implication penalty."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from imbalance_kit.losses import get_loss
from imbalance_kit.losses.asymmetric import AsymmetricLoss, asymmetric_loss
from imbalance_kit.losses.implication import ImplicationPenalty, implication_penalty
from imbalance_kit.testing.references.losses import ref_asymmetric, ref_implication


def _reduce(values: np.ndarray, reduction: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64)
    return {"none": t, "mean": t.mean(), "sum": t.sum()}[reduction]


# ----------------------------------------------------------------------------- ASL


@pytest.mark.parametrize(
    ("gamma_pos", "gamma_neg", "clip"),
    [(0.0, 4.0, 0.05), (1.0, 4.0, 0.05), (0.0, 0.0, 0.0), (2.0, 1.0, 0.0), (0.5, 0.3, 0.2)],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_asl_matches_paper_formula(gamma_pos, gamma_neg, clip, reduction):
    logits = torch.randn(9, 6, dtype=torch.float64) * 3
    targets = (torch.rand(9, 6) < 0.3).double()
    got = asymmetric_loss(logits, targets, gamma_pos, gamma_neg, clip, reduction=reduction)
    want = _reduce(ref_asymmetric(logits, targets, gamma_pos, gamma_neg, clip), reduction)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_asl_soft_targets_and_odd_shape():
    logits = torch.randn(3, 5, 7, dtype=torch.float64) * 2
    targets = torch.rand(3, 5, 7, dtype=torch.float64)
    got = asymmetric_loss(logits, targets, 1.0, 3.0, 0.1, reduction="none")
    assert got.shape == (3, 5, 7)
    torch.testing.assert_close(got, torch.as_tensor(ref_asymmetric(logits, targets, 1.0, 3.0, 0.1)))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weight_shape", [None, (6,), (9, 6), (9, 1)])
def test_asl_without_asymmetry_is_bce_with_logits(reduction, weight_shape):
    logits = torch.randn(9, 6) * 4
    targets = (torch.rand(9, 6) < 0.4).float()
    weight = None if weight_shape is None else torch.rand(weight_shape) * 2
    got = asymmetric_loss(logits, targets, 0.0, 0.0, 0.0, weight=weight, reduction=reduction)
    want = F.binary_cross_entropy_with_logits(logits, targets, weight=weight, reduction=reduction)
    torch.testing.assert_close(got, want)


def test_asl_clip_discards_easy_negatives():
    # A negative with p <= clip contributes nothing, value and gradient.
    logits = torch.tensor([[torch.logit(torch.tensor(0.04)).item(), -5.0]], requires_grad=True)
    loss = asymmetric_loss(logits, torch.zeros(1, 2), clip=0.05, reduction="sum")
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.equal(grad, torch.zeros_like(grad))
    # Without clipping the same negatives are penalised.
    assert asymmetric_loss(logits, torch.zeros(1, 2), clip=0.0).item() > 0


@pytest.mark.parametrize(
    ("gamma_pos", "gamma_neg", "clip"),
    [(0.0, 4.0, 0.05), (1.0, 2.0, 0.0), (0.5, 0.5, 0.1), (0.0, 0.0, 0.2)],
)
def test_asl_gradcheck(gamma_pos, gamma_neg, clip):
    logits = (torch.randn(5, 4, dtype=torch.float64) * 2).requires_grad_()
    targets = torch.rand(5, 4, dtype=torch.float64)
    weight = torch.rand(4, dtype=torch.float64)

    def fn(x):
        return asymmetric_loss(
            x,
            targets,
            gamma_pos,
            gamma_neg,
            clip,
            weight=weight,
            reduction="none",
        )

    # reduction="none" with gradcheck's random grad_output covers grad_output != 1.
    # (A detached focusing weight is not the true gradient: tested separately.)
    assert torch.autograd.gradcheck(fn, (logits,))


def test_asl_grad_output_scales_gradient():
    logits = torch.randn(4, 3, requires_grad=True)
    targets = (torch.rand(4, 3) < 0.5).float()
    (g1,) = torch.autograd.grad(asymmetric_loss(logits, targets), logits)
    (g2,) = torch.autograd.grad(2.0 * asymmetric_loss(logits, targets), logits)
    torch.testing.assert_close(g2, 2 * g1)


def test_asl_detached_focusing_weight_gradient():
    logits = (torch.randn(6, 5, dtype=torch.float64) * 2).requires_grad_()
    targets = (torch.rand(6, 5) < 0.4).double()
    gp, gn, clip = 1.0, 4.0, 0.05
    got = asymmetric_loss(logits, targets, gp, gn, clip, detach_focusing_weight=True)
    (g_got,) = torch.autograd.grad(got, logits)
    # Hand-written: focusing factors as constants, log terms differentiated.
    with torch.no_grad():
        p = torch.sigmoid(logits)
        w_pos = (1 - p) ** gp
        w_neg = (p - clip).clamp(min=0) ** gn
    p = torch.sigmoid(logits)
    p_m = (p - clip).clamp(min=0)
    hand = -(targets * w_pos * torch.log(p) + (1 - targets) * w_neg * torch.log(1 - p_m)).mean()
    (g_hand,) = torch.autograd.grad(hand, logits)
    torch.testing.assert_close(got, hand)
    torch.testing.assert_close(g_got, g_hand)
    full = asymmetric_loss(logits, targets, gp, gn, clip)
    (g_full,) = torch.autograd.grad(full, logits)
    torch.testing.assert_close(full, got)
    assert not torch.allclose(g_full, g_got)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize(
    ("gamma_pos", "gamma_neg", "clip"), [(0.0, 4.0, 0.05), (0.5, 0.5, 0.0), (0.3, 0.7, 0.05)]
)
def test_asl_extreme_logits_finite(dtype, gamma_pos, gamma_neg, clip):
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0, 0.0]], dtype=dtype, requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0]], dtype=dtype)
    loss = asymmetric_loss(logits, targets, gamma_pos, gamma_neg, clip, reduction="sum")
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # The confidently wrong positive costs (1-p)^g+ * 100 ~ 100.
    assert loss.float().item() > 99


@given(
    logits=st.lists(st.floats(-30, 30), min_size=1, max_size=24),
    gamma_pos=st.floats(0, 4),
    gamma_neg=st.floats(0, 6),
    clip=st.floats(0, 0.5),
    data=st.data(),
)
def test_asl_properties(logits, gamma_pos, gamma_neg, clip, data):
    x = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(
        data.draw(st.lists(st.floats(0, 1), min_size=len(logits), max_size=len(logits))),
        dtype=torch.float64,
    )
    none = asymmetric_loss(x, t, gamma_pos, gamma_neg, clip, reduction="none")
    assert (none >= 0).all()
    total = asymmetric_loss(x, t, gamma_pos, gamma_neg, clip, reduction="sum")
    mean = asymmetric_loss(x, t, gamma_pos, gamma_neg, clip, reduction="mean")
    torch.testing.assert_close(total, mean * x.numel())


def test_asl_module_twin_and_registry():
    logits = torch.randn(7, 4)
    targets = (torch.rand(7, 4) < 0.3).float()
    weight = torch.rand(4)
    module = AsymmetricLoss(1.0, 3.0, 0.1, weight=weight, reduction="sum")
    torch.testing.assert_close(
        module(logits, targets),
        asymmetric_loss(logits, targets, 1.0, 3.0, 0.1, weight=weight, reduction="sum"),
    )
    assert "weight" in dict(module.named_buffers())
    assert "gamma_neg=3.0" in repr(module)
    built = get_loss("asymmetric", gamma_neg=2.0)
    assert isinstance(built, AsymmetricLoss)
    torch.testing.assert_close(built(logits, targets), asymmetric_loss(logits, targets, 0.0, 2.0))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"gamma_neg": -1.0}, ValueError, "gamma_neg must be a finite number >= 0, got -1.0"),
        ({"gamma_pos": float("nan")}, ValueError, "gamma_pos must be"),
        ({"clip": 1.0}, ValueError, r"clip must be in \[0.0, 1.0\), got 1.0"),
        ({"clip": -0.1}, ValueError, "clip must be in"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"targets": torch.ones(3, 5)}, ValueError, "targets must have the same shape as logits"),
        ({"targets": torch.full((3, 4), 2.0)}, ValueError, r"targets must be in \[0, 1\], got 2.0"),
        ({"targets": torch.full((3, 4), float("nan"))}, ValueError, "targets must be finite"),
        ({"weight": torch.ones(5)}, ValueError, "weight must be broadcastable to the logits"),
        ({"weight": -torch.ones(4)}, ValueError, "weight must be non-negative"),
        ({"logits": torch.ones(3, 4, dtype=torch.long)}, TypeError, "logits must be a floating"),
        ({"logits": [[0.0] * 4] * 3}, TypeError, "logits must be a torch.Tensor"),
    ],
)
def test_asl_errors_name_the_argument(kwargs, exc, match):
    args = {"logits": torch.zeros(3, 4), "targets": torch.zeros(3, 4)} | kwargs
    with pytest.raises(exc, match=match):
        asymmetric_loss(**args)


def test_asl_validate_args_false_skips_value_checks():
    # Shape checks stay; the value check is what validate_args turns off.
    asymmetric_loss(torch.zeros(2, 2), torch.full((2, 2), 2.0), validate_args=False)
    with pytest.raises(ValueError, match="targets must have the same shape"):
        asymmetric_loss(torch.zeros(2, 2), torch.zeros(2, 3), validate_args=False)


# ----------------------------------------------------------------------- implication


def test_implication_zero_when_parent_at_least_child():
    logits = torch.randn(10, 4)
    logits[:, 0] = logits[:, 1] + torch.rand(10)  # parent 0 above child 1
    logits[:, 2] = logits[:, 3]  # tie: parent 2 equals child 3
    pairs = [(1, 0), (3, 2)]
    assert torch.equal(implication_penalty(logits, pairs, reduction="none"), torch.zeros(10, 2))
    logits.requires_grad_()
    (grad,) = torch.autograd.grad(implication_penalty(logits, pairs), logits)
    assert torch.equal(grad, torch.zeros_like(grad))


def test_implication_hand_example():
    # child at logit 1, parent at logit -1: sigmoid(1) - sigmoid(-1) = tanh(1/2) = 0.46212.
    logits = torch.tensor([[-1.0, 1.0], [3.0, -2.0]], requires_grad=True)
    none = implication_penalty(logits, [(1, 0)], reduction="none")
    torch.testing.assert_close(none, torch.tensor([[0.4621172], [0.0]]))
    mean = implication_penalty(logits, [(1, 0)])
    torch.testing.assert_close(mean, torch.tensor(0.4621172 / 2))
    (grad,) = torch.autograd.grad(mean, logits)
    s = torch.sigmoid(torch.tensor(1.0))
    d = (s * (1 - s)).item() / 2  # sigma'(1) = sigma'(-1)
    torch.testing.assert_close(grad, torch.tensor([[-d, d], [0.0, 0.0]]))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_implication_matches_reference_with_weights(reduction):
    logits = torch.randn(8, 5, dtype=torch.float64) * 2
    pairs = [(1, 0), (2, 0), (4, 3), (2, 1)]
    weight = torch.tensor([1.0, 0.5, 2.0, 0.0], dtype=torch.float64)
    got = implication_penalty(logits, pairs, weight=weight, reduction=reduction)
    want = _reduce(ref_implication(logits, pairs, weight.tolist()), reduction)
    torch.testing.assert_close(got, want)


def test_implication_pair_forms_agree_and_leading_dims():
    logits = torch.randn(2, 3, 4)
    names = ["event", "fight", "animal", "cow"]
    by_index = implication_penalty(logits, [(1, 0), (3, 2)], reduction="none")
    assert by_index.shape == (2, 3, 2)
    by_tensor = implication_penalty(logits, torch.tensor([[1, 0], [3, 2]]), reduction="none")
    by_name = implication_penalty(
        logits, [("fight", "event"), ("cow", "animal")], labels=names, reduction="none"
    )
    by_map = implication_penalty(
        logits,
        [("fight", "event"), ("cow", "animal")],
        labels={n: i for i, n in enumerate(names)},
        reduction="none",
    )
    for other in (by_tensor, by_name, by_map):
        torch.testing.assert_close(other, by_index)
    flat = implication_penalty(logits.reshape(6, 4), [(1, 0), (3, 2)], reduction="none")
    torch.testing.assert_close(by_index.reshape(6, 2), flat)


def test_implication_gradcheck_and_extremes():
    logits = (torch.randn(6, 4, dtype=torch.float64) * 2).requires_grad_()
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)

    def fn(x):
        return implication_penalty(x, [(1, 0), (2, 0), (3, 2)], weight=weight, reduction="none")

    assert torch.autograd.gradcheck(fn, (logits,))
    x = torch.tensor([[-100.0, 100.0, 100.0, -100.0]], requires_grad=True)
    loss = implication_penalty(x, [(1, 0), (3, 2), (2, 0)], reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss, torch.tensor(2.0))


@given(
    values=st.lists(st.floats(-20, 20), min_size=6, max_size=6),
    rows=st.integers(1, 4),
)
def test_implication_properties(values, rows):
    logits = torch.tensor(values, dtype=torch.float64).repeat(rows, 1)
    logits = logits + torch.arange(rows, dtype=torch.float64)[:, None]
    pairs = [(1, 0), (2, 1), (5, 4), (3, 0)]
    none = implication_penalty(logits, pairs, reduction="none")
    assert ((none >= 0) & (none <= 1)).all()
    total = implication_penalty(logits, pairs, reduction="sum")
    mean = implication_penalty(logits, pairs, reduction="mean")
    torch.testing.assert_close(total, mean * none.numel())


def test_implication_module_twin_and_registry():
    logits = torch.randn(5, 3)
    weight = torch.tensor([2.0, 1.0])
    module = ImplicationPenalty(
        [("b", "a"), ("c", "a")], labels=["a", "b", "c"], weight=weight, reduction="sum"
    )
    want = implication_penalty(logits, [(1, 0), (2, 0)], weight=weight, reduction="sum")
    torch.testing.assert_close(module(logits), want)
    assert torch.equal(module.implications, torch.tensor([[1, 0], [2, 0]]))
    assert set(dict(module.named_buffers())) == {"implications", "weight"}
    assert "num_pairs=2" in repr(module)
    built = get_loss("implication_penalty", implications=[(1, 0)])
    assert isinstance(built, ImplicationPenalty)
    torch.testing.assert_close(built(logits), implication_penalty(logits, [(1, 0)]))
    with pytest.raises(ValueError, match=r"implications must be label indices in \[0, 3\), got 3"):
        ImplicationPenalty([(3, 0)], num_labels=3)
    with pytest.raises(ValueError, match=r"implications must be label indices in \[0, 4\), got 7"):
        ImplicationPenalty([(7, 0)])(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="num_labels must be an integer >= 1"):
        ImplicationPenalty([(1, 0)], num_labels=0)


@pytest.mark.parametrize(
    ("implications", "kwargs", "exc", "match"),
    [
        ([(4, 0)], {}, ValueError, r"implications must be label indices in \[0, 4\), got 4"),
        ([(-1, 0)], {}, ValueError, r"implications must be label indices in \[0, 4\), got -1"),
        (torch.tensor([[1, 9]]), {}, ValueError, r"label indices in \[0, 4\), got 9"),
        ([(2, 2)], {}, ValueError, r"implications must be pairs of two different labels"),
        (torch.tensor([[2, 2]]), {}, ValueError, r"pairs of two different labels"),
        ([], {}, ValueError, "implications must be at least one"),
        ([(1, 0, 2)], {}, ValueError, r"implications must be a sequence of \(child, parent\)"),
        ("ab", {}, ValueError, "implications must be a sequence of"),
        ([("b", "a")], {}, ValueError, "implications must be pairs of integer label indices"),
        ([("b", "z")], {"labels": ["a", "b", "c", "d"]}, ValueError, "names listed in labels"),
        ([(1, 0)], {"labels": ["a", "a", "b", "c"]}, ValueError, "labels must be unique names"),
        ([(1.0, 0)], {}, ValueError, "implications must be pairs of label indices or names"),
        (torch.tensor([[1.0, 0.0]]), {}, TypeError, "implications must be an integer tensor"),
        (torch.tensor([[1, 0, 2]]), {}, ValueError, r"implications must be of shape \(M, 2\)"),
        ([(1, 0)], {"weight": torch.ones(2)}, ValueError, r"weight must be of shape \(1,\)"),
        ([(1, 0)], {"weight": -torch.ones(1)}, ValueError, "weight must be non-negative"),
        ([(1, 0)], {"reduction": "max"}, ValueError, "reduction must be one of"),
    ],
)
def test_implication_errors_name_the_argument(implications, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        implication_penalty(torch.zeros(3, 4), implications, **kwargs)


def test_implication_logits_checks():
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        implication_penalty(torch.zeros(2, 3, dtype=torch.long), [(1, 0)])
    with pytest.raises(ValueError, match="logits must be at least 1-D"):
        implication_penalty(torch.tensor(0.0), [(1, 0)])
