"""Predictions CSV files: read this package's ``predictions.csv`` or another tool's, and score them.

``imbalance-video score`` (the field notes' ``eval_metrics``) reads one row per event:

* this package's ``predictions.csv`` (``evaluate``, ``ensemble``): ``<task>_true`` and one
  probability column per class, ``<task>_p_<class>``; or
* another tool's file: ``--label-column`` (the true class) and either ``--score-column`` (the
  tail probability of a binary task) or ``--prob-prefix`` (one column ``<prefix><class>`` per
  class).

Optional ``split`` and ``video_id`` columns group the metrics by split and give the
per-video diagnostics. Every row is checked: a probability outside [0, 1] or not finite,
rows that do not sum to 1, a label that is not a class, each names the file and its line.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import check_positive_int, error, write_json
from imbalance_video.labels import TaskLabels, infer_classes
from imbalance_video.scoring import clustering, finite_or_none, tail_scores, task_metrics
from imbalance_video.scoring import video_spread as spread_by_video

__all__ = ["PredictionSet", "read_predictions", "score_predictions"]

#: Rows of class probabilities must sum to 1 within this tolerance.
SUM_TOLERANCE = 1e-3


@dataclass
class PredictionSet:
    """Events of a predictions file: true classes, class probabilities, splits and videos.

    Args:
        task: the classes and the tail.
        y: ``(N,)`` class indices.
        probs: ``(N, C)`` class probabilities.
        splits: ``(N,)`` split names (``"all"`` without a split column).
        video_ids: ``(N,)`` video ids, or ``None`` without a video column.
        source: the file read.
    """

    task: TaskLabels
    y: np.ndarray
    probs: np.ndarray
    splits: np.ndarray
    video_ids: np.ndarray | None
    source: Path

    def select(self, split: str) -> PredictionSet:
        """The events of one split."""
        mask = self.splits == split
        videos = None if self.video_ids is None else self.video_ids[mask]
        return PredictionSet(
            self.task, self.y[mask], self.probs[mask], self.splits[mask], videos, self.source
        )


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"predictions must be an existing CSV file, got {str(path)!r}")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    if not rows:
        raise error(f"predictions {path.name}", "a CSV with at least one row", "none", raw=True)
    return columns, rows


def read_predictions(
    path: str | os.PathLike[str],
    *,
    task: str = "label",
    label_column: str | None = None,
    score_column: str | None = None,
    prob_prefix: str | None = None,
    tail: list[str] | None = None,
    split_column: str = "split",
    video_column: str = "video_id",
) -> PredictionSet:
    """Read a predictions CSV (see the module text for the formats).

    Args:
        path: the CSV file.
        task: the task of this package's ``predictions.csv`` (its ``<task>_true`` and
            ``<task>_p_<class>`` columns), when ``label_column`` is not given.
        label_column: the true class of another tool's file.
        score_column: with ``label_column``: the tail probability of a binary task.
        prob_prefix: with ``label_column``: the prefix of one probability column per class.
        tail: tail classes (default: ``1`` for 0/1 labels with ``score_column``, else the
            rarest true class).
        split_column: groups rows by split when present.
        video_column: the video id of each row when present.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing column, a probability that is not in [0, 1], a row that does
            not sum to 1, a label that is not a class; each names the file and line.

    Examples:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "p.csv"
        >>> _ = f.write_text("label,prob\\n0,0.2\\n1,0.7\\n0,0.4\\n")
        >>> p = read_predictions(f, label_column="label", score_column="prob")
        >>> p.task.classes, p.task.tail, p.probs[:, 1].tolist()
        (('0', '1'), (1,), [0.2, 0.7, 0.4])
    """
    source = Path(path)
    columns, rows = _read_rows(source)
    where = f"predictions {source.name}"
    label_col = label_column or f"{task}_true"
    if label_col not in columns:
        hint = "" if label_column else " (or give --label-column)"
        raise error(where, f"a column {label_col!r}{hint}", f"columns {columns}", raw=True)
    labels = [r[label_col] for r in rows]
    prob_cols: list[str] = []
    if label_column is None or prob_prefix is not None:  # one probability column per class
        if score_column is not None:
            raise error("score_column", "None with prob_prefix", score_column)
        prefix = prob_prefix if label_column is not None else f"{task}_p_"
        names = [c[len(prefix) :] for c in columns if c.startswith(prefix)]
        names = [n for n in names if n and not (label_column is None and n == "tail")]
        classes = tuple(names) if label_column is None else infer_classes(names)
        prob_cols = [f"{prefix}{c}" for c in classes]
        if len(classes) < 2:
            raise error(where, f"columns {prefix}<class> for 2+ classes", f"{columns}", raw=True)
    elif score_column is not None:  # the tail probability of a binary task
        if score_column not in columns:
            raise error(where, f"a column {score_column!r}", f"columns {columns}", raw=True)
        classes = ("0", "1") if set(labels) <= {"0", "1"} else infer_classes(labels)
        if len(classes) != 2:
            raise error(
                f"{where} {label_col}", "two classes with a score column", classes, raw=True
            )
    else:
        raise error("score_column or prob_prefix", "given with label_column", "neither")
    if tail is None and score_column is not None and "1" in classes:
        tail = ["1"]
    task_labels = TaskLabels.from_values(
        task, [v for v in labels if v in classes] or [classes[0]], tail, classes, tail_key="--tail"
    )
    if score_column is not None and len(task_labels.tail) != 1:
        raise error("--tail", "one class with a score column", list(tail or []))
    y = np.empty(len(rows), dtype=np.int64)
    probs = np.empty((len(rows), len(classes)), dtype=np.float64)
    lookup = {c: i for i, c in enumerate(classes)}
    for i, row in enumerate(rows):
        line = f"{where} line {i + 2}"
        if row[label_col] not in lookup:
            raise error(f"{line} {label_col}", f"one of {list(classes)}", row[label_col], raw=True)
        y[i] = lookup[row[label_col]]
        try:
            values = [float(row[c]) for c in (prob_cols or [score_column])]
        except ValueError:
            raise error(line, "numbers in the probability columns", row, raw=True) from None
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
            raise error(line, "probabilities in [0, 1]", values, raw=True)
        if prob_cols and abs(sum(values) - 1.0) > SUM_TOLERANCE:
            raise error(line, f"class probabilities summing to 1 (+-{SUM_TOLERANCE})", values)
        if prob_cols:
            probs[i] = values
        else:
            t = task_labels.tail[0]
            probs[i] = [values[0] if c == t else 1.0 - values[0] for c in range(2)]
    if split_column in columns:
        splits = np.array([r[split_column] or "all" for r in rows])
    else:
        splits = np.array(["all"] * len(rows))
    videos = np.array([r[video_column] for r in rows]) if video_column in columns else None
    return PredictionSet(task_labels, y, probs, splits, videos, source)


def score_predictions(
    predictions: PredictionSet,
    out: str | os.PathLike[str] | None = None,
    *,
    cluster_min_repeats: int = 3,
    cluster_decimals: int = 3,
) -> dict[str, Any]:
    """Metrics of a :class:`PredictionSet` per split, as ``evaluate`` reports a run's.

    Per split: :func:`imbalance_video.scoring.task_metrics` (tail recall and F1, macro-F1,
    ROC AUC, PR AUC, ECE, Brier, the degenerate-output flag), probability clustering and,
    with video ids, the per-video spread (``video_share`` against ``label_video_share``).

    Args:
        predictions: from :func:`read_predictions`.
        out: a JSON file to write the result to (atomically); ``None`` writes nothing.
        cluster_min_repeats: probability clustering counts values shared by this many events.
        cluster_decimals: and rounds them to these decimals.

    Returns:
        ``{"source", "task", "splits": {split: metrics}}``.
    """
    check_positive_int("cluster_min_repeats", cluster_min_repeats, minimum=2)
    task = predictions.task
    result: dict[str, Any] = {
        "source": str(predictions.source),
        "task": task.to_dict(),
        "splits": {},
    }
    for split in dict.fromkeys(predictions.splits.tolist()):
        part = predictions.select(split)
        scores = tail_scores(part.probs, task)
        metrics: dict[str, Any] = task_metrics(part.y, part.probs, task)
        metrics["clustering"] = clustering(
            scores, min_repeats=cluster_min_repeats, decimals=cluster_decimals
        )
        if part.video_ids is not None:
            spread = spread_by_video(part.video_ids.tolist(), scores, task.is_tail(part.y))
            metrics["video_spread"] = spread
        result["splits"][split] = metrics
    result = finite_or_none(result)
    if out is not None:
        write_json(out, result)
    return result
