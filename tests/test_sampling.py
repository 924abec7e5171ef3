"""Samplers: frequencies (chi-square), reproducibility, DDP sharding, limits."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare
from torch.utils.data import DataLoader, WeightedRandomSampler

import imbalance_kit.sampling._common as sampling_common
from imbalance_kit.sampling import (
    BalancedBatchSampler,
    ClassBalancedSampler,
    MultiLabelBalancedSampler,
    WeightedSampler,
)
from imbalance_kit.sampling._common import AliasTable
from imbalance_kit.testing.references.sampling import class_probabilities, distributed_positions

# A fixed seed makes every chi-square test deterministic; the bound still rejects a wrong
# distribution (each test also checks that a wrong expectation fails the same bound).
P_MIN = 1e-4

COUNTS = [600, 250, 120, 25, 5]
LABELS = torch.repeat_interleave(torch.arange(len(COUNTS)), torch.tensor(COUNTS))


def chi2_p(observed, expected_probs):
    observed = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(expected_probs, dtype=np.float64)
    expected = probs / probs.sum() * observed.sum()
    return chisquare(observed, expected).pvalue


# ----------------------------------------------------------------------------- class-balanced


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_class_balanced_frequencies(power):
    sampler = ClassBalancedSampler(LABELS, num_samples=60_000, power=power, seed=11)
    drawn = torch.tensor(list(sampler))
    observed = torch.bincount(LABELS[drawn], minlength=len(COUNTS)).numpy()
    expected = class_probabilities(COUNTS, power)
    np.testing.assert_allclose(sampler.class_probabilities.numpy(), expected, rtol=1e-12)
    assert chi2_p(observed, expected) > P_MIN
    wrong = class_probabilities(COUNTS, 1.0 if power < 1 else 0.0)
    assert chi2_p(observed, wrong) < P_MIN
    # members of a class are uniform
    rare = drawn[LABELS[drawn] == 3]
    members = torch.bincount(rare - 970, minlength=25).numpy()
    assert chi2_p(members, np.full(25, 1 / 25)) > P_MIN


def test_class_balanced_skips_empty_classes_and_accepts_numpy_and_lists(device):
    y = [0, 0, 0, 2, 2, 5]
    for labels in (y, np.array(y), torch.tensor(y, device=device), torch.tensor(y).to(torch.int16)):
        sampler = ClassBalancedSampler(labels, num_samples=3000, seed=0)
        drawn = np.asarray(list(sampler))
        assert set(np.asarray(y)[drawn]) == {0, 2, 5}
        assert sampler.class_probabilities.tolist() == [1 / 3, 0, 1 / 3, 0, 0, 1 / 3]


def test_class_balanced_extreme_power_stays_finite():
    sampler = ClassBalancedSampler(LABELS, num_samples=50, power=1000.0, seed=0)
    assert sampler.class_probabilities.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert set(LABELS[list(sampler)].tolist()) == {0}
    with pytest.raises(ValueError, match=r"<= the number of samples of drawable classes \(600\)"):
        ClassBalancedSampler(LABELS, num_samples=601, power=1000.0, replacement=False)


def test_class_balanced_without_replacement():
    sampler = ClassBalancedSampler(LABELS, replacement=False, seed=2)
    drawn = list(sampler)
    assert sorted(drawn) == list(range(len(LABELS)))
    # the earliest draws follow the class-balanced probabilities (draw order = weighted order)
    first = torch.tensor(drawn[:40])
    assert (LABELS[first] == 4).sum() >= 4  # 5 rare samples; uniform order would give ~0.2
    part = ClassBalancedSampler(LABELS, num_samples=30, replacement=False, seed=2)
    assert len(set(part)) == 30
    with pytest.raises(ValueError, match="num_samples must be <= the number of samples"):
        ClassBalancedSampler(LABELS, num_samples=len(LABELS) + 1, replacement=False)


def test_without_replacement_first_draw_distribution():
    # P(first index = i) = w_i / sum(w), as for torch.multinomial(..., replacement=False)
    weights = torch.tensor([1.0, 2.0, 0.0, 5.0, 2.0])
    firsts = Counter()
    sampler = WeightedSampler(weights, num_samples=3, replacement=False, seed=5)
    for epoch in range(3000):
        sampler.set_epoch(epoch)
        drawn = list(sampler)
        assert len(set(drawn)) == 3 and 2 not in drawn
        firsts[drawn[0]] += 1
    observed = [firsts[i] for i in (0, 1, 3, 4)]
    assert chi2_p(observed, [0.1, 0.2, 0.5, 0.2]) > P_MIN
    assert chi2_p(observed, [0.25] * 4) < P_MIN


# ----------------------------------------------------------------------------- weighted


def test_weighted_frequencies_and_zero_weights():
    weights = torch.tensor([0.0, 1.0, 3.0, 0.0, 6.0, 10.0, 0.5])
    sampler = WeightedSampler(weights, num_samples=40_000, seed=4)
    observed = torch.bincount(torch.tensor(list(sampler)), minlength=7).numpy()
    assert observed[0] == 0 and observed[3] == 0
    nz = [1, 2, 4, 5, 6]
    expected = (weights[nz] / weights.sum()).numpy()
    assert chi2_p(observed[nz], expected) > P_MIN
    assert chi2_p(observed[nz], np.full(5, 0.2)) < P_MIN


@given(
    st.lists(
        st.one_of(st.just(0.0), st.floats(1e-6, 1e6, allow_nan=False)), min_size=1, max_size=300
    )
)
def test_alias_table_probabilities_exact(values):
    w = torch.tensor(values, dtype=torch.float64)
    if w.sum() == 0:
        return
    table = AliasTable(w)
    expected = w / w.sum()
    implied = table.probabilities()
    # float32 probabilities relative to the mean item probability 1 / n
    assert (implied - expected).abs().max().item() <= 1e-6 / len(values)
    assert (implied[w == 0] == 0).all()


@pytest.mark.parametrize(
    "values",
    [[1 / 3] * 7, [2.0, 2.0, 0.0, 0.0], [5.0], [0.0, 0.0, 1.0], [1e-300, 1.0], [1.0] * 5 + [1e9]],
)
def test_alias_table_degenerate_weights(values):
    w = torch.tensor(values, dtype=torch.float64)
    table = AliasTable(w)
    torch.testing.assert_close(table.probabilities(), w / w.sum(), atol=1e-7 / len(w), rtol=0)
    drawn = table.sample(torch.Generator().manual_seed(0), 5000, slice(None))
    assert drawn.min() >= 0 and drawn.max() < len(w)
    assert (w[drawn] > 0).all()


def test_weighted_accepts_integer_and_numpy_weights():
    for w in ([1, 0, 3], np.array([1.0, 0.0, 3.0], dtype=np.float32)):
        drawn = list(WeightedSampler(w, num_samples=500, seed=1))
        assert 1 not in drawn and len(drawn) == 500


def test_weighted_beyond_2_pow_24_categories():
    n = 2**24 + 10
    weights = torch.full((n,), 1e-6)
    weights[-10:] = 1e4  # the last 10 items carry almost all of the mass
    with pytest.raises(RuntimeError, match="number of categories cannot exceed"):
        list(WeightedRandomSampler(weights, num_samples=10))
    sampler = WeightedSampler(weights, num_samples=2000, seed=0)
    drawn = torch.tensor(list(sampler))
    assert len(drawn) == 2000
    assert ((drawn >= n - 10).float().mean().item()) > 0.99
    counts = torch.bincount(drawn[drawn >= n - 10] - (n - 10), minlength=10).numpy()
    assert chi2_p(counts, np.full(10, 0.1)) > P_MIN


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, -1.0], "weights must be non-negative"),
        ([1.0, float("nan")], "weights must be finite"),
        ([0.0, 0.0], "weights must be not all zero"),
        ([[1.0]], "weights must be 1-D"),
        ([], "weights must be non-empty"),
    ],
)
def test_weighted_errors(weights, message):
    with pytest.raises(ValueError, match=message):
        WeightedSampler(weights, num_samples=1)


def test_weighted_without_replacement_limits():
    with pytest.raises(ValueError, match=r"<= the number of non-zero weights \(2\)"):
        WeightedSampler([1.0, 0.0, 2.0], num_samples=3, replacement=False)
    assert sorted(WeightedSampler([1.0, 0.0, 2.0], 2, replacement=False)) == [0, 2]


# ----------------------------------------------------------------------------- reproducibility


def _samplers(**kw):
    targets = torch.zeros(len(LABELS), 3)
    targets[:50, 0] = 1
    targets[40:60, 1] = 1
    targets[990:, 2] = 1
    g = torch.Generator().manual_seed(0)
    weights = torch.rand(500, generator=g) + 0.01
    return {
        "class_balanced": ClassBalancedSampler(LABELS, num_samples=301, power=0.5, **kw),
        "class_balanced_wor": ClassBalancedSampler(
            LABELS, num_samples=301, replacement=False, **kw
        ),
        "weighted": WeightedSampler(weights, num_samples=301, **kw),
        "weighted_wor": WeightedSampler(weights, 301, replacement=False, **kw),
        "batch": BalancedBatchSampler(LABELS, 3, 4, num_batches=25, **kw),
        "multilabel": MultiLabelBalancedSampler(targets, num_samples=301, **kw),
        "multilabel_wor": MultiLabelBalancedSampler(targets, 301, replacement=False, **kw),
    }


SAMPLER_NAMES = list(_samplers(seed=0))


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_reproducible_per_seed_and_epoch(name):
    a, b = _samplers(seed=7)[name], _samplers(seed=7)[name]
    c = _samplers(seed=8)[name]
    for s in (a, b, c):
        s.set_epoch(3)
    first = list(a)
    assert first == list(a) == list(b)  # fixed epoch: every pass repeats the draw
    assert first != list(c)
    a.set_epoch(4)
    assert list(a) != first
    assert len(first) == len(a)


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_passes_advance_the_epoch_until_set_epoch(name):
    auto = _samplers(seed=1)[name]
    fixed = _samplers(seed=1)[name]
    passes = [list(auto), list(auto)]
    assert passes[0] != passes[1]
    for epoch in (0, 1):
        fixed.set_epoch(epoch)
        assert list(fixed) == passes[epoch]


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_pickle_round_trip(name):
    sampler = _samplers(seed=3)[name]
    sampler.set_epoch(2)
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler)


# ----------------------------------------------------------------------------- sharding


@pytest.mark.parametrize("name", SAMPLER_NAMES)
@pytest.mark.parametrize("num_replicas", [2, 3, 4])
def test_rank_shards_are_the_single_process_draw(name, num_replicas):
    single = _samplers(seed=5, num_replicas=1, rank=0)[name]
    single.set_epoch(1)
    full = list(single)
    n = len(full)
    for rank in range(num_replicas):
        shard_sampler = _samplers(seed=5, num_replicas=num_replicas, rank=rank)[name]
        shard_sampler.set_epoch(1)
        shard = list(shard_sampler)
        # exactly what DistributedSampler(shuffle=False) would give over the global draw
        assert shard == [full[p] for p in distributed_positions(n, num_replicas, rank)]
        assert len(shard) == len(shard_sampler) == -(-n // num_replicas)


def test_streamed_draw_crosses_chunks_and_pads(monkeypatch):
    # a small chunk size stands in for the real one (CHUNK positions per generator)
    monkeypatch.setattr(sampling_common, "CHUNK", 1000)
    n = 2 * 1000 + 3
    single = ClassBalancedSampler(LABELS, num_samples=n, seed=9, num_replicas=1, rank=0)
    full = list(single)
    assert len(full) == n
    shards = [
        list(ClassBalancedSampler(LABELS, num_samples=n, seed=9, num_replicas=4, rank=r))
        for r in range(4)
    ]
    for rank, shard in enumerate(shards):
        assert shard == [full[p] for p in distributed_positions(n, 4, rank)]
    # each chunk has its own generator: the first chunk does not depend on the epoch length
    short = list(ClassBalancedSampler(LABELS, num_samples=1000, seed=9, num_replicas=1, rank=0))
    assert short == full[:1000]


def test_more_replicas_than_samples():
    full = list(WeightedSampler([1.0, 2.0], num_samples=2, seed=1, num_replicas=1, rank=0))
    shards = [
        list(WeightedSampler([1.0, 2.0], 2, seed=1, num_replicas=5, rank=r)) for r in range(5)
    ]
    assert [s[0] for s in shards] == [full[p] for p in [0, 1, 0, 1, 0]]


def test_replica_arguments_are_checked():
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 2\), got 2"):
        ClassBalancedSampler(LABELS, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be an integer >= 1, got 0"):
        ClassBalancedSampler(LABELS, num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        ClassBalancedSampler(LABELS, seed=-1)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1, got 0"):
        ClassBalancedSampler(LABELS, num_samples=0)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        ClassBalancedSampler(LABELS).set_epoch(-1)
    with pytest.raises(ValueError, match="power must be a finite number >= 0"):
        ClassBalancedSampler(LABELS, power=-0.5)
    with pytest.raises(ValueError, match="labels must be non-empty"):
        ClassBalancedSampler([])


# ----------------------------------------------------------------------------- DataLoader


def test_dataloader_with_workers_yields_the_sampler_draw():
    dataset = torch.arange(len(LABELS))
    sampler = ClassBalancedSampler(LABELS, num_samples=200, seed=3)
    sampler.set_epoch(0)
    expected = list(sampler)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=2)
    got = torch.cat(list(loader)).tolist()
    assert got == expected
    batch_sampler = BalancedBatchSampler(LABELS, 2, 4, num_batches=6, seed=3)
    batch_sampler.set_epoch(0)
    batches = list(batch_sampler)
    loader = DataLoader(dataset, batch_sampler=batch_sampler, num_workers=2)
    assert [b.tolist() for b in loader] == batches


# ----------------------------------------------------------------------------- P x K batches


def test_balanced_batches_structure_and_balance():
    p, k = 3, 4
    sampler = BalancedBatchSampler(LABELS, p, k, num_batches=600, seed=0)
    assert sampler.num_batches == 600 and len(sampler) == 600
    appearances = Counter()
    member_uses = Counter()
    for batch in sampler:
        assert len(batch) == p * k
        classes = LABELS[batch].reshape(p, k)
        assert (classes == classes[:, :1]).all()  # K samples of each class, class by class
        assert len(set(classes[:, 0].tolist())) == p  # P distinct classes
        appearances.update(classes[:, 0].tolist())
        member_uses.update(i for i in batch if LABELS[i] == 3)
    observed = [appearances[c] for c in range(5)]
    assert chi2_p(observed, np.full(5, 0.2)) > P_MIN
    assert chi2_p(observed, class_probabilities(COUNTS, 1.0)) < P_MIN
    # the 25 members of class 3 are cycled through: uses differ by at most one
    uses = [member_uses[i] for i in range(970, 995)]
    assert max(uses) - min(uses) <= 1 and sum(uses) == appearances[3] * k


def test_balanced_batches_small_class_repeats_and_default_length():
    labels = torch.tensor([0] * 10 + [1] * 2)
    sampler = BalancedBatchSampler(labels, 2, 4, seed=1)
    assert len(sampler) == 12 // 8
    batch = next(iter(sampler))
    rare = [i for i in batch if labels[i] == 1]
    assert len(rare) == 4 and set(rare) == {10, 11}
    with pytest.raises(ValueError, match=r"classes_per_batch must be <= the number of non-empty"):
        BalancedBatchSampler(labels, 3, 1)
    with pytest.raises(ValueError, match="samples_per_class must be an integer >= 1"):
        BalancedBatchSampler(labels, 1, 0)


# ----------------------------------------------------------------------------- multi-label


def test_multilabel_sample_probabilities():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(400, 4, generator=g) < torch.tensor([0.3, 0.05, 0.02, 0.5])).float()
    for power, include in ((0.0, True), (0.5, False)):
        sampler = MultiLabelBalancedSampler(
            y, num_samples=80_000, power=power, include_negatives=include, seed=1
        )
        groups = torch.cat([y.bool(), ~y.bool().any(1, keepdim=True)], 1)
        if not include:
            groups[:, -1] = False
        sizes = groups.sum(0).double()
        mass = torch.where(sizes > 0, sizes**power, torch.zeros(()))
        q = mass / mass.sum()
        torch.testing.assert_close(sampler.group_probabilities, q)
        per_sample = (groups.double() * (q / sizes.clamp(min=1))).sum(1)
        observed = torch.bincount(torch.tensor(list(sampler)), minlength=400)
        keep = per_sample > 0
        assert (observed[~keep] == 0).all()
        assert chi2_p(observed[keep].numpy(), per_sample[keep].numpy()) > P_MIN
        uniform = torch.full((int(keep.sum()),), 1 / int(keep.sum()))
        assert chi2_p(observed[keep].numpy(), uniform.numpy()) < P_MIN


def test_multilabel_without_replacement_and_errors():
    y = torch.tensor([[1, 0], [0, 0], [0, 1], [1, 1]])
    assert sorted(MultiLabelBalancedSampler(y, replacement=False, seed=0)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"<= the number of drawable samples \(3\)"):
        MultiLabelBalancedSampler(y, 4, replacement=False, include_negatives=False)
    with pytest.raises(ValueError, match="targets must be 2-D"):
        MultiLabelBalancedSampler(torch.ones(3))
    with pytest.raises(ValueError, match="targets must have a positive label somewhere"):
        MultiLabelBalancedSampler(torch.zeros(3, 2), include_negatives=False)
