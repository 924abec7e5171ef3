"""Class lists and tail classes of each task's label column."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imbalance_kit.app import error

__all__ = ["TaskLabels", "infer_classes"]


def _as_int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 and str(value) == text.strip() else None


def infer_classes(values: Sequence[str]) -> tuple[str, ...]:
    """Class names in index order: ``0..max`` for integer labels, else sorted names.

    Integer labels keep their value as index (a class that never occurs still has
    its slot), so ``"1"`` is always class 1.

    Examples:
        >>> infer_classes(["0", "2", "0"])
        ('0', '1', '2')
        >>> infer_classes(["tail", "normal"])
        ('normal', 'tail')
    """
    if not values:
        raise error("values", "at least one label", "none", raw=True)
    ints = [_as_int(v) for v in values]
    if all(i is not None for i in ints):
        return tuple(str(i) for i in range(max(ints) + 1))  # type: ignore[type-var]
    return tuple(sorted(set(values)))


@dataclass(frozen=True)
class TaskLabels:
    """The classes of one task and which of them form its tail.

    Args:
        name: the task (its manifest column).
        classes: class names in index order.
        tail: indices of the tail (rare) classes.

    Examples:
        >>> task = TaskLabels.from_values("label", ["0", "0", "1", "0"])
        >>> task.classes, task.tail, task.encode(["1", "0"]).tolist()
        (('0', '1'), (1,), [1, 0])
    """

    name: str
    classes: tuple[str, ...]
    tail: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes (logits of the task's head)."""
        return len(self.classes)

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Sequence[str],
        tail: Sequence[str | int] | None = None,
        classes: Sequence[str] | None = None,
        *,
        tail_key: str | None = None,
    ) -> TaskLabels:
        """Classes from the observed labels; the tail given or the rarest observed class.

        Args:
            name: the task name.
            values: the labels (text) of the events that define the classes and counts
                (usually the training manifest).
            tail: tail classes by name or index; ``None`` picks the rarest class present
                (the highest index among ties).
            classes: the class list, if it should not be inferred from ``values``.
            tail_key: where ``tail`` came from (a config key such as ``tasks.label.tail``
                or an option), named in the error for a tail that is not a class.

        Raises:
            ValueError: a tail class that is not a class, or fewer than two classes.

        Examples:
            >>> TaskLabels.from_values("label", ["still", "motion", "still"], ["1"],
            ...                        tail_key="tasks.label.tail")
            Traceback (most recent call last):
            ...
            ValueError: tasks.label.tail must be classes of the label column ['motion', 'still'] \
(set it, e.g. --set tasks.label.tail=[motion]), got '1'
        """
        names = tuple(classes) if classes is not None else infer_classes(values)
        if len(names) < 2:
            raise error(f"labels of task {name!r}", "at least two classes", list(names))
        if tail is None:
            counts = Counter(values)
            present = [i for i, c in enumerate(names) if counts.get(c, 0) > 0]
            if not present:
                raise error(f"labels of task {name!r}", "a known class", list(values[:3]))
            chosen = min(present, key=lambda i: (counts[names[i]], -i))
            tail_idx: tuple[int, ...] = (chosen,)
        else:
            found = []
            for item in tail:
                key = str(item)
                if key not in names:
                    if tail_key is None:
                        raise error(f"tail of task {name!r}", f"classes among {list(names)}", item)
                    rarest = cls.from_values(name, values, None, names).tail[0]
                    hint = f"--set {tail_key}=[{names[rarest]}]" if "." in tail_key else tail_key
                    raise error(
                        tail_key,
                        f"classes of the {name} column {list(names)} (set it, e.g. {hint})",
                        item,
                    )
                found.append(names.index(key))
            if not found:
                raise error(f"tail of task {name!r}", "a non-empty list of classes", list(tail))
            tail_idx = tuple(sorted(set(found)))
        return cls(name, names, tail_idx)

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Class indices (``int64``) of label texts.

        Raises:
            ValueError: a label that is not one of the classes.
        """
        lookup = {c: i for i, c in enumerate(self.classes)}
        out = np.empty(len(values), dtype=np.int64)
        for j, value in enumerate(values):
            if value not in lookup:
                raise error(f"label of task {self.name!r}", f"one of {list(self.classes)}", value)
            out[j] = lookup[value]
        return out

    def is_tail(self, indices: np.ndarray) -> np.ndarray:
        """Boolean mask: which class indices belong to the tail."""
        return np.isin(indices, np.asarray(self.tail))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON, checkpoints)."""
        return {"name": self.name, "classes": list(self.classes), "tail": list(self.tail)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskLabels:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["name"]), tuple(data["classes"]), tuple(int(t) for t in data["tail"]))
