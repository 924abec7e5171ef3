"""The rollout schema: episodes of per-step hidden states and actions, and their file formats.

One record per episode:

========================  ===========  ==========================================================
field                     shape        meaning
========================  ===========  ==========================================================
``hidden_states``         ``(T, H)``   the policy's features at each step (float)
``actions``               ``(T, A)``   the action taken at each step (float)
``velocities``            ``(T, A)``   optional per-action-dimension velocities (joint speeds)
``success``               ``()``       whether the episode succeeded (bool)
``failure_step``          ``()``       index of the failing step, ``-1`` for none (int)
``failure_direction``     ``(A,)``     optional action-space direction that led to the failure
========================  ===========  ==========================================================

In memory (:class:`Rollouts`) and on disk the episodes are concatenated along
the step axis, with ``episode_lengths`` giving each episode's ``T``. A failed
episode without a ``failure_step`` (``-1``) fails at its last step.

Formats:

* **NPZ** (default, no extra dependency): the arrays above under those names,
  plus ``episode_lengths`` ``(E,)``, ``success`` ``(E,)``, ``failure_step`` ``(E,)``
  and optionally ``episode_id`` ``(E,)``, ``failure_direction`` ``(E, A)``. Read
  with ``allow_pickle=False``. The "list of episodes" layout (``hidden_states`` etc. holding
  one array per episode: numpy object arrays) needs unpickling: it is refused with a message
  naming the field, and read with ``allow_pickle=True``.
* **Parquet** (``pip install 'imbalance-kit-risk[parquet]'``): one row per step with
  columns ``episode_id`` (int), ``step`` (int), ``hidden_state`` / ``action`` /
  ``velocity`` (list of float), ``success`` (bool), ``failure_step`` (int) and
  optionally ``failure_direction`` (list of float, repeated on every row of an episode).
* **Pickle** (legacy, only with ``allow_pickle=True``): a list of per-episode
  dicts with the field names above (``features`` / ``hidden`` are accepted for
  ``hidden_states``), or a dict holding such a list under ``"episodes"`` or
  ``"rollouts"``. Unpickling runs code from the file: use it on trusted files only.

Fields outside the schema (``rewards``, ...) are not read, and the readers say so once
(:class:`IgnoredFieldsWarning`, or the ``note`` callback of :func:`load_rollouts`).

Discrete actions: pass a signed or scalar encoding ``(T, 1)`` with the velocity of the degree
of freedom it drives, or the one-hot action ``(T, K)`` without ``velocities``; per-dimension
risk is then the risk of pushing along the failure direction, or the share of the risk carried
by each discrete action (see the package README).
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imbalance_kit.app import error
from imbalance_risk._npz import ObjectArrayError, read_npz, write_npz

__all__ = ["IgnoredFieldsWarning", "RolloutFormat", "Rollouts", "load_rollouts", "save_rollouts"]

RolloutFormat = Literal["npz", "parquet", "pickle"]
_SUFFIXES: dict[str, RolloutFormat] = {
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".pkl": "pickle",
    ".pickle": "pickle",
}
_HIDDEN_ALIASES = ("hidden_states", "features", "hidden")
_EPISODE_KEYS = (
    *_HIDDEN_ALIASES,
    "actions",
    "velocities",
    "success",
    "failure_step",
    "failure_direction",
    "episode_id",
)
Note = Callable[[str], None] | None


class IgnoredFieldsWarning(UserWarning):
    """A rollout file holds fields that are not in the schema; they are not read."""


@dataclass
class Rollouts:
    """Episodes of a policy, concatenated along the step axis.

    Attributes:
        hidden_states: ``(N, H)`` float32 features of every step.
        actions: ``(N, A)`` float32 actions.
        episode_lengths: ``(E,)`` int64 steps per episode (``sum == N``).
        success: ``(E,)`` bool episode outcome.
        failure_step: ``(E,)`` int64 failing step within the episode, ``-1`` for none.
        velocities: ``(N, A)`` float32 per-action-dimension velocities, or ``None``.
        failure_direction: ``(E, A)`` float32 direction of each failure, or ``None``.
        episode_id: ``(E,)`` int64 identifiers (default ``0..E-1``).

    Raises:
        ValueError: inconsistent shapes, non-finite values, a failure step outside
            its episode, or a successful episode with a failure step.

    Examples:
        >>> import numpy as np
        >>> r = Rollouts(
        ...     hidden_states=np.zeros((5, 3)), actions=np.zeros((5, 2)),
        ...     episode_lengths=[2, 3], success=[True, False], failure_step=[-1, 2],
        ... )
        >>> r.n_episodes, r.n_steps, r.hidden_dim, r.action_dim
        (2, 5, 3, 2)
        >>> r.episode_slice(1)
        slice(2, 5, None)
    """

    hidden_states: np.ndarray
    actions: np.ndarray
    episode_lengths: np.ndarray
    success: np.ndarray
    failure_step: np.ndarray
    velocities: np.ndarray | None = None
    failure_direction: np.ndarray | None = None
    episode_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.hidden_states = _float_2d("hidden_states", self.hidden_states)
        self.actions = _float_2d("actions", self.actions)
        self.episode_lengths = np.asarray(self.episode_lengths, dtype=np.int64).reshape(-1)
        self.success = np.asarray(self.success).astype(bool).reshape(-1)
        self.failure_step = np.asarray(self.failure_step, dtype=np.int64).reshape(-1)
        n, e = self.hidden_states.shape[0], self.episode_lengths.shape[0]
        if e == 0:
            raise error("episode_lengths", "at least one episode", "none", raw=True)
        if (self.episode_lengths < 1).any():
            raise error("episode_lengths", ">= 1 for every episode", self.episode_lengths.min())
        if int(self.episode_lengths.sum()) != n:
            raise error(
                "episode_lengths",
                f"summing to the number of steps ({n})",
                int(self.episode_lengths.sum()),
            )
        if self.actions.shape[0] != n:
            raise error("actions", f"{n} rows (one per step)", self.actions.shape[0])
        for name in ("success", "failure_step"):
            if getattr(self, name).shape[0] != e:
                raise error(name, f"{e} values (one per episode)", getattr(self, name).shape[0])
        if self.velocities is not None:
            self.velocities = _float_2d("velocities", self.velocities)
            if self.velocities.shape != self.actions.shape:
                raise error(
                    "velocities",
                    f"shape {self.actions.shape} (one per action dimension and step)",
                    f"shape {self.velocities.shape}",
                    raw=True,
                )
        if self.failure_direction is not None:
            self.failure_direction = _float_2d("failure_direction", self.failure_direction)
            if self.failure_direction.shape != (e, self.action_dim):
                raise error(
                    "failure_direction",
                    f"shape {(e, self.action_dim)}",
                    f"shape {self.failure_direction.shape}",
                    raw=True,
                )
        if self.episode_id is None:
            self.episode_id = np.arange(e, dtype=np.int64)
        else:
            self.episode_id = np.asarray(self.episode_id, dtype=np.int64).reshape(-1)
            if self.episode_id.shape[0] != e:
                raise error("episode_id", f"{e} values", self.episode_id.shape[0])
            if np.unique(self.episode_id).shape[0] != e:
                raise error("episode_id", "unique per episode", "duplicates", raw=True)
        bad = self.success & (self.failure_step >= 0)
        if bad.any():
            raise error(
                "failure_step",
                "-1 for successful episodes",
                f"{int(self.failure_step[bad][0])} in episode {int(self.episode_id[bad][0])}",
                raw=True,
            )
        out = (self.failure_step >= self.episode_lengths) | (self.failure_step < -1)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise error(
                "failure_step",
                f"in [-1, {int(self.episode_lengths[i]) - 1}] "
                f"for episode {int(self.episode_id[i])}",
                int(self.failure_step[i]),
            )

    @property
    def n_episodes(self) -> int:
        """Number of episodes ``E``."""
        return int(self.episode_lengths.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of steps ``N`` over all episodes."""
        return int(self.hidden_states.shape[0])

    @property
    def hidden_dim(self) -> int:
        """Width ``H`` of the hidden states."""
        return int(self.hidden_states.shape[1])

    @property
    def action_dim(self) -> int:
        """Number of action dimensions ``A``."""
        return int(self.actions.shape[1])

    @property
    def offsets(self) -> np.ndarray:
        """``(E + 1,)`` start of each episode in the step arrays, then ``N``."""
        return np.concatenate([[0], np.cumsum(self.episode_lengths)]).astype(np.int64)

    def episode_slice(self, i: int) -> slice:
        """Rows of episode ``i`` (by position, not by ``episode_id``) in the step arrays."""
        start = int(self.offsets[i])
        return slice(start, start + int(self.episode_lengths[i]))

    def resolved_failure_step(self) -> np.ndarray:
        """``(E,)`` failing step of each failed episode (its last step when unknown), else -1."""
        last = self.episode_lengths - 1
        fs = np.where(self.failure_step >= 0, self.failure_step, last)
        return np.where(self.success, -1, fs).astype(np.int64)

    @classmethod
    def from_episodes(cls, episodes: Sequence[Mapping[str, Any]]) -> Rollouts:
        """Build from a list of per-episode dicts (the schema's field names).

        Examples:
            >>> import numpy as np
            >>> eps = [
            ...     {"hidden_states": np.ones((3, 4)), "actions": np.ones((3, 2)), "success": True},
            ...     {"features": np.ones((2, 4)), "actions": np.ones((2, 2)), "success": False},
            ... ]
            >>> r = Rollouts.from_episodes(eps)
            >>> r.failure_step.tolist(), r.resolved_failure_step().tolist()
            ([-1, -1], [-1, 1])
        """
        if not isinstance(episodes, Sequence) or len(episodes) == 0:
            raise error("episodes", "a non-empty list of per-episode dicts", episodes)
        hidden, actions, velocities, directions = [], [], [], []
        lengths, success, failure, ids = [], [], [], []
        for i, ep in enumerate(episodes):
            if not isinstance(ep, Mapping):
                raise error(f"episodes[{i}]", "a dict", ep)
            key = next((k for k in _HIDDEN_ALIASES if k in ep), None)
            if key is None or "actions" not in ep or "success" not in ep:
                raise error(
                    f"episodes[{i}]",
                    "a dict with 'hidden_states' (or 'features'), 'actions' and 'success'",
                    f"keys {sorted(ep)}",
                    raw=True,
                )
            h = _float_2d(f"episodes[{i}]['{key}']", ep[key])
            hidden.append(h)
            actions.append(_float_2d(f"episodes[{i}]['actions']", ep["actions"]))
            lengths.append(h.shape[0])
            success.append(bool(ep["success"]))
            fs = ep.get("failure_step")
            failure.append(-1 if fs is None else int(fs))
            ids.append(int(ep.get("episode_id", i)))
            velocities.append(ep.get("velocities"))
            directions.append(ep.get("failure_direction"))
        has_vel = [v is not None for v in velocities]
        if any(has_vel) and not all(has_vel):
            raise error("velocities", "present in every episode or in none", "some", raw=True)
        has_dir = [d is not None for d in directions]
        if any(has_dir) and not all(has_dir):
            raise error(
                "failure_direction", "present in every episode or in none", "some", raw=True
            )
        return cls(
            hidden_states=np.concatenate(hidden),
            actions=np.concatenate(actions),
            episode_lengths=np.asarray(lengths),
            success=np.asarray(success),
            failure_step=np.asarray(failure),
            velocities=np.concatenate([np.asarray(v, np.float32) for v in velocities])
            if all(has_vel)
            else None,
            failure_direction=np.stack([np.asarray(d, np.float32).reshape(-1) for d in directions])
            if all(has_dir)
            else None,
            episode_id=np.asarray(ids),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The NPZ layout: every field that is set, by name."""
        out = {
            "hidden_states": self.hidden_states,
            "actions": self.actions,
            "episode_lengths": self.episode_lengths,
            "success": self.success,
            "failure_step": self.failure_step,
            "episode_id": self.episode_id,
        }
        if self.velocities is not None:
            out["velocities"] = self.velocities
        if self.failure_direction is not None:
            out["failure_direction"] = self.failure_direction
        return out  # type: ignore[return-value]


def _float_2d(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 2:
        raise error(name, "a 2-D array (steps x dims)", f"shape {array.shape}", raw=True)
    if not np.isfinite(array).all():
        raise error(name, "finite", "NaN or infinite values", raw=True)
    return array


def _format_of(path: Path, fmt: RolloutFormat | None) -> RolloutFormat:
    if fmt is not None:
        if fmt not in ("npz", "parquet", "pickle"):
            raise error("fmt", "one of 'npz', 'parquet', 'pickle'", fmt)
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise error(
            "path",
            f"a file ending in one of {', '.join(sorted(_SUFFIXES))} (or pass the format)",
            str(path),
        )
    return found


def _import_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading and writing Parquet needs pyarrow: pip install 'imbalance-kit-risk[parquet]'"
        ) from exc
    return pyarrow


def _list_column(table: Any, name: str) -> np.ndarray:
    column = table.column(name).combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    n = len(column)
    if n == 0 or flat.size % n:
        raise error(f"Parquet column {name!r}", "lists of one length", "ragged lists", raw=True)
    return flat.reshape(n, flat.size // n)


def _load_parquet(path: Path, note: Note = None) -> Rollouts:
    pa = _import_pyarrow()
    table = pa.parquet.read_table(path)
    required = ("episode_id", "step", "hidden_state", "action", "success", "failure_step")
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise error(
            "Parquet file", f"columns {list(required)}", f"missing {missing} in {path}", raw=True
        )
    known = (*required, "velocity", "failure_direction")
    _ignored(path, "columns", [c for c in table.column_names if c not in known], known, note)
    episode = table.column("episode_id").to_numpy().astype(np.int64)
    step = table.column("step").to_numpy().astype(np.int64)
    order = np.lexsort((step, episode))
    table = table.take(pa.array(order))
    episode, step = episode[order], step[order]
    ids, starts, lengths = np.unique(episode, return_index=True, return_counts=True)
    expected = np.arange(len(step)) - np.repeat(starts, lengths)
    if not np.array_equal(step, expected):
        raise error("Parquet column 'step'", "0, 1, ..., T-1 within each episode", "gaps", raw=True)
    success = table.column("success").to_numpy(zero_copy_only=False).astype(bool)[starts]
    failure = table.column("failure_step").to_numpy().astype(np.int64)[starts]
    velocities = _list_column(table, "velocity") if "velocity" in table.column_names else None
    direction = (
        _list_column(table, "failure_direction")[starts]
        if "failure_direction" in table.column_names
        else None
    )
    return Rollouts(
        hidden_states=_list_column(table, "hidden_state"),
        actions=_list_column(table, "action"),
        episode_lengths=lengths,
        success=success,
        failure_step=failure,
        velocities=velocities,
        failure_direction=direction,
        episode_id=ids,
    )


def _save_parquet(rollouts: Rollouts, path: Path) -> None:
    pa = _import_pyarrow()
    lengths = rollouts.episode_lengths
    step = np.arange(rollouts.n_steps) - np.repeat(rollouts.offsets[:-1], lengths)

    def lists(array: np.ndarray) -> Any:
        values = pa.array(np.ascontiguousarray(array, dtype=np.float32).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(values, array.shape[1])

    columns = {
        "episode_id": pa.array(np.repeat(rollouts.episode_id, lengths)),
        "step": pa.array(step.astype(np.int64)),
        "hidden_state": lists(rollouts.hidden_states),
        "action": lists(rollouts.actions),
        "success": pa.array(np.repeat(rollouts.success, lengths)),
        "failure_step": pa.array(np.repeat(rollouts.failure_step, lengths)),
    }
    if rollouts.velocities is not None:
        columns["velocity"] = lists(rollouts.velocities)
    if rollouts.failure_direction is not None:
        columns["failure_direction"] = lists(np.repeat(rollouts.failure_direction, lengths, 0))
    pa.parquet.write_table(pa.table(columns), path)


def _load_pickle(path: Path, note: Note = None) -> Rollouts:
    with path.open("rb") as fh:
        payload = pickle.load(fh)
    if isinstance(payload, Mapping):
        for key in ("episodes", "rollouts"):
            if key in payload:
                payload = payload[key]
                break
        else:
            raise error(
                "pickle file",
                "a list of episode dicts or a dict with 'episodes' / 'rollouts'",
                f"a dict with keys {sorted(payload)}",
                raw=True,
            )
    if isinstance(payload, Sequence):
        keys = {k for ep in payload if isinstance(ep, Mapping) for k in ep}
        _ignored(path, "episode keys", sorted(keys - set(_EPISODE_KEYS)), _EPISODE_KEYS, note)
    return Rollouts.from_episodes(payload)


def _ignored(path: Path, kind: str, names: Sequence[str], known: Sequence[str], note: Note) -> None:
    if names:
        message = (
            f"{path}: ignored {kind} not in the rollout schema: {', '.join(sorted(names))} "
            f"(read: {', '.join(known)})"
        )
        if note is None:
            warnings.warn(message, IgnoredFieldsWarning, stacklevel=3)
        else:
            note(message)


def _per_episode(name: str, value: np.ndarray) -> np.ndarray:
    """An object array of per-episode ``(T, D)`` arrays (the list-of-episodes layout), joined."""
    if value.dtype != object:
        return value
    parts = [_float_2d(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if not parts:
        raise error(name, "at least one episode", "none", raw=True)
    return np.concatenate(parts)


def _npz_rollouts(path: Path, data: dict[str, np.ndarray], note: Note) -> Rollouts:
    step_fields = ("hidden_states", "actions", "velocities")
    lengths = data.get("episode_lengths")
    hidden = data.get("hidden_states")
    if lengths is None and hidden is not None and hidden.dtype == object:
        lengths = np.asarray([len(v) for v in hidden])  # the list-of-episodes layout
    arrays = {k: _per_episode(k, v) if k in step_fields else v for k, v in data.items()}
    if lengths is not None:
        arrays["episode_lengths"] = lengths
    required = ("hidden_states", "actions", "episode_lengths", "success", "failure_step")
    missing = [k for k in required if k not in arrays]
    if missing:
        raise error("NPZ file", f"arrays {list(required)}", f"missing {missing}", raw=True)
    optional = ("velocities", "failure_direction", "episode_id")
    known = required + optional
    _ignored(path, "arrays", [k for k in arrays if k not in known], known, note)
    return Rollouts(
        **{k: arrays[k] for k in required}, **{k: arrays[k] for k in optional if k in arrays}
    )


def load_rollouts(
    path: str | Path,
    *,
    fmt: RolloutFormat | None = None,
    allow_pickle: bool = False,
    note: Note = None,
) -> Rollouts:
    """Read rollouts from NPZ, Parquet or (with ``allow_pickle``) a legacy pickle.

    Args:
        path: the file; its suffix picks the format unless ``fmt`` is given.
        fmt: ``"npz"``, ``"parquet"`` or ``"pickle"``.
        allow_pickle: permit unpickling (runs code from the file: trusted files only): legacy
            pickles, and NPZ files in the list-of-episodes layout (object arrays).
        note: called once with a message naming the fields of the file that are not in the
            schema and are ignored (default: an :class:`IgnoredFieldsWarning`).

    Returns:
        The :class:`Rollouts`.

    Raises:
        FileNotFoundError: no such file.
        PermissionError: a pickle without ``allow_pickle=True``.
        ValueError: an unknown suffix, missing fields, an inconsistent schema, or per-episode
            object arrays without ``allow_pickle=True`` (the message names the field).
        imbalance_kit.app.DamagedFileError: a truncated or corrupt file.

    Examples:
        >>> import tempfile, numpy as np
        >>> r = Rollouts(np.zeros((3, 2)), np.zeros((3, 1)), [3], [False], [2])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = save_rollouts(r, f"{tmp}/r.npz")
        ...     load_rollouts(f"{tmp}/r.npz").failure_step.tolist()
        [2]
    """
    path = Path(path)
    kind = _format_of(path, fmt)
    if not path.is_file():
        raise FileNotFoundError(f"rollout file not found: {path}")
    if kind == "pickle":
        if not allow_pickle:
            raise PermissionError(
                f"{path} is a pickle: unpickling runs code from the file, so it is refused by "
                "default. Convert it to NPZ/Parquet, or pass --allow-pickle if you trust it."
            )
        return _load_pickle(path, note)
    if kind == "parquet":
        return _load_parquet(path, note)
    try:
        data = read_npz(path, what="rollout file", hint="write it again", allow_pickle=allow_pickle)
    except ObjectArrayError as exc:
        raise ValueError(
            f"rollout file {path}: {exc.name!r} holds one array per episode (a numpy object "
            "array, which only unpickling can read). Save the episodes concatenated along the "
            f"step axis ({exc.name}=np.concatenate(per_episode), "
            "episode_lengths=[len(e) for e in per_episode]; see the NPZ layout), or pass "
            "--allow-pickle (allow_pickle=True) to read this layout from a file you trust"
        ) from None
    return _npz_rollouts(path, data, note)


def save_rollouts(
    rollouts: Rollouts, path: str | Path, *, fmt: RolloutFormat | None = None
) -> Path:
    """Write rollouts as NPZ (compressed) or Parquet; pickle is never written.

    Args:
        rollouts: the episodes.
        path: output file; its suffix picks the format unless ``fmt`` is given.
        fmt: ``"npz"`` or ``"parquet"``.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown suffix, or ``fmt="pickle"``.

    Examples:
        >>> import tempfile, numpy as np
        >>> r = Rollouts(np.zeros((2, 2)), np.zeros((2, 1)), [2], [True], [-1])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     save_rollouts(r, f"{tmp}/r.npz").name
        'r.npz'
    """
    path = Path(path)
    kind = _format_of(path, fmt)
    if kind == "pickle":
        raise error("fmt", "'npz' or 'parquet' (pickles are read-only)", kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        _save_parquet(rollouts, path)
    else:
        write_npz(path, rollouts.to_arrays())
    return path
