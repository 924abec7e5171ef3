"""Functional over-samplers: geometry, counts, reproducibility, chunking, errors, parity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from imblearn.over_sampling import ADASYN as ImbADASYN
from imblearn.over_sampling import SMOTE as ImbSMOTE
from imblearn.over_sampling import BorderlineSMOTE as ImbBorderlineSMOTE
from imblearn.utils import check_sampling_strategy
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from imbalance_kit import augment
from imbalance_kit.augment import (
    adasyn,
    borderline_smote,
    mlsmote,
    noise_oversample,
    random_oversample,
    smote,
)
from imbalance_kit.augment._adasyn import apportion
from imbalance_kit.augment._borderline import danger_mask
from imbalance_kit.augment._neighbors import kneighbors
from imbalance_kit.augment._strategy import class_counts
from imbalance_kit.testing.references.augment import (
    knn_indices,
    mlsmote_auto_labels,
    on_neighbor_segments,
    ranking_vote,
)
from tests.conftest import requires_cuda


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def blobs(sizes=(60, 15, 8), d=3, seed=0, dtype=torch.float64, shift=1.5):
    g = gen(seed)
    X = torch.cat(
        [torch.randn(n, d, generator=g, dtype=dtype) + shift * c for c, n in enumerate(sizes)]
    )
    y = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(sizes)])
    return X, y


def new_rows(X_res, y_res, n, label):
    mask = y_res[n:] == label
    return X_res[n:][mask].double().numpy()


# --------------------------------------------------------------------------- neighbours


@pytest.mark.parametrize(("n", "d", "offset"), [(300, 4, 0.0), (4000, 5, 1e3), (3500, 40, 0.0)])
def test_kneighbors_matches_sklearn(n, d, offset):
    X = torch.randn(n, d, generator=gen(1), dtype=torch.float64) + offset
    rows = np.arange(0, n, 7)
    for dtype in (torch.float64, torch.float32):
        Xd = X.to(dtype)
        # the reference sees the same (rounded) coordinates, in float64
        expected = knn_indices(Xd.double().numpy(), rows, 6)
        q = torch.from_numpy(rows)
        got = kneighbors(Xd[q], Xd, 6, exclude=q, chunk_size=50)
        np.testing.assert_array_equal(got.numpy(), expected)


def test_kneighbors_ties_and_duplicates_go_to_smaller_index():
    ref = torch.tensor([[0.0], [1.0], [1.0], [-1.0], [0.0]])
    got = kneighbors(ref[:1], ref, 4, exclude=torch.tensor([0]))
    assert got.tolist() == [[4, 1, 2, 3]]
    outside = kneighbors(torch.tensor([[0.5]]), ref, 2)
    assert outside.tolist() == [[0, 1]]


@pytest.mark.parametrize("chunk", [1, 3, 64, None])
def test_kneighbors_chunk_invariant(chunk):
    X = torch.randn(3400, 3, generator=gen(2))
    q = torch.arange(0, 3400, 17)
    ref = kneighbors(X[q], X, 5, exclude=q, chunk_size=10_000)
    assert torch.equal(kneighbors(X[q], X, 5, exclude=q, chunk_size=chunk), ref)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("chunk", [1, 7, None])
@pytest.mark.parametrize("with_exclude", [True, False])
def test_kneighbors_tiled_search_matches_sklearn(monkeypatch, dtype, chunk, with_exclude):
    # Few features and a large reference take the tiled search; shrink its thresholds so a
    # small reference goes through several tiles (the last one partial) and padding.
    import imbalance_kit.augment._neighbors as nb

    calls = []
    tiled = nb._tiled_candidates
    monkeypatch.setattr(nb, "_TILED_FROM", 0)
    monkeypatch.setattr(nb, "_TILE_BYTES", 7 * 64 * 8)
    monkeypatch.setattr(nb, "_tiled_candidates", lambda *a: calls.append(1) or tiled(*a))
    X = torch.randn(3001, 5, generator=gen(4), dtype=torch.float64).to(dtype)
    rows = np.arange(3, 3001, 11)
    q = torch.from_numpy(rows)
    if with_exclude:
        expected = knn_indices(X.double().numpy(), rows, 6)
        got = kneighbors(X[q], X, 6, exclude=q, chunk_size=chunk)
    else:
        # a query that is a reference row finds itself first
        expected = np.concatenate([rows[:, None], knn_indices(X.double().numpy(), rows, 5)], 1)
        got = kneighbors(X[q], X, 6, chunk_size=chunk)
    assert calls, "the tiled search was not used"
    np.testing.assert_array_equal(got.numpy(), expected)


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_smote_points_lie_on_minority_neighbour_segments(dtype):
    X, y = blobs(dtype=dtype)
    n, k = len(X), 4
    X_res, y_res = smote(X, y, k_neighbors=k, generator=gen())
    assert X_res.dtype == dtype and y_res.dtype == y.dtype
    assert torch.equal(X_res[:n], X) and torch.equal(y_res[:n], y)
    assert Counter(y_res.tolist()) == {0: 60, 1: 60, 2: 60}
    for label in (1, 2):
        pool = X[y == label].double().numpy()
        nbrs = knn_indices(pool, np.arange(len(pool)), k)
        points = new_rows(X_res, y_res, n, label)
        assert on_neighbor_segments(points, pool, np.arange(len(pool)), nbrs).all()
        # the check can fail: with only the nearest neighbour most points are off-segment
        assert not on_neighbor_segments(points, pool, np.arange(len(pool)), nbrs[:, :1]).all()


def test_many_new_rows_span_several_interpolation_blocks():
    X, y = blobs(sizes=(33_000, 20), d=2)
    X_res, y_res = smote(X, y, k_neighbors=3, generator=gen())
    points = new_rows(X_res, y_res, len(X), 1)
    assert len(points) == 32_980  # more than one block of 2**15 rows
    pool = X[y == 1].numpy()
    nbrs = knn_indices(pool, np.arange(20), 3)
    assert on_neighbor_segments(points, pool, np.arange(20), nbrs).all()


@given(
    n_min=st.integers(4, 20),
    extra=st.integers(1, 30),
    d=st.integers(1, 4),
    k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_smote_geometry_property(n_min, extra, d, k, seed):
    X, y = blobs(sizes=(n_min + extra, n_min), d=d, seed=seed)
    X_res, y_res = smote(X, y, k_neighbors=k, generator=gen(seed))
    pool = X[y == 1].numpy()
    nbrs = knn_indices(pool, np.arange(n_min), k)
    points = new_rows(X_res, y_res, len(X), 1)
    assert len(points) == extra
    assert on_neighbor_segments(points, pool, np.arange(n_min), nbrs).all()


def _danger_reference(X, y, label, m):
    rows = np.flatnonzero(y == label)
    nn = knn_indices(X, rows, m)
    foreign = (y[nn] != label).sum(axis=1)
    return rows[(2 * foreign >= m) & (foreign < m)]


@pytest.mark.parametrize("kind", ["borderline-1", "borderline-2"])
def test_borderline_seeds_are_danger_samples(kind):
    X, y = blobs(sizes=(80, 25), d=2, shift=1.0)
    Xn, yn = X.numpy(), y.numpy()
    n, k, m = len(X), 4, 8
    X_res, y_res = borderline_smote(X, y, k_neighbors=k, m_neighbors=m, kind=kind, generator=gen())
    assert torch.equal(X_res[:n], X) and Counter(y_res.tolist()) == {0: 80, 1: 80}
    danger = _danger_reference(Xn, yn, 1, m)
    assert 0 < len(danger) < 25
    points = new_rows(X_res, y_res, n, 1)
    if kind == "borderline-1":
        rows = np.flatnonzero(yn == 1)
        pos = np.searchsorted(rows, danger)
        nbrs = knn_indices(Xn[rows], pos, k)
        assert on_neighbor_segments(points, Xn[rows], pos, nbrs).all()
    else:
        nbrs = knn_indices(Xn, danger, k)
        t_max = np.where(yn[nbrs] == 1, 1.0, 0.5)
        assert on_neighbor_segments(points, Xn, danger, nbrs, t_max=t_max).all()
        # some points go towards the other class, and never past half-way
        assert not on_neighbor_segments(
            points, Xn, danger, nbrs, t_max=np.where(yn[nbrs] == 1, 1.0, 0.0)
        ).all()


def test_danger_mask_matches_imblearn():
    X, y = blobs(sizes=(120, 30), d=2, shift=1.0)
    imb = ImbBorderlineSMOTE(random_state=0, k_neighbors=3, m_neighbors=7)
    imb.fit_resample(X.numpy(), y.numpy())
    rows = torch.nonzero(y == 1).squeeze(1)
    ours = rows[danger_mask(X, y, rows, 1, 7, None)]
    np.testing.assert_array_equal(ours.numpy(), imb.in_danger_indices[1])


def test_adasyn_geometry_and_apportionment_match_imblearn():
    X, y = blobs(sizes=(90, 30), d=2, shift=1.0)
    Xn, yn = X.numpy(), y.numpy()
    n, k = len(X), 5
    X_res, y_res = adasyn(X, y, n_neighbors=k, generator=gen())
    assert Counter(y_res.tolist()) == {0: 90, 1: 90}  # exact, unlike imblearn's rounding
    rows = np.flatnonzero(yn == 1)
    nbrs = knn_indices(Xn[rows], np.arange(len(rows)), k)
    points = new_rows(X_res, y_res, n, 1)
    assert on_neighbor_segments(points, Xn[rows], np.arange(len(rows)), nbrs).all()
    # per-seed counts: imblearn rounds G * r_i / sum(r) with np.rint
    ratio = (yn[knn_indices(Xn, rows, k)] != 1).sum(axis=1) / k
    imb_counts = np.rint(ratio / ratio.sum() * 60)
    ours = apportion(torch.from_numpy(ratio), 60).numpy()
    assert ours.sum() == 60 and np.abs(ours - imb_counts).max() <= 1
    # imblearn's total can miss the target by its rounding; ours never does
    _, y_imb = ImbADASYN(random_state=0, n_neighbors=k).fit_resample(Xn, yn)
    assert abs(Counter(y_imb)[1] - 90) <= len(rows)


def test_mlsmote_geometry_labels_and_counts():
    g = gen(3)
    n, d, k = 120, 3, 3
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.zeros(n, 4, dtype=torch.long)
    Y[:, 0] = 1
    Y[:40, 1] = 1
    Y[30:45, 2] = 1  # overlaps label 1 on rows 30..39
    Y[100:108, 3] = 1
    X_res, Y_res = mlsmote(X, Y, k_neighbors=k, generator=gen())
    Yn = Y.numpy()
    minority = mlsmote_auto_labels(Yn)
    assert minority == [2, 3]
    assert len(X_res) == n + Yn[:, minority].sum()
    assert torch.equal(X_res[:n], X) and torch.equal(Y_res[:n], Y) and Y_res.dtype == Y.dtype
    start = n
    for label in minority:
        bag = np.flatnonzero(Yn[:, label])
        pool, ybag = X.numpy()[bag], Yn[bag]
        nbrs = knn_indices(pool, np.arange(len(bag)), k)
        pts, labs = X_res[start : start + len(bag)].numpy(), Y_res[start : start + len(bag)].numpy()
        start += len(bag)
        assert labs[:, label].all()
        votes = np.stack([ranking_vote(ybag, s, nbrs[s]) for s in range(len(bag))])
        for p, lab in zip(pts, labs):
            seeds = [
                s
                for s in range(len(bag))
                if on_neighbor_segments(p[None], pool, np.array([s]), nbrs[s : s + 1])[0]
            ]
            assert seeds and any(np.array_equal(votes[s], lab) for s in seeds)
    # "auto" seeds every positive once: label 2 bag rows 30..44 carry label 1 for 10 of 15
    assert Y_res[n : n + 15, 1].sum() > 0


def test_mlsmote_dict_strategy_targets_positive_counts():
    X = torch.randn(50, 2, generator=gen(4))
    Y = torch.zeros(50, 2, dtype=torch.bool)
    Y[:40, 0] = True
    Y[40:, 1] = True
    _, Y_res = mlsmote(X, Y, sampling_strategy={1: 25}, k_neighbors=3, generator=gen())
    assert Y_res.dtype == torch.bool and Y_res[:, 1].sum().item() == 25


# --------------------------------------------------------------------------- counts


STRATEGIES = [
    "auto",
    "minority",
    "not minority",
    "not majority",
    "all",
    {1: 40, 2: 30},
    lambda y: {2: 20},
]


@pytest.mark.parametrize(
    "strategy", STRATEGIES, ids=lambda s: s if isinstance(s, str) else type(s).__name__
)
@pytest.mark.parametrize("method", [smote, random_oversample, noise_oversample, adasyn])
def test_counts_match_imblearn_strategy(strategy, method):
    X, y = blobs(sizes=(60, 15, 8))
    X_res, y_res = method(X, y, sampling_strategy=strategy, generator=gen())
    expected = check_sampling_strategy(strategy, y.numpy(), "over-sampling")
    counts = Counter(y.tolist())
    want = {c: counts[c] + expected.get(c, 0) for c in counts}
    assert Counter(y_res.tolist()) == want
    # synthetic rows come class by class in sorted order
    tail = y_res[len(y) :].tolist()
    assert tail == sorted(tail)


@pytest.mark.parametrize("ratio", [0.3, 0.75, 1.0])
def test_float_strategy_binary(ratio):
    X, y = blobs(sizes=(80, 10))
    _, y_res = smote(X, y, sampling_strategy=ratio, k_neighbors=3, generator=gen())
    expected = check_sampling_strategy(ratio, y.numpy(), "over-sampling")
    assert Counter(y_res.tolist())[1] == 10 + expected[1]


@pytest.mark.parametrize("method", [smote, noise_oversample, random_oversample])
def test_input_requiring_grad_gives_a_detached_result(method):
    X, y = blobs(sizes=(20, 8))
    X.requires_grad_(True)
    X_res, _ = method(X, y, generator=gen())
    assert not X_res.requires_grad and torch.equal(X_res[:28], X.detach())


@pytest.mark.parametrize(
    "labels", [[3, 3, -2, 7, 3], [0, 10**12, 0, 5], [1, 1, 1]], ids=["small", "sparse", "one"]
)
def test_class_counts_matches_counter(labels):
    y = torch.tensor(labels)
    assert class_counts(y) == dict(sorted(Counter(labels).items()))


def test_labels_need_not_be_contiguous():
    X, y = blobs(sizes=(30, 10))
    y = torch.where(y == 0, torch.tensor(-3), torch.tensor(7))
    _, y_res = smote(X, y, k_neighbors=3, generator=gen())
    assert Counter(y_res.tolist()) == {-3: 30, 7: 30}


# --------------------------------------------------------------------------- reproducibility


ALL = {
    "smote": lambda X, y, **kw: smote(X, y, k_neighbors=3, **kw),
    "borderline-1": lambda X, y, **kw: borderline_smote(X, y, k_neighbors=3, m_neighbors=6, **kw),
    "borderline-2": lambda X, y, **kw: borderline_smote(
        X, y, k_neighbors=3, m_neighbors=6, kind="borderline-2", **kw
    ),
    "adasyn": lambda X, y, **kw: adasyn(X, y, n_neighbors=3, **kw),
}


@pytest.mark.parametrize("name", list(ALL))
def test_reproducible_and_chunk_invariant(name):
    X, y = blobs(sizes=(70, 20, 12), d=4, shift=0.8)
    fn = ALL[name]
    ref = fn(X, y, generator=gen(7))
    for chunk in (1, 5, None):
        out = fn(X, y, generator=gen(7), chunk_size=chunk)
        assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
    other = fn(X, y, generator=gen(8))
    assert not torch.equal(other[0], ref[0])
    torch.manual_seed(3)
    a = fn(X, y)
    torch.manual_seed(3)
    assert torch.equal(fn(X, y)[0], a[0])


def test_mlsmote_chunk_invariant():
    X = torch.randn(60, 3, generator=gen(5))
    Y = (torch.rand(60, 3, generator=gen(6)) < torch.tensor([0.9, 0.3, 0.15])).long()
    ref = mlsmote(X, Y, k_neighbors=3, generator=gen(1))
    for chunk in (1, 4):
        out = mlsmote(X, Y, k_neighbors=3, generator=gen(1), chunk_size=chunk)
        assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])


def test_half_precision_input():
    X, y = blobs(sizes=(40, 10), dtype=torch.float16)
    X_res, y_res = smote(X, y, k_neighbors=3, generator=gen())
    assert X_res.dtype == torch.float16
    pool = X[y == 1].double().numpy()
    nbrs = knn_indices(pool, np.arange(10), 3)
    points = new_rows(X_res, y_res, 50, 1)
    assert on_neighbor_segments(points, pool, np.arange(10), nbrs, atol=5e-3).all()


@requires_cuda
def test_cuda_matches_cpu_with_cpu_generator():
    X, y = blobs(sizes=(300, 40), d=8, dtype=torch.float32)
    cpu = smote(X, y, generator=gen(0))
    cuda = smote(X.cuda(), y.cuda(), generator=gen(0))
    assert torch.equal(cuda[1].cpu(), cpu[1])
    torch.testing.assert_close(cuda[0].cpu(), cpu[0])


# --------------------------------------------------------------------------- noise / random


def test_noise_oversample_variance_and_constant_features():
    g = gen(9)
    Xc = torch.randn(50, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.0])
    Xc[:, 2] = 4.0
    X = torch.cat([torch.randn(20_050, 3, generator=g, dtype=torch.float64), Xc])
    y = torch.tensor([0] * 20_050 + [1] * 50)
    X_res, y_res = noise_oversample(X, y, noise_std=0.5, generator=gen())
    new = X_res[len(X) :]
    assert len(new) == 20_000 and (y_res[len(X) :] == 1).all()
    sd = Xc.std(dim=0)
    # seed drawn uniformly (population variance) plus independent noise of std 0.5 * sd
    expected = Xc.var(dim=0, unbiased=False) + (0.5 * sd) ** 2
    torch.testing.assert_close(new[:, :2].var(dim=0), expected[:2], rtol=0.06, atol=0)
    assert (new[:, 2] == 4.0).all()


def test_noise_single_sample_class_uses_global_scale():
    X = torch.cat(
        [
            torch.randn(4000, 2, generator=gen(1), dtype=torch.float64) * 3,
            torch.zeros(1, 2, dtype=torch.float64),
        ]
    )
    y = torch.tensor([0] * 4000 + [1])
    X_res, _ = noise_oversample(X, y, noise_std=0.2, generator=gen())
    new = X_res[4001:]
    torch.testing.assert_close(new.std(dim=0), 0.2 * X.std(dim=0), rtol=0.06, atol=0)
    zero, _ = noise_oversample(X, y, noise_std=0.0, generator=gen())
    assert (zero[4001:] == 0).all()


def test_random_oversample_copies_uniformly():
    X = torch.arange(12.0).reshape(12, 1)
    y = torch.tensor([0] * 2 + [1] * 10)
    X_res, y_res = random_oversample(X, y, sampling_strategy={0: 20_002}, generator=gen())
    picks = X_res[12:, 0].long()
    assert set(picks.tolist()) == {0, 1} and (y_res[12:] == 0).all()
    share = (picks == 0).double().mean().item()
    assert abs(share - 0.5) < 4 * (0.25 / 20_000) ** 0.5


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"k_neighbors": 8}, ValueError, r"k_neighbors must be < 8, the size of class 2"),
        ({"k_neighbors": 0}, ValueError, r"k_neighbors must be an integer >= 1"),
        (
            {"sampling_strategy": 0.5},
            ValueError,
            r"sampling_strategy must be a string, dict or callable",
        ),
        ({"sampling_strategy": "majority"}, ValueError, r"sampling_strategy must be one of 'auto'"),
        ({"sampling_strategy": {2: 5}}, ValueError, r"sampling_strategy\[2\] must be >= 8"),
        ({"sampling_strategy": {9: 50}}, ValueError, r"keys are classes present in y"),
        (
            {"sampling_strategy": {1: 20.5}},
            ValueError,
            r"sampling_strategy\[1\] must be an integer",
        ),
        ({"sampling_strategy": [1, 2]}, TypeError, r"sampling_strategy must be one of"),
        ({"sampling_strategy": lambda y: [1]}, TypeError, r"callable returning a dict"),
        ({"generator": 0}, TypeError, r"generator must be None or a torch.Generator"),
        ({"chunk_size": 0}, ValueError, r"chunk_size must be an integer >= 1"),
    ],
)
def test_errors_name_the_argument(kwargs, exc, match):
    X, y = blobs()
    with pytest.raises(exc, match=match):
        smote(X, y, **kwargs)


def test_input_errors():
    X, y = blobs(sizes=(20, 10))
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="X must be finite"):
        smote(bad, y)
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="X must be finite"):
        random_oversample(bad, y)
    bad[3, 0] = -float("inf")  # +inf and -inf: a NaN sum
    with pytest.raises(ValueError, match="X must be finite"):
        smote(bad, y)
    # Finite values whose sum overflows float32 are valid input.
    huge = torch.full((30, 2), 3e38, dtype=torch.float32)
    huge[20:] = -3e38
    X_res, _ = random_oversample(huge, y, generator=gen())
    assert torch.isfinite(X_res).all()
    with pytest.raises(ValueError, match=r"y must have the same length as X \(30\)"):
        smote(X, y[:-1])
    with pytest.raises(ValueError, match="y must be a target with at least 2 classes"):
        smote(X, torch.zeros(30, dtype=torch.long))
    with pytest.raises(TypeError, match="X must be a floating-point tensor"):
        smote(X.long(), y)
    with pytest.raises(TypeError, match="y must be an integer tensor"):
        smote(X, y.float())
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        smote(X.numpy(), y)
    with pytest.raises(ValueError, match=r"sampling_strategy must be > 0.5"):
        smote(X, y, sampling_strategy=0.4)
    with pytest.raises(ValueError, match=r"sampling_strategy must be in \(0, 1\]"):
        smote(X, y, sampling_strategy=1.5)
    with pytest.raises(ValueError, match="kind must be one of"):
        borderline_smote(X, y, kind="borderline-3")
    with pytest.raises(ValueError, match="m_neighbors must be < 30"):
        borderline_smote(X, y, m_neighbors=30)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        noise_oversample(X, y, noise_std=-1.0)
    with pytest.raises(ValueError, match="y must be a 0/1 multi-label indicator"):
        mlsmote(X, torch.full((30, 2), 2))
    with pytest.raises(ValueError, match="at least 2 labels"):
        mlsmote(X, torch.ones(30, 1))


def test_adasyn_without_foreign_neighbours_is_an_error():
    X = torch.cat([torch.randn(30, 2, generator=gen()), torch.randn(10, 2, generator=gen(1)) + 100])
    y = torch.tensor([0] * 30 + [1] * 10)
    with pytest.raises(ValueError, match="use smote instead"):
        adasyn(X, y, n_neighbors=3)


def test_borderline_without_danger_warns_and_skips_the_class():
    X = torch.cat([torch.randn(30, 2, generator=gen()), torch.randn(10, 2, generator=gen(1)) + 100])
    y = torch.tensor([0] * 30 + [1] * 10)
    with pytest.warns(RuntimeWarning, match="class 1 has no sample in danger"):
        X_res, y_res = borderline_smote(X, y, k_neighbors=3, m_neighbors=5)
    assert torch.equal(X_res, X) and torch.equal(y_res, y)


# --------------------------------------------------------------------------- imblearn parity


def test_same_geometry_as_imblearn_smote_on_real_data():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    imb = ImbSMOTE(random_state=0)
    X_imb, y_imb = imb.fit_resample(X, y)
    X_res, y_res = smote(torch.from_numpy(X), torch.from_numpy(y), generator=gen())
    assert Counter(y_res.tolist()) == Counter(y_imb.tolist())
    # every point of ours lies on a segment of imblearn's own neighbour graph
    pool = X[y == 0]
    nbrs = imb.nn_k_.kneighbors(pool, return_distance=False)[:, 1:]
    ours = new_rows(X_res, y_res, len(X), 0)
    assert on_neighbor_segments(ours, pool, np.arange(len(pool)), nbrs).all()
    assert on_neighbor_segments(X_imb[len(X) :], pool, np.arange(len(pool)), nbrs).all()


def test_distribution_matches_imblearn_on_digits():
    X, digit = load_digits(return_X_y=True)
    y = (digit == 0).astype(np.int64)  # 178 positives, 1441 synthetic
    scale = X[y == 1].std(axis=0) + 1.0

    def synthetic_imblearn(seed):
        return ImbSMOTE(random_state=seed).fit_resample(X, y)[0][len(X) :]

    def gap(a, b):  # largest per-feature gap of the mean and of the spread
        return max(
            (np.abs(a.mean(0) - b.mean(0)) / scale).max(),
            (np.abs(a.std(0) - b.std(0)) / scale).max(),
        )

    theirs = synthetic_imblearn(0)
    noise = max(gap(synthetic_imblearn(s), theirs) for s in (1, 2, 3))
    for seed in (0, 1):
        ours = smote(torch.from_numpy(X), torch.from_numpy(y), generator=gen(seed))[0]
        assert gap(ours[len(X) :].numpy(), theirs) <= 1.75 * noise
    # the check can fail: plain duplication of minority rows is further away
    dup = random_oversample(torch.from_numpy(X), torch.from_numpy(y), generator=gen())[0]
    assert gap(dup[len(X) :].numpy(), theirs) > 1.75 * noise


def test_downstream_auc_matches_imblearn():
    X, y = load_breast_cancer(return_X_y=True)
    aucs = {"ours": [], "imblearn": []}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        scaler = StandardScaler().fit(X[train])
        Xtr, Xte = scaler.transform(X[train]), scaler.transform(X[test])
        Xa, ya = ImbSMOTE(random_state=0).fit_resample(Xtr, y[train])
        Xb, yb = smote(torch.from_numpy(Xtr), torch.from_numpy(y[train]), generator=gen())
        for key, (Xr, yr) in {"imblearn": (Xa, ya), "ours": (Xb.numpy(), yb.numpy())}.items():
            clf = LogisticRegression(max_iter=2000).fit(Xr, yr)
            aucs[key].append(roc_auc_score(y[test], clf.predict_proba(Xte)[:, 1]))
    assert abs(np.mean(aucs["ours"]) - np.mean(aucs["imblearn"])) < 0.005


# --------------------------------------------------------------------------- source indices


@pytest.mark.parametrize("name", ["random_oversample", "noise_oversample"])
def test_return_indices_name_the_source_rows(name):
    fn = getattr(augment, name)
    X = torch.randn(40, 3, generator=gen(3))
    y = torch.tensor([0] * 30 + [1] * 7 + [2] * 3)
    kwargs = {"noise_std": 0.0} if name == "noise_oversample" else {}
    X_res, y_res, source = fn(X, y, generator=gen(5), return_indices=True, **kwargs)
    assert source.dtype == torch.long and source.shape == (X_res.shape[0],)
    assert torch.equal(source[:40], torch.arange(40))
    assert torch.equal(y_res, y[source])
    # noise_std = 0 and plain copies: every row is exactly its source row
    assert torch.equal(X_res, X[source])
    # the same draws as without indices
    X_plain, y_plain = fn(X, y, generator=gen(5), **kwargs)
    assert torch.equal(X_plain, X_res) and torch.equal(y_plain, y_res)


def test_noise_return_indices_keep_jitter_around_the_source():
    X = torch.randn(50, 4, generator=gen(4))
    y = torch.tensor([0] * 44 + [1] * 6)
    X_res, _, source = augment.noise_oversample(
        X, y, noise_std=0.05, generator=gen(2), return_indices=True
    )
    scale = X[44:].std(dim=0)
    deviation = (X_res[50:] - X[source[50:]]) / scale
    assert bool((source[50:] >= 44).all())
    assert 0.0 < float(deviation.abs().max()) < 0.05 * 6  # jittered, within 6 sigma


@pytest.mark.parametrize("name", ["random_oversample", "noise_oversample"])
def test_return_indices_must_be_bool(name):
    X, y = torch.randn(10, 2), torch.tensor([0] * 7 + [1] * 3)
    with pytest.raises(TypeError, match="return_indices must be True or False, got 1"):
        getattr(augment, name)(X, y, return_indices=1)
