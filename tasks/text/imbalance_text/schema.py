"""Label schema: primary labels, secondary labels and the primary each one implies.

A schema file is YAML (read with ``yaml.safe_load``)::

    primary: [hate, violence, extremism, harassment]
    secondary:
      anti-democratic rhetoric: extremism          # secondary -> the primary it implies
      praising extremist acts: extremism
      praising violence: violence
      ideologically motivated threats: [violence, extremism]   # several parents
      sexual harassment: harassment
    custom_weights:                                 # optional pos_weight by label name
      anti-democratic rhetoric: 10.0
      sexual harassment: 5.0
    rare: [anti-democratic rhetoric, praising extremist acts]  # optional

The label columns are the primary labels followed by the secondary labels, in
file order. A parent may itself be a secondary label (chains), but cycles are
refused. Unknown keys are errors, so a typo never falls back to a default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imbalance_kit.app import error

__all__ = ["DEFAULT_SCHEMA", "LabelSchema", "load_schema"]

_KEYS = ("primary", "secondary", "custom_weights", "rare")


def _names(key: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise error(key, "a list of label names", value, TypeError)
    names = list(value)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise error(f"{key} entries", "non-empty strings", name, TypeError)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise error(key, "unique label names", f"{dup!r} twice", raw=True)
    return names


@dataclass
class LabelSchema:
    """The label hierarchy of a multi-label moderation task.

    Args:
        primary: the primary labels, in column order.
        secondary: ``{secondary label: [labels it implies]}``, in column order
            after the primary ones. A single parent may be given as a string.
        custom_weights: ``pos_weight`` by label name for chosen labels (the
            others get automatic weights); finite and ``>= 0``.
        rare: the labels summarised as "rare" in reports; ``None`` lets the
            evaluation pick the labels whose training ratio is at least 50:1.

    Raises:
        ValueError: a duplicated or unknown name, a self-implication, a cycle,
            a bad weight.

    Examples:
        >>> schema = LabelSchema(["hate", "violence"], {"praising violence": "violence"},
        ...                      custom_weights={"praising violence": 5.0})
        >>> schema.names
        ['hate', 'violence', 'praising violence']
        >>> schema.implication_indices
        [(2, 1)]
    """

    primary: list[str]
    secondary: dict[str, list[str]] = field(default_factory=dict)
    custom_weights: dict[str, float] = field(default_factory=dict)
    rare: list[str] | None = None

    def __post_init__(self) -> None:
        self.primary = _names("primary", self.primary)
        if not self.primary:
            raise error("primary", "at least one label name", "an empty list", raw=True)
        if not isinstance(self.secondary, Mapping):
            raise error("secondary", "a mapping {secondary label: primary label}", self.secondary)
        secondary: dict[str, list[str]] = {}
        for child, parents in self.secondary.items():
            plist = [parents] if isinstance(parents, str) else parents
            secondary[str(child)] = _names(f"secondary[{child!r}]", plist)
            if not secondary[str(child)]:
                raise error(f"secondary[{child!r}]", "at least one parent label", "none", raw=True)
        self.secondary = secondary
        names = _names("labels", self.primary + list(secondary))
        known = set(names)
        for child, parents in secondary.items():
            for parent in parents:
                if parent not in known:
                    raise error(
                        f"secondary[{child!r}]", "a label of the schema", f"{parent!r}", raw=True
                    )
                if parent == child:
                    raise error(f"secondary[{child!r}]", "another label", f"{child!r}", raw=True)
        self._check_acyclic()
        if not isinstance(self.custom_weights, Mapping):
            raise error("custom_weights", "a mapping {label: weight}", self.custom_weights)
        weights: dict[str, float] = {}
        for name, value in self.custom_weights.items():
            if name not in known:
                raise error("custom_weights key", "a label of the schema", f"{name!r}", raw=True)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0:
                raise error(f"custom_weights[{name!r}]", "a finite number >= 0", value)
            weights[name] = float(value)
        self.custom_weights = weights
        if self.rare is not None:
            self.rare = _names("rare", self.rare)
            for name in self.rare:
                if name not in known:
                    raise error("rare", "labels of the schema", f"{name!r}", raw=True)

    def _check_acyclic(self) -> None:
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                cycle = " -> ".join([*path[path.index(node) :], node])
                raise error("secondary", "free of cycles", cycle, raw=True)
            state[node] = 1
            for parent in self.secondary.get(node, []):
                visit(parent, [*path, node])
            state[node] = 2

        for child in self.secondary:
            visit(child, [])

    @property
    def names(self) -> list[str]:
        """All label names in column order: primary, then secondary."""
        return self.primary + list(self.secondary)

    @property
    def num_labels(self) -> int:
        """Number of label columns."""
        return len(self.primary) + len(self.secondary)

    @property
    def secondary_names(self) -> list[str]:
        """The secondary labels, in column order."""
        return list(self.secondary)

    @property
    def implications(self) -> list[tuple[str, str]]:
        """``(child, parent)`` name pairs, one per edge."""
        return [(c, p) for c, parents in self.secondary.items() for p in parents]

    @property
    def implication_indices(self) -> list[tuple[int, int]]:
        """``(child, parent)`` column-index pairs, one per edge."""
        index = {n: i for i, n in enumerate(self.names)}
        return [(index[c], index[p]) for c, p in self.implications]

    def index(self, name: str) -> int:
        """Column index of a label name.

        Raises:
            ValueError: unknown name.
        """
        if name not in self.names:
            raise error("label", f"one of {self.names}", f"{name!r}", raw=True)
        return self.names.index(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (the YAML file's content)."""
        out: dict[str, Any] = {
            "primary": list(self.primary),
            "secondary": {c: (p[0] if len(p) == 1 else list(p)) for c, p in self.secondary.items()},
            "custom_weights": dict(self.custom_weights),
        }
        if self.rare is not None:
            out["rare"] = list(self.rare)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelSchema:
        """Build a schema from the YAML mapping; unknown keys are refused.

        Raises:
            ValueError: unknown key, missing ``primary``, or an invalid schema.
        """
        if not isinstance(data, Mapping):
            raise error("schema", "a mapping with a 'primary' key", data, TypeError)
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise error("schema keys", f"among {list(_KEYS)}", unknown)
        if "primary" not in data:
            raise error("schema", "a mapping with a 'primary' key", sorted(data))
        return cls(
            primary=data["primary"],
            secondary=data.get("secondary") or {},
            custom_weights=data.get("custom_weights") or {},
            rare=data.get("rare"),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the schema as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))


def load_schema(path: str | os.PathLike[str]) -> LabelSchema:
    """Read a YAML label schema (``yaml.safe_load``).

    Args:
        path: the schema file.

    Returns:
        The validated :class:`LabelSchema`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an invalid schema.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "schema.yaml"
        >>> _ = p.write_text("primary: [hate]\\nsecondary: {slur: hate}\\n")
        >>> load_schema(p).implications
        [('slur', 'hate')]
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"label schema {str(file)!r} does not exist")
    return LabelSchema.from_dict(yaml.safe_load(file.read_text()) or {})


#: The schema of the moderation problem the simulator generates: five secondary
#: labels, two at about 100:1 and three at about 10:1, each implying a primary.
DEFAULT_SCHEMA = LabelSchema(
    primary=["hate", "violence", "extremism", "harassment"],
    secondary={
        "anti-democratic rhetoric": ["extremism"],
        "praising extremist acts": ["extremism"],
        "praising violence": ["violence"],
        "ideologically motivated threats": ["violence"],
        "sexual harassment": ["harassment"],
    },
    custom_weights={
        "anti-democratic rhetoric": 10.0,
        "praising extremist acts": 10.0,
        "praising violence": 5.0,
        "ideologically motivated threats": 5.0,
        "sexual harassment": 5.0,
    },
)
