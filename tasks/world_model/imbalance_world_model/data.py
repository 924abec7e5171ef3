"""The episode schema: latent states, actions, rewards, lengths, a source tag and metadata.

An NPZ file holds one array per field. Episodes may differ in length: they are stored padded
to the longest, ``T`` states, with their own lengths in ``lengths``.

========================  ============  =================================================
key                       shape, dtype  meaning
========================  ============  =================================================
``z``                     (N, T, D) f4  latent states (observations)
``actions``               (N, T, A) f4  ``actions[i, t]`` moves ``z[i, t]`` to ``z[i, t + 1]``
``rewards``               (N, T) f4     reward of that step
``lengths``               (N,) int      states of each episode ``L_i`` (optional: all ``T``)
``source``                (N,) str      ``"real"`` or ``"synthetic"``
``meta_<name>``           (N,) numeric  per-episode metadata (e.g. ``meta_terminated``)
========================  ============  =================================================

Episode ``i`` has ``L_i`` states ``z[i, :L_i]`` and ``L_i - 1`` transitions: the actions and
rewards at ``t < L_i - 1``. Values beyond ``L_i`` (and the action and reward at the last
state) are padding: never read, stored as 0. The concatenated layout is read too: ``z`` of
shape ``(sum L_i, D)``, ``actions`` ``(sum L_i, A)`` and ``rewards`` ``(sum L_i,)``, with
``lengths`` saying where each episode ends.

``meta_split_test`` (1 = held out) marks the held-out real episodes; a file without it is
split by episode when a command reads it (:func:`ensure_split`). ``meta_terminated``
(1 = the episode ended in a terminal state, 0 = cut by a time limit) decides whether the
last transition bootstraps in TD3+BC; without it every episode's last transition is
terminal.

Files are read with ``allow_pickle=False``: object arrays are refused, naming the field.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import DamagedFileError, atomic_open, error

__all__ = [
    "SOURCES",
    "Episodes",
    "ensure_split",
    "load_episodes",
    "make_split",
    "read_npz",
    "save_episodes",
    "split_real",
    "writable_dir",
]

SOURCES = ("real", "synthetic")


@dataclass
class Episodes:
    """A batch of episodes, padded to the longest (validated on construction).

    Attributes:
        z: latent states, ``(N, T, D)``; action ``actions[:, t]`` moves ``z[:, t]`` to
            ``z[:, t + 1]``.
        actions: ``(N, T, A)``.
        rewards: ``(N, T)``.
        source: ``(N,)`` strings ``"real"`` / ``"synthetic"``.
        meta: per-episode metadata, name -> ``(N,)`` numeric array.
        lengths: ``(N,)`` states per episode, ``2 <= L_i <= T`` (``None``: all ``T``).

    Raises:
        ValueError: wrong shapes or lengths, non-finite values within an episode or an
            unknown source tag.

    Examples:
        >>> ep = Episodes(np.zeros((2, 5, 3)), np.zeros((2, 5, 1)), np.zeros((2, 5)),
        ...               np.array(["real", "synthetic"]), lengths=np.array([5, 3]))
        >>> ep.n_episodes, ep.horizon, ep.latent_dim, ep.action_dim, ep.is_synthetic.tolist()
        (2, 5, 3, 1, [False, True])
        >>> ep.mask.sum(1).tolist(), ep.n_transitions
        ([5, 3], 6)
    """

    z: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    source: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    lengths: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.z = _float_array("z", self.z, 3, check=False)
        n, t = self.z.shape[:2]
        self.actions = _float_array("actions", self.actions, 3, check=False)
        self.rewards = _float_array("rewards", self.rewards, 2, check=False)
        if self.actions.shape[:2] != (n, t):
            raise error("actions", f"of shape ({n}, {t}, A) like z", self.actions)
        if self.rewards.shape != (n, t):
            raise error("rewards", f"of shape ({n}, {t}) like z", self.rewards)
        self.lengths = _lengths(self.lengths, n, t)
        valid = self.mask
        steps = self.transition_mask
        # padding is never read: store it as 0 (it may have been NaN in the file)
        self.z = np.where(valid[:, :, None], self.z, 0.0).astype(np.float32)
        self.actions = np.where(steps[:, :, None], self.actions, 0.0).astype(np.float32)
        self.rewards = np.where(steps, self.rewards, 0.0).astype(np.float32)
        for name, values in (("z", self.z), ("actions", self.actions), ("rewards", self.rewards)):
            if not np.isfinite(values).all():
                raise error(name, "finite within every episode", "NaN or inf values", raw=True)
        self.source = np.asarray(self.source)
        if self.source.shape != (n,) or self.source.dtype.kind not in "UT":
            raise error("source", f"an array of {n} strings", self.source)
        bad = sorted(set(self.source.tolist()) - set(SOURCES))
        if bad:
            raise error("source", "'real' or 'synthetic' for every episode", bad[0])
        self.source = self.source.astype("<U9")
        meta = {}
        for name, values in self.meta.items():
            values = np.asarray(values)
            if values.shape != (n,) or values.dtype.kind not in "biuf":
                raise error(f"meta[{name!r}]", f"a numeric array of shape ({n},)", values)
            meta[name] = values
        self.meta = meta

    @property
    def n_episodes(self) -> int:
        return int(self.z.shape[0])

    @property
    def horizon(self) -> int:
        """``T``: the padded length (the longest episode's number of states)."""
        return int(self.z.shape[1])

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[2])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[2])

    @property
    def mask(self) -> np.ndarray:
        """``(N, T)`` booleans: ``t < L_i`` (the states of each episode)."""
        return np.arange(self.horizon)[None, :] < self.lengths[:, None]

    @property
    def transition_mask(self) -> np.ndarray:
        """``(N, T)`` booleans: ``t < L_i - 1`` (the steps with an action and a reward)."""
        return np.arange(self.horizon)[None, :] < self.lengths[:, None] - 1

    @property
    def n_transitions(self) -> int:
        return int((self.lengths - 1).sum())

    @property
    def equal_lengths(self) -> bool:
        return bool((self.lengths == self.horizon).all())

    @property
    def is_synthetic(self) -> np.ndarray:
        """Boolean ``(N,)`` mask of synthetic episodes."""
        return self.source == "synthetic"

    def subset(self, index: np.ndarray) -> Episodes:
        """The episodes at ``index`` (an integer or boolean array), padded to their longest.

        Examples:
            >>> ep = Episodes(np.zeros((3, 4, 1)), np.zeros((3, 4, 1)), np.zeros((3, 4)),
            ...               np.array(["real"] * 3), {"k": np.arange(3)}, np.array([4, 2, 3]))
            >>> part = ep.subset(np.array([2, 1]))
            >>> part.meta["k"].tolist(), part.lengths.tolist(), part.horizon
            ([2, 1], [3, 2], 3)
        """
        lengths = self.lengths[index]
        t = int(lengths.max()) if lengths.size else self.horizon
        return Episodes(
            self.z[index, :t],
            self.actions[index, :t],
            self.rewards[index, :t],
            self.source[index],
            {k: v[index] for k, v in self.meta.items()},
            lengths,
        )

    @staticmethod
    def concatenate(parts: list[Episodes]) -> Episodes:
        """Stack episodes (padded to the longest); metadata kept where every part has it.

        Examples:
            >>> a = Episodes(np.zeros((1, 2, 1)), np.zeros((1, 2, 1)), np.zeros((1, 2)),
            ...              np.array(["real"]))
            >>> b = Episodes(np.ones((1, 4, 1)), np.zeros((1, 4, 1)), np.zeros((1, 4)),
            ...              np.array(["synthetic"]))
            >>> both = Episodes.concatenate([a, b])
            >>> both.n_episodes, both.horizon, both.lengths.tolist()
            (2, 4, [2, 4])
        """
        shared = set.intersection(*(set(p.meta) for p in parts))
        t = max(p.horizon for p in parts)
        return Episodes(
            np.concatenate([pad_time(p.z, t) for p in parts]),
            np.concatenate([pad_time(p.actions, t) for p in parts]),
            np.concatenate([pad_time(p.rewards, t) for p in parts]),
            np.concatenate([p.source for p in parts]),
            {k: np.concatenate([p.meta[k] for p in parts]) for k in sorted(shared)},
            np.concatenate([p.lengths for p in parts]),
        )


def pad_time(array: np.ndarray, t: int) -> np.ndarray:
    """``array`` (episodes first, time second) padded with zeros to ``t`` steps.

    Examples:
        >>> pad_time(np.ones((2, 3)), 5).tolist()[0]
        [1.0, 1.0, 1.0, 0.0, 0.0]
    """
    extra = t - array.shape[1]
    if extra <= 0:
        return array
    width = [(0, 0), (0, extra)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, width)


def _lengths(value: Any, n: int, t: int) -> np.ndarray:
    if value is None:
        return np.full(n, t, dtype=np.int64)
    lengths = np.asarray(value)
    if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise error("lengths", f"an integer array of shape ({n},)", lengths)
    if lengths.size and (lengths.min() < 2 or lengths.max() > t):
        shown = f"values in [{lengths.min()}, {lengths.max()}]"
        raise error("lengths", f"between 2 and T = {t} (states per episode)", shown, raw=True)
    return lengths.astype(np.int64)


def _float_array(name: str, value: object, ndim: int, check: bool = True) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise error(name, "a numeric array", array)
    if array.ndim != ndim:
        raise error(name, f"{ndim}-D", f"{array.ndim}-D array of shape {array.shape}", raw=True)
    if array.size == 0:
        raise error(name, "non-empty", f"shape {array.shape}", raw=True)
    array = array.astype(np.float32)
    if check and not np.isfinite(array).all():
        raise error(name, "finite", "NaN or inf values", raw=True)
    return array


def save_episodes(episodes: Episodes, path: str | Path) -> Path:
    """Write ``episodes`` to a compressed NPZ file, atomically (parent folders are created).

    Examples:
        >>> import tempfile
        >>> ep = Episodes(np.ones((2, 3, 2)), np.zeros((2, 3, 1)), np.zeros((2, 3)),
        ...               np.array(["real", "real"]), {"energy": np.array([1.0, 2.0])})
        >>> back = load_episodes(save_episodes(ep, tempfile.mkdtemp() + "/ep.npz"))
        >>> back.z.shape, back.meta["energy"].tolist(), back.source.tolist()
        ((2, 3, 2), [1.0, 2.0], ['real', 'real'])
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise error("path", "a .npz file", str(path))
    arrays = {
        "z": episodes.z,
        "actions": episodes.actions,
        "rewards": episodes.rewards,
        "lengths": episodes.lengths,
        "source": episodes.source,
    }
    arrays.update({f"meta_{k}": v for k, v in episodes.meta.items()})
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_episodes(path: str | Path) -> Episodes:
    """Read and validate an episodes NPZ file (never unpickles).

    Raises:
        FileNotFoundError: no such file.
        DamagedFileError: a truncated or corrupt file (a ``ValueError``).
        ValueError: a missing key, an object array, bad shapes or values.

    Examples:
        >>> load_episodes("missing.npz")
        Traceback (most recent call last):
        ...
        FileNotFoundError: episodes file not found: missing.npz
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"episodes file not found: {path}")
    arrays = read_npz(path, "episodes file")
    missing = [k for k in ("z", "actions", "rewards", "source") if k not in arrays]
    if missing:
        raise error(
            f"episodes file {path}",
            "an NPZ with keys z, actions, rewards, source",
            f"no {', '.join(missing)}",
            raw=True,
        )
    known = ("z", "actions", "rewards", "source", "lengths")
    unknown = [k for k in arrays if k not in known and not k.startswith("meta_")]
    if unknown:
        raise error(
            f"episodes file {path}",
            "keys z, actions, rewards, source, lengths, meta_*",
            f"unknown key {unknown[0]!r}",
            raw=True,
        )
    meta = {k[5:]: v for k, v in arrays.items() if k.startswith("meta_")}
    z, actions, rewards = arrays["z"], arrays["actions"], arrays["rewards"]
    lengths = arrays.get("lengths")
    if np.ndim(z) == 2:  # the concatenated layout
        z, actions, rewards = _unflatten(path, z, actions, rewards, lengths)
    return Episodes(z, actions, rewards, arrays["source"], meta, lengths)


def _unflatten(
    path: Path, z: np.ndarray, actions: np.ndarray, rewards: np.ndarray, lengths: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated ``(sum L_i, ...)`` arrays -> padded ``(N, T, ...)`` arrays."""
    if lengths is None:
        raise error(
            f"episodes file {path}",
            "a lengths array with a 2-D z (the concatenated layout)",
            "no lengths",
            raw=True,
        )
    lengths = np.asarray(lengths)
    total = int(lengths.sum()) if lengths.dtype.kind in "iu" else -1
    if lengths.ndim != 1 or total != len(z) or np.ndim(actions) != 2 or np.ndim(rewards) != 1:
        raise error(
            f"episodes file {path}",
            "z (M, D), actions (M, A), rewards (M,) with M = sum(lengths) (concatenated layout)",
            f"z {np.shape(z)}, actions {np.shape(actions)}, rewards {np.shape(rewards)}, "
            f"sum(lengths) {total}",
            raw=True,
        )
    if len(actions) != total or len(rewards) != total:
        raise error(
            f"episodes file {path}",
            f"actions and rewards with sum(lengths) = {total} rows",
            f"{len(actions)} and {len(rewards)}",
            raw=True,
        )
    t = int(lengths.max())
    ends = np.cumsum(lengths)
    starts = ends - lengths
    out = []
    for array in (z, actions, rewards):
        padded = np.zeros((len(lengths), t, *array.shape[1:]), dtype=np.float32)
        for i, (a, b) in enumerate(zip(starts, ends)):
            padded[i, : b - a] = array[a:b]
        out.append(padded)
    return out[0], out[1], out[2]


def split_real(real: Episodes) -> tuple[Episodes, Episodes]:
    """``(train, test)`` by ``meta["split_test"]`` (all training when the key is missing).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=4, horizon=5, seed=0)
        >>> real.meta["split_test"] = np.array([0, 1, 0, 0])
        >>> [part.n_episodes for part in split_real(real)]
        [3, 1]
    """
    test = real.meta.get("split_test", np.zeros(real.n_episodes)).astype(bool)
    return real.subset(~test), real.subset(test)


def make_split(n_episodes: int, test_fraction: float, seed: int) -> np.ndarray:
    """``(n_episodes,)`` 0/1 held-out marks: ``round(test_fraction * n)`` episodes (at least
    one, and at least one left for training), drawn with ``seed``.

    Examples:
        >>> make_split(8, 0.25, seed=0).sum()
        np.int64(2)
    """
    if n_episodes < 2:
        raise error("the real episodes", "at least 2 (one to train, one held out)", n_episodes)
    n_test = min(max(1, int(round(test_fraction * n_episodes))), n_episodes - 1)
    test = np.zeros(n_episodes, dtype=np.int64)
    test[np.random.default_rng(seed).permutation(n_episodes)[:n_test]] = 1
    return test


def ensure_split(
    real: Episodes, test_fraction: float, seed: int
) -> tuple[Episodes, dict[str, Any]]:
    """``real`` with ``meta["split_test"]``: the file's own split, or one made by episode.

    Returns:
        The episodes and a record of the split (``{"made", "test_fraction", "seed",
        "n_train", "n_test"}``) that the commands write into their summaries.

    Raises:
        ValueError: a ``split_test`` that is not 0/1, or that holds out no episode or all.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=8, horizon=5, seed=0)
        >>> real, record = ensure_split(real, 0.25, seed=3)
        >>> record["made"], record["n_test"], int(real.meta["split_test"].sum())
        (True, 2, 2)
    """
    if "split_test" in real.meta:
        test = real.meta["split_test"]
        if not np.isin(test, (0, 1)).all() or test.min() == test.max():
            raise error(
                "meta_split_test",
                "0 (train) or 1 (held out), with both present",
                f"values {sorted(set(np.unique(test).tolist()))[:5]}",
                raw=True,
            )
        made = False
    else:
        real = real.subset(np.arange(real.n_episodes))  # a copy: the caller's stays as it was
        real.meta["split_test"] = make_split(real.n_episodes, test_fraction, seed)
        made = True
    n_test = int(real.meta["split_test"].sum())
    record = {
        "made": made,
        "test_fraction": test_fraction if made else None,
        "seed": seed if made else None,
        "n_train": real.n_episodes - n_test,
        "n_test": n_test,
    }
    return real, record


def read_npz(path: str | Path, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an NPZ file, read with ``allow_pickle=False``.

    Raises:
        DamagedFileError: not an NPZ archive, or truncated / corrupt (checksums fail).
        ValueError: an object array (it would need pickle).

    Examples:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "x.npz"
        >>> _ = bad.write_bytes(b"PK-not-really")
        >>> read_npz(bad, "scores file")
        Traceback (most recent call last):
        ...
        imbalance_kit.app.io.DamagedFileError: scores file ... is damaged (not a zip archive)
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DamagedFileError(f"{what} {path} is damaged (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise DamagedFileError(f"{what} {path} is damaged (checksum of {bad} fails)")
        arrays = {}
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError:  # an object array would need pickle
                    raise ValueError(
                        f"{what} {path}: object arrays are not accepted (field {key!r}); "
                        "store strings as a fixed-width string array and numbers as a "
                        "numeric array"
                    ) from None
        return arrays
    except (DamagedFileError, ValueError):
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise DamagedFileError(f"{what} {path} is damaged ({exc})") from None


def writable_dir(path: str | Path) -> Path:
    """Create the folder ``path`` (and its parents) and check that files can be written in it.

    Raises:
        OSError: the folder cannot be created or written (e.g. a read-only file system),
            naming the folder.

    Examples:
        >>> import tempfile
        >>> writable_dir(Path(tempfile.mkdtemp()) / "run" / "stage").name
        'stage'
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    return path
