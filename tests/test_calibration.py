"""Calibration metrics against hand-written numpy references, torchmetrics and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_calibration_error,
)

from imbalance_kit.calibration import (
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    plot_reliability_diagram,
    reliability_curve,
)
from imbalance_kit.testing.references.calibration import ece_reference

VARIANTS = [
    ("l1", False),
    ("l2", False),
    ("l2", True),
    ("max", False),
]


def _data(n: int, c: int, seed: int, sharp: float = 2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = sharp * torch.randn(n, c, generator=g, dtype=torch.float64)
    probs = torch.softmax(logits, dim=1)
    # labels from a slightly different distribution: miscalibrated on purpose
    labels = torch.distributions.Categorical(logits=0.6 * logits).sample()
    return probs.to(dtype), labels


def _binary(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < p**1.5).long()
    return p, y


# ----------------------------------------------------------------- numpy reference
@pytest.mark.parametrize("norm,debias", VARIANTS)
@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("mode", ["top_label", "classwise"])
@pytest.mark.parametrize("n,c,n_bins", [(400, 4, 15), (37, 3, 10), (9, 5, 15), (250, 2, 1)])
def test_multiclass_matches_reference(norm, debias, binning, mode, n, c, n_bins):
    probs, labels = _data(n, c, seed=n + c)
    got = expected_calibration_error(
        probs, labels, n_bins, norm=norm, binning=binning, mode=mode, debias=debias
    )
    want = ece_reference(probs.numpy(), labels.numpy(), n_bins, norm, binning, mode, debias)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("norm,debias", VARIANTS)
@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("mode", ["top_label", "classwise"])
def test_binary_matches_reference(norm, debias, binning, mode):
    p, y = _binary(301, seed=3)
    got = expected_calibration_error(p, y, 12, norm=norm, binning=binning, mode=mode, debias=debias)
    want = ece_reference(p.numpy(), y.numpy(), 12, norm, binning, mode, debias)
    assert got.item() == pytest.approx(want, abs=1e-12)


def test_quantile_bins_with_ties_match_reference():
    # heavy ties: equal-mass edges collapse and ties must share a bin
    probs = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.9, 0.9, 0.9, 0.95], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 0, 1, 0, 1, 1, 0, 1])
    for n_bins in (1, 2, 3, 4, 7, 20):
        got = expected_calibration_error(probs, labels, n_bins, binning="quantile")
        assert got.item() == pytest.approx(ece_reference(probs, labels, n_bins, binning="quantile"))


def test_hand_computed_values():
    # top-label confidences .95/.85 (bin [.8, 1]: acc .5) and .75/.65 (bin [.6, .8): acc 1)
    probs = torch.tensor([[0.95, 0.05], [0.85, 0.15], [0.25, 0.75], [0.65, 0.35]])
    labels = torch.tensor([0, 1, 1, 0])
    assert expected_calibration_error(probs, labels, 5).item() == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.3
    )
    assert expected_calibration_error(probs, labels, 5, norm="l2").item() == pytest.approx(
        math.sqrt(0.5 * 0.4**2 + 0.5 * 0.3**2)
    )
    assert maximum_calibration_error(probs, labels, 5).item() == pytest.approx(0.4)


# ------------------------------------------------------------------- torchmetrics
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_top_label_matches_torchmetrics(norm, n_bins):
    probs, labels = _data(2000, 7, seed=n_bins, dtype=torch.float32)
    got = expected_calibration_error(probs, labels, n_bins, norm=norm)
    want = multiclass_calibration_error(probs, labels, num_classes=7, n_bins=n_bins, norm=norm)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want.to(got.dtype), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_binary_matches_torchmetrics(norm):
    p, y = _binary(3000, seed=5)
    got = expected_calibration_error(p.float(), y, 15, norm=norm)
    want = binary_calibration_error(p.float(), y, n_bins=15, norm=norm)
    torch.testing.assert_close(got, want.to(got.dtype), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- properties
@given(
    n=st.integers(1, 60),
    c=st.integers(2, 5),
    n_bins=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    binning=st.sampled_from(["uniform", "quantile"]),
    mode=st.sampled_from(["top_label", "classwise"]),
)
def test_norm_ordering_and_range(n, c, n_bins, seed, binning, mode):
    probs, labels = _data(n, c, seed)
    kw = dict(binning=binning, mode=mode)
    l1 = expected_calibration_error(probs, labels, n_bins, norm="l1", **kw).item()
    l2 = expected_calibration_error(probs, labels, n_bins, norm="l2", **kw).item()
    mx = expected_calibration_error(probs, labels, n_bins, norm="max", **kw).item()
    unbiased = expected_calibration_error(probs, labels, n_bins, norm="l2", debias=True, **kw)
    # weighted mean <= root mean square <= max (Jensen), all in [0, 1]
    assert 0.0 <= l1 <= l2 + 1e-12 <= mx + 2e-12 <= 1.0 + 2e-12
    assert 0.0 <= unbiased.item() <= 1.0
    # samples are exchangeable: a permutation changes nothing
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    again = expected_calibration_error(probs[perm], labels[perm], n_bins, norm="l1", **kw)
    assert again.item() == pytest.approx(l1, abs=1e-12)


def test_calibrated_data_gives_small_error_and_debias_helps():
    g = torch.Generator().manual_seed(1)
    probs = torch.softmax(2 * torch.randn(20000, 3, generator=g, dtype=torch.float64), dim=1)
    labels = torch.multinomial(probs, 1, generator=g).squeeze(1)
    plugin = expected_calibration_error(probs, labels, 15, norm="l2")
    unbiased = expected_calibration_error(probs, labels, 15, norm="l2", debias=True)
    assert expected_calibration_error(probs, labels).item() < 0.02
    assert unbiased.item() < plugin.item()
    miscalibrated, their_labels = _data(20000, 3, seed=1)
    assert expected_calibration_error(miscalibrated, their_labels).item() > 0.05


def test_perfect_and_degenerate_inputs():
    one_hot = torch.eye(4)[torch.tensor([0, 1, 2, 3, 1])]
    labels = torch.tensor([0, 1, 2, 3, 1])
    for norm in ("l1", "l2", "max"):
        assert expected_calibration_error(one_hot, labels, norm=norm).item() == 0.0
    # every prediction wrong with confidence 1: the worst case
    assert expected_calibration_error(one_hot, (labels + 1) % 4).item() == pytest.approx(1.0)
    # a single sample, uniform probabilities: argmax is class 0, a miss at confidence 0.25
    assert expected_calibration_error(torch.full((1, 4), 0.25), torch.tensor([2])).item() == (
        pytest.approx(0.25)
    )
    hit = expected_calibration_error(torch.full((1, 4), 0.25), torch.tensor([0]))
    assert hit.item() == pytest.approx(0.75)
    # debiased estimator with only singleton bins is 0, not NaN
    single = expected_calibration_error(
        torch.tensor([[0.9, 0.1]]), torch.tensor([1]), norm="l2", debias=True
    )
    assert single.item() == 0.0
    # quantile binning with more bins than samples, all equal scores
    flat = torch.full((5,), 0.3)
    q = expected_calibration_error(flat, torch.tensor([1, 0, 0, 0, 1]), 50, binning="quantile")
    assert q.item() == pytest.approx(0.1)


def test_from_logits_numpy_and_dtypes():
    probs, labels = _data(300, 5, seed=2)
    logits = torch.log(probs)
    direct = expected_calibration_error(probs, labels)
    torch.testing.assert_close(expected_calibration_error(logits, labels, from_logits=True), direct)
    torch.testing.assert_close(
        expected_calibration_error(probs.numpy(), labels.numpy()), direct, check_dtype=True
    )
    half = expected_calibration_error(probs.half(), labels)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(direct.item(), abs=5e-3)
    p, y = _binary(100, seed=1)
    torch.testing.assert_close(
        expected_calibration_error(torch.logit(p), y.bool(), from_logits=True),
        expected_calibration_error(p, y.double()),
    )


def test_inputs_on_device(device):
    probs, labels = _data(200, 3, seed=4, dtype=torch.float32)
    got = expected_calibration_error(probs.to(device), labels.to(device), binning="quantile")
    assert got.device.type == device.type
    want = expected_calibration_error(probs, labels, binning="quantile")
    torch.testing.assert_close(got.cpu(), want)


# ------------------------------------------------------------------------ errors
_P = torch.full((4, 2), 0.5)
_Y = torch.zeros(4, dtype=torch.long)
_BAD_INPUTS = [
    (torch.randn(8, 3), torch.zeros(8, dtype=torch.long), {}, ValueError, "from_logits=True"),
    (torch.full((4, 3), 0.5), _Y, {}, ValueError, "rows summing to 1"),
    (torch.tensor([0.2, 1.5]), torch.tensor([0, 1]), {}, ValueError, r"in \[0, 1\]"),
    (torch.tensor([0.2, float("nan")]), torch.tensor([0, 1]), {}, ValueError, "finite"),
    (_P, torch.tensor([0, 1, 2, 1]), {}, ValueError, r"class indices in \[0, 2\)"),
    (torch.tensor([0.2, 0.7]), torch.tensor([0, 2]), {}, ValueError, "0 or 1"),
    (torch.tensor([0.2, 0.7]), torch.tensor([-1, 1]), {}, ValueError, "0 or 1"),
    (torch.tensor([0.2, 0.7]), torch.tensor([0.0, 0.5]), {}, ValueError, "whole-number"),
    (torch.empty(0, 3), torch.empty(0, dtype=torch.long), {}, ValueError, "non-empty"),
    (torch.empty(0), torch.empty(0, dtype=torch.long), {}, ValueError, "non-empty"),
    (torch.full((4, 1), 1.0), _Y, {}, ValueError, "C >= 2"),
    (torch.full((4, 2, 2), 0.5), _Y, {}, ValueError, "1-D or 2-D"),
    (_P, _Y[:3], {}, ValueError, "same length"),
    (torch.ones(4, 2, dtype=torch.long), _Y, {}, TypeError, "floating"),
    (_P, _Y, {"n_bins": 0}, ValueError, "n_bins must be an integer >= 1, got 0"),
    (_P, _Y, {"n_bins": 2.5}, ValueError, "n_bins"),
    (_P, _Y, {"norm": "l3"}, ValueError, "norm must be one of"),
    (_P, _Y, {"binning": "equal"}, ValueError, "binning"),
    (_P, _Y, {"mode": "marginal"}, ValueError, "mode"),
    (_P, _Y, {"debias": True}, ValueError, "norm='l2'"),
    (_P, _Y, {"debias": 1, "norm": "l2"}, TypeError, "debias must be True or False, got 1"),
    ("abc", torch.zeros(1, dtype=torch.long), {}, TypeError, "numeric"),
]


@pytest.mark.parametrize("probs,labels,kwargs,exc,match", _BAD_INPUTS)
def test_bad_input_raises_clear_errors(probs, labels, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        expected_calibration_error(probs, labels, **kwargs)


def test_other_functions_share_the_checks():
    logits = torch.randn(8, 3)
    labels = torch.zeros(8, dtype=torch.long)
    for fn in (maximum_calibration_error, brier_score, reliability_curve):
        with pytest.raises(ValueError, match="from_logits=True"):
            fn(logits, labels)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_curve(torch.softmax(logits, 1), labels, n_bins=0)


# ------------------------------------------------------------------------- Brier
def test_brier_binary_equals_sklearn():
    p, y = _binary(500, seed=7)
    assert brier_score(p, y).item() == pytest.approx(brier_score_loss(y.numpy(), p.numpy()))


def test_brier_multiclass_equals_sklearn_and_definition():
    probs, labels = _data(400, 4, seed=8)
    got = brier_score(probs, labels).item()
    want = brier_score_loss(labels.numpy(), probs.numpy(), labels=list(range(4)))
    assert got == pytest.approx(want)
    one_hot = np.eye(4)[labels.numpy()]
    assert got == pytest.approx(np.mean(np.sum((probs.numpy() - one_hot) ** 2, axis=1)))
    # (N, 2) is twice the (N,) binary convention
    p, y = _binary(50, seed=2)
    two = brier_score(torch.stack([1 - p, p], 1), y).item()
    assert two == pytest.approx(2 * brier_score(p, y).item())


def test_brier_is_differentiable_and_from_logits():
    logits = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 3, (16,))
    torch.autograd.gradcheck(lambda z: brier_score(z, labels, from_logits=True), (logits,))
    probs = torch.softmax(logits, 1).detach().requires_grad_()
    brier_score(probs, labels).backward()
    want = 2 * (probs.detach() - torch.eye(3, dtype=torch.float64)[labels]) / 16
    torch.testing.assert_close(probs.grad, want)


# ------------------------------------------------------------- reliability curve
@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_reliability_curve_equals_sklearn_calibration_curve(n_bins):
    p, y = _binary(700, seed=n_bins)
    confidence, accuracy, count = reliability_curve(p, y, n_bins)
    prob_true, prob_pred = calibration_curve(y.numpy(), p.numpy(), n_bins=n_bins)
    filled = count > 0
    np.testing.assert_allclose(accuracy[filled].numpy(), prob_true)
    np.testing.assert_allclose(confidence[filled].numpy(), prob_pred)
    assert int(count.sum()) == 700


def test_reliability_curve_layout_and_consistency_with_ece():
    probs, labels = _data(60, 3, seed=9)
    for binning in ("uniform", "quantile"):
        confidence, accuracy, count = reliability_curve(probs, labels, 20, binning=binning)
        assert confidence.shape == accuracy.shape == count.shape == (20,)
        assert count.dtype == torch.long and int(count.sum()) == 60
        empty = count == 0
        assert empty.any() == (binning == "uniform")  # 60 samples fill 20 equal-mass bins
        assert torch.isnan(confidence[empty]).all() and torch.isnan(accuracy[empty]).all()
        weights = count[~empty].double() / 60
        ece = (weights * (accuracy[~empty] - confidence[~empty]).abs()).sum()
        want = expected_calibration_error(probs, labels, 20, binning=binning)
        assert ece.item() == pytest.approx(want.item())


def test_plot_reliability_diagram(tmp_path):
    from matplotlib.figure import Figure

    probs, labels = _data(300, 4, seed=11)
    fig = plot_reliability_diagram(probs, labels, 10, title="model")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    top = fig.axes[0]
    assert top.get_title() == "model"
    ece = expected_calibration_error(probs, labels, 10).item()
    assert f"{100 * ece:.2f}%" in top.get_legend().get_title().get_text()
    # one accuracy bar and one gap bar per non-empty bin
    filled = int((reliability_curve(probs, labels, 10)[2] > 0).sum())
    assert len(top.patches) == 2 * filled
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
    single = plot_reliability_diagram(probs, labels, binning="quantile", show_histogram=False)
    assert len(single.axes) == 1
    # side by side in subfigures of one figure
    root = Figure(figsize=(8, 5))
    left, right = root.subfigures(1, 2)
    assert plot_reliability_diagram(probs, labels, figure=left) is root
    assert plot_reliability_diagram(probs, labels, figure=right, show_histogram=False) is root
    assert len(root.axes) == 3
    with pytest.raises(ValueError, match="figsize must be None when figure is given"):
        plot_reliability_diagram(probs, labels, figure=Figure(), figsize=(3, 3))
