"""Class-weight calculators for imbalanced classification.

Every function accepts torch tensors, numpy arrays and Python lists, and returns
a ``float32`` tensor on the device of its input (CPU for numpy arrays and lists),
ready to pass as ``weight=`` to a loss.

Empty classes (count 0) get weight **0** in every method: the data says nothing
about them and a zero weight never makes a loss infinite. The remaining classes
are weighted as if the empty ones did not exist, so padding the class list with
empty classes leaves the other weights unchanged. Give an empty class a weight
explicitly with ``compute_class_weights(..., overrides={...})``.

NaN, infinite or negative counts raise ``ValueError``; so do counts that are all
zero (nothing to weight).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from imbalance_kit._validation import (
    check_bool,
    check_choice,
    check_data_device,
    check_in_range,
    check_inferred_num_classes,
    check_ndim,
    check_non_negative,
    check_non_negative_tensor,
    check_positive,
    check_positive_int,
    error,
)

__all__ = [
    "DistributionSummary",
    "DoubleCorrectionWarning",
    "balanced_weights",
    "class_counts",
    "compute_class_weights",
    "describe_distribution",
    "effective_number_weights",
    "inverse_frequency_weights",
    "plot_distribution",
    "positive_weights",
    "warn_if_double_correction",
]

WeightMethod = Literal["balanced", "inverse", "sqrt_inverse", "effective"]
METHODS: tuple[str, ...] = ("balanced", "inverse", "sqrt_inverse", "effective")

ArrayLike = Any  # torch.Tensor | np.ndarray | Sequence[int | float]


# --------------------------------------------------------------------------- input


def _as_tensor(name: str, value: ArrayLike) -> torch.Tensor:
    """Turn a tensor, numpy array or sequence into a tensor (no copy for tensors)."""
    if isinstance(value, torch.Tensor):
        check_data_device(name, value)
        return value
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise error(name, "a torch.Tensor, numpy array or sequence of numbers", value, TypeError)
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise error(
            name, "a torch.Tensor, numpy array or sequence of numbers", value, TypeError
        ) from exc
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise error(name, "a torch.Tensor, numpy array or sequence of numbers", array, TypeError)
    if array.size == 0 and array.dtype.kind == "f" and not isinstance(value, np.ndarray):
        array = array.astype(np.int64)  # an empty list means "no labels"
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:
        array = array.astype(np.int64)  # torch has no uint16/32/64 arithmetic
    return torch.from_numpy(np.ascontiguousarray(array))


def _as_labels(name: str, labels: ArrayLike) -> torch.Tensor:
    """Validate 1-D non-negative integer class labels."""
    tensor = _as_tensor(name, labels)
    check_ndim(name, tensor, 1)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise error(name, "integer class indices", f"dtype {tensor.dtype}", TypeError, raw=True)
    if tensor.numel() and int(tensor.min()) < 0:
        raise error(name, "class indices >= 0", int(tensor.min()))
    return tensor


def _as_counts(name: str, counts: ArrayLike) -> torch.Tensor:
    """Validate 1-D finite non-negative counts with at least one non-zero entry."""
    tensor = _as_tensor(name, counts)
    check_ndim(name, tensor, 1)
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise error(name, "real-valued counts", f"dtype {tensor.dtype}", TypeError, raw=True)
    if tensor.numel() == 0:
        raise error(name, "non-empty", "an empty sequence", raw=True)
    check_non_negative_tensor(name, tensor)
    if not bool((tensor > 0).any()):
        raise ValueError(f"{name} must have a non-zero entry, got all zeros")
    return tensor


def _finish(weights64: torch.Tensor, device: torch.device) -> torch.Tensor:
    return weights64.to(device=device, dtype=torch.float32)


# --------------------------------------------------------------------------- counts


def _count_labels(
    name: str,
    tensor: torch.Tensor,
    num_classes: int | None,
    *,
    bound: str = "num_classes",
    hint: str = "pass num_classes to allow more classes",
) -> torch.Tensor:
    """``bincount`` of validated labels: in range of ``num_classes``, or a plausible inferred one.

    ``bound`` names where ``num_classes`` came from in the error message, ``hint``
    how to give the number of classes when the inferred one is refused.
    """
    if num_classes is not None:
        check_positive_int("num_classes", num_classes)
        if tensor.numel() and int(tensor.max()) >= num_classes:
            raise error(name, f"class indices in [0, {bound}={num_classes})", int(tensor.max()))
    elif tensor.numel() == 0:
        raise error(
            name,
            "non-empty when the number of classes is not given (pass num_classes to count "
            "an empty split)",
            "no labels",
            raw=True,
        )
    else:
        check_inferred_num_classes(name, int(tensor.max()), tensor.numel(), hint=hint)
    if tensor.dtype not in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        tensor = tensor.long()
    minlength = 0 if num_classes is None else num_classes
    return torch.bincount(tensor, minlength=minlength).to(torch.int64)


def class_counts(labels: ArrayLike, num_classes: int | None = None) -> torch.Tensor:
    """Number of samples of each class.

    Args:
        labels: 1-D integer class indices, ``>= 0``. Empty labels need ``num_classes``
            (the result is then all zeros).
        num_classes: length of the result. Defaults to ``max(labels) + 1``, which
            may be at most ``max(65536, 4 * len(labels))``: a larger label is
            refused as implausible unless ``num_classes`` is given. Classes that
            never occur count 0.

    Returns:
        ``int64`` tensor of shape ``(num_classes,)`` on the labels' device.

    Raises:
        TypeError: ``labels`` is not integer.
        ValueError: ``labels`` is not 1-D, has a negative entry or an entry
            ``>= num_classes``; ``labels`` is empty or its largest entry is
            implausibly large while ``num_classes`` is not given; ``labels`` is
            a meta tensor.

    Examples:
        >>> class_counts([0, 0, 2, 0])
        tensor([3, 0, 1])
        >>> class_counts(torch.tensor([1, 1]), num_classes=4)
        tensor([0, 2, 0, 0])
        >>> class_counts([], num_classes=2)
        tensor([0, 0])
    """
    return _count_labels("labels", _as_labels("labels", labels), num_classes)


# --------------------------------------------------------------------------- weights


def inverse_frequency_weights(counts: ArrayLike, power: float = 1.0) -> torch.Tensor:
    r"""Per-class weights proportional to ``count ** -power``.

    The weights are scaled so that the average weight *per sample* is 1 (the
    loss keeps its scale, and a balanced data set gets all ones):

    $$
    w_c = \frac{n_c^{-p}\, N}{\sum_{j:\, n_j > 0} n_j^{1-p}}, \qquad N = \sum_j n_j .
    $$

    ``power=1`` is scikit-learn's ``"balanced"`` heuristic
    ``N / (K n_c)``, ``power=0.5`` the square-root variant (softer), ``power=0``
    gives all ones. Empty classes get 0.

    Reference: King & Zeng, "Logistic Regression in Rare Events Data", 2001
    (the ``N / (K n_c)`` form); Mahajan et al., "Exploring the Limits of
    Weakly Supervised Pretraining", ECCV 2018 (square-root).

    Args:
        counts: 1-D non-negative per-class counts (integers or floats).
        power: exponent ``p >= 0``.

    Returns:
        ``float32`` weights of shape ``(C,)`` on the counts' device.

    Raises:
        ValueError: ``power`` is negative or not finite; ``counts`` is not
            1-D, is empty, has a NaN/inf/negative entry, or is all zeros.

    Examples:
        >>> inverse_frequency_weights([90, 10])
        tensor([0.5556, 5.0000])
        >>> inverse_frequency_weights([90, 10], power=0.5)
        tensor([0.8333, 2.5000])
        >>> inverse_frequency_weights([90, 0, 10])
        tensor([0.5556, 0.0000, 5.0000])
    """
    check_non_negative("power", power)
    tensor = _as_counts("counts", counts)
    n = tensor.detach().to(device="cpu", dtype=torch.float64)
    present = n > 0
    safe = torch.where(present, n, torch.ones_like(n))
    raw = torch.where(present, safe.pow(-power), torch.zeros_like(n))
    weights = raw * n.sum() / (raw * n).sum()
    return _finish(weights, tensor.device)


def balanced_weights(labels: ArrayLike, num_classes: int | None = None) -> torch.Tensor:
    r"""scikit-learn's ``"balanced"`` class weights, computed from labels.

    $$
    w_c = \frac{N}{K\, n_c}
    $$

    with ``N`` samples and ``K`` classes present. On the classes present this is
    exactly ``sklearn.utils.class_weight.compute_class_weight("balanced", ...)``;
    classes with no sample (possible with ``num_classes``) get 0, where
    scikit-learn raises.

    Reference: King & Zeng, "Logistic Regression in Rare Events Data",
    Political Analysis 2001.

    Args:
        labels: 1-D integer class indices.
        num_classes: number of classes (defaults to ``max(labels) + 1``, at most
            ``max(65536, 4 * len(labels))``; see
            [`class_counts`][imbalance_kit.weights.class_counts]).

    Returns:
        ``float32`` weights of shape ``(num_classes,)`` on the labels' device.

    Raises:
        TypeError: ``labels`` is not integer.
        ValueError: ``labels`` is empty, not 1-D, or out of range.

    Examples:
        >>> balanced_weights([0, 0, 0, 1])
        tensor([0.6667, 2.0000])
    """
    counts = class_counts(labels, num_classes)
    if counts.numel() == 0 or int(counts.sum()) == 0:
        raise error("labels", "non-empty", "no labels", raw=True)
    return inverse_frequency_weights(counts, power=1.0)


def effective_number_weights(counts: ArrayLike, beta: float = 0.999) -> torch.Tensor:
    r"""Class-balanced weights from the effective number of samples.

    The effective number of ``n`` samples is ``(1 - beta**n) / (1 - beta)``;
    each class is weighted by its inverse, normalised so that the weights of the
    ``K`` non-empty classes sum to ``K`` (the number of classes when none is
    empty):

    $$
    w_c = \frac{1 - \beta}{1 - \beta^{n_c}}, \qquad
    w_c \leftarrow K\, \frac{w_c}{\sum_{j:\, n_j > 0} w_j}.
    $$

    ``beta=0`` gives all ones; ``beta -> 1`` tends to inverse frequency. Empty
    classes get 0. Computed in float64 (``expm1``/``log1p``) so that ``beta``
    close to 1 stays accurate.

    Reference: Cui et al., "Class-Balanced Loss Based on Effective Number of
    Samples", CVPR 2019.

    Args:
        counts: 1-D non-negative per-class counts.
        beta: hyper-parameter in ``[0, 1)``.

    Returns:
        ``float32`` weights of shape ``(C,)`` on the counts' device.

    Raises:
        ValueError: ``beta`` outside ``[0, 1)``; ``counts`` is not 1-D, is
            empty, has a NaN/inf/negative entry, or is all zeros.

    Examples:
        >>> effective_number_weights([1000, 100, 10], beta=0.99)
        tensor([0.2301, 0.3630, 2.4068])
        >>> effective_number_weights([5, 5], beta=0.5)
        tensor([1., 1.])
    """
    check_in_range("beta", beta, 0.0, 1.0, high_inclusive=False)
    tensor = _as_counts("counts", counts)
    n = tensor.detach().to(device="cpu", dtype=torch.float64)
    present = n > 0
    if beta == 0.0:
        raw = present.to(torch.float64)
    else:
        # (1 - beta) / (1 - beta**n) with 1 - beta**n = -expm1(n * log(beta))
        one_minus_beta_n = -torch.expm1(n * math.log(beta))
        raw = torch.where(
            present,
            (1.0 - beta) / torch.where(present, one_minus_beta_n, torch.ones_like(n)),
            torch.zeros_like(n),
        )
    weights = raw * present.sum() / raw.sum()
    return _finish(weights, tensor.device)


def positive_weights(
    multilabel_targets: ArrayLike,
    max_weight: float | None = None,
    *,
    overrides: Mapping[int | str, float] | None = None,
    class_names: Sequence[str] | None = None,
) -> torch.Tensor:
    r"""Per-label ``pos_weight`` for ``BCEWithLogitsLoss``: negatives over positives.

    $$
    w_l = \frac{\sum_i (1 - y_{il})}{\sum_i y_{il}}
    $$

    With this ``pos_weight`` the positives of each label carry as much total
    loss weight as its negatives. Soft targets in ``[0, 1]`` are counted
    fractionally. A label with no positive gets ``max_weight`` when it is given
    and 1.0 (no reweighting) otherwise; a label with no negative gets 0.
    ``overrides`` then set chosen labels to fixed weights (not capped), by
    index or, with ``class_names``, by name, as in
    [`compute_class_weights`][imbalance_kit.weights.compute_class_weights].

    Args:
        multilabel_targets: ``(N, L)`` (or ``(N,)`` for one label) targets in
            ``[0, 1]``: bool, integer or float. ``(N,)`` is read as ``(N, 1)``.
        max_weight: optional cap, ``> 0``; weights above it are set to it.
        overrides: ``{label index or name: weight}``, weights finite and ``>= 0``.
        class_names: names of the ``L`` labels, in column order (one name for
            1-D input).

    Returns:
        ``float32`` tensor of shape ``(L,)`` (``(1,)`` for 1-D input, which
        broadcasts against ``(N,)`` logits as ``pos_weight``) on the targets' device.

    Raises:
        ValueError: targets outside ``[0, 1]``, NaN, not 1-D/2-D, or empty;
            ``max_weight`` not positive; unknown override name or index;
            override weight negative or not finite; ``class_names`` not
            unique or of another length than the number of labels.
        TypeError: ``class_names`` not a sequence of str; ``overrides`` not a
            mapping, or keyed by something other than int or str.

    Examples:
        >>> y = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 1]])
        >>> positive_weights(y)
        tensor([3., 1.])
        >>> positive_weights(torch.tensor([[1], [0], [0], [0], [0]]), max_weight=2.0)
        tensor([2.])
        >>> positive_weights(torch.tensor([1, 0, 0, 1, 0]))  # one label, (N,)
        tensor([1.5000])

        A label set by name, the others computed and capped:

        >>> y = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
        >>> positive_weights(
        ...     y, max_weight=3.0, overrides={"limp": 8.0}, class_names=["fall", "limp", "lying"]
        ... )
        tensor([3., 8., 3.])
    """
    if max_weight is not None:
        check_positive("max_weight", max_weight)
    _check_class_names(class_names)
    y = _as_tensor("multilabel_targets", multilabel_targets)
    check_ndim("multilabel_targets", y, (1, 2))
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if y.shape[0] == 0:
        raise error("multilabel_targets", "non-empty", f"shape {tuple(y.shape)}", raw=True)
    if y.dtype != torch.bool:
        check_non_negative_tensor("multilabel_targets", y)
        if bool((y > 1).any()):
            raise error("multilabel_targets", "in [0, 1]", f"maximum {y.max().item()!r}", raw=True)
    pos = y.sum(dim=0, dtype=torch.float64)
    neg = y.shape[0] - pos
    no_pos = pos == 0
    ratio = neg / torch.where(no_pos, torch.ones_like(pos), pos)
    fill = 1.0 if max_weight is None else float(max_weight)
    ratio = torch.where(no_pos, torch.full_like(ratio, fill), ratio)
    if max_weight is not None:
        ratio = ratio.clamp(max=float(max_weight))
    _check_names_match(class_names, y.shape[1], "label")
    weights = ratio.to(torch.float32)
    _apply_overrides(weights, overrides, class_names)
    return weights


def _weights_from_counts(counts: torch.Tensor, method: str, beta: float) -> torch.Tensor:
    if method in ("balanced", "inverse"):
        return inverse_frequency_weights(counts, power=1.0)
    if method == "sqrt_inverse":
        return inverse_frequency_weights(counts, power=0.5)
    return effective_number_weights(counts, beta=beta)


def _check_class_names(class_names: Sequence[str] | None) -> None:
    """Static check of ``class_names``: a sequence of unique str (or ``None``)."""
    if class_names is None:
        return
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise error("class_names", "a sequence of str", class_names, TypeError)
    if len(set(class_names)) != len(class_names):
        raise error("class_names", "unique", list(class_names))


def _check_names_match(class_names: Sequence[str] | None, count: int, unit: str) -> None:
    if class_names is not None and len(class_names) != count:
        raise ValueError(
            f"class_names must have one name per {unit} ({count}), got {len(class_names)} names"
        )


def _apply_overrides(
    weights: torch.Tensor,
    overrides: Mapping[int | str, float] | None,
    class_names: Sequence[str] | None,
) -> None:
    """Set ``weights[key]`` (1-D, in place) to each override, by index or by name."""
    if overrides is None:
        return
    if not isinstance(overrides, Mapping):
        raise error("overrides", "a mapping {class: weight}", overrides, TypeError)
    for key, value in overrides.items():
        index = _resolve_override_key(key, weights.numel(), class_names)
        check_non_negative(f"overrides[{key!r}]", value)
        weights[index] = float(value)


def _resolve_override_key(
    key: int | str, num_classes: int, class_names: Sequence[str] | None
) -> int:
    if isinstance(key, str):
        if class_names is None:
            raise error(
                "overrides",
                "keyed by class index unless class_names is given",
                f"name {key!r}",
                raw=True,
            )
        if key not in class_names:
            shown = ", ".join(repr(n) for n in class_names)
            raise error(f"overrides key {key!r}", f"one of the class names {shown}", key)
        return list(class_names).index(key)
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise error("overrides keys", "class indices (int) or class names (str)", key, TypeError)
    if not 0 <= int(key) < num_classes:
        raise error("overrides key", f"a class index in [0, {num_classes})", int(key))
    return int(key)


def compute_class_weights(
    labels_or_counts: ArrayLike,
    method: WeightMethod = "balanced",
    beta: float = 0.999,
    max_weight: float | None = None,
    overrides: Mapping[int | str, float] | None = None,
    class_names: Sequence[str] | None = None,
    *,
    from_counts: bool = False,
    num_classes: int | None = None,
) -> torch.Tensor:
    """Class weights from one method, then capped, then overridden.

    The steps, in order:

    1. counts from labels (or the counts themselves with ``from_counts=True``);
    2. weights by ``method``: ``"balanced"`` and ``"inverse"`` give
       ``N / (K n_c)`` ([`balanced_weights`][imbalance_kit.weights.balanced_weights]),
       ``"sqrt_inverse"`` gives
       [`inverse_frequency_weights`][imbalance_kit.weights.inverse_frequency_weights] with
       ``power=0.5``, ``"effective"`` gives
       [`effective_number_weights`][imbalance_kit.weights.effective_number_weights] with ``beta``;
    3. every weight above ``max_weight`` is set to ``max_weight``;
    4. ``overrides`` set chosen classes to fixed weights (not capped), by
       index or, with ``class_names``, by name.

    Empty classes get 0 before overrides.

    Args:
        labels_or_counts: 1-D integer class labels, or per-class counts when
            ``from_counts=True``.
        method: ``"balanced"``, ``"inverse"``, ``"sqrt_inverse"`` or ``"effective"``.
        beta: the effective-number hyper-parameter in ``[0, 1)``; used by
            ``method="effective"`` only (validated always).
        max_weight: optional cap ``> 0`` on the computed weights.
        overrides: ``{class index or name: weight}``, weights finite and ``>= 0``.
        class_names: names of the classes, in index order; its length fixes
            the number of classes.
        from_counts: read ``labels_or_counts`` as per-class counts. Floating
            input is refused without it, so counts are never mistaken for labels.
        num_classes: number of classes when reading labels (defaults to
            ``len(class_names)``, else ``max(labels) + 1``, at most
            ``max(65536, 4 * len(labels))``; see
            [`class_counts`][imbalance_kit.weights.class_counts]).

    Returns:
        ``float32`` tensor of shape ``(C,)`` on the input's device.

    Raises:
        ValueError: unknown ``method``; bad ``beta``/``max_weight``; unknown
            override name or index; override weight negative or not finite;
            ``class_names`` length disagrees with the counts.
        TypeError: floating labels without ``from_counts=True``.

    Examples:
        Named rare labels at 10x and 5x, every other label automatic and capped at 3x:

        >>> labels = torch.tensor([0] * 80 + [1] * 12 + [2] * 5 + [3] * 3)
        >>> compute_class_weights(
        ...     labels,
        ...     max_weight=3.0,
        ...     overrides={"fall": 10.0, "limp": 5.0},
        ...     class_names=["normal", "lying", "fall", "limp"],
        ... )
        tensor([ 0.3125,  2.0833, 10.0000,  5.0000])
        >>> compute_class_weights([500, 50, 5], method="sqrt_inverse", from_counts=True)
        tensor([0.7838, 2.4785, 7.8377])
    """
    check_choice("method", method, METHODS)
    check_in_range("beta", beta, 0.0, 1.0, high_inclusive=False)
    if max_weight is not None:
        check_positive("max_weight", max_weight)
    check_bool("from_counts", from_counts)
    _check_class_names(class_names)
    bound = "num_classes"
    if class_names is not None and num_classes is None:
        num_classes, bound = len(class_names), "len(class_names)"
    if from_counts:
        counts = _as_counts("labels_or_counts", labels_or_counts)
    else:
        tensor = _as_tensor("labels_or_counts", labels_or_counts)
        if tensor.is_floating_point():
            raise error(
                "labels_or_counts",
                "integer class labels (pass from_counts=True for per-class counts)",
                f"dtype {tensor.dtype}",
                TypeError,
                raw=True,
            )
        tensor = _as_labels("labels_or_counts", tensor)
        counts = _count_labels("labels_or_counts", tensor, num_classes, bound=bound)
        if counts.numel() == 0 or int(counts.sum()) == 0:
            raise error("labels_or_counts", "non-empty", "no labels", raw=True)
    _check_names_match(class_names, counts.numel(), "class")
    if from_counts and num_classes is not None and num_classes != counts.numel():
        raise error("num_classes", f"the number of counts ({counts.numel()})", num_classes)
    weights = _weights_from_counts(counts, method, beta)
    if max_weight is not None:
        weights = weights.clamp(max=float(max_weight))
    _apply_overrides(weights, overrides, class_names)
    return weights


# --------------------------------------------------------------------------- describe


class DistributionSummary(dict):
    """A ``dict`` describing a label distribution that prints as a table.

    Keys: ``num_samples``, ``num_classes``, ``class_names``, ``counts``,
    ``shares``, ``imbalance_ratio``, ``empty_classes`` and ``weights``
    (``{method: [weight per class]}``). Values are plain Python numbers and
    lists, so the summary serialises to JSON as is.

    Examples:
        >>> s = describe_distribution([0, 0, 0, 1])
        >>> s["imbalance_ratio"]
        3.0
    """

    def table(self) -> str:
        """Render the summary as a fixed-width text table."""
        names = self["class_names"]
        methods = list(self["weights"])
        header = ["class", "count", "share", *methods]
        rows = [
            [
                str(names[c]),
                str(self["counts"][c]),
                f"{100 * self['shares'][c]:.2f}%",
                *(f"{self['weights'][m][c]:.4g}" for m in methods),
            ]
            for c in range(self["num_classes"])
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (cell.rjust(w) for cell, w in zip(cells[1:], widths[1:]))
            return "  ".join([first, *rest]).rstrip()

        ratio = self["imbalance_ratio"]
        title = (
            f"{self['num_samples']} samples, {self['num_classes']} classes, "
            f"imbalance ratio {ratio:.4g}"
        )
        if self["empty_classes"]:
            title += f", empty: {', '.join(str(names[c]) for c in self['empty_classes'])}"
        rule = "-" * len(line(header))
        return "\n".join([title, line(header), rule, *(line(r) for r in rows)])

    def __str__(self) -> str:
        return self.table()


def describe_distribution(
    labels: ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    num_classes: int | None = None,
    beta: float = 0.999,
) -> DistributionSummary:
    """Counts, shares, imbalance ratio and the weights each method would give.

    The imbalance ratio is the largest count over the smallest non-zero count
    (empty classes are listed under ``empty_classes`` instead of making it
    infinite).

    Args:
        labels: 1-D integer class labels.
        class_names: names in index order (defaults to the indices as strings);
            its length fixes the number of classes.
        num_classes: number of classes when ``class_names`` is not given
            (defaults to ``max(labels) + 1``, at most ``max(65536, 4 * len(labels))``).
        beta: ``beta`` of the ``"effective"`` column.

    Returns:
        A [`DistributionSummary`][imbalance_kit.weights.DistributionSummary] (a ``dict``; ``print``
        it for a table).

    Raises:
        ValueError: empty or invalid labels, or ``class_names`` of the wrong length.

    Examples:
        >>> print(describe_distribution([0] * 6 + [1] * 3 + [2], ["ok", "warn", "fail"]))
        10 samples, 3 classes, imbalance ratio 6
        class  count   share  balanced  inverse  sqrt_inverse  effective
        ----------------------------------------------------------------
        ok         6  60.00%    0.5556   0.5556        0.7879      0.334
        warn       3  30.00%     1.111    1.111         1.114      0.667
        fail       1  10.00%     3.333    3.333          1.93      1.999
    """
    bound = "num_classes"
    if class_names is not None:
        if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
            raise error("class_names", "a sequence of str", class_names, TypeError)
        if num_classes is None:
            num_classes, bound = len(class_names), "len(class_names)"
    counts = _count_labels("labels", _as_labels("labels", labels), num_classes, bound=bound)
    total = int(counts.sum())
    if total == 0:
        raise error("labels", "non-empty", "no labels", raw=True)
    k = counts.numel()
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"class_names must have one name per class ({k}), got {len(class_names)}")
    names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    counts_list = [int(c) for c in counts.cpu().tolist()]
    nonzero = [c for c in counts_list if c > 0]
    weights = {m: _weights_from_counts(counts, m, beta).cpu().tolist() for m in METHODS}
    return DistributionSummary(
        num_samples=total,
        num_classes=k,
        class_names=names,
        counts=counts_list,
        shares=[c / total for c in counts_list],
        imbalance_ratio=max(nonzero) / min(nonzero),
        empty_classes=[c for c, n in enumerate(counts_list) if n == 0],
        weights=weights,
    )


def plot_distribution(
    labels: ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    num_classes: int | None = None,
    log_scale: bool = True,
    ax: Any = None,
) -> Any:
    """Bar chart of the class counts (log scale by default); needs matplotlib.

    Args:
        labels: 1-D integer class labels.
        class_names: tick labels, in index order.
        num_classes: number of classes when ``class_names`` is not given.
        log_scale: logarithmic count axis.
        ax: a matplotlib ``Axes`` to draw into; a new figure when ``None``.

    Returns:
        The ``matplotlib.figure.Figure`` holding the chart.

    Raises:
        ImportError: matplotlib is not installed.

    Examples:
        >>> fig = plot_distribution([0] * 90 + [1] * 9 + [2], ["a", "b", "c"])
        >>> fig.axes[0].get_yscale()
        'log'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "plot_distribution needs matplotlib: pip install 'imbalance-kit[plot]'"
        ) from exc
    summary = describe_distribution(labels, class_names, num_classes=num_classes)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * summary["num_classes"] + 2), 3.5))
    else:
        fig = ax.figure
    positions = list(range(summary["num_classes"]))
    ax.bar(positions, summary["counts"], color="#3f51b5")
    ax.set_xticks(positions)
    ax.set_xticklabels(summary["class_names"], rotation=45 if len(positions) > 8 else 0)
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel("samples")
    ax.set_title(
        f"{summary['num_samples']} samples, imbalance ratio {summary['imbalance_ratio']:.3g}"
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- warnings


class DoubleCorrectionWarning(UserWarning):
    """A class-balanced sampler and a class-weighted loss act on the same labels.

    Each one alone makes rare classes count like frequent ones; together the
    rare classes are up-weighted twice (a class at 1% ends up counting roughly
    100 times more than a frequent one instead of as much).
    """


def _is_non_uniform(name: str, weight: Any) -> bool:
    if weight is None:
        return False
    tensor = _as_tensor(name, weight)
    if tensor.numel() <= 1:
        return False if tensor.numel() == 0 else float(tensor) != 1.0
    flat = tensor.detach().reshape(-1)
    return not bool((flat == flat[0]).all())


def _balancing_sampler(sampler: Any) -> Any:
    """The class-balancing sampler behind ``sampler`` (itself or a DataLoader's), or None."""
    for attr in ("batch_sampler", "sampler"):  # a DataLoader: look at what draws its indices
        inner = getattr(sampler, attr, None)
        if inner is not None and inner is not sampler:
            found = _balancing_sampler(inner)
            if found is not None:
                return found
    flag = getattr(sampler, "balances_classes", None)
    if flag is not None:
        return sampler if flag else None
    if isinstance(sampler, torch.utils.data.WeightedRandomSampler):
        return sampler if _is_non_uniform("sampler.weights", sampler.weights) else None
    return None


def warn_if_double_correction(
    sampler: Any,
    loss_weight: Any = None,
    pos_weight: Any = None,
    *,
    stacklevel: int = 2,
) -> bool:
    """Warn when a class-balanced sampler and a class-weighted loss are both on.

    A sampler counts as class-balancing when it says so through a
    ``balances_classes`` attribute (every sampler of
    [`imbalance_kit.sampling`][imbalance_kit.sampling] has one), or when it is a
    ``torch.utils.data.WeightedRandomSampler`` with non-uniform weights. A
    ``DataLoader`` is looked through to its ``sampler`` / ``batch_sampler``.
    A loss counts as class-weighted when ``loss_weight`` (``weight=`` of
    ``cross_entropy``) or ``pos_weight`` is given and not constant.

    Args:
        sampler: a sampler, batch sampler or ``DataLoader`` (``None`` for none).
        loss_weight: the per-class loss weight, if any.
        pos_weight: the per-label ``pos_weight``, if any.
        stacklevel: passed to `warnings.warn`.

    Returns:
        ``True`` when the warning was issued.

    Examples:
        >>> from torch.utils.data import WeightedRandomSampler
        >>> sampler = WeightedRandomSampler([1.0, 1.0, 1.0, 3.0], num_samples=4)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_if_double_correction(sampler, loss_weight=torch.tensor([0.7, 2.0]))
        True
        >>> caught[0].category.__name__
        'DoubleCorrectionWarning'
    """
    loss_varies = _is_non_uniform("loss_weight", loss_weight)
    pos_varies = _is_non_uniform("pos_weight", pos_weight)
    balancing = None if sampler is None else _balancing_sampler(sampler)
    if balancing is None or not (loss_varies or pos_varies):
        return False
    which = "loss weight" if loss_varies else "pos_weight"
    warnings.warn(
        f"{type(balancing).__name__} already balances the classes and the loss also has a "
        f"class {which}: the imbalance correction is applied twice, so rare classes end up "
        "over-weighted. Use one of the two (or a sampler with power > 0 plus a milder weight).",
        DoubleCorrectionWarning,
        stacklevel=stacklevel,
    )
    return True
