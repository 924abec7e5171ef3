"""Scikit-learn / imbalanced-learn style estimators over the functional over-samplers.

The classes inherit only from scikit-learn (``BaseEstimator`` and
``OneToOneFeatureMixin``); imbalanced-learn is not needed at run time. They
declare sampler tags the way imbalanced-learn does, so its
``imblearn.pipeline.Pipeline`` and its estimator check suite accept them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from imbalance_kit._validation import check_data_device, check_same_length, error
from imbalance_kit.augment._adasyn import adasyn
from imbalance_kit.augment._borderline import borderline_smote
from imbalance_kit.augment._mlsmote import mlsmote, resolve_label_strategy
from imbalance_kit.augment._neighbors import neighbor_estimators
from imbalance_kit.augment._noise import noise_oversample
from imbalance_kit.augment._smote import smote
from imbalance_kit.augment._strategy import SamplingStrategy, resolve_sampling_strategy

__all__ = ["ADASYN", "MLSMOTE", "SMOTE", "BorderlineSMOTE", "NoiseOversampler"]

try:  # scikit-learn >= 1.6 tags
    from sklearn.utils import InputTags as _SklearnInputTags
    from sklearn.utils import Tags as _SklearnTags
except ImportError:  # pragma: no cover - older scikit-learn reads _more_tags
    _SklearnTags = None

if _SklearnTags is not None:

    @dataclass
    class SamplerTags:
        """Sampler tags read by imbalanced-learn (``sample_indices``)."""

        sample_indices: bool = False

    @dataclass
    class _InputTags(_SklearnInputTags):
        dataframe: bool = False

    @dataclass
    class _Tags(_SklearnTags):
        sampler_tags: SamplerTags | None = None


Device = str | torch.device | None

#: The estimator parameters that may be a NearestNeighbors-like estimator.
_NEIGHBOR_PARAMS = ("k_neighbors", "m_neighbors", "n_neighbors")


def _neighbor_param(name: str, value: Any) -> tuple[Any, Callable[[], Any] | None]:
    """``(k, factory)`` of a neighbour parameter: an int, or a NearestNeighbors-like estimator.

    An estimator (anything with ``fit`` and ``kneighbors``, fitted or not) counts its
    query point among its ``n_neighbors``, as in imbalanced-learn, so it gives
    ``k = n_neighbors - 1``; it is cloned and fitted afresh for every search.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), None
    if callable(getattr(value, "kneighbors", None)) and callable(getattr(value, "fit", None)):
        n = getattr(value, "n_neighbors", None)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
            raise error(
                f"{name}.n_neighbors",
                "an integer >= 2 (it counts the sample itself, as in imbalanced-learn)",
                n,
            )
        return int(n) - 1, lambda: clone(value)
    raise error(
        name,
        "an int or a NearestNeighbors-like estimator (with fit and kneighbors)",
        value,
        TypeError,
    )


def _is_pandas(value: Any, kind: str) -> bool:
    """``value`` is a pandas ``DataFrame`` / ``Series`` (pandas is not imported to tell)."""
    cls = type(value)
    return cls.__module__.split(".")[0] == "pandas" and cls.__name__ == kind


def _torch_generator(random_state: Any) -> torch.Generator:
    """A CPU ``torch.Generator`` from a scikit-learn ``random_state``.

    An int seeds it directly (``SMOTE(random_state=0)`` draws what
    ``smote(..., generator=torch.Generator().manual_seed(0))`` draws); ``None``
    and a ``RandomState`` give it a seed drawn from numpy.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**32:
            raise error("random_state", "None, an int in [0, 2**32) or a RandomState", random_state)
        return torch.Generator().manual_seed(int(random_state))
    try:
        rng = check_random_state(random_state)
    except ValueError:
        raise error(
            "random_state", "None, an int in [0, 2**32) or a RandomState", random_state
        ) from None
    return torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))


def _resolve_device(device: Device, data: Any) -> torch.device:
    if device is None:
        return data.device if isinstance(data, torch.Tensor) else torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise error("device", "None, a device string or a torch.device", device) from None


@dataclass
class _Batch:
    """Inputs converted for the functional API, and how to convert the outputs back."""

    X: torch.Tensor
    kind: Literal["torch", "numpy", "list"]
    y_np: np.ndarray
    y_torch_dtype: torch.dtype | None
    names: np.ndarray
    codes: np.ndarray
    counts: dict[Hashable, int]
    indicator_in: bool


class _Oversampler(OneToOneFeatureMixin, BaseEstimator):
    """Shared input handling; subclasses name their ``_function`` and ``_forwarded`` parameters."""

    _estimator_type = "sampler"
    _multilabel = False

    def _features(self, X: Any) -> tuple[torch.Tensor, Literal["torch", "numpy", "list"]]:
        device = _resolve_device(getattr(self, "device", None), X)
        columns = getattr(X, "columns", None)
        if columns is not None and all(isinstance(c, str) for c in columns):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if isinstance(X, torch.Tensor):
            check_data_device("X", X)
            Xt = X if X.is_floating_point() else X.to(torch.get_default_dtype())
            return Xt.to(device), "torch"
        if scipy.sparse.issparse(X):
            raise error(
                "X",
                "a dense array, array-like or torch.Tensor (sparse input is not supported)",
                type(X).__name__,
                TypeError,
                raw=True,
            )
        kind: Literal["numpy", "list"] = "list" if isinstance(X, list) else "numpy"
        arr = np.asarray(X)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind != "f":
            raise error(
                "X",
                "numeric (floating, integer or boolean)",
                f"dtype {arr.dtype}",
                TypeError,
                raw=True,
            )
        return torch.from_numpy(np.ascontiguousarray(arr)).to(device), kind

    def _labels(self, y: Any, n: int) -> tuple[np.ndarray, np.ndarray, bool, torch.dtype | None]:
        """``(labels as given, label names, indicator input?, torch dtype)``."""
        torch_dtype = y.dtype if isinstance(y, torch.Tensor) else None
        check_data_device("y", y)
        y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        check_same_length("X", n, "y", len(y_np) if y_np.ndim else 0)
        try:
            target = type_of_target(y_np)
        except ValueError as exc:  # NaN / inf labels, mixed types
            raise error(
                "y", "class labels without NaN or inf", f"{exc}".rstrip("."), raw=True
            ) from None
        if target == "multilabel-indicator":
            if not self._multilabel and not np.all(y_np.sum(axis=1) == 1):
                raise error(
                    "y",
                    "class labels or a one-hot (one-vs-all) indicator; multi-label and "
                    "multioutput targets are not supported (use MLSMOTE)",
                    "a multi-label indicator",
                    raw=True,
                )
            return y_np, np.arange(y_np.shape[1]), True, torch_dtype
        if target not in ("binary", "multiclass"):
            raise error(
                "y",
                "class labels (binary or multiclass) or a one-hot indicator (Unknown label type)",
                f"a target of type {target!r}",
                raw=True,
            )
        labels = y_np.ravel()
        return labels, np.unique(labels), False, torch_dtype

    def _prepare(self, X: Any, y: Any) -> _Batch:
        Xt, kind = self._features(X)
        self.n_features_in_ = int(Xt.shape[1]) if Xt.ndim == 2 else 0
        y_np, names, indicator_in, torch_dtype = self._labels(y, int(Xt.shape[0]))
        if indicator_in:
            counts_arr = (y_np != 0).sum(axis=0)
            codes = y_np.argmax(axis=1)
        else:
            codes = np.searchsorted(names, y_np)
            counts_arr = np.bincount(codes, minlength=len(names))
        counts = dict(zip(names.tolist(), counts_arr.tolist()))
        if self._multilabel:
            self.sampling_strategy_ = resolve_label_strategy(self.sampling_strategy, counts, y)
        else:
            self.sampling_strategy_ = resolve_sampling_strategy(
                self.sampling_strategy, counts, names[codes] if indicator_in else y_np
            )
        return _Batch(Xt, kind, y_np, torch_dtype, names, codes, counts, indicator_in)

    def fit(self, X: Any, y: Any) -> _Oversampler:
        """Check the input and compute ``sampling_strategy_``; use `fit_resample`.

        Returns:
            The estimator.
        """
        self._prepare(X, y)
        return self

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """Resample ``(X, y)``.

        Args:
            X: ``(n_samples, n_features)`` numpy array, list, DataFrame or torch tensor.
            y: class labels ``(n_samples,)`` (or a one-hot indicator); for
                [`MLSMOTE`][imbalance_kit.augment.MLSMOTE] also a ``(n_samples, n_labels)`` 0/1
                indicator.

        Returns:
            ``(X_res, y_res)`` of the input's kind: numpy arrays for numpy input,
            a DataFrame (same columns and dtypes, new index) for a DataFrame and a
            Series (same name and dtype) for a Series, as imbalanced-learn returns
            them; lists for lists, tensors (on the compute device) for tensors. The
            original rows come first, unchanged.
        """
        batch = self._prepare(X, y)
        index = {name: j for j, name in enumerate(batch.names.tolist())}
        targets = {index[k]: batch.counts[k] + v for k, v in self.sampling_strategy_.items()}
        device = batch.X.device
        generator = _torch_generator(self.random_state)
        if self._multilabel:
            one_hot = (
                batch.y_np != 0
                if batch.indicator_in
                else np.eye(len(batch.names), dtype=bool)[batch.codes]
            )
            y_in = torch.from_numpy(np.ascontiguousarray(one_hot)).to(device)
        else:
            y_in = torch.from_numpy(batch.codes.astype(np.int64)).to(device)
        X_res, y_out = self._run(batch.X, y_in, targets, generator)
        y_out = y_out.cpu().numpy()
        if self._multilabel and batch.indicator_in:
            y_res = y_out.astype(batch.y_np.dtype)
        else:
            codes = y_out.argmax(axis=1) if self._multilabel else y_out
            if batch.indicator_in:
                y_res = np.eye(len(batch.names), dtype=batch.y_np.dtype)[codes]
            else:
                y_res = batch.names[codes]
        if batch.kind == "torch":
            return X_res, torch.as_tensor(y_res, device=device, dtype=batch.y_torch_dtype)
        X_np = X_res.cpu().numpy()
        if batch.kind == "list":
            return X_np.tolist(), y_res.tolist()
        if _is_pandas(X, "DataFrame"):
            # as imbalanced-learn: same columns and dtypes, a fresh RangeIndex
            X_np = type(X)(X_np, columns=X.columns).astype(X.dtypes.to_dict())
        if _is_pandas(y, "Series"):
            y_res = type(y)(y_res, name=y.name).astype(y.dtype)
        elif _is_pandas(y, "DataFrame"):
            y_res = type(y)(y_res, columns=y.columns).astype(y.dtypes.to_dict())
        return X_np, y_res

    #: The functional over-sampler, and the estimator parameters passed to it by name.
    _function: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    _forwarded: tuple[str, ...] = ()

    def _run(
        self, X: torch.Tensor, y: torch.Tensor, targets: dict[int, int], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        options = {name: getattr(self, name) for name in self._forwarded}
        factories = {}
        for name in _NEIGHBOR_PARAMS:
            if name in options:
                options[name], factory = _neighbor_param(name, options[name])
                if factory is not None:
                    factories[name] = factory
        function = type(self)._function
        with neighbor_estimators(factories):
            return function(X, y, sampling_strategy=targets, generator=generator, **options)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if _SklearnTags is None:  # pragma: no cover
            return tags
        out = _Tags(
            **{f.name: getattr(tags, f.name) for f in fields(tags)}, sampler_tags=SamplerTags()
        )
        out.estimator_type = "sampler"
        base_input = {f.name: getattr(tags.input_tags, f.name) for f in fields(tags.input_tags)}
        out.input_tags = _InputTags(**base_input, dataframe=False)
        out.input_tags.two_d_array = True
        out.input_tags.sparse = False
        out.input_tags.allow_nan = False
        out.target_tags.required = True
        out.target_tags.multi_output = self._multilabel
        return out

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"X_types": ["2darray"], "allow_nan": False, "requires_y": True}


class SMOTE(_Oversampler):
    """SMOTE as a scikit-learn / imbalanced-learn sampler; see
    [`smote`][imbalance_kit.augment.smote].

    ```math
    x_{new} = x_i + u \\, (x_{nn} - x_i), \\qquad u \\sim \\mathcal{U}[0, 1)
    ```

    Reference: Chawla et al., "SMOTE: Synthetic Minority Over-sampling Technique",
    JAIR 16 (2002).

    Args:
        sampling_strategy: ``"auto"``, ``"minority"``, ``"not minority"``,
            ``"not majority"``, ``"all"``, a float (binary), a dict
            ``{class: target count}`` or a callable ``y -> dict``, as in
            imbalanced-learn.
        random_state: ``None``, an int or a ``numpy.random.RandomState``; an int gives
            the same samples on every device.
        k_neighbors: neighbours to interpolate towards: an int, or a
            NearestNeighbors-like estimator (fitted or not; cloned and fitted on each
            class) whose ``n_neighbors`` counts the sample itself, as in
            imbalanced-learn (``NearestNeighbors(n_neighbors=6)`` is ``k_neighbors=5``
            with its own metric).
        device: where to compute (``None``: a tensor's own device, CPU for numpy).
        chunk_size: query rows per block of the neighbour search (``None``: from a
            memory budget).

    Attributes:
        sampling_strategy_: ``{class: number of samples generated}``.
        n_features_in_: number of features seen.
        feature_names_in_: column names, when ``X`` was a DataFrame with string names.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.RandomState(0)
        >>> X, y = rng.normal(size=(100, 3)), np.array([0] * 90 + [1] * 10)
        >>> X_res, y_res = SMOTE(random_state=0).fit_resample(X, y)
        >>> X_res.shape, np.bincount(y_res).tolist()
        ((180, 3), [90, 90])
    """

    _function = staticmethod(smote)
    _forwarded = ("k_neighbors", "chunk_size")

    def __init__(
        self,
        *,
        sampling_strategy: SamplingStrategy = "auto",
        random_state: int | np.random.RandomState | None = None,
        k_neighbors: int = 5,
        device: Device = None,
        chunk_size: int | None = None,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.device = device
        self.chunk_size = chunk_size


class BorderlineSMOTE(_Oversampler):
    """Borderline-SMOTE as a sampler; see
    [`borderline_smote`][imbalance_kit.augment.borderline_smote].

    Seeds are the minority samples with $m/2 \\le m' < m$ foreign neighbours among
    their ``m_neighbors`` nearest.

    Reference: Han, Wang and Mao, "Borderline-SMOTE", ICIC 2005.

    Args:
        sampling_strategy: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        random_state: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        k_neighbors: neighbours to interpolate towards (an int or a
            NearestNeighbors-like estimator, as [`SMOTE`][imbalance_kit.augment.SMOTE]).
        m_neighbors: neighbours that decide whether a sample is in danger (an int
            or a NearestNeighbors-like estimator).
        kind: ``"borderline-1"`` or ``"borderline-2"``.
        device: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        chunk_size: as [`SMOTE`][imbalance_kit.augment.SMOTE].

    Attributes:
        sampling_strategy_: ``{class: number of samples asked for}``.
        n_features_in_: number of features seen.
        feature_names_in_: column names, when ``X`` was a DataFrame with string names.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.RandomState(0)
        >>> X = np.vstack([rng.normal(size=(90, 2)), rng.normal(size=(10, 2)) + 1])
        >>> y = np.array([0] * 90 + [1] * 10)
        >>> X_res, y_res = BorderlineSMOTE(random_state=0, k_neighbors=3).fit_resample(X, y)
        >>> np.bincount(y_res).tolist()
        [90, 90]
    """

    _function = staticmethod(borderline_smote)
    _forwarded = ("k_neighbors", "m_neighbors", "kind", "chunk_size")

    def __init__(
        self,
        *,
        sampling_strategy: SamplingStrategy = "auto",
        random_state: int | np.random.RandomState | None = None,
        k_neighbors: int = 5,
        m_neighbors: int = 10,
        kind: Literal["borderline-1", "borderline-2"] = "borderline-1",
        device: Device = None,
        chunk_size: int | None = None,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.m_neighbors = m_neighbors
        self.kind = kind
        self.device = device
        self.chunk_size = chunk_size


class ADASYN(_Oversampler):
    """ADASYN as a sampler; see [`adasyn`][imbalance_kit.augment.adasyn].

    Sample $i$ of a class seeds $g_i \\propto r_i$ synthetic samples, $r_i$ the share of
    foreign samples among its ``n_neighbors`` nearest; the total is exact.

    Reference: He, Bai, Garcia and Li, "ADASYN", IJCNN 2008.

    Args:
        sampling_strategy: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        random_state: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        n_neighbors: neighbours for the difficulty ratio and the interpolation (an
            int or a NearestNeighbors-like estimator, as [`SMOTE`][imbalance_kit.augment.SMOTE]).
        device: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        chunk_size: as [`SMOTE`][imbalance_kit.augment.SMOTE].

    Attributes:
        sampling_strategy_: ``{class: number of samples generated}``.
        n_features_in_: number of features seen.
        feature_names_in_: column names, when ``X`` was a DataFrame with string names.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.RandomState(0)
        >>> X = np.vstack([rng.normal(size=(90, 2)), rng.normal(size=(10, 2)) + 1])
        >>> y = np.array(["common"] * 90 + ["rare"] * 10)
        >>> X_res, y_res = ADASYN(random_state=0, n_neighbors=3).fit_resample(X, y)
        >>> sorted(zip(*np.unique(y_res, return_counts=True)))
        [(np.str_('common'), np.int64(90)), (np.str_('rare'), np.int64(90))]
    """

    _function = staticmethod(adasyn)
    _forwarded = ("n_neighbors", "chunk_size")

    def __init__(
        self,
        *,
        sampling_strategy: SamplingStrategy = "auto",
        random_state: int | np.random.RandomState | None = None,
        n_neighbors: int = 5,
        device: Device = None,
        chunk_size: int | None = None,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.n_neighbors = n_neighbors
        self.device = device
        self.chunk_size = chunk_size


class MLSMOTE(_Oversampler):
    """MLSMOTE as a sampler for multi-label targets; see [`mlsmote`][imbalance_kit.augment.mlsmote].

    ``y`` is a ``(n_samples, n_labels)`` 0/1 indicator (``sampling_strategy`` keys
    are column indices) or a vector of class labels, handled as its one-hot
    indicator (keys are class labels) and returned as labels again.

    Reference: Charte et al., "MLSMOTE", Knowledge-Based Systems 89 (2015).

    Args:
        sampling_strategy: ``"auto"`` (labels with IRLbl > MeanIR get one synthetic
            row per positive sample) or any form accepted by [`SMOTE`][imbalance_kit.augment.SMOTE],
            with a label's positive count as its class count.
        random_state: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        k_neighbors: neighbours within a label's positive samples (an int or a
            NearestNeighbors-like estimator, as [`SMOTE`][imbalance_kit.augment.SMOTE]).
        device: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        chunk_size: as [`SMOTE`][imbalance_kit.augment.SMOTE].

    Attributes:
        sampling_strategy_: ``{label: number of rows seeded from it}``.
        n_features_in_: number of features seen.
        feature_names_in_: column names, when ``X`` was a DataFrame with string names.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(60, 4))
        >>> Y = np.zeros((60, 3), dtype=int); Y[:, 0] = 1; Y[:8, 1] = 1; Y[50:, 2] = 1
        >>> X_res, Y_res = MLSMOTE(random_state=0, k_neighbors=3).fit_resample(X, Y)
        >>> X_res.shape, Y_res.sum(axis=0).tolist()
        ((78, 4), [78, 16, 20])
    """

    _multilabel = True

    _function = staticmethod(mlsmote)
    _forwarded = ("k_neighbors", "chunk_size")

    def __init__(
        self,
        *,
        sampling_strategy: SamplingStrategy = "auto",
        random_state: int | np.random.RandomState | None = None,
        k_neighbors: int = 5,
        device: Device = None,
        chunk_size: int | None = None,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.device = device
        self.chunk_size = chunk_size


class NoiseOversampler(_Oversampler):
    """Gaussian-jitter over-sampler; see
    [`noise_oversample`][imbalance_kit.augment.noise_oversample].

    ```math
    x_{new} = x_i + \\text{noise\\_std} \\cdot \\sigma_c \\odot \\varepsilon,
    \\qquad \\varepsilon \\sim \\mathcal{N}(0, I)
    ```

    Reference: Menardi and Torelli, "Training and assessing classification rules
    with imbalanced data", DMKD 28 (2014).

    Args:
        sampling_strategy: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        random_state: as [`SMOTE`][imbalance_kit.augment.SMOTE].
        noise_std: noise scale relative to the class's per-feature standard deviation.
        device: as [`SMOTE`][imbalance_kit.augment.SMOTE].

    Attributes:
        sampling_strategy_: ``{class: number of samples generated}``.
        n_features_in_: number of features seen.
        feature_names_in_: column names, when ``X`` was a DataFrame with string names.

    Examples:
        >>> import torch
        >>> X, y = torch.randn(50, 8), torch.tensor([0] * 45 + [1] * 5)
        >>> X_res, y_res = NoiseOversampler(random_state=0, noise_std=0.05).fit_resample(X, y)
        >>> type(X_res).__name__, torch.bincount(y_res).tolist()
        ('Tensor', [45, 45])
    """

    _function = staticmethod(noise_oversample)
    _forwarded = ("noise_std",)

    def __init__(
        self,
        *,
        sampling_strategy: SamplingStrategy = "auto",
        random_state: int | np.random.RandomState | None = None,
        noise_std: float = 0.1,
        device: Device = None,
    ) -> None:
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.noise_std = noise_std
        self.device = device
