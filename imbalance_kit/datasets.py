"""Small real data sets made imbalanced, for demos, comparisons and benchmarks.

Everything here is offline: the data ship with scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imbalance_kit._validation import check_choice, check_in_range, check_positive, error

__all__ = ["LongTailSplit", "long_tail_counts", "make_digits_lt"]


@dataclass(frozen=True)
class LongTailSplit:
    """A long-tailed training set with a balanced test set.

    Attributes:
        X_train: training features, float32, shape ``(n_train, d)``.
        y_train: training labels, int64, long-tailed.
        X_test: test features, float32.
        y_test: test labels, int64, (close to) balanced.
        train_counts: number of training samples per class, head first.
        class_names: readable class names.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_counts: np.ndarray
    class_names: tuple[str, ...]


def long_tail_counts(
    n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exponential"
) -> np.ndarray:
    """Per-class counts from ``n_max`` (class 0) down to ``n_max / imbalance_ratio``.

    The exponential profile is the one of Cao et al. 2019 (CIFAR-LT):
    ``n_c = n_max * ratio ** (-c / (C - 1))``; the step profile gives the first
    half of the classes ``n_max`` and the rest ``n_max / ratio``.

    Args:
        n_max: count of the most frequent class.
        num_classes: number of classes ``C`` (>= 2).
        imbalance_ratio: ``n_max / n_min`` (>= 1).
        profile: ``"exponential"`` or ``"step"``.

    Returns:
        Integer counts, at least 1 each.

    Example:
        >>> long_tail_counts(100, 3, 100.0).tolist()
        [100, 10, 1]
    """
    check_positive("n_max", n_max)
    if num_classes < 2:
        raise error("num_classes", ">= 2", num_classes)
    check_in_range("imbalance_ratio", float(imbalance_ratio), 1.0, float("inf"))
    check_choice("profile", profile, ("exponential", "step"))
    c = np.arange(num_classes)
    if profile == "exponential":
        counts = n_max * float(imbalance_ratio) ** (-c / (num_classes - 1))
    else:
        counts = np.where(c < num_classes // 2, n_max, n_max / float(imbalance_ratio))
    return np.maximum(1, np.round(counts)).astype(np.int64)


def make_digits_lt(
    imbalance_ratio: float = 50.0,
    *,
    profile: str = "exponential",
    test_per_class: int = 50,
    seed: int = 0,
) -> LongTailSplit:
    """scikit-learn's digits (8x8 images, 10 classes) made long-tailed.

    A balanced test set of ``test_per_class`` images per class is held out first;
    the training set is then subsampled per class following
    :func:`long_tail_counts`, head class 0 keeping every remaining image. Class
    order is fixed (digit 0 is the head, digit 9 the tail) so results are
    comparable across seeds; the seed picks which images are kept. Features are
    scaled to [0, 1].

    Args:
        imbalance_ratio: ``n_head / n_tail`` of the training set.
        profile: ``"exponential"`` (default) or ``"step"``.
        test_per_class: balanced test images per class.
        seed: seed of the subsampling.

    Returns:
        A :class:`LongTailSplit`.

    Example:
        >>> split = make_digits_lt(imbalance_ratio=50, seed=0)
        >>> int(split.train_counts[0] / split.train_counts[-1])
        50
        >>> np.bincount(split.y_test).tolist() == [50] * 10
        True
    """
    from sklearn.datasets import load_digits

    if not 1 <= test_per_class <= 100:
        raise error("test_per_class", "in [1, 100]", test_per_class)
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    num_classes = 10
    test_idx, pools = [], []
    for c in range(num_classes):
        members = rng.permutation(np.flatnonzero(y == c))
        test_idx.append(members[:test_per_class])
        pools.append(members[test_per_class:])
    available = min(len(p) for p in pools)
    # Shrink the head so that head / tail is exactly the requested ratio.
    tail = max(1, int(available // imbalance_ratio))
    n_max = min(available, int(round(tail * imbalance_ratio)))
    counts = long_tail_counts(n_max, num_classes, imbalance_ratio, profile)
    train_idx = np.concatenate([pools[c][: counts[c]] for c in range(num_classes)])
    train_idx = rng.permutation(train_idx)
    test_all = np.concatenate(test_idx)
    return LongTailSplit(
        X_train=X[train_idx],
        y_train=y[train_idx],
        X_test=X[test_all],
        y_test=y[test_all],
        train_counts=counts,
        class_names=tuple(str(c) for c in range(num_classes)),
    )
