"""Labelled text corpora: reading CSV / JSONL, writing, and splitting with the rare labels kept.

Two layouts are read:

* one 0/1 column per label, named as in the schema (``hate``,
  ``praising violence``, ...), next to the text column;
* one *list column* (``labels_column``) holding the positive label names of each
  row: a JSON list (``["hate", "slur"]``, native in JSONL) or names separated by
  ``|`` or ``;`` in CSV. An empty cell means no label.

Formats are chosen by the file extension: ``.csv``, ``.tsv``, ``.jsonl`` /
``.ndjson``, ``.json`` (a list of records) and ``.parquet`` (needs pyarrow).
Pickled data frames (``.pkl`` / ``.pickle``) are refused unless
``allow_pickle=True``: unpickling runs code from the file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imbalance_kit.app import check_in_range, error, write_text
from imbalance_text.schema import LabelSchema

__all__ = ["Corpus", "read_corpus", "split_corpus", "write_corpus"]

_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


@dataclass
class Corpus:
    """Texts and their multi-label targets under a schema.

    Attributes:
        texts: the documents.
        targets: ``(N, L)`` float32 0/1 matrix; columns follow ``schema.names``.
        schema: the label schema.
        ids: one identifier per text (the id column, or the row number).

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> schema = LabelSchema(["hate"], {"slur": "hate"})
        >>> c = Corpus(["a", "b"], np.array([[1, 1], [0, 0]], dtype=np.float32), schema)
        >>> c.label_counts()
        {'hate': 1, 'slur': 1}
    """

    texts: list[str]
    targets: np.ndarray
    schema: LabelSchema
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.float32)
        if self.targets.ndim != 2 or self.targets.shape != (
            len(self.texts),
            self.schema.num_labels,
        ):
            raise error(
                "targets",
                f"of shape ({len(self.texts)}, {self.schema.num_labels})",
                f"shape {self.targets.shape}",
                raw=True,
            )
        if self.ids is None:
            self.ids = [str(i) for i in range(len(self.texts))]
        elif len(self.ids) != len(self.texts):
            raise error("ids", f"{len(self.texts)} entries", f"{len(self.ids)}", raw=True)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Any) -> Corpus:
        """The rows at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        ids = self.ids or [str(i) for i in range(len(self.texts))]
        return Corpus(
            [self.texts[i] for i in idx], self.targets[idx], self.schema, [ids[i] for i in idx]
        )

    def label_counts(self) -> dict[str, int]:
        """Number of positive rows of every label."""
        counts = self.targets.sum(axis=0)
        return {n: int(c) for n, c in zip(self.schema.names, counts)}

    def to_frame(self) -> pd.DataFrame:
        """A data frame with ``id``, ``text`` and one 0/1 column per label."""
        frame = pd.DataFrame({"id": self.ids, "text": self.texts})
        for j, name in enumerate(self.schema.names):
            frame[name] = self.targets[:, j].astype(np.int64)
        return frame


def _read_frame(path: Path, allow_pickle: bool) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, dtype=str)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".json":
        return pd.read_json(path, dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".pkl", ".pickle"):
        if not allow_pickle:
            raise ValueError(
                f"{path} is a pickle: unpickling runs code from the file, so it is refused; "
                "convert it to CSV/JSONL/Parquet, or pass allow_pickle=True (CLI: --allow-pickle) "
                "for a file you trust"
            )
        return pd.read_pickle(path)
    raise error(
        "data path",
        "a .csv, .tsv, .jsonl, .ndjson, .json or .parquet file",
        f"{str(path)!r}",
        raw=True,
    )


def _flag(value: Any, column: str, row: int) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and not (
        isinstance(value, float) and math.isnan(value)
    ):
        if value in (0, 1):
            return float(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    raise error(f"label column {column!r} row {row}", "0/1 (or true/false)", f"{value!r}", raw=True)


def _label_list(value: Any, column: str, row: int) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(
                f"{column!r} row {row}", "a JSON list of label names", f"{text!r}", raw=True
            ) from exc
        return [str(v).strip() for v in parsed]
    sep = "|" if "|" in text else ";"
    return [part.strip() for part in text.split(sep) if part.strip()]


def read_corpus(
    path: str | os.PathLike[str],
    schema: LabelSchema,
    *,
    text_column: str = "text",
    labels_column: str | None = None,
    id_column: str | None = None,
    allow_pickle: bool = False,
) -> Corpus:
    """Read a labelled corpus (CSV, TSV, JSONL, JSON or Parquet).

    Args:
        path: the data file; the format follows its extension.
        schema: the label schema; its names are the label columns (or the
            allowed names of the list column).
        text_column: the column holding the text.
        labels_column: a list column of positive label names instead of one
            column per label.
        id_column: a column of row identifiers (default: the row number).
        allow_pickle: accept ``.pkl`` data frames (unpickling runs code).

    Returns:
        The :class:`Corpus`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing column, an unknown label name, a label value that
            is not 0/1, an empty text, a pickle without ``allow_pickle``.

    Examples:
        >>> import tempfile, pathlib
        >>> from imbalance_text.schema import LabelSchema
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
        >>> _ = p.write_text('{"text": "you people", "labels": ["hate"]}\\n'
        ...                  '{"text": "nice day", "labels": []}\\n')
        >>> c = read_corpus(p, LabelSchema(["hate", "violence"]), labels_column="labels")
        >>> c.targets.tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data file {str(file)!r} does not exist")
    frame = _read_frame(file, allow_pickle)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if text_column not in columns:
        raise error(
            "text_column", f"a column of {file.name} ({columns})", f"{text_column!r}", raw=True
        )
    names = schema.names
    n = len(frame)
    targets = np.zeros((n, len(names)), dtype=np.float32)
    if labels_column is not None:
        if labels_column not in columns:
            raise error(
                "labels_column",
                f"a column of {file.name} ({columns})",
                f"{labels_column!r}",
                raw=True,
            )
        index = {name: j for j, name in enumerate(names)}
        for row, value in enumerate(frame[labels_column].tolist()):
            for name in _label_list(value, labels_column, row):
                if name not in index:
                    raise error(
                        f"{labels_column!r} row {row}", f"label names among {names}", f"{name!r}",
                        raw=True,
                    )  # fmt: skip
                targets[row, index[name]] = 1.0
    else:
        missing = [name for name in names if name not in columns]
        if missing:
            raise ValueError(
                f"{file.name} must have one 0/1 column per schema label (or pass labels_column), "
                f"missing {missing}"
            )
        for j, name in enumerate(names):
            targets[:, j] = [_flag(v, name, r) for r, v in enumerate(frame[name].tolist())]
    texts = ["" if v is None else str(v) for v in frame[text_column].tolist()]
    empty = [r for r, t in enumerate(texts) if not t.strip() or t == "nan"]
    if empty:
        raise error(
            f"{text_column!r}", "non-empty text in every row", f"empty rows {empty[:5]}", raw=True
        )
    ids = [str(v) for v in frame[id_column].tolist()] if id_column else None
    if id_column and id_column not in columns:
        raise error("id_column", f"a column of {file.name}", f"{id_column!r}", raw=True)
    return Corpus(texts, targets, schema, ids)


def write_corpus(corpus: Corpus, path: str | os.PathLike[str]) -> Path:
    """Write ``id``, ``text`` and one 0/1 column per label as CSV or JSONL (by extension).

    The file is written whole or not at all (:func:`imbalance_kit.app.write_text`).

    Raises:
        ValueError: an extension other than ``.csv`` or ``.jsonl``.
    """
    file = Path(path)
    frame = corpus.to_frame()
    if file.suffix.lower() == ".csv":
        text = frame.to_csv(index=False)
    elif file.suffix.lower() == ".jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
    else:
        raise error("path", "a .csv or .jsonl file", f"{str(file)!r}", raw=True)
    return write_text(file, text)


def split_corpus(
    corpus: Corpus, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> tuple[Corpus, Corpus, Corpus]:
    """Train / validation / test split that keeps every rare label in every part.

    Rows are stratified by their *rarest* positive label (rows without a label
    form one stratum): each stratum is shuffled and cut in the requested
    proportions, and a stratum with at least three rows gives at least one to
    validation and one to test, so a label with a handful of examples can still
    be tuned (validation) and measured (test).

    Args:
        corpus: the corpus to split.
        val_fraction: share of rows for validation, in ``[0, 1)``.
        test_fraction: share for test, in ``[0, 1)``; the two sum to less than 1.
        seed: random seed.

    Returns:
        ``(train, val, test)`` corpora.

    Raises:
        ValueError: fractions out of range.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> y = np.zeros((100, 2), dtype=np.float32); y[:3] = 1
        >>> c = Corpus([f"t{i}" for i in range(100)], y, LabelSchema(["a", "b"]))
        >>> tr, va, te = split_corpus(c, 0.2, 0.2)
        >>> [int(part.targets[:, 0].sum()) for part in (tr, va, te)]
        [1, 1, 1]
    """
    check_in_range("val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    check_in_range("test_fraction", test_fraction, 0.0, 1.0, high_inclusive=False)
    if val_fraction + test_fraction >= 1.0:
        raise error("val_fraction + test_fraction", "< 1", val_fraction + test_fraction)
    counts = corpus.targets.sum(axis=0)
    order = np.argsort(counts, kind="stable")  # rarest label first
    strata = np.full(len(corpus), -1, dtype=np.int64)
    for j in order[::-1]:  # later (rarer) labels overwrite
        strata[corpus.targets[:, j] > 0] = j
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        members = members[rng.permutation(len(members))]
        m = len(members)
        n_val, n_test = round(m * val_fraction), round(m * test_fraction)
        if m >= 3:
            n_val = max(n_val, 1 if val_fraction > 0 else 0)
            n_test = max(n_test, 1 if test_fraction > 0 else 0)
        parts[1] += members[:n_val].tolist()
        parts[2] += members[n_val : n_val + n_test].tolist()
        parts[0] += members[n_val + n_test :].tolist()
    _repair_rare_labels(corpus.targets, parts, (val_fraction, test_fraction), order)
    train, val, test = (corpus.subset(sorted(p)) for p in parts)
    return train, val, test


def _repair_rare_labels(
    targets: np.ndarray,
    parts: list[list[int]],
    fractions: tuple[float, float],
    order: np.ndarray,
) -> None:
    """Move rows so that every label with at least three positives reaches every part.

    Stratifying by the rarest label can leave a label out of validation or test
    when its rows also carry a rarer label. For each such label (rarest first) a
    positive row is moved into the part that lacks it, from a part that keeps at
    least one positive of that label afterwards.
    """
    positives = targets > 0
    for j in order:
        if positives[:, j].sum() < 3:
            continue
        for dest, fraction in ((1, fractions[0]), (2, fractions[1])):
            if fraction <= 0 or positives[parts[dest], j].any():
                continue
            for source in (0, 3 - dest):
                rows = [r for r in parts[source] if positives[r, j]]
                if len(rows) >= 2:
                    parts[source].remove(rows[-1])
                    parts[dest].append(rows[-1])
                    break
