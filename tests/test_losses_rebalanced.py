"""Re-balanced softmax losses: class-balanced, balanced softmax, logit adjustment, LDAM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from imbalance_kit.losses import get_loss
from imbalance_kit.losses.balanced_softmax import BalancedSoftmaxLoss, balanced_softmax_loss
from imbalance_kit.losses.class_balanced import ClassBalancedLoss, class_balanced_loss
from imbalance_kit.losses.ldam import LDAMLoss, ldam_loss, ldam_margins
from imbalance_kit.losses.logit_adjustment import (
    LogitAdjustedLoss,
    adjust_logits,
    logit_adjusted_loss,
)
from imbalance_kit.testing.references.losses import (
    ref_balanced_softmax,
    ref_class_balanced,
    ref_effective_number_weights,
    ref_ldam,
    ref_ldam_margins,
    ref_logit_adjusted,
)
from imbalance_kit.weights import effective_number_weights

COUNTS = [500.0, 120.0, 30.0, 7.0, 2.0]
C = len(COUNTS)


def _data(n: int = 12, dtype: torch.dtype = torch.float64, scale: float = 2.0):
    logits = torch.randn(n, C, dtype=dtype) * scale
    target = torch.randint(0, C, (n,))
    return logits, target


def _reduce(per_sample: np.ndarray, reduction: str, weights: np.ndarray | None = None):
    t = torch.as_tensor(per_sample, dtype=torch.float64)
    if reduction == "none":
        return t
    if reduction == "sum":
        return t.sum()
    return t.sum() / (len(t) if weights is None else float(np.sum(weights)))


# The three losses that are "cross-entropy of transformed logits", as one table:
# name -> (function with the statistic bound, equivalent F.cross_entropy input transform).
def _bs(logits, target, **kw):
    return balanced_softmax_loss(logits, target, COUNTS, **kw)


def _la(logits, target, **kw):
    return logit_adjusted_loss(logits, target, COUNTS, tau=0.7, **kw)


def _ldam(logits, target, **kw):
    return ldam_loss(logits, target, COUNTS, max_margin=0.4, scale=3.0, **kw)


def _log_counts(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(COUNTS, dtype=torch.float64).log().to(like.dtype)


def _bs_ce_input(logits, target):
    return logits + _log_counts(logits)


def _la_ce_input(logits, target):
    log_pi = _log_counts(logits) - math.log(sum(COUNTS))
    return logits + 0.7 * log_pi


def _ldam_ce_input(logits, target):
    m = torch.as_tensor(ref_ldam_margins(COUNTS, 0.4), dtype=logits.dtype)
    safe = target.clamp(min=0)
    return 3.0 * (logits - F.one_hot(safe, C).to(logits.dtype) * m)


CASES = {
    "balanced_softmax": (_bs, _bs_ce_input),
    "logit_adjusted": (_la, _la_ce_input),
    "ldam": (_ldam, _ldam_ce_input),
}


# ------------------------------------------------------------------ common behaviour


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_equals_cross_entropy_of_transformed_logits(case, reduction, with_weight, label_smoothing):
    fn, transform = CASES[case]
    logits, target = _data(16)
    target[3] = -100
    target[7] = -100
    weight = torch.rand(C, dtype=torch.float64) + 0.1 if with_weight else None
    got = fn(logits, target, weight=weight, label_smoothing=label_smoothing, reduction=reduction)
    want = F.cross_entropy(
        transform(logits, target),
        target,
        weight=weight,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("case", CASES)
def test_spatial_logits(case):
    fn, transform = CASES[case]
    logits = torch.randn(3, C, 4, 2, dtype=torch.float64)
    target = torch.randint(0, C, (3, 4, 2))
    got = fn(logits, target, reduction="none")
    assert got.shape == (3, 4, 2)
    # Per position, the loss is the 2-D loss of that position's row.
    flat = fn(logits.movedim(1, -1).reshape(-1, C), target.reshape(-1), reduction="none")
    torch.testing.assert_close(got.reshape(-1), flat)


@pytest.mark.parametrize("case", CASES)
def test_gradcheck(case):
    fn, _ = CASES[case]
    logits, target = _data(6)
    logits.requires_grad_()
    weight = torch.rand(C, dtype=torch.float64) + 0.5

    def loss(x):
        return fn(x, target, weight=weight, reduction="none", backend="torch")

    assert torch.autograd.gradcheck(loss, (logits,))
    assert torch.autograd.gradcheck(lambda x: fn(x, target, backend="torch"), (logits,))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_extreme_logits_are_finite(case, dtype):
    fn, _ = CASES[case]
    logits = torch.tensor(
        [[100.0, -100.0, 100.0, -100.0, 0.0], [-100.0, -100.0, -100.0, -100.0, 100.0]],
        dtype=dtype,
        requires_grad=True,
    )
    target = torch.tensor([1, 4])
    loss = fn(logits, target, reduction="sum")
    (grad,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    assert loss.float().item() > 100  # the wrong row is confidently wrong


@pytest.mark.parametrize("case", CASES)
def test_grad_output_scales_gradient(case):
    fn, _ = CASES[case]
    logits, target = _data(5, torch.float32)
    logits.requires_grad_()
    (g1,) = torch.autograd.grad(fn(logits, target), logits)
    (g2,) = torch.autograd.grad(2.0 * fn(logits, target), logits)
    torch.testing.assert_close(g2, 2.0 * g1)


@given(
    values=st.lists(st.floats(-50, 50), min_size=3 * C, max_size=3 * C),
    target=st.lists(st.integers(-1, C - 1), min_size=3, max_size=3),
    case=st.sampled_from(sorted(CASES)),
)
def test_properties(values, target, case):
    fn, _ = CASES[case]
    logits = torch.tensor(values, dtype=torch.float64).reshape(3, C)
    t = torch.tensor(target)
    t[t == -1] = -100  # some rows ignored
    none = fn(logits, t, reduction="none")
    assert (none >= 0).all()
    assert (none[t == -100] == 0).all()
    total = fn(logits, t, reduction="sum")
    count = int((t != -100).sum())
    if count:
        torch.testing.assert_close(total, fn(logits, t, reduction="mean") * count)


# ------------------------------------------------------------------ balanced softmax


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_balanced_softmax_matches_paper_formula(reduction):
    logits, target = _data(10)
    got = balanced_softmax_loss(logits, target, COUNTS, reduction=reduction)
    want = _reduce(ref_balanced_softmax(logits, target, COUNTS), reduction)
    torch.testing.assert_close(got, want)


def test_balanced_softmax_depends_only_on_count_ratios():
    logits, target = _data(10)
    a = balanced_softmax_loss(logits, target, torch.tensor(COUNTS))
    b = balanced_softmax_loss(logits, target, np.asarray(COUNTS) * 37.5)
    torch.testing.assert_close(a, b)
    # Uniform counts: plain cross-entropy.
    torch.testing.assert_close(
        balanced_softmax_loss(logits, target, [4] * C), F.cross_entropy(logits, target)
    )


def test_balanced_softmax_module_twin_and_registry():
    logits, target = _data(8, torch.float32)
    weight = torch.rand(C)
    module = BalancedSoftmaxLoss(COUNTS, weight=weight, label_smoothing=0.05, reduction="sum")
    want = balanced_softmax_loss(
        logits, target, COUNTS, weight=weight, label_smoothing=0.05, reduction="sum"
    )
    torch.testing.assert_close(module(logits, target), want)
    assert set(dict(module.named_buffers())) == {"weight"}
    module.half()  # counts are not a buffer: not rounded to float16 (500 would survive, 1e5 not)
    assert module.samples_per_class.dtype == torch.float64
    assert "num_classes=5" in repr(module)
    built = get_loss("balanced_softmax", samples_per_class=COUNTS)
    assert isinstance(built, BalancedSoftmaxLoss)
    torch.testing.assert_close(built(logits, target), balanced_softmax_loss(logits, target, COUNTS))


# ------------------------------------------------------------------ logit adjustment


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_logit_adjusted_matches_paper_formula(tau, reduction):
    logits, target = _data(10)
    priors = np.asarray(COUNTS) / sum(COUNTS)
    got = logit_adjusted_loss(logits, target, priors, tau=tau, reduction=reduction)
    want = _reduce(ref_logit_adjusted(logits, target, priors, tau), reduction)
    torch.testing.assert_close(got, want)


def test_logit_adjusted_special_cases():
    logits, target = _data(10)
    weight = torch.rand(C, dtype=torch.float64)
    # tau = 0 is cross-entropy, whatever the priors.
    torch.testing.assert_close(
        logit_adjusted_loss(logits, target, COUNTS, tau=0.0, weight=weight),
        F.cross_entropy(logits, target, weight=weight),
    )
    # Counts, unnormalised and normalised priors give the same loss.
    priors = torch.tensor(COUNTS) / sum(COUNTS)
    a = logit_adjusted_loss(logits, target, priors, tau=1.3)
    b = logit_adjusted_loss(logits, target, COUNTS, tau=1.3)
    torch.testing.assert_close(a, b)
    # tau = 1 with the training priors is the balanced softmax.
    torch.testing.assert_close(
        logit_adjusted_loss(logits, target, priors, tau=1.0),
        balanced_softmax_loss(logits, target, COUNTS),
    )


def test_adjust_logits():
    logits = torch.randn(6, C, 3, dtype=torch.float64, requires_grad=True)
    priors = torch.tensor(COUNTS) / sum(COUNTS)
    out = adjust_logits(logits, COUNTS, tau=0.5)  # counts are normalised to priors
    want = logits - 0.5 * priors.log().to(torch.float64)[None, :, None]
    torch.testing.assert_close(out, want)
    assert out.dtype == logits.dtype
    (grad,) = torch.autograd.grad(out.sum(), logits)
    assert torch.equal(grad, torch.ones_like(grad))
    torch.testing.assert_close(adjust_logits(logits, priors, tau=0.0), logits)
    # Post-hoc adjustment moves predictions to rare classes.
    flat = torch.zeros(4, C, dtype=torch.float32)
    assert adjust_logits(flat, COUNTS).argmax(1).tolist() == [C - 1] * 4
    assert adjust_logits(flat, COUNTS).dtype == torch.float32


def test_logit_adjusted_module_twin_and_registry():
    logits, target = _data(8, torch.float32)
    module = LogitAdjustedLoss(COUNTS, tau=1.5, reduction="none")
    torch.testing.assert_close(
        module(logits, target),
        logit_adjusted_loss(logits, target, COUNTS, tau=1.5, reduction="none"),
    )
    assert "tau=1.5" in repr(module)
    built = get_loss("logit_adjusted", class_priors=COUNTS, tau=0.5)
    assert isinstance(built, LogitAdjustedLoss)
    torch.testing.assert_close(
        built(logits, target), logit_adjusted_loss(logits, target, COUNTS, tau=0.5)
    )


# ------------------------------------------------------------------ LDAM


def test_ldam_margins():
    m = ldam_margins(COUNTS, max_margin=0.5)
    torch.testing.assert_close(m, torch.as_tensor(ref_ldam_margins(COUNTS, 0.5)))
    assert m.max().item() == pytest.approx(0.5)
    assert m.argmax().item() == C - 1  # the rarest class
    # m_c * n_c^(1/4) is the same constant for every class.
    const = m * torch.tensor(COUNTS, dtype=torch.float64) ** 0.25
    torch.testing.assert_close(const, const[0].expand(C))
    assert torch.equal(ldam_margins(COUNTS, 0.0), torch.zeros(C, dtype=torch.float64))


@pytest.mark.parametrize(("max_margin", "scale"), [(0.5, 30.0), (0.3, 10.0), (0.0, 1.0)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ldam_matches_paper_formula(max_margin, scale, reduction):
    logits = torch.empty(10, C, dtype=torch.float64).uniform_(-1, 1)  # cosine logits
    target = torch.randint(0, C, (10,))
    got = ldam_loss(logits, target, COUNTS, max_margin, scale, reduction=reduction)
    want = _reduce(ref_ldam(logits, target, COUNTS, max_margin, scale), reduction)
    torch.testing.assert_close(got, want)


def test_ldam_special_cases_and_weight():
    logits, target = _data(10)
    weight = torch.rand(C, dtype=torch.float64) + 0.1
    # No margin, unit scale: cross-entropy (weighted mean divides by the weight mass).
    torch.testing.assert_close(
        ldam_loss(logits, target, COUNTS, max_margin=0.0, scale=1.0, weight=weight),
        F.cross_entropy(logits, target, weight=weight),
    )
    per = ref_ldam(logits, target, COUNTS, 0.5, 30.0)
    w_y = weight[target].numpy()
    want = float(np.sum(w_y * per) / np.sum(w_y))
    got = ldam_loss(logits, target, COUNTS, weight=weight)
    assert got.item() == pytest.approx(want, rel=1e-10)
    # A larger margin never lowers the loss of a row.
    small = ldam_loss(logits, target, COUNTS, 0.1, 5.0, reduction="none")
    large = ldam_loss(logits, target, COUNTS, 0.6, 5.0, reduction="none")
    assert (large > small).all()


def test_ldam_module_twin_drw_and_registry():
    logits = torch.empty(9, C).uniform_(-1, 1)
    target = torch.randint(0, C, (9,))
    module = LDAMLoss(COUNTS, max_margin=0.4, scale=20.0)
    torch.testing.assert_close(module(logits, target), ldam_loss(logits, target, COUNTS, 0.4, 20.0))
    drw = effective_number_weights(COUNTS, beta=0.9999)
    module.weight = drw
    assert "weight" in dict(module.named_buffers())
    torch.testing.assert_close(
        module(logits, target), ldam_loss(logits, target, COUNTS, 0.4, 20.0, weight=drw)
    )
    assert "max_margin=0.4" in repr(module)
    built = get_loss("ldam", samples_per_class=COUNTS)
    assert isinstance(built, LDAMLoss)
    torch.testing.assert_close(built(logits, target), ldam_loss(logits, target, COUNTS))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda x, y: balanced_softmax_loss(x, y, [10, 0, 3, 4, 5]),
            ValueError,
            r"samples_per_class must be > 0 for every class .*got minimum 0.0",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, [10, -1, 3, 4, 5]),
            ValueError,
            "samples_per_class must be > 0",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, [10, float("nan"), 3, 4, 5]),
            ValueError,
            "samples_per_class must be finite",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, [10, 3, 4]),
            ValueError,
            r"samples_per_class must be of length 5 .*got length 3",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, torch.ones(5, 1)),
            ValueError,
            "samples_per_class must be 1-D",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, "10,3"),
            TypeError,
            "samples_per_class must be a tensor, array or sequence",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y.float(), COUNTS),
            TypeError,
            "target must be an integer tensor",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y + 10, COUNTS),
            ValueError,
            r"target must be class indices in \[0, 5\)",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, COUNTS, reduction="avg"),
            ValueError,
            "reduction must be one of",
        ),
        (
            lambda x, y: balanced_softmax_loss(x, y, COUNTS, backend="cuda"),
            ValueError,
            "backend must be one of",
        ),
        (
            lambda x, y: logit_adjusted_loss(x, y, COUNTS, tau=-1.0),
            ValueError,
            "tau must be a finite number >= 0, got -1.0",
        ),
        (
            lambda x, y: logit_adjusted_loss(x, y, [0.5, 0.5, 0.0, 0.0, 0.0]),
            ValueError,
            "class_priors must be > 0 for every class",
        ),
        (
            lambda x, y: logit_adjusted_loss(x, y, [0.5, 0.5]),
            ValueError,
            "class_priors must be of length 5",
        ),
        (
            lambda x, y: adjust_logits(x, [0.5, 0.5, 0.0, 0.0, 0.0]),
            ValueError,
            "class_priors must be > 0",
        ),
        (
            lambda x, y: adjust_logits(x, COUNTS, tau=float("inf")),
            ValueError,
            "tau must be a finite number >= 0",
        ),
        (
            lambda x, y: adjust_logits(x[:, 0], COUNTS),
            ValueError,
            "logits must be at least 2-D",
        ),
        (
            lambda x, y: ldam_loss(x, y, COUNTS, max_margin=-0.1),
            ValueError,
            "max_margin must be a finite number >= 0, got -0.1",
        ),
        (
            lambda x, y: ldam_loss(x, y, COUNTS, scale=0.0),
            ValueError,
            "scale must be a finite number > 0, got 0.0",
        ),
        (
            lambda x, y: ldam_loss(x, y, [1, 2, 3, 0, 5]),
            ValueError,
            "samples_per_class must be > 0",
        ),
        (
            lambda x, y: ldam_margins([1, 2, 3], max_margin=-1.0),
            ValueError,
            "max_margin must be",
        ),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    logits, target = _data(4)
    with pytest.raises(exc, match=match):
        call(logits, target)


def test_module_constructors_validate():
    with pytest.raises(ValueError, match="samples_per_class must be > 0"):
        BalancedSoftmaxLoss([3, 0, 2])
    with pytest.raises(ValueError, match="class_priors must be > 0"):
        LogitAdjustedLoss([0.5, -0.5])
    with pytest.raises(ValueError, match="tau must be"):
        LogitAdjustedLoss([0.5, 0.5], tau=-2.0)
    with pytest.raises(ValueError, match="scale must be"):
        LDAMLoss([3, 2], scale=-1.0)


def test_validate_args_false_skips_value_checks():
    logits, target = _data(4)
    # A zero count is no longer caught: the offset is -inf and the target row is infinite.
    counts = [10.0, 5.0, 3.0, 2.0, 0.0]
    target[:] = 4
    loss = balanced_softmax_loss(logits, target, counts, validate_args=False, reduction="none")
    assert torch.isinf(loss).all()


@pytest.mark.parametrize("case", CASES)
def test_triton_backend_matches_torch(case):
    # Runs the fused kernel on CPU through TRITON_INTERPRET=1 (set in conftest).
    fn, _ = CASES[case]
    logits, target = _data(7, torch.float32)
    target[2] = -100
    weight = torch.rand(C) + 0.1
    results = []
    for backend in ("triton", "torch"):
        x = logits.clone().requires_grad_()
        loss = fn(x, target, weight=weight, label_smoothing=0.1, backend=backend)
        (grad,) = torch.autograd.grad(loss, x)
        results.append((loss, grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


# ------------------------------------------------------------------ class-balanced

CB_TYPES = ["softmax", "sigmoid", "focal", "softmax_focal"]


def test_class_balanced_beta_zero_is_cross_entropy():
    logits, target = _data(12)
    target[0] = -100
    for reduction in ("none", "mean", "sum"):
        torch.testing.assert_close(
            class_balanced_loss(logits, target, COUNTS, beta=0.0, reduction=reduction),
            F.cross_entropy(logits, target, reduction=reduction),
        )


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_class_balanced_softmax_is_weighted_cross_entropy(beta, reduction):
    logits, target = _data(12)
    target[5] = -100
    w = effective_number_weights(COUNTS, beta=beta).double()
    torch.testing.assert_close(
        class_balanced_loss(logits, target, COUNTS, beta=beta, reduction=reduction),
        F.cross_entropy(logits, target, weight=w, reduction=reduction),
    )
    # The weights are the paper's (normalised to sum to C).
    torch.testing.assert_close(
        w, torch.as_tensor(ref_effective_number_weights(COUNTS, beta)), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize("loss_type", CB_TYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_class_balanced_matches_paper_formula(loss_type, gamma, reduction):
    logits, target = _data(10)
    beta = 0.999
    got = class_balanced_loss(logits, target, COUNTS, beta, loss_type, gamma, reduction=reduction)
    per_sample = ref_class_balanced(logits, target, COUNTS, beta, loss_type, gamma)
    w_y = ref_effective_number_weights(COUNTS, beta)[target.numpy()]
    want = _reduce(per_sample, reduction, weights=w_y)
    # The library's weights are float32 (effective_number_weights): compare at that precision.
    torch.testing.assert_close(got, want, rtol=2e-6, atol=1e-9)


def test_class_balanced_sigmoid_and_reference_code_normalisation():
    logits, target = _data(10)
    n = len(target)
    w = effective_number_weights(COUNTS, beta=0.99).double()
    one_hot = F.one_hot(target, C).double()
    # The reference code's sigmoid variant: BCE-with-logits, sample weight broadcast
    # over the classes, mean over the N * C elements.
    reference_code = F.binary_cross_entropy_with_logits(
        logits, one_hot, weight=w[target][:, None].expand(n, C)
    )
    ours_sum = class_balanced_loss(logits, target, COUNTS, 0.99, "sigmoid", reduction="sum")
    torch.testing.assert_close(ours_sum / (n * C), reference_code)
    # focal with gamma = 0 is the sigmoid variant.
    torch.testing.assert_close(
        class_balanced_loss(logits, target, COUNTS, 0.99, "focal", gamma=0.0),
        class_balanced_loss(logits, target, COUNTS, 0.99, "sigmoid"),
    )
    # "mean" divides by the weight mass of the samples.
    torch.testing.assert_close(
        class_balanced_loss(logits, target, COUNTS, 0.99, "sigmoid"), ours_sum / w[target].sum()
    )


@pytest.mark.parametrize("loss_type", CB_TYPES)
def test_class_balanced_empty_class_and_ignore_index(loss_type):
    counts = [50.0, 0.0, 10.0, 5.0, 1.0]  # class 1 has no samples: weight 0
    logits, target = _data(8)
    target[:3] = 1
    target[3] = -100
    none = class_balanced_loss(logits, target, counts, 0.99, loss_type, 2.0, reduction="none")
    assert (none[:4] == 0).all() and (none[4:] > 0).all()
    # The zero-weight and ignored rows leave the mean of the others unchanged.
    rest = class_balanced_loss(logits[4:], target[4:], counts, 0.99, loss_type, 2.0)
    torch.testing.assert_close(
        class_balanced_loss(logits, target, counts, 0.99, loss_type, 2.0), rest
    )


@pytest.mark.parametrize("loss_type", CB_TYPES)
def test_class_balanced_spatial_gradcheck_and_extremes(loss_type):
    logits = torch.randn(2, C, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, C, (2, 3))
    none = class_balanced_loss(logits, target, COUNTS, 0.99, loss_type, 1.5, reduction="none")
    assert none.shape == (2, 3)
    flat = class_balanced_loss(
        logits.movedim(1, -1).reshape(-1, C),
        target.reshape(-1),
        COUNTS,
        0.99,
        loss_type,
        1.5,
        reduction="none",
    )
    torch.testing.assert_close(none.reshape(-1), flat)

    def fn(x):
        return class_balanced_loss(
            x, target, COUNTS, 0.99, loss_type, 1.5, reduction="none", backend="torch"
        )

    assert torch.autograd.gradcheck(fn, (logits,))
    x = torch.tensor([[100.0, -100.0, 100.0, -100.0, 0.0]] * 2, requires_grad=True)
    loss = class_balanced_loss(
        x, torch.tensor([1, 0]), COUNTS, 0.99, loss_type, 0.5, reduction="sum"
    )
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


@given(
    values=st.lists(st.floats(-40, 40), min_size=3 * C, max_size=3 * C),
    target=st.lists(st.integers(-1, C - 1), min_size=3, max_size=3),
    loss_type=st.sampled_from(CB_TYPES),
    beta=st.sampled_from([0.0, 0.9, 0.9999]),
    gamma=st.floats(0, 3),
)
def test_class_balanced_properties(values, target, loss_type, beta, gamma):
    logits = torch.tensor(values, dtype=torch.float64).reshape(3, C)
    t = torch.tensor(target)
    t[t == -1] = -100
    none = class_balanced_loss(logits, t, COUNTS, beta, loss_type, gamma, reduction="none")
    assert (none >= 0).all() and (none[t == -100] == 0).all()
    total = class_balanced_loss(logits, t, COUNTS, beta, loss_type, gamma, reduction="sum")
    valid = t != -100
    if valid.any():
        mass = effective_number_weights(COUNTS, beta).double()[t[valid]].sum()
        mean = class_balanced_loss(logits, t, COUNTS, beta, loss_type, gamma, reduction="mean")
        torch.testing.assert_close(total, mean * mass, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss_type", CB_TYPES)
def test_class_balanced_module_twin_and_registry(loss_type):
    logits, target = _data(8, torch.float32)
    module = ClassBalancedLoss(COUNTS, beta=0.99, loss_type=loss_type, gamma=2.0, reduction="sum")
    want = class_balanced_loss(logits, target, COUNTS, 0.99, loss_type, 2.0, reduction="sum")
    torch.testing.assert_close(module(logits, target), want)
    # The DESIGN signature: reduction is the 7th positional argument.
    positional = class_balanced_loss(logits, target, COUNTS, 0.99, loss_type, 2.0, "sum")
    torch.testing.assert_close(positional, want)
    assert f"loss_type={loss_type!r}" in repr(module)
    built = get_loss("class_balanced", samples_per_class=COUNTS, loss_type=loss_type)
    assert isinstance(built, ClassBalancedLoss)
    torch.testing.assert_close(
        built(logits, target), class_balanced_loss(logits, target, COUNTS, loss_type=loss_type)
    )


@pytest.mark.parametrize("loss_type", CB_TYPES)
def test_class_balanced_triton_backend_matches_torch(loss_type):
    logits, target = _data(6, torch.float32)
    target[1] = -100
    results = []
    for backend in ("triton", "torch"):
        x = logits.clone().requires_grad_()
        loss = class_balanced_loss(x, target, COUNTS, 0.99, loss_type, 2.0, backend=backend)
        (grad,) = torch.autograd.grad(loss, x)
        results.append((loss, grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


@pytest.mark.parametrize("loss_type", ["softmax", "sigmoid"])
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"loss_type": "hinge"}, ValueError, "loss_type must be one of 'softmax'"),
        ({"beta": 1.0}, ValueError, r"beta must be in \[0.0, 1.0\), got 1.0"),
        ({"gamma": -1.0}, ValueError, "gamma must be a finite number >= 0, got -1.0"),
        ({"samples_per_class": [5, -1, 3, 2, 1]}, ValueError, "samples_per_class must be non-neg"),
        ({"samples_per_class": [0, 0, 0, 0, 0]}, ValueError, "samples_per_class must be non-zero"),
        ({"samples_per_class": [5, 3]}, ValueError, "samples_per_class must be of length 5"),
        ({"target": torch.full((4,), 7)}, ValueError, r"target must be class indices in \[0, 5\)"),
        ({"target": torch.zeros(4)}, TypeError, "target must be an integer tensor"),
        (
            {"target": torch.zeros(3, dtype=torch.long)},
            ValueError,
            r"target must be of shape \(4,\)",
        ),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"backend": "gpu"}, ValueError, "backend must be one of"),
    ],
)
def test_class_balanced_errors_name_the_argument(loss_type, kwargs, exc, match):
    logits, target = _data(4)
    args = {
        "logits": logits,
        "target": target,
        "samples_per_class": COUNTS,
        "loss_type": loss_type,
    } | kwargs
    with pytest.raises(exc, match=match):
        class_balanced_loss(**args)
