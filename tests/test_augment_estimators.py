"""The augment estimators against imbalanced-learn's sampler check suite and Pipeline."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.pipeline import Pipeline
from imblearn.utils.estimator_checks import estimator_checks_generator
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from imbalance_kit.augment import (
    ADASYN,
    MLSMOTE,
    SMOTE,
    BorderlineSMOTE,
    NoiseOversampler,
    smote,
)

# The suite asserts the balanced class counts of ``check_samplers_fit_resample`` and
# ``check_samplers_sampling_strategy_fit_resample`` only for subclasses of imblearn's
# BaseOverSampler. The estimators do not inherit from imblearn (it is not a runtime
# dependency), so they are registered as virtual subclasses here: this turns those
# assertions on; it skips nothing. MLSMOTE is not registered: its "auto" strategy is
# the MLSMOTE rule (IRLbl > MeanIR), which does not balance classes.
for _cls in (SMOTE, BorderlineSMOTE, ADASYN, NoiseOversampler):
    BaseOverSampler.register(_cls)

ESTIMATORS = [
    SMOTE(random_state=0),
    BorderlineSMOTE(random_state=0),
    BorderlineSMOTE(random_state=0, kind="borderline-2"),
    ADASYN(random_state=0),
    MLSMOTE(random_state=0),
    NoiseOversampler(random_state=0),
]


def _expected_failures(estimator):
    if isinstance(estimator, MLSMOTE):
        return {
            "check_target_type": (
                "the check asserts that a multi-label target is refused; MLSMOTE exists to "
                "accept it (test_mlsmote_target_types covers the other half of the check)"
            )
        }
    return {}


def _check_id(value):
    if isinstance(value, functools.partial):
        return value.func.__name__
    return repr(value) if hasattr(value, "get_params") else None


# imblearn's parametrize_with_checks hands pytest a generator (deprecated by pytest);
# the same (estimator, check) pairs, xfail marks included, are materialised here.
CHECKS = [
    pair
    for est in ESTIMATORS
    for pair in estimator_checks_generator(
        est, expected_failed_checks=_expected_failures(est), mark="xfail"
    )
]


@pytest.mark.parametrize(("estimator", "check"), CHECKS, ids=_check_id)
def test_imblearn_check_suite(estimator, check):
    check(estimator)


def test_registered_checks_assert_counts():
    # Proves the registration matters: the balanced-count assertion runs for SMOTE.
    assert isinstance(SMOTE(), BaseOverSampler)
    assert not isinstance(MLSMOTE(), BaseOverSampler)


def test_mlsmote_target_types():
    X = np.random.RandomState(0).random_sample((20, 2))
    with pytest.raises(ValueError, match="Unknown label type"):
        MLSMOTE(random_state=0).fit_resample(X, np.linspace(0, 1, 20))
    Y = np.random.RandomState(42).randint(2, size=(20, 3))
    Y[:10, 0] = 1
    X_res, Y_res = MLSMOTE(random_state=0, k_neighbors=2).fit_resample(X, Y)
    assert Y_res.shape[1] == 3 and Y_res.dtype == Y.dtype
    np.testing.assert_array_equal(Y_res[:20], Y)


@pytest.mark.parametrize("cls", [SMOTE, BorderlineSMOTE, ADASYN, NoiseOversampler])
def test_multilabel_refused_by_single_label_samplers(cls):
    X = np.random.RandomState(0).random_sample((20, 2))
    Y = np.ones((20, 3), dtype=int)
    with pytest.raises(ValueError, match="MLSMOTE"):
        cls(random_state=0).fit_resample(X, Y)


def test_pipeline_cross_validation():
    X, y = make_classification(
        n_samples=300, weights=[0.9, 0.1], n_informative=3, random_state=0, flip_y=0
    )
    seen = []

    class Recorder(LogisticRegression):
        def fit(self, X, y, **kw):
            seen.append(np.bincount(y).tolist())
            return super().fit(X, y, **kw)

    pipe = Pipeline([("smote", SMOTE(random_state=0)), ("clf", Recorder(max_iter=500))])
    scores = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(scores > 0.5)
    # the classifier saw balanced folds; the validation folds were not resampled
    assert all(a == b for a, b in seen)
    assert pipe.fit(X, y).predict(X).shape == (300,)


def test_estimator_equals_functional_with_same_seed():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = np.array([3] * 60 + [7] * 20)
    X_res, y_res = SMOTE(random_state=5, k_neighbors=3).fit_resample(X, y)
    codes = torch.from_numpy((y == 7).astype(np.int64))
    Xf, yf = smote(
        torch.from_numpy(X), codes, k_neighbors=3, generator=torch.Generator().manual_seed(5)
    )
    np.testing.assert_array_equal(X_res, Xf.numpy())
    np.testing.assert_array_equal(y_res, np.array([3, 7])[yf.numpy()])


def test_torch_in_torch_out_and_labels_restored():
    X = torch.randn(40, 3, dtype=torch.float64)
    y = torch.tensor([10] * 30 + [20] * 10, dtype=torch.int32)
    X_res, y_res = SMOTE(random_state=0, k_neighbors=3).fit_resample(X, y)
    assert isinstance(X_res, torch.Tensor) and X_res.dtype == torch.float64
    assert y_res.dtype == torch.int32 and set(y_res.tolist()) == {10, 20}
    assert torch.equal(X_res[:40], X)


def test_sampling_strategy_in_label_space():
    X = np.random.RandomState(0).normal(size=(60, 2))
    y = np.array(["a"] * 30 + ["b"] * 20 + ["c"] * 10)
    est = SMOTE(random_state=0, sampling_strategy={"c": 25}, k_neighbors=3)
    _, y_res = est.fit_resample(X, y)
    assert est.sampling_strategy_ == {"c": 15}
    assert dict(zip(*np.unique(y_res, return_counts=True))) == {"a": 30, "b": 20, "c": 25}
    with pytest.raises(ValueError, match=r"sampling_strategy must be a dict whose keys"):
        clone(est).set_params(sampling_strategy={"z": 40}).fit_resample(X, y)


def test_fit_sets_attributes_and_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.RandomState(0).normal(size=(30, 2)), columns=["u", "v"])
    y = np.array([0] * 20 + [1] * 10)
    est = ADASYN(random_state=0, n_neighbors=3).fit(X, y)
    assert est.sampling_strategy_ == {1: 10} and est.n_features_in_ == 2
    np.testing.assert_array_equal(est.get_feature_names_out(), ["u", "v"])
    X_res, _ = est.fit_resample(X, y)
    assert isinstance(X_res, pd.DataFrame) and X_res.shape == (40, 2)  # as imblearn


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"random_state": "seed"}, "random_state must be"),
        ({"random_state": -1}, "random_state must be"),
        ({"device": 3.5}, "device must be"),
        ({"k_neighbors": 0}, "k_neighbors must be an integer >= 1"),
        ({"k_neighbors": 10}, "k_neighbors must be < 10"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_parameters_name_the_argument(params, match):
    X = np.random.RandomState(0).normal(size=(40, 2))
    y = np.array([0] * 30 + [1] * 10)
    with pytest.raises((ValueError, TypeError), match=match):
        SMOTE(**params).fit_resample(X, y)


def test_sparse_and_nan_input_refused():
    sparse = pytest.importorskip("scipy.sparse")
    X = np.random.RandomState(0).normal(size=(40, 2))
    y = np.array([0] * 30 + [1] * 10)
    with pytest.raises(TypeError, match="sparse input is not supported"):
        SMOTE().fit_resample(sparse.csr_matrix(X), y)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        SMOTE().fit_resample(X, y)


# ------------------------------------------- NearestNeighbors objects and pandas, as imblearn
def _two_blobs(seed: int = 0):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(size=(90, 2)), rng.normal(size=(12, 2)) + 1.2])
    return X, np.array([0] * 90 + [1] * 12)


@pytest.mark.parametrize(
    ("cls", "ints", "objects"),
    [
        (SMOTE, {"k_neighbors": 4}, {"k_neighbors": 5}),
        (BorderlineSMOTE, {"k_neighbors": 3, "m_neighbors": 8},
         {"k_neighbors": 4, "m_neighbors": 9}),
        (BorderlineSMOTE, {"k_neighbors": 3, "m_neighbors": 8, "kind": "borderline-2"},
         {"k_neighbors": 4, "m_neighbors": 9}),
        (ADASYN, {"n_neighbors": 3}, {"n_neighbors": 4}),
    ],
)  # fmt: skip
def test_a_nearest_neighbors_object_counts_the_sample_itself(cls, ints, objects):
    from sklearn.neighbors import NearestNeighbors

    X, y = _two_blobs()
    with_ints = cls(random_state=0, **ints).fit_resample(X, y)
    fitted_elsewhere = {
        name: NearestNeighbors(n_neighbors=n).fit(np.zeros((n + 1, 2)))
        for name, n in objects.items()
    }
    extra = {k: v for k, v in ints.items() if k == "kind"}
    with_objects = cls(random_state=0, **fitted_elsewhere, **extra).fit_resample(X, y)
    np.testing.assert_array_equal(with_objects[0], with_ints[0])
    np.testing.assert_array_equal(with_objects[1], with_ints[1])
    for nn in fitted_elsewhere.values():  # cloned, never refitted in place
        assert nn.n_samples_fit_ == nn.n_neighbors + 1


def test_the_estimators_metric_is_used():
    from sklearn.neighbors import NearestNeighbors

    X, y = _two_blobs(1)
    nn = NearestNeighbors(n_neighbors=4, metric="manhattan")
    X_res, _ = SMOTE(random_state=0, k_neighbors=nn).fit_resample(X, y)
    minority = X[y == 1]
    neighbours = NearestNeighbors(n_neighbors=4, metric="manhattan").fit(minority)
    allowed = neighbours.kneighbors(minority, return_distance=False)[:, 1:]
    for point in X_res[len(X) :]:
        # on the segment from a seed to one of its 3 manhattan neighbours
        found = False
        for i, seed in enumerate(minority):
            for j in allowed[i]:
                d = minority[j] - seed
                u = np.dot(point - seed, d) / np.dot(d, d)
                if 0 <= u <= 1 and np.allclose(seed + u * d, point, atol=1e-9):
                    found = True
        assert found


def test_bad_neighbour_objects():
    from sklearn.neighbors import NearestNeighbors

    X, y = _two_blobs()
    with pytest.raises(ValueError, match=r"k_neighbors.n_neighbors must be an integer >= 2"):
        SMOTE(k_neighbors=NearestNeighbors(n_neighbors=1)).fit_resample(X, y)
    with pytest.raises(TypeError, match="k_neighbors must be an int or a NearestNeighbors-like"):
        SMOTE(k_neighbors="five").fit_resample(X, y)


def test_pandas_in_pandas_out_like_imblearn():
    pd = pytest.importorskip("pandas")
    from imblearn.over_sampling import SMOTE as ImbSMOTE

    X, y = _two_blobs(2)
    frame = pd.DataFrame(X, columns=["height", "width"]).astype({"width": "float32"})
    labels = pd.Series(np.where(y == 1, "rare", "common"), name="kind")
    ours = SMOTE(random_state=0).fit_resample(frame, labels)
    theirs = ImbSMOTE(random_state=0).fit_resample(frame, labels)
    for got, want in zip(ours, theirs):
        assert type(got) is type(want)
        assert got.shape == want.shape
        assert list(got.index) == list(want.index)
    assert list(ours[0].columns) == ["height", "width"]
    assert ours[0].dtypes.to_dict() == theirs[0].dtypes.to_dict()
    assert ours[1].name == "kind" and ours[1].dtype == theirs[1].dtype
    pd.testing.assert_frame_equal(ours[0].iloc[: len(X)], frame)  # originals first, unchanged
    assert ours[1].value_counts().to_dict() == theirs[1].value_counts().to_dict()
