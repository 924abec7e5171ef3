"""Class-weight calculators against scikit-learn and hand-written formulas."""

from __future__ import annotations

import json
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, WeightedRandomSampler

from imbalance_kit.sampling import (
    BalancedBatchSampler,
    ClassBalancedSampler,
    MultiLabelBalancedSampler,
    WeightedSampler,
)
from imbalance_kit.weights import (
    DoubleCorrectionWarning,
    balanced_weights,
    class_counts,
    compute_class_weights,
    describe_distribution,
    effective_number_weights,
    inverse_frequency_weights,
    plot_distribution,
    positive_weights,
    warn_if_double_correction,
)

matplotlib.use("Agg")


def cui_weights(counts, beta):
    """Cui et al. 2019, as in their reference code: (1 - b) / (1 - b^n), scaled to sum to C."""
    counts = np.asarray(counts, dtype=np.float64)
    effective_num = 1.0 - np.power(beta, counts)
    weights = (1.0 - beta) / effective_num
    return weights / weights.sum() * len(counts)


labels_strategy = st.lists(st.integers(0, 6), min_size=1, max_size=200)


# ----------------------------------------------------------------------------- counts


def test_class_counts_inputs_agree():
    y = [2, 0, 2, 2, 5]
    expected = torch.tensor([1, 0, 3, 0, 0, 1])
    for value in (y, np.array(y), np.array(y, dtype=np.uint8), torch.tensor(y, dtype=torch.int16)):
        out = class_counts(value)
        assert out.dtype == torch.int64
        assert torch.equal(out, expected)
    assert torch.equal(class_counts(y, num_classes=8)[:6], expected)
    assert class_counts([], num_classes=3).tolist() == [0, 0, 0]


def test_class_counts_errors():
    with pytest.raises(ValueError, match="labels must be class indices >= 0, got -1"):
        class_counts([0, -1])
    with pytest.raises(
        ValueError, match=r"labels must be class indices in \[0, num_classes=2\), got 3"
    ):
        class_counts([0, 3], num_classes=2)
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        class_counts([0.0, 1.0])
    with pytest.raises(ValueError, match="labels must be 1-D"):
        class_counts([[0, 1]])
    with pytest.raises(ValueError, match="labels must be non-empty when the number of classes"):
        class_counts([])
    with pytest.raises(ValueError, match="labels must be a tensor with data.*meta device"):
        class_counts(torch.zeros(3, dtype=torch.long, device="meta"))


# The number of classes inferred from the largest label is bounded (65536, or 4 per label);
# beyond it every function that would allocate per-class tensors refuses and says how to
# give the number of classes. Each refusal must be immediate (no allocation).
HUGE = torch.tensor([0, 10**9])


@pytest.mark.parametrize(
    "call",
    [
        lambda: class_counts(HUGE),
        lambda: balanced_weights(HUGE),
        lambda: compute_class_weights(HUGE),
        lambda: describe_distribution(HUGE),
        lambda: plot_distribution(HUGE),
    ],
    ids=["class_counts", "balanced_weights", "compute_class_weights", "describe", "plot"],
)
def test_huge_label_is_refused_with_a_num_classes_hint(call):
    with pytest.raises(ValueError, match=r"below 65536 .*pass num_classes.*got 1000000000"):
        call()


def test_inferred_class_limit_is_max_of_floor_and_four_per_label():
    assert class_counts([0, 65535]).numel() == 65536  # the floor
    with pytest.raises(ValueError, match="below 65536"):
        class_counts([0, 65536])
    many = torch.zeros(20_000, dtype=torch.long)
    many[0] = 79_999  # 4 x 20000 classes allowed
    assert class_counts(many).numel() == 80_000
    many[0] = 80_000
    with pytest.raises(ValueError, match=r"below 80000 .*4 x 20000 labels"):
        class_counts(many)
    # an explicit num_classes lifts the limit
    assert class_counts([0, 70_000], num_classes=70_001)[-1] == 1


# ----------------------------------------------------------------------------- balanced


@given(labels_strategy)
def test_balanced_equals_sklearn_on_present_classes(y):
    y = np.asarray(y)
    present = np.unique(y)
    expected = compute_class_weight("balanced", classes=present, y=y)
    out = balanced_weights(torch.from_numpy(y))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy()[present], expected, rtol=1e-6)
    absent = np.setdiff1d(np.arange(len(out)), present)
    assert (out.numpy()[absent] == 0).all()


def test_balanced_with_num_classes_pads_zeros_without_changing_others():
    y = [0, 0, 0, 1]
    assert torch.allclose(balanced_weights(y, num_classes=4), torch.tensor([2 / 3, 2.0, 0, 0]))


def test_single_class_gets_weight_one_in_every_method():
    y = [3, 3, 3]
    for method in ("balanced", "inverse", "sqrt_inverse", "effective"):
        assert compute_class_weights(y, method).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert positive_weights(torch.ones(4, 1)).tolist() == [0.0]


def test_balanced_rejects_empty_labels():
    with pytest.raises(ValueError, match="labels must be non-empty"):
        balanced_weights([], num_classes=3)


def test_weights_follow_the_input_device(device):
    y = torch.tensor([0, 1, 1], device=device)
    assert balanced_weights(y).device == y.device
    assert effective_number_weights(class_counts(y)).device == y.device
    assert compute_class_weights(y).device == y.device


# ----------------------------------------------------------------------------- inverse


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=12), st.sampled_from([0.0, 0.5, 1.0]))
def test_inverse_frequency_formula(counts, power):
    n = np.asarray(counts, dtype=np.float64)
    if n.sum() == 0:
        with pytest.raises(ValueError, match="counts must"):
            inverse_frequency_weights(counts, power)
        return
    present = n > 0
    raw = np.zeros_like(n)
    raw[present] = n[present] ** -power
    expected = raw * n.sum() / (raw * n).sum()
    out = inverse_frequency_weights(counts, power).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # the mean weight per sample is 1
    assert np.isclose((out * n).sum() / n.sum(), 1.0, rtol=1e-5)


def test_inverse_power_one_is_balanced_power_zero_is_uniform():
    counts = torch.tensor([50, 30, 0, 20])
    y = torch.repeat_interleave(torch.arange(4), counts)
    assert torch.allclose(inverse_frequency_weights(counts, 1.0), balanced_weights(y))
    assert inverse_frequency_weights(counts, 0.0).tolist() == [1.0, 1.0, 0.0, 1.0]


# ----------------------------------------------------------------------------- effective


@given(
    st.lists(st.integers(1, 5000), min_size=1, max_size=10),
    st.sampled_from([0.5, 0.9, 0.99, 0.999, 0.9999]),
)
def test_effective_number_matches_cui(counts, beta):
    out = effective_number_weights(counts, beta=beta)
    np.testing.assert_allclose(out.numpy(), cui_weights(counts, beta), rtol=1e-5)
    assert np.isclose(out.sum().item(), len(counts), rtol=1e-5)


def test_effective_number_limits_and_empty_classes():
    assert effective_number_weights([3, 300], beta=0.0).tolist() == [1.0, 1.0]
    # beta -> 1: inverse frequency normalised to sum to C
    near = effective_number_weights([10, 1000], beta=1 - 1e-12)
    inv = np.array([1 / 10, 1 / 1000])
    np.testing.assert_allclose(near.numpy(), inv / inv.sum() * 2, rtol=1e-4)
    # an empty class gets 0 and the others are those of the non-empty classes alone
    with_empty = effective_number_weights([10, 0, 1000], beta=0.99)
    assert with_empty[1] == 0
    torch.testing.assert_close(with_empty[[0, 2]], effective_number_weights([10, 1000], beta=0.99))
    assert effective_number_weights([7], beta=0.9).tolist() == [1.0]


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5, float("nan")])
def test_effective_number_rejects_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be in \[0.0, 1.0\)"):
        effective_number_weights([1, 2], beta=beta)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1, -2], "counts must be non-negative"),
        ([1, float("nan")], "counts must be finite"),
        ([1, float("inf")], "counts must be finite"),
        ([0, 0], "counts must have a non-zero entry, got all zeros"),
        ([], "counts must be non-empty"),
    ],
)
def test_counts_errors(counts, message):
    for fn in (effective_number_weights, inverse_frequency_weights):
        with pytest.raises(ValueError, match=message):
            fn(counts)


def test_power_must_be_non_negative():
    with pytest.raises(ValueError, match="power must be a finite number >= 0, got -1"):
        inverse_frequency_weights([1, 2], power=-1)


# ----------------------------------------------------------------------------- positive


def test_positive_weights_neg_over_pos_and_bce_balance():
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
    w = positive_weights(y)
    pos = y.sum(0)
    torch.testing.assert_close(w, (len(y) - pos) / pos)
    # with pos_weight, the positives of each label carry the same mass as its negatives
    assert torch.allclose(w * pos, len(y) - pos)
    for as_type in (y.bool(), y.long(), y.numpy()):
        torch.testing.assert_close(positive_weights(as_type), w)


def test_positive_weights_edge_cases():
    y = torch.tensor([[0, 1], [0, 1], [0, 1]])  # label 0 has no positive, label 1 no negative
    assert positive_weights(y).tolist() == [1.0, 0.0]
    assert positive_weights(y, max_weight=4.0).tolist() == [4.0, 0.0]
    assert positive_weights(torch.tensor([1, 0, 0, 0, 0, 0])).tolist() == [5.0]
    assert positive_weights(torch.tensor([[1], [0], [0], [0]]), max_weight=2.5).tolist() == [2.5]
    soft = torch.tensor([[0.5], [0.5], [0.0]])
    assert positive_weights(soft).tolist() == [2.0]


def test_positive_weights_errors():
    with pytest.raises(ValueError, match=r"multilabel_targets must be in \[0, 1\]"):
        positive_weights(torch.tensor([[2.0]]))
    with pytest.raises(ValueError, match="multilabel_targets must be non-negative"):
        positive_weights(torch.tensor([[-1.0]]))
    with pytest.raises(ValueError, match="multilabel_targets must be 1-D or 2-D"):
        positive_weights(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="max_weight must be a finite number > 0"):
        positive_weights(torch.ones(2, 1), max_weight=0)


def test_positive_weights_overrides_by_name_and_index():
    names = ["fall", "limp", "lying", "kick"]
    # positives per label: 1, 2, 0 (none), 4 of 8 rows
    y = torch.zeros(8, 4)
    y[0, 0] = 1
    y[:2, 1] = 1
    y[:4, 3] = 1
    auto = [7.0, 3.0, 1.0, 1.0]  # neg / pos, 1.0 for the label without positives
    capped = [min(w, 2.0) for w in auto[:2]] + [2.0, 1.0]  # no positive: max_weight
    assert positive_weights(y, max_weight=2.0).tolist() == capped
    # overrides replace the capped weights and are not capped themselves
    got = positive_weights(y, max_weight=2.0, overrides={"limp": 12.0, 2: 0.0}, class_names=names)
    assert got.tolist() == [2.0, 12.0, 0.0, 1.0]
    assert got.dtype == torch.float32
    by_index = positive_weights(y.numpy(), overrides={0: 0.5, 3: 4.0})
    assert by_index.tolist() == [0.5, 3.0, 1.0, 4.0]
    # names alone and empty overrides change nothing
    assert positive_weights(y, class_names=names).tolist() == auto
    assert positive_weights(y, overrides={}).tolist() == auto


def test_positive_weights_one_label_overrides():
    y = torch.tensor([1, 0, 0, 0])
    got = positive_weights(y, overrides={"fall": 9.0}, class_names=["fall"])
    assert got.shape == (1,) and got.item() == 9.0
    assert positive_weights(y, overrides={0: 2.0}).item() == 2.0
    with pytest.raises(ValueError, match=r"class_names must have one name per label \(1\), got 2"):
        positive_weights(y, class_names=["fall", "limp"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"overrides": {"x": 1.0}}, ValueError, "keyed by class index unless class_names"),
        (
            {"overrides": {"x": 1.0}, "class_names": ["a", "b"]},
            ValueError,
            "overrides key 'x' must be one of the class names 'a', 'b', got 'x'",
        ),
        ({"overrides": {2: 1.0}}, ValueError, r"a class index in \[0, 2\), got 2"),
        ({"overrides": {-1: 1.0}}, ValueError, r"a class index in \[0, 2\), got -1"),
        ({"overrides": {0: -1.0}}, ValueError, r"overrides\[0\] must be a finite number >= 0"),
        ({"overrides": {"a": float("inf")}, "class_names": ["a", "b"]}, ValueError,
         r"overrides\['a'\] must be a finite number >= 0"),
        ({"overrides": {True: 1.0}}, TypeError, "overrides keys must be class indices"),
        ({"overrides": [(0, 1.0)]}, TypeError, "overrides must be a mapping"),
        ({"class_names": ["a", "a"]}, ValueError, "class_names must be unique"),
        ({"class_names": "ab"}, TypeError, "class_names must be a sequence of str"),
        ({"class_names": ["a", "b", "c"]}, ValueError,
         r"class_names must have one name per label \(2\), got 3 names"),
    ],
)  # fmt: skip
def test_positive_weights_override_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        positive_weights(torch.tensor([[1, 0], [0, 1], [0, 0]]), **kwargs)


# ----------------------------------------------------------------------------- compute


def test_compute_named_overrides_and_cap():
    # the pattern users need: named rare labels at 10x / 5x, others automatic, capped at 3x
    names = ["normal", "lying", "fall", "limp", "kick"]
    y = torch.tensor([0] * 800 + [1] * 120 + [2] * 5 + [3] * 3 + [4] * 72)
    out = compute_class_weights(
        y, max_weight=3.0, overrides={"fall": 10.0, "limp": 5.0}, class_names=names
    )
    auto = compute_class_weight("balanced", classes=np.arange(5), y=y.numpy())
    expected = np.minimum(auto, 3.0)
    expected[2], expected[3] = 10.0, 5.0
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("method", ["balanced", "inverse", "sqrt_inverse", "effective"])
def test_compute_methods_agree_with_their_functions(method):
    counts = torch.tensor([400, 40, 0, 4])
    y = torch.repeat_interleave(torch.arange(4), counts)
    expected = {
        "balanced": balanced_weights(y),
        "inverse": inverse_frequency_weights(counts, 1.0),
        "sqrt_inverse": inverse_frequency_weights(counts, 0.5),
        "effective": effective_number_weights(counts, 0.99),
    }[method]
    torch.testing.assert_close(compute_class_weights(y, method, beta=0.99), expected)
    torch.testing.assert_close(
        compute_class_weights(counts, method, beta=0.99, from_counts=True), expected
    )


def test_compute_overrides_by_index_and_empty_class():
    out = compute_class_weights([0, 0, 1], num_classes=3, overrides={2: 7.0})
    assert out.tolist() == pytest.approx([0.75, 1.5, 7.0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"method": "focal"}, ValueError, "method must be one of"),
        ({"max_weight": -1.0}, ValueError, "max_weight must be a finite number > 0"),
        ({"overrides": {"x": 1.0}}, ValueError, "keyed by class index unless class_names"),
        (
            {"overrides": {"x": 1.0}, "class_names": ["a", "b"]},
            ValueError,
            "one of the class names 'a', 'b'",
        ),
        ({"overrides": {5: 1.0}}, ValueError, r"a class index in \[0, 2\), got 5"),
        ({"overrides": {0: -1.0}}, ValueError, r"overrides\[0\] must be a finite number >= 0"),
        ({"overrides": {0: float("nan")}}, ValueError, "finite number >= 0"),
        ({"class_names": ["a"]}, ValueError,
         r"labels_or_counts must be class indices in \[0, len\(class_names\)=1\), got 1"),
        ({"class_names": ["a", "a"]}, ValueError, "class_names must be unique"),
        ({"beta": 1.0}, ValueError, r"beta must be in \[0.0, 1.0\)"),
    ],
)  # fmt: skip
def test_compute_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        compute_class_weights([0, 1, 1], **kwargs)


def test_compute_refuses_float_labels_and_checks_count_length():
    with pytest.raises(TypeError, match="pass from_counts=True"):
        compute_class_weights(np.array([10.0, 2.0]))
    with pytest.raises(ValueError, match="one name per class"):
        compute_class_weights([10, 2], from_counts=True, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="num_classes must be the number of counts"):
        compute_class_weights([10, 2], from_counts=True, num_classes=3)


# ----------------------------------------------------------------------------- describe


def test_describe_distribution_dict_and_table():
    y = [0] * 60 + [1] * 30 + [3] * 10
    s = describe_distribution(y, ["ok", "warn", "never", "fail"])
    assert s["counts"] == [60, 30, 0, 10]
    assert s["shares"] == pytest.approx([0.6, 0.3, 0.0, 0.1])
    assert s["imbalance_ratio"] == 6.0
    assert s["empty_classes"] == [2]
    assert set(s["weights"]) == {"balanced", "inverse", "sqrt_inverse", "effective"}
    np.testing.assert_allclose(
        np.asarray(s["weights"]["balanced"])[[0, 1, 3]],
        compute_class_weight("balanced", classes=np.array([0, 1, 3]), y=np.asarray(y)),
        rtol=1e-6,
    )
    json.dumps(s)  # plain Python values
    table = str(s)
    assert "imbalance ratio 6" in table and "empty: never" in table
    assert table.splitlines()[1].split()[:3] == ["class", "count", "share"]
    assert len(table.splitlines()) == 3 + 4


def test_describe_distribution_errors():
    with pytest.raises(
        ValueError, match=r"labels must be class indices in \[0, len\(class_names\)=2\), got 2"
    ):
        describe_distribution([0, 1, 2], ["a", "b"])
    with pytest.raises(ValueError, match="labels must be non-empty"):
        describe_distribution([], num_classes=2)


def test_plot_distribution_returns_log_scale_figure():
    from matplotlib.figure import Figure

    fig = plot_distribution([0] * 1000 + [1] * 10 + [2], ["a", "b", "c"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [p.get_height() for p in ax.patches] == [1000, 10, 1]
    import matplotlib.pyplot as plt

    _, other = plt.subplots()
    assert plot_distribution([0, 1], ax=other, log_scale=False) is other.figure
    assert other.get_yscale() == "linear"
    plt.close("all")


# ----------------------------------------------------------------------------- double correction


LABELS = torch.tensor([0] * 30 + [1] * 3)
SKEWED = torch.tensor([0.5, 5.0])


@pytest.mark.parametrize(
    "sampler",
    [
        ClassBalancedSampler(LABELS, seed=0),
        ClassBalancedSampler(LABELS, power=0.5, seed=0),
        WeightedSampler(torch.rand(33) + 0.1, num_samples=10),
        BalancedBatchSampler(LABELS, classes_per_batch=2, samples_per_class=2),
        MultiLabelBalancedSampler(torch.nn.functional.one_hot(LABELS).float()),
        WeightedRandomSampler([1.0] * 30 + [10.0] * 3, num_samples=33),
    ],
    ids=lambda s: type(s).__name__,
)
def test_double_correction_warns(sampler):
    with pytest.warns(DoubleCorrectionWarning, match="applied twice"):
        assert warn_if_double_correction(sampler, loss_weight=SKEWED)
    with pytest.warns(DoubleCorrectionWarning):
        assert warn_if_double_correction(sampler, pos_weight=torch.tensor([3.0, 9.0]))


@pytest.mark.parametrize(
    ("sampler", "kwargs"),
    [
        (ClassBalancedSampler(LABELS, power=1.0), {"loss_weight": SKEWED}),  # natural sampling
        (ClassBalancedSampler(LABELS), {"loss_weight": torch.ones(2)}),  # uniform weight
        (ClassBalancedSampler(LABELS), {"loss_weight": None}),
        (WeightedRandomSampler([1.0] * 5, num_samples=5), {"loss_weight": SKEWED}),
        (WeightedSampler(torch.ones(8), num_samples=8), {"pos_weight": torch.tensor(4.0)}),
        (None, {"loss_weight": SKEWED}),
        (torch.utils.data.RandomSampler(range(5)), {"loss_weight": SKEWED}),
    ],
)
def test_double_correction_silent(sampler, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_double_correction(sampler, **kwargs)


def test_double_correction_looks_through_dataloader():
    sampler = ClassBalancedSampler(LABELS, seed=0)
    loader = DataLoader(range(len(LABELS)), batch_size=4, sampler=sampler)
    with pytest.warns(DoubleCorrectionWarning, match="ClassBalancedSampler"):
        assert warn_if_double_correction(loader, loss_weight=SKEWED)
    batches = DataLoader(
        range(len(LABELS)),
        batch_sampler=BalancedBatchSampler(LABELS, classes_per_batch=2, samples_per_class=2),
    )
    with pytest.warns(DoubleCorrectionWarning):
        assert warn_if_double_correction(batches, loss_weight=SKEWED)
    plain = DataLoader(range(len(LABELS)), batch_size=4, shuffle=True)
    assert not warn_if_double_correction(plain, loss_weight=SKEWED)
