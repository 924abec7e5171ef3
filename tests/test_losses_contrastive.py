"""Tests of the SupCon / NT-Xent losses against naive full-matrix references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from imbalance_kit.losses import get_loss
from imbalance_kit.losses.contrastive import (
    NTXentLoss,
    SupervisedContrastiveLoss,
    _SupConRows,
    nt_xent_loss,
    supervised_contrastive_loss,
)
from imbalance_kit.testing import run_distributed
from imbalance_kit.testing.references.contrastive import nt_xent_reference, supcon_reference

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _value_and_grad(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def _assert_close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype = torch.float64) -> None:
    torch.testing.assert_close(a, b, atol=TOL[dtype], rtol=TOL[dtype])


# ----------------------------------------------------------------------------- SupCon


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("shape", "labels"),
    [
        ((10, 16), [0, 1, 0, 1, 2, 2, 2, 3, 3, 0]),  # 2-D, every label repeated
        ((7, 2, 5), [0, 0, 1, 2, 1, 3, 0]),  # multi-view; label 2 and 3 are singletons
        ((6, 3, 4), [5, 5, 5, 5, 5, 5]),  # one class, three views
        ((9, 8), [0, 1, 2, 3, 4, 5, 6, 0, 1]),  # 2-D with singletons (excluded anchors)
    ],
)
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_matches_reference(shape, labels, temperature, dtype):
    x = torch.randn(*shape, dtype=dtype)
    y = torch.tensor(labels)
    got, got_grad = _value_and_grad(lambda f: supervised_contrastive_loss(f, y, temperature), x)
    ref, ref_grad = _value_and_grad(lambda f: supcon_reference(f, y, temperature), x)
    _assert_close(got, ref, dtype)
    _assert_close(got_grad, ref_grad, dtype)


def test_supcon_hand_computed_three_samples_and_temperature_scaling():
    # z0 = (1, 0), z1 = (0, 1), z2 = (-1, 0); labels 0, 0, 1:
    # s01 = 0, s02 = -1, s12 = 0. Anchor 2 has no positive and is left out.
    # loss_0 = -log(e^{0} / (e^{0} + e^{-1/T})) = log(1 + e^{-1/T})
    # loss_1 = -log(e^{0} / (e^{0} + e^{0})) = log 2
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    for t in (0.5, 1.0, 0.1):
        expected = (math.log1p(math.exp(-1.0 / t)) + math.log(2.0)) / 2
        got = supervised_contrastive_loss(z, y, temperature=t)
        assert got.item() == pytest.approx(expected, rel=1e-12)
    # normalisation: scaling a feature does not change anything
    scaled = z * torch.tensor([[3.0], [0.2], [7.0]], dtype=torch.float64)
    _assert_close(
        supervised_contrastive_loss(scaled, y, 0.5), supervised_contrastive_loss(z, y, 0.5)
    )
    # without normalisation the scale acts like an inverse temperature
    got = supervised_contrastive_loss(2 * z, y, temperature=1.0, normalize=False)
    expected = (math.log1p(math.exp(-4.0)) + math.log(2.0)) / 2
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 25, 26, 1000])
def test_chunked_equals_unchunked(chunk_size):
    x = torch.randn(13, 2, 6, dtype=torch.float64)  # 26 anchors: not divisible by 3, 7, 25
    y = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 4, 0, 1, 5, 2])
    full, full_grad = _value_and_grad(lambda f: supervised_contrastive_loss(f, y, 0.2), x)
    part, part_grad = _value_and_grad(
        lambda f: supervised_contrastive_loss(f, y, 0.2, chunk_size=chunk_size), x
    )
    _assert_close(part, full)
    _assert_close(part_grad, full_grad)


@given(
    n=st.integers(2, 12),
    views=st.integers(1, 3),
    chunk=st.integers(1, 40),
    n_classes=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_chunked_matches_reference_property(n, views, chunk, n_classes, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, views, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=gen)
    got, got_grad = _value_and_grad(
        lambda f: supervised_contrastive_loss(f, y, 0.3, chunk_size=chunk), x
    )
    ref, ref_grad = _value_and_grad(lambda f: supcon_reference(f, y, 0.3), x)
    _assert_close(got, ref)
    _assert_close(got_grad, ref_grad)
    assert got.item() >= 0.0 or math.isclose(got.item(), 0.0, abs_tol=1e-12)


def test_permutation_invariance():
    x = torch.randn(12, 2, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (12,))
    perm = torch.randperm(12)
    _assert_close(
        supervised_contrastive_loss(x[perm], y[perm], 0.2, chunk_size=5),
        supervised_contrastive_loss(x, y, 0.2),
    )


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_gradcheck_float64(chunk_size):
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 0, 1, 2])
    assert torch.autograd.gradcheck(
        lambda f: supervised_contrastive_loss(f, y, 0.5, chunk_size=chunk_size), (x,)
    )


def test_gradcheck_rows_function_separate_anchors_and_candidates():
    # the shape used under torch.distributed: local anchors against gathered candidates,
    # with a non-unit, non-uniform grad_output
    anchors = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    candidates = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    anchor_labels = torch.tensor([0, 1, 2])
    candidate_labels = torch.tensor([1, 0, 1, 2, 0, 1, 0])
    self_index = torch.tensor([2, 3, 4])

    def fn(a, c):
        loss, _ = _SupConRows.apply(a, c, anchor_labels, candidate_labels, self_index, 0.7, 2)
        return loss * torch.tensor([1.5, -2.0, 0.25], dtype=torch.float64)

    assert torch.autograd.gradcheck(fn, (anchors, candidates))


def test_no_positive_anywhere_gives_connected_zero():
    x = torch.randn(5, 4, requires_grad=True)
    loss = supervised_contrastive_loss(x, torch.arange(5))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    single = torch.randn(1, 4, requires_grad=True)  # one anchor, no candidate at all
    out = supervised_contrastive_loss(single, torch.tensor([3]), chunk_size=1)
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(single.grad).all()


def test_singleton_anchors_are_excluded_from_the_mean():
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2])  # anchor 4 has no positive
    ref = supcon_reference(x, y, 0.1)
    # hand-written: mean of the four anchors that have a positive
    z = x / x.norm(dim=1, keepdim=True)
    s = z @ z.T / 0.1
    terms = []
    for i, p in ((0, 1), (1, 0), (2, 3), (3, 2)):
        others = [a for a in range(5) if a != i]
        terms.append(-(s[i, p] - torch.logsumexp(s[i, others], dim=0)))
    expected = torch.stack(terms).mean()
    _assert_close(supervised_contrastive_loss(x, y, 0.1), expected)
    _assert_close(ref, expected)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_extreme_features_and_temperature(scale):
    x = (torch.randn(8, 2, 4) * scale).requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for t in (1e-3, 100.0):
        loss = supervised_contrastive_loss(x, y, t, chunk_size=3)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # unnormalised huge features: logits of order 1e12, still finite through logsumexp
    big = torch.randn(6, 4) * 1e5
    loss = supervised_contrastive_loss(big, torch.tensor([0, 0, 1, 1, 2, 2]), normalize=False)
    assert torch.isfinite(loss)


def test_zero_feature_vector_is_finite():
    x = torch.randn(4, 2, 3)
    x[1, 0] = 0.0
    x.requires_grad_(True)
    loss = supervised_contrastive_loss(x, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_computed_in_float32(dtype):
    x = torch.randn(10, 2, 8).to(dtype)
    y = torch.randint(0, 3, (10,))
    loss = supervised_contrastive_loss(x.requires_grad_(True), y, 0.1, chunk_size=4)
    assert loss.dtype == torch.float32
    expected = supcon_reference(x.float(), y, 0.1)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    loss.backward()
    assert x.grad.dtype == dtype


def test_similarity_matrix_never_materialised():
    """With chunking no op (forward or backward) makes a tensor of N*N elements or more."""

    class LargestOutput(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.largest = max(self.largest, t.numel())
            return out

    n, chunk = 64, 4
    x = torch.randn(n, 4, requires_grad=True)
    y = torch.randint(0, 4, (n,))
    with LargestOutput() as mode:
        supervised_contrastive_loss(x, y, chunk_size=chunk).backward()
    assert mode.largest <= n * chunk
    with LargestOutput() as mode:  # the check can fail: unchunked makes N x N blocks
        supervised_contrastive_loss(x, y).backward()
    assert mode.largest >= n * n


# ----------------------------------------------------------------------------- NT-Xent


@pytest.mark.parametrize("chunk_size", [None, 3])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_reference_and_supcon(chunk_size, temperature):
    z1 = torch.randn(9, 7, dtype=torch.float64)
    z2 = torch.randn(9, 7, dtype=torch.float64)
    got = nt_xent_loss(z1, z2, temperature, chunk_size=chunk_size)
    _assert_close(got, nt_xent_reference(z1, z2, temperature))
    stacked = torch.stack([z1, z2], dim=1)
    _assert_close(got, supervised_contrastive_loss(stacked, None, temperature))
    _assert_close(got, supcon_reference(stacked, None, temperature))
    g1, g2 = torch.autograd.grad(
        nt_xent_loss(z1.requires_grad_(), z2.requires_grad_(), temperature), (z1, z2)
    )
    r1, r2 = torch.autograd.grad(nt_xent_reference(z1, z2, temperature), (z1, z2))
    _assert_close(g1, r1)
    _assert_close(g2, r2)


def test_nt_xent_hand_computed():
    # z1 = [(1,0), (0,1)], z2 = [(1,0), (-1,0)] at T = 1. Rows: a=(1,0) b=(0,1) c=(1,0) d=(-1,0)
    # anchor a: pos c (1), others b (0), d (-1): l = -1 + log(e^1 + e^0 + e^-1)
    # anchor c: pos a (1), others b (0), d (-1): same as a
    # anchor b: pos d (0), others a (0), c (0): log 3
    # anchor d: pos b (0), others a (-1), c (-1): l = log(1 + 2e^-1)
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z2 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    la = -1 + math.log(math.e + 1 + math.exp(-1))
    expected = (2 * la + math.log(3) + math.log(1 + 2 * math.exp(-1))) / 4
    assert nt_xent_loss(z1, z2, temperature=1.0).item() == pytest.approx(expected, rel=1e-12)


def test_multiview_nt_xent_without_labels():
    x = torch.randn(5, 3, 4, dtype=torch.float64)  # three views: two positives per anchor
    _assert_close(supervised_contrastive_loss(x, None, 0.2), supcon_reference(x, None, 0.2))


# ----------------------------------------------------------------------------- API


def test_modules_and_registry():
    x = torch.randn(6, 2, 5)
    y = torch.tensor([0, 1, 0, 1, 2, 2])
    module = SupervisedContrastiveLoss(temperature=0.2, chunk_size=5)
    _assert_close(module(x, y), supervised_contrastive_loss(x, y, 0.2), torch.float32)
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    _assert_close(NTXentLoss(temperature=0.3)(z1, z2), nt_xent_loss(z1, z2, 0.3), torch.float32)
    assert isinstance(
        get_loss("supervised_contrastive", temperature=0.2), SupervisedContrastiveLoss
    )
    assert isinstance(get_loss("nt-xent"), NTXentLoss)
    assert "temperature=0.2" in repr(module)


def test_gather_without_process_group_is_single_process():
    x = torch.randn(6, 2, 5)
    y = torch.tensor([0, 1, 0, 1, 2, 2])
    _assert_close(
        supervised_contrastive_loss(x, y, gather_distributed=True),
        supervised_contrastive_loss(x, y),
        torch.float32,
    )


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"temperature": 0.0}, ValueError, "temperature must be a finite number > 0, got 0.0"),
        ({"temperature": -1.0}, ValueError, "temperature must be"),
        ({"temperature": float("nan")}, ValueError, "temperature must be"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be an integer >= 1, got 0"),
        ({"chunk_size": 2.5}, ValueError, "chunk_size must be an integer"),
        ({"labels": torch.zeros(4)}, TypeError, "labels must be an integer tensor"),
        ({"labels": torch.zeros(3, dtype=torch.long)}, ValueError, "labels must have the same"),
        ({"labels": torch.zeros(4, 1, dtype=torch.long)}, ValueError, "labels must be 1-D"),
        ({"labels": [0, 1, 0, 1]}, TypeError, "labels must be a torch.Tensor"),
    ],
)
def test_argument_errors(kwargs, exc, match):
    args = {"features": torch.randn(4, 2, 3), "labels": torch.tensor([0, 1, 0, 1])} | kwargs
    with pytest.raises(exc, match=match):
        supervised_contrastive_loss(**args)


def test_feature_errors():
    with pytest.raises(ValueError, match=r"features must be 2-D or 3-D, got shape \(4,\)"):
        supervised_contrastive_loss(torch.randn(4), torch.arange(4))
    with pytest.raises(TypeError, match="features must be a floating-point tensor"):
        supervised_contrastive_loss(torch.ones(4, 2, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError, match=r"features must be \(N, V, D\) with V >= 2 views"):
        supervised_contrastive_loss(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"features must be \(N, V, D\) with V >= 2 views"):
        supervised_contrastive_loss(torch.randn(4, 1, 3))
    bad = torch.randn(4, 3)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="features must be finite"):
        supervised_contrastive_loss(bad, torch.arange(4))
    # without value checks NaN propagates instead of raising
    same_class = torch.zeros(4, dtype=torch.long)
    assert torch.isnan(supervised_contrastive_loss(bad, same_class, validate_args=False))
    with pytest.raises(ValueError, match=r"z2 must have the same shape as z1 \(4, 3\)"):
        nt_xent_loss(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="z1 must be 2-D"):
        nt_xent_loss(torch.randn(4, 2, 3), torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="temperature must be"):
        SupervisedContrastiveLoss(temperature=0)
    with pytest.raises(ValueError, match="chunk_size must be"):
        NTXentLoss(chunk_size=-3)


# ----------------------------------------------------------------------------- distributed


def _distributed_worker(rank, world_size, shards, label_shards, pairs, chunk_size):
    results = {}
    x = shards[rank].clone().requires_grad_(True)
    loss = supervised_contrastive_loss(
        x, label_shards[rank], 0.2, chunk_size=chunk_size, gather_distributed=True
    )
    loss.backward()
    results["supcon"] = (loss.item(), x.grad.numpy())
    z1, z2 = (p.clone().requires_grad_(True) for p in pairs[rank])
    loss = nt_xent_loss(z1, z2, 0.5, chunk_size=chunk_size, gather_distributed=True)
    loss.backward()
    results["nt_xent"] = (loss.item(), z1.grad.numpy(), z2.grad.numpy())
    return results  # plain numbers and arrays: pickled by value, not by shared memory


@pytest.mark.distributed
def test_gather_distributed_two_gloo_processes_equal_single_process():
    world = 2
    sizes = [5, 3]  # uneven shards
    x = torch.randn(sum(sizes), 2, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 3, 1, 2, 4])  # positives across ranks, label 4 a singleton
    z1 = torch.randn(sum(sizes), 6, dtype=torch.float64)
    z2 = torch.randn(sum(sizes), 6, dtype=torch.float64)
    shards, label_shards = list(x.split(sizes)), list(y.split(sizes))
    pairs = list(zip(z1.split(sizes), z2.split(sizes)))
    results = run_distributed(
        _distributed_worker, world_size=world, args=(shards, label_shards, pairs, 3)
    )

    ref_loss, ref_grad = _value_and_grad(lambda f: supcon_reference(f, y, 0.2), x)

    def stacked(key, i):
        return torch.cat([torch.as_tensor(r[key][i]) for r in results])

    rank_losses = torch.tensor([r["supcon"][0] for r in results], dtype=torch.float64)
    _assert_close(rank_losses.mean(), ref_loss)
    # DDP averages gradients over ranks: each rank's local gradient / world_size
    _assert_close(stacked("supcon", 1) / world, ref_grad)

    a, b = z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)
    ref = nt_xent_reference(a, b, 0.5)
    ga, gb = torch.autograd.grad(ref, (a, b))
    nt_losses = torch.tensor([r["nt_xent"][0] for r in results], dtype=torch.float64)
    _assert_close(nt_losses.mean(), ref.detach())
    _assert_close(stacked("nt_xent", 1) / world, ga)
    _assert_close(stacked("nt_xent", 2) / world, gb)
