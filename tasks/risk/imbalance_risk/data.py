"""The prepared data set (``prepared.npz``) and its loading for training.

``imbalance-risk prepare`` (:mod:`imbalance_risk.prepare`) writes one NPZ file with one row
per kept step; training and evaluation read it back with :func:`load_prepared`:

==================  ==========  ===============================================
array               shape       meaning
==================  ==========  ===============================================
``features``        ``(N, H)``  hidden states
``actions``         ``(N, A)``  actions
``binary``          ``(N,)``    fails-within-k label (0/1)
``ttf``             ``(N,)``    normalised time to failure in ``[0, 1]``
``steps_to_failure``  ``(N,)``  steps until the failure, ``-1`` in successes
``risk``            ``(N, A)``  per-action-dimension risk in ``[0, 1]``
``episode``         ``(N,)``    episode id
``step``            ``(N,)``    step within the episode
``episode_failed``  ``(N,)``    whether the step's episode failed
``split``           ``(N,)``    0 train, 1 validation, 2 test
==================  ==========  ===============================================

:class:`RiskDataModule` turns the training and validation rows into loaders:

* ``noise_oversample`` (:mod:`imbalance_kit.augment`) raises the positive
  training steps to ``ratio * n_negative``. The regression targets travel with
  the features as extra columns, so each synthetic step carries its source
  step's labels jittered by the same relative noise (clipped to ``[0, 1]``);
  the binary and episode labels are constant among positives and stay exact.
* ``ClassBalancedSampler`` (:mod:`imbalance_kit.sampling`) draws the binary
  classes with probability proportional to ``n_c ** power`` and shards the
  draw over DDP ranks; without it a shuffling ``DistributedSampler`` is used.
* ``warn_if_double_correction`` (:mod:`imbalance_kit.weights`) warns when the
  balanced sampler and a ``pos_weight`` on the binary loss are both on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from imbalance_kit.app import error
from imbalance_kit.augment import noise_oversample
from imbalance_kit.sampling import ClassBalancedSampler
from imbalance_kit.weights import positive_weights, warn_if_double_correction
from imbalance_risk._npz import read_npz
from imbalance_risk.config import OversampleConfig, RiskConfig

__all__ = [
    "SPLITS",
    "PreparedData",
    "RiskDataModule",
    "StepDataset",
    "load_prepared",
    "oversample_positives",
]

SPLITS = ("train", "val", "test")
_ARRAYS = (
    "features",
    "actions",
    "binary",
    "ttf",
    "steps_to_failure",
    "risk",
    "episode",
    "step",
    "episode_failed",
    "split",
)


@dataclass
class PreparedData:
    """The prepared per-step data set (see the module docstring for the arrays).

    Examples:
        >>> from imbalance_risk.prepare import prepare_rollouts
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> data = prepare_rollouts(simulate_rollouts(n_episodes=60, horizon=80))
        >>> data.features.shape[1], data.action_dim, sorted(set(data.split.tolist()))
        (64, 3, [0, 1, 2])
        >>> train = data.subset("train")
        >>> bool((train.split == 0).all())
        True
    """

    features: np.ndarray
    actions: np.ndarray
    binary: np.ndarray
    ttf: np.ndarray
    steps_to_failure: np.ndarray
    risk: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    episode_failed: np.ndarray
    split: np.ndarray

    @property
    def n_steps(self) -> int:
        """Number of rows."""
        return int(self.features.shape[0])

    @property
    def action_dim(self) -> int:
        """Number of action dimensions (columns of ``risk``)."""
        return int(self.risk.shape[1])

    def subset(self, split: str) -> PreparedData:
        """The rows of one split: ``"train"``, ``"val"`` or ``"test"``."""
        if split not in SPLITS:
            raise error("split", f"one of {', '.join(map(repr, SPLITS))}", split)
        mask = self.split == SPLITS.index(split)
        return PreparedData(**{name: getattr(self, name)[mask] for name in _ARRAYS})

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name."""
        return {name: getattr(self, name) for name in _ARRAYS}


def load_prepared(path: str | Path) -> PreparedData:
    """Read a prepared data set: ``prepared.npz`` or the folder holding it.

    Raises:
        FileNotFoundError: no prepared file there.
        imbalance_kit.app.DamagedFileError: a truncated or corrupt file.
        ValueError: the file lacks arrays of the prepared schema.

    Examples:
        >>> load_prepared("no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: prepared data set not found: no/such/folder ...
    """
    path = Path(path)
    if path.is_dir():
        path = path / "prepared.npz"
    if not path.is_file():
        raise FileNotFoundError(f"prepared data set not found: {path} (run imbalance-risk prepare)")
    npz = read_npz(path, what="prepared data set", hint="run imbalance-risk prepare again")
    missing = [name for name in _ARRAYS if name not in npz]
    if missing:
        raise error("prepared file", f"arrays {list(_ARRAYS)}", f"missing {missing}", raw=True)
    return PreparedData(**{name: npz[name] for name in _ARRAYS})


_FIELDS = ("features", "binary", "risk", "ttf", "episode_failed")


class StepDataset(Dataset):
    """Per-step tensors; indexing with a list of indices returns a whole batch (fast path).

    Examples:
        >>> ds = StepDataset({"features": torch.zeros(4, 2), "binary": torch.tensor([0., 1, 0, 1])})
        >>> len(ds), ds[[1, 3]]["binary"].tolist()
        (4, [1.0, 1.0])
    """

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        lengths = {t.shape[0] for t in tensors.values()}
        if len(lengths) != 1:
            raise error("tensors", "the same number of rows", sorted(lengths))
        self.tensors = tensors
        self.n = lengths.pop()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: Any) -> dict[str, torch.Tensor]:
        return {name: t[index] for name, t in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {name: t.index_select(0, idx) for name, t in self.tensors.items()}


def _batch_identity(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch


def _tensors(part: PreparedData) -> dict[str, torch.Tensor]:
    return {
        "features": torch.from_numpy(np.ascontiguousarray(part.features, dtype=np.float32)),
        "binary": torch.from_numpy(part.binary.astype(np.float32)),
        "risk": torch.from_numpy(part.risk.astype(np.float32)),
        "ttf": torch.from_numpy(part.ttf.astype(np.float32)),
        "episode_failed": torch.from_numpy(part.episode_failed.astype(np.float32)),
        "synthetic": torch.zeros(part.n_steps, dtype=torch.bool),
    }


def oversample_positives(
    tensors: dict[str, torch.Tensor],
    ratio: float | None,
    noise_std: float,
    seed: int,
    augment_factor: int | None = None,
) -> dict[str, torch.Tensor]:
    """Add jittered positive rows with ``noise_oversample``.

    The positives are raised to ``int(ratio * n_negative)``, or, with ``augment_factor``,
    to ``n_positive * (1 + augment_factor)`` (see :class:`~imbalance_risk.config.OversampleConfig`).
    Returns the tensors with the synthetic rows appended (``synthetic`` marks
    them). When the positives already reach that count nothing is added and a
    warning says so.

    Examples:
        >>> t = {"features": torch.randn(10, 3), "binary": torch.tensor([0.] * 8 + [1.] * 2),
        ...      "risk": torch.rand(10, 2), "ttf": torch.rand(10), "episode_failed": torch.ones(10),
        ...      "synthetic": torch.zeros(10, dtype=torch.bool)}
        >>> out = oversample_positives(t, ratio=1.0, noise_std=0.1, seed=0)
        >>> int(out["binary"].sum()), int(out["synthetic"].sum()), out["features"].shape[0]
        (8, 6, 16)
    """
    y = tensors["binary"].round().long()
    n_neg, n_pos = int((y == 0).sum()), int((y == 1).sum())
    plan = OversampleConfig(ratio=ratio, augment_factor=augment_factor)
    target = plan.target_positives(n_pos, n_neg)
    if n_pos == 0 or target <= n_pos:
        warnings.warn(
            f"noise_oversample skipped: {n_pos} positive training steps already reach "
            f"the target of {target}",
            stacklevel=2,
        )
        return tensors
    a = tensors["risk"].shape[1]
    columns = torch.cat(
        [
            tensors["features"],
            tensors["risk"],
            tensors["ttf"][:, None],
            tensors["episode_failed"][:, None],
        ],
        dim=1,
    )
    generator = torch.Generator().manual_seed(seed)
    x_res, y_res = noise_oversample(
        columns, y, sampling_strategy={1: target}, noise_std=noise_std, generator=generator
    )
    h = tensors["features"].shape[1]
    n = columns.shape[0]
    synthetic = torch.zeros(x_res.shape[0], dtype=torch.bool)
    synthetic[n:] = True
    return {
        "features": x_res[:, :h].contiguous(),
        "binary": y_res.to(torch.float32),
        "risk": x_res[:, h : h + a].clamp(0.0, 1.0).contiguous(),
        "ttf": x_res[:, h + a].clamp(0.0, 1.0).contiguous(),
        "episode_failed": x_res[:, h + a + 1].round().clamp(0.0, 1.0).contiguous(),
        "synthetic": synthetic,
    }


class RiskDataModule(L.LightningDataModule):
    """Prepared data -> training / validation loaders, with the config's imbalance switches.

    Everything is computed in ``__init__`` (deterministic and identical on every
    DDP rank): feature statistics, over-sampled training tensors and the
    binary ``pos_weight``. Each DDP rank validates on the whole validation
    split, so validation metrics need no gathering.

    Args:
        data: the prepared data set.
        config: the training config.

    Attributes:
        feature_mean: ``(H,)`` training-split mean of the features.
        feature_std: ``(H,)`` training-split standard deviation.
        pos_weight: resolved ``pos_weight`` of the binary loss, or ``None``.
        n_synthetic: rows added by over-sampling.

    Raises:
        ValueError: the training or validation split lacks positive or negative steps.

    Examples:
        >>> from imbalance_risk.prepare import prepare_rollouts
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> data = prepare_rollouts(simulate_rollouts(n_episodes=80, horizon=70, seed=5), seed=1)
        >>> dm = RiskDataModule(data, RiskConfig())
        >>> batch = next(iter(dm.train_dataloader()))
        >>> sorted(batch), batch["features"].shape[0]
        (['binary', 'episode_failed', 'features', 'risk', 'ttf'], 256)
        >>> 0.3 < float(batch["binary"].mean()) < 0.7  # class-balanced batches
        True
    """

    def __init__(self, data: PreparedData, config: RiskConfig) -> None:
        super().__init__()
        self.config = config
        train, val = data.subset("train"), data.subset("val")
        for name, part in (("train", train), ("val", val)):
            positives = int((part.binary > 0.5).sum())
            if positives == 0 or positives == part.n_steps:
                raise error(
                    f"the {name} split",
                    "positive and negative steps",
                    f"{positives} positives in {part.n_steps} steps",
                    raw=True,
                )
        self.input_dim = int(train.features.shape[1])
        self.action_dim = train.action_dim
        self.feature_mean = train.features.mean(axis=0)
        self.feature_std = train.features.std(axis=0)
        tensors = _tensors(train)
        over = config.imbalance.noise_oversample
        if over.enabled:
            tensors = oversample_positives(
                tensors, over.ratio, over.noise_std, config.seed, over.augment_factor
            )
        self.n_synthetic = int(tensors["synthetic"].sum())
        self.train_set = StepDataset({k: tensors[k] for k in _FIELDS})
        self.val_set = StepDataset({k: v for k, v in _tensors(val).items() if k in _FIELDS})
        binary = config.loss.binary
        if config.baseline is None and binary.weight > 0 and binary.pos_weight == "auto":
            self.pos_weight: float | None = float(positive_weights(tensors["binary"]))
        elif config.baseline is None and binary.weight > 0 and binary.pos_weight is not None:
            self.pos_weight = float(binary.pos_weight)
        else:
            self.pos_weight = None

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def train_sampler(self) -> Sampler[int]:
        """The training sampler of this rank (class-balanced or shuffling)."""
        world, rank = self._world()
        cfg = self.config
        epoch_size = cfg.train.epoch_size or len(self.train_set)
        sampler_cfg = cfg.imbalance.sampler
        if sampler_cfg.enabled:
            sampler: Sampler[int] = ClassBalancedSampler(
                self.train_set.tensors["binary"].long(),
                num_samples=epoch_size,
                power=sampler_cfg.power,
                seed=cfg.seed,
                num_replicas=world,
                rank=rank,
            )
            warn_if_double_correction(sampler, pos_weight=self.pos_weight, stacklevel=3)
            return sampler
        if cfg.train.epoch_size is not None:
            raise error(
                "train.epoch_size",
                "None unless imbalance.sampler.enabled (the shuffling sampler visits every row)",
                cfg.train.epoch_size,
            )
        return DistributedSampler(
            self.train_set, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed
        )

    def train_dataloader(self) -> DataLoader:
        world, _ = self._world()
        per_rank = max(1, self.config.data.batch_size // world)
        return DataLoader(
            self.train_set,
            batch_size=per_rank,
            sampler=self.train_sampler(),
            collate_fn=_batch_identity,
            num_workers=self.config.data.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set,
            batch_size=self.config.data.eval_batch_size,
            shuffle=False,
            collate_fn=_batch_identity,
            num_workers=self.config.data.num_workers,
        )
