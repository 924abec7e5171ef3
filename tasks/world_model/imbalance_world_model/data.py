"""The episode schema: latent states, actions, rewards, a source tag and per-episode metadata.

An NPZ file holds one array per field (all episodes have the same length ``T``):

========================  ============  ==============================================
key                       shape, dtype  meaning
========================  ============  ==============================================
``z``                     (N, T, D) f4  latent states
``actions``               (N, T, A) f4  action taken at each state
``rewards``               (N, T) f4     reward of each step
``source``                (N,) str      ``"real"`` or ``"synthetic"``
``meta_<name>``           (N,) numeric  per-episode metadata (e.g. ``meta_throughput``)
========================  ============  ==============================================

Files are read with ``allow_pickle=False``: object arrays are refused.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imbalance_kit.app import DamagedFileError, atomic_open, error

__all__ = [
    "SOURCES",
    "Episodes",
    "load_episodes",
    "save_episodes",
    "read_npz",
    "split_real",
    "writable_dir",
]

SOURCES = ("real", "synthetic")


@dataclass
class Episodes:
    """A batch of equal-length episodes (validated on construction).

    Attributes:
        z: latent states, ``(N, T, D)``; action ``actions[:, t]`` moves ``z[:, t]`` to
            ``z[:, t + 1]``.
        actions: ``(N, T, A)``.
        rewards: ``(N, T)``.
        source: ``(N,)`` strings ``"real"`` / ``"synthetic"``.
        meta: per-episode metadata, name -> ``(N,)`` numeric array.

    Raises:
        ValueError: wrong shapes, non-finite values or an unknown source tag.

    Examples:
        >>> ep = Episodes(np.zeros((2, 5, 3)), np.zeros((2, 5, 1)), np.zeros((2, 5)),
        ...               np.array(["real", "synthetic"]))
        >>> ep.n_episodes, ep.horizon, ep.latent_dim, ep.action_dim, ep.is_synthetic.tolist()
        (2, 5, 3, 1, [False, True])
    """

    z: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    source: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.z = _float_array("z", self.z, 3)
        n, t = self.z.shape[:2]
        self.actions = _float_array("actions", self.actions, 3)
        self.rewards = _float_array("rewards", self.rewards, 2)
        if self.actions.shape[:2] != (n, t):
            raise error("actions", f"of shape ({n}, {t}, A) like z", self.actions)
        if self.rewards.shape != (n, t):
            raise error("rewards", f"of shape ({n}, {t}) like z", self.rewards)
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
        return int(self.z.shape[1])

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[2])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[2])

    @property
    def is_synthetic(self) -> np.ndarray:
        """Boolean ``(N,)`` mask of synthetic episodes."""
        return self.source == "synthetic"

    def subset(self, index: np.ndarray) -> Episodes:
        """The episodes at ``index`` (an integer or boolean array).

        Examples:
            >>> ep = Episodes(np.zeros((3, 2, 1)), np.zeros((3, 2, 1)), np.zeros((3, 2)),
            ...               np.array(["real"] * 3), {"k": np.arange(3)})
            >>> ep.subset(np.array([2, 0])).meta["k"].tolist()
            [2, 0]
        """
        return Episodes(
            self.z[index],
            self.actions[index],
            self.rewards[index],
            self.source[index],
            {k: v[index] for k, v in self.meta.items()},
        )

    @staticmethod
    def concatenate(parts: list[Episodes]) -> Episodes:
        """Stack episodes of equal length; metadata kept where every part has it.

        Examples:
            >>> a = Episodes(np.zeros((1, 2, 1)), np.zeros((1, 2, 1)), np.zeros((1, 2)),
            ...              np.array(["real"]))
            >>> Episodes.concatenate([a, a]).n_episodes
            2
        """
        shared = set.intersection(*(set(p.meta) for p in parts))
        return Episodes(
            np.concatenate([p.z for p in parts]),
            np.concatenate([p.actions for p in parts]),
            np.concatenate([p.rewards for p in parts]),
            np.concatenate([p.source for p in parts]),
            {k: np.concatenate([p.meta[k] for p in parts]) for k in sorted(shared)},
        )


def _float_array(name: str, value: object, ndim: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise error(name, "a numeric array", array)
    if array.ndim != ndim:
        raise error(name, f"{ndim}-D", f"{array.ndim}-D array of shape {array.shape}", raw=True)
    if array.size == 0:
        raise error(name, "non-empty", f"shape {array.shape}", raw=True)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
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
    unknown = [
        k
        for k in arrays
        if k not in ("z", "actions", "rewards", "source") and not k.startswith("meta_")
    ]
    if unknown:
        raise error(
            f"episodes file {path}",
            "keys z, actions, rewards, source, meta_*",
            f"unknown key {unknown[0]!r}",
            raw=True,
        )
    meta = {k[5:]: v for k, v in arrays.items() if k.startswith("meta_")}
    return Episodes(arrays["z"], arrays["actions"], arrays["rewards"], arrays["source"], meta)


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
