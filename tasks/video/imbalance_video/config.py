"""Run configuration: YAML sections mapped onto validated dataclasses.

Files are read with ``yaml.safe_load`` and built by the shared helpers of
:mod:`imbalance_kit.app`; unknown keys are errors (a typo never silently falls
back to a default). Relative manifest paths are read from the current directory.
The package ships its configs (``imbalance_video/configs/*.yaml``): ``--config default``
names ``configs/default.yaml``, which lists every key with its default.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from imbalance_kit.app import (
    build_dataclass,
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
    error,
    write_text,
)
from imbalance_kit.app import load_config as _load_config
from imbalance_kit.losses.multitask import OPTION_USERS, WEIGHTINGS
from imbalance_video.model import available_models

__all__ = [
    "LOSS_TYPES",
    "AugmentConfig",
    "DataConfig",
    "DiagnosticsConfig",
    "ModelConfig",
    "MultiTaskConfig",
    "TTAConfig",
    "TaskConfig",
    "TrainConfig",
    "VideoConfig",
    "load_config",
]

LOSS_TYPES = ("ce", "bce", "focal", "balanced_softmax", "ldam", "logit_adjusted")
ADAPTIVE_WEIGHTINGS = ("dwa", "inverse_accuracy", "inverse_f1", "difficulty")


@dataclass
class DataConfig:
    """Manifests, clip geometry and loading.

    ``clip_len`` frames are taken every ``frame_stride`` frames inside an event and
    resized to ``frame_size`` squares while decoding; decoded videos are cached as
    ``.npy`` in ``cache_dir`` (default: ``<run>/cache``).
    """

    train: str | None = None
    val: str | None = None
    test: str | None = None
    frame_size: int = 32
    clip_len: int = 8
    frame_stride: int = 1
    batch_size: int = 16
    num_workers: int = 0
    cache_dir: str | None = None

    def validate(self) -> None:
        check_positive_int("data.frame_size", self.frame_size, minimum=8)
        check_positive_int("data.clip_len", self.clip_len, minimum=2)
        check_positive_int("data.frame_stride", self.frame_stride)
        check_positive_int("data.batch_size", self.batch_size)
        check_positive_int("data.num_workers", self.num_workers, minimum=0)


@dataclass
class ModelConfig:
    """Backbone registry name (:func:`imbalance_video.model.available_models`), size, pooling.

    ``pooling`` is the backbone's global pooling (``max`` keeps a small moving animal's
    response; a backbone registered by the user receives it as a keyword argument).
    """

    name: str = "r2plus1d"
    width: int = 16
    embed_dim: int = 64
    dropout: float = 0.5
    pooling: Literal["max", "avg"] = "max"

    def validate(self) -> None:
        check_choice("model.name", self.name, available_models())
        check_choice("model.pooling", self.pooling, ("max", "avg"))
        check_positive_int("model.width", self.width)
        check_positive_int("model.embed_dim", self.embed_dim)
        check_in_range("model.dropout", self.dropout, 0.0, 1.0, high_inclusive=False)


@dataclass
class AugmentConfig:
    """Clip augmentation (:class:`imbalance_video.transforms.ClipAugment`) for training."""

    enabled: bool = True
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    trivial_augment: bool = True

    def validate(self) -> None:
        from imbalance_video.transforms import ClipAugment

        ClipAugment(**self.transform_kwargs())

    def transform_kwargs(self) -> dict[str, Any]:
        return {
            "crop_scale": tuple(self.crop_scale),
            "flip": self.flip,
            "brightness": self.brightness,
            "contrast": self.contrast,
            "saturation": self.saturation,
            "trivial_augment": self.trivial_augment,
        }


@dataclass
class TaskConfig:
    """One classification head: its loss type, focal ``gamma`` and tail classes.

    ``loss`` is ``ce`` (cross-entropy), ``bce`` (binary cross-entropy, for a task of two
    classes), ``focal`` (softmax focal loss), ``balanced_softmax``, ``ldam`` or
    ``logit_adjusted`` (the last three read the training class counts). ``tail`` lists the
    tail classes (names or indices, kept as text; one class may be given without a list);
    default: the rarest class of the training manifest.
    """

    loss: Literal["ce", "bce", "focal", "balanced_softmax", "ldam", "logit_adjusted"] = "focal"
    gamma: float = 2.0
    tail: list[str] | None = None

    def __post_init__(self) -> None:
        if self.tail is not None:
            tail = self.tail if isinstance(self.tail, (list, tuple)) else [self.tail]
            self.tail = [str(t) for t in tail]

    def validate(self, name: str) -> None:
        check_choice(f"tasks.{name}.loss", self.loss, LOSS_TYPES)
        check_non_negative(f"tasks.{name}.gamma", self.gamma)
        if self.tail is not None and not isinstance(self.tail, list):
            raise error(f"tasks.{name}.tail", "a list of class names", self.tail)


@dataclass
class TrainConfig:
    """Optimisation, imbalance handling, model selection and the Lightning trainer.

    ``balanced_sampling`` draws batches with
    :class:`imbalance_kit.sampling.ClassBalancedSampler` (class ``c`` with probability
    proportional to ``n_c ** sampler_power``); ``class_weights`` adds per-class loss
    weights from :func:`imbalance_kit.weights.compute_class_weights` (``effective``:
    effective number of samples with ``effective_beta``). Both together trigger the
    double-correction warning. ``monitor`` is the validation metric that picks the
    best checkpoint (higher is better); ``patience`` enables early stopping on it.
    ``num_threads`` sets ``torch.set_num_threads`` in every training process (``None``
    keeps torch's default; 1 is fastest for tiny clips on a shared CPU).
    """

    epochs: int = 20
    lr: float = 5e-4
    weight_decay: float = 0.05
    label_smoothing: float = 0.15
    balanced_sampling: bool = True
    sampler_power: float = 0.0
    class_weights: Literal["none", "balanced", "effective"] = "none"
    effective_beta: float = 0.999
    max_class_weight: float | None = 10.0
    monitor: str = "val_tail_f1"
    patience: int | None = None
    gradient_clip: float | None = 1.0
    seed: int = 0
    accelerator: str = "cpu"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool = False
    num_threads: int | None = None

    def validate(self) -> None:
        check_positive_int("training.epochs", self.epochs)
        check_positive("training.lr", self.lr)
        check_non_negative("training.weight_decay", self.weight_decay)
        check_in_range(
            "training.label_smoothing", self.label_smoothing, 0.0, 1.0, high_inclusive=False
        )
        check_non_negative("training.sampler_power", self.sampler_power)
        check_choice(
            "training.class_weights", self.class_weights, ("none", "balanced", "effective")
        )
        check_in_range(
            "training.effective_beta", self.effective_beta, 0.0, 1.0, high_inclusive=False
        )
        if self.max_class_weight is not None:
            check_positive("training.max_class_weight", self.max_class_weight)
        if not isinstance(self.monitor, str) or not self.monitor.startswith("val_"):
            raise error(
                "training.monitor", "a validation metric name starting with 'val_'", self.monitor
            )
        if self.patience is not None:
            check_positive_int("training.patience", self.patience)
        if self.gradient_clip is not None:
            check_positive("training.gradient_clip", self.gradient_clip)
        check_positive_int("training.seed", self.seed, minimum=0)
        check_positive_int("training.devices", self.devices)
        if self.num_threads is not None:
            check_positive_int("training.num_threads", self.num_threads)


@dataclass
class MultiTaskConfig:
    """Task weighting of :class:`imbalance_kit.losses.MultiTaskLoss`.

    ``adaptive_weights`` re-computes the weights after every validation epoch
    (``inverse_accuracy`` from each task's accuracy, ``inverse_f1`` and
    ``difficulty`` from its macro-F1) or every training epoch (``dwa``). It is
    required by those strategies and meaningless for ``uniform`` and ``uncertainty``
    (learned by gradient); ``None`` picks the value the strategy needs.
    ``sample_by`` is the task whose labels the balanced sampler balances (default:
    the first task).
    """

    weighting: Literal[
        "uniform", "uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty"
    ] = "uniform"
    adaptive_weights: bool | None = None
    max_weight: float | None = 10.0
    metric_momentum: float = 0.0
    sample_by: str | None = None

    def validate(self) -> None:
        check_choice("multitask.weighting", self.weighting, WEIGHTINGS)
        adaptive = self.weighting in ADAPTIVE_WEIGHTINGS
        if self.adaptive_weights is False and adaptive:
            raise error(
                "multitask.adaptive_weights",
                f"true (or unset) for weighting {self.weighting!r}, which changes every epoch",
                self.adaptive_weights,
            )
        if self.adaptive_weights is True and not adaptive:
            raise error(
                "multitask.adaptive_weights",
                f"false (or unset) for weighting {self.weighting!r} (nothing to re-compute)",
                self.adaptive_weights,
            )
        if self.max_weight is not None:
            check_in_range("multitask.max_weight", self.max_weight, 1.0, float("inf"))
        check_in_range(
            "multitask.metric_momentum", self.metric_momentum, 0.0, 1.0, high_inclusive=False
        )
        # MultiTaskLoss refuses a non-default option its weighting does not read.
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for key in ("max_weight", "metric_momentum"):
            value, default = getattr(self, key), defaults[key]
            if self.weighting not in OPTION_USERS[key] and value != default:
                users = ", ".join(repr(w) for w in OPTION_USERS[key])
                raise error(
                    f"multitask.{key}",
                    f"left at {default!r} with weighting {self.weighting!r} (read only by {users})",
                    value,
                )

    @property
    def adaptive(self) -> bool:
        """Whether the weights are re-computed every epoch."""
        return self.weighting in ADAPTIVE_WEIGHTINGS


@dataclass
class TTAConfig:
    """Test-time augmentation: ``clips`` clips per event (evenly spaced), aggregated.

    ``aggregate="mean"`` averages the clips' class probabilities; ``"max"`` takes the
    per-class maximum and renormalises the row to sum to 1. ``flip`` also flips every
    other clip left-right.
    """

    clips: int = 5
    aggregate: Literal["mean", "max"] = "mean"
    flip: bool = False

    def validate(self) -> None:
        check_positive_int("tta.clips", self.clips)
        check_choice("tta.aggregate", self.aggregate, ("mean", "max"))


@dataclass
class DiagnosticsConfig:
    """Settings of the confounding diagnostics.

    Probability clustering counts predicted tail probabilities (rounded to
    ``cluster_decimals``) shared by ``cluster_min_repeats`` or more events; the
    linear probe is a logistic regression from embeddings to video id, scored by
    ``probe_folds``-fold cross-validation.
    """

    cluster_min_repeats: int = 3
    cluster_decimals: int = 3
    probe_folds: int = 5

    def validate(self) -> None:
        check_positive_int("diagnostics.cluster_min_repeats", self.cluster_min_repeats, minimum=2)
        check_positive_int("diagnostics.cluster_decimals", self.cluster_decimals, minimum=0)
        check_positive_int("diagnostics.probe_folds", self.probe_folds, minimum=2)


@dataclass
class VideoConfig:
    """The whole run configuration (one section per dataclass above).

    Examples:
        >>> config = VideoConfig.from_dict({"tasks": {"label": {"loss": "focal"}},
        ...                                 "training": {"epochs": 2}})
        >>> config.training.epochs, config.tasks["label"].gamma, config.multi_task
        (2, 2.0, False)
        >>> VideoConfig.from_dict({"training": {"epoch": 2}})
        Traceback (most recent call last):
        ...
        ValueError: config key 'training.epoch' must be one of 'epochs', ..., got 'epoch'
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    tasks: dict[str, TaskConfig] = field(default_factory=lambda: {"label": TaskConfig()})
    training: TrainConfig = field(default_factory=TrainConfig)
    multitask: MultiTaskConfig = field(default_factory=MultiTaskConfig)
    tta: TTAConfig = field(default_factory=TTAConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)

    @property
    def multi_task(self) -> bool:
        """More than one task head."""
        return len(self.tasks) > 1

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    def validate(self) -> VideoConfig:
        """Check every section; returns ``self``.

        Raises:
            ValueError: the first bad value, named by its config key.
        """
        for section in (
            self.data,
            self.model,
            self.augment,
            self.training,
            self.multitask,
            self.tta,
        ):
            section.validate()
        self.diagnostics.validate()
        if not self.tasks:
            raise error(
                "tasks", "a mapping of task name -> settings with one task or more", self.tasks
            )
        for name, task in self.tasks.items():
            task.validate(name)
        sample_by = self.multitask.sample_by
        if sample_by is not None and sample_by not in self.tasks:
            raise error("multitask.sample_by", f"one of the tasks {self.task_names}", sample_by)
        if self.training.monitor.startswith("val_loss"):
            raise error(
                "training.monitor",
                "a metric where higher is better (not a loss)",
                self.training.monitor,
            )
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> VideoConfig:
        """Build and validate from a (YAML) mapping; missing keys keep their defaults.

        Numbers PyYAML reads as text (``5e-4``) become floats in float fields; ``tasks``
        maps each task name to its :class:`TaskConfig`
        (:func:`imbalance_kit.app.build_dataclass`).

        Raises:
            ValueError: a section that is not a mapping, an unknown key, a bad value.
        """
        return build_dataclass(cls, {} if data is None else data).validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (YAML, checkpoints)."""
        return asdict(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the configuration as YAML (atomically)."""
        return write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
) -> VideoConfig:
    """Read a YAML config (``yaml.safe_load``; ``None`` gives the defaults), apply overrides.

    Args:
        path: a YAML file, or the name of a config the package ships (``default``,
            ``intravideo``, ``group``, ``boosted``, ``multitask``, ``real``); ``None``
            starts from the defaults.
        overrides: ``section.key=value`` strings, the value parsed as YAML
            (``tasks.label.gamma=1``), applied after the file.
        base: a mapping the file is merged onto (a preset).

    Raises:
        FileNotFoundError: ``path`` is neither a file nor a shipped config.
        ValueError: a file that is not a mapping, an unknown key or a bad value.

    Examples:
        >>> load_config().model.name
        'r2plus1d'
        >>> load_config(None, ["training.lr=1e-3"]).training.lr
        0.001
    """
    return _load_config(
        VideoConfig.from_dict,
        path,
        overrides,
        package="imbalance_video",
        base=base,
        example="training.lr",
    )
