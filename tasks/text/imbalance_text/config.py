"""Run configuration: YAML sections mapped onto validated dataclasses.

Files are read with ``yaml.safe_load`` and built by the shared helpers of
:mod:`imbalance_kit.app`; unknown keys are errors, so a typo never falls back to
a default silently. ``imbalance_text/configs/default.yaml`` (``--config default``) lists
every key with its default;
:func:`apply_overrides` applies ``section.key=value`` strings (the CLI's ``--set``),
the value parsed as YAML.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from imbalance_kit.app import apply_overrides as _apply_overrides
from imbalance_kit.app import (
    build_dataclass,
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
)
from imbalance_kit.app import load_config as _load_config

__all__ = [
    "DataConfig",
    "EvaluationConfig",
    "LossConfig",
    "ModelConfig",
    "TextConfig",
    "TrainingConfig",
    "apply_overrides",
    "load_config",
]

WEIGHT_METHODS = ("positive", "balanced", "inverse", "sqrt_inverse", "effective", "none")
PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed")


@dataclass
class DataConfig:
    """Where the corpus is and how it is split.

    ``train`` is required (CLI ``--data``); without ``val``/``test`` files those
    splits are cut from ``train`` (:func:`imbalance_text.data.split_corpus`).
    ``cache_dir`` holds embeddings (default ``<run>/cache``).
    """

    train: str | None = None
    val: str | None = None
    test: str | None = None
    schema: str | None = None
    text_column: str = "text"
    labels_column: str | None = None
    id_column: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    cache_dir: str | None = None
    allow_pickle: bool = False

    def validate(self) -> None:
        check_in_range("data.val_fraction", self.val_fraction, 0.0, 1.0, high_inclusive=False)
        check_in_range("data.test_fraction", self.test_fraction, 0.0, 1.0, high_inclusive=False)


@dataclass
class ModelConfig:
    """Encoder and head.

    ``path``: local Hugging Face model folder (``None``: the packaged
    all-MiniLM-L6-v2). ``mode``: ``frozen`` trains the head on cached
    embeddings, ``finetune`` trains encoder and head end to end.
    ``head_hidden``: width of the head's hidden layer (0: a linear head).
    ``prior_init``: start each label's bias at its training log-odds.
    """

    path: str | None = None
    mode: Literal["frozen", "finetune"] = "frozen"
    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = True
    max_length: int = 128
    head_hidden: int = 256
    dropout: float = 0.1
    prior_init: bool = True

    def validate(self) -> None:
        check_choice("model.mode", self.mode, ("frozen", "finetune"))
        check_choice("model.pooling", self.pooling, ("mean", "cls"))
        check_positive_int("model.max_length", self.max_length, minimum=2)
        check_positive_int("model.head_hidden", self.head_hidden, minimum=0)
        check_in_range("model.dropout", self.dropout, 0.0, 1.0, high_inclusive=False)


@dataclass
class LossConfig:
    """``sigmoid_focal_loss(pos_weight=...) + constraint_lambda * implication_penalty``.

    ``weights``: how automatic ``pos_weight`` values are computed (``positive``:
    negatives over positives per label; ``balanced`` / ``inverse`` /
    ``sqrt_inverse`` / ``effective``: :func:`imbalance_kit.weights.compute_class_weights`
    on the positive counts; ``none``: 1), capped at ``max_weight``;
    ``custom_weights`` from the schema then replace chosen labels unless
    ``use_custom_weights`` is false. ``focal_gamma`` 0 with ``alpha`` null is
    (weighted) BCE.
    """

    focal_gamma: float = 2.0
    alpha: float | None = None
    weights: Literal["positive", "balanced", "inverse", "sqrt_inverse", "effective", "none"] = (
        "positive"
    )
    max_weight: float | None = 3.0
    use_custom_weights: bool = True
    constraint_lambda: float = 0.5

    def validate(self) -> None:
        check_non_negative("loss.focal_gamma", self.focal_gamma)
        if self.alpha is not None:
            check_in_range("loss.alpha", self.alpha, 0.0, 1.0)
        check_choice("loss.weights", self.weights, WEIGHT_METHODS)
        if self.max_weight is not None:
            check_positive("loss.max_weight", self.max_weight)
        check_non_negative("loss.constraint_lambda", self.constraint_lambda)


@dataclass
class TrainingConfig:
    """Optimisation and the Lightning trainer.

    ``lr`` is the head's learning rate, ``encoder_lr`` the encoder's (fine-tune
    mode). ``precision`` is Lightning's (``bf16-mixed`` with ``--bf16``).
    ``monitor`` picks the best checkpoint (maximised); ``patience`` stops early
    (``null``: never). ``threads`` sets torch's intra-op threads for the run
    (``null``: torch's default); a small head trains fastest on one thread.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    encoder_lr: float = 3e-5
    weight_decay: float = 0.01
    patience: int | None = 8
    monitor: str = "val_pr_auc_macro"
    seed: int = 0
    precision: str = "32-true"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_workers: int = 0
    embed_batch_size: int = 128
    gradient_clip: float | None = 1.0
    threads: int | None = None

    def device(self) -> Any:
        """The ``torch.device`` for inference outside Lightning (CUDA when asked and present)."""
        import torch

        if self.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")

    @property
    def bf16(self) -> bool:
        """Whether ``precision`` is bfloat16 mixed precision."""
        return str(self.precision).startswith("bf16")

    def validate(self) -> None:
        check_positive_int("training.epochs", self.epochs)
        check_positive_int("training.batch_size", self.batch_size)
        check_positive("training.lr", self.lr)
        check_positive("training.encoder_lr", self.encoder_lr)
        check_non_negative("training.weight_decay", self.weight_decay)
        if self.patience is not None:
            check_positive_int("training.patience", self.patience)
        check_positive_int("training.seed", self.seed, minimum=0)
        check_choice("training.precision", str(self.precision), PRECISIONS)
        check_positive_int("training.num_workers", self.num_workers, minimum=0)
        check_positive_int("training.embed_batch_size", self.embed_batch_size)
        if self.gradient_clip is not None:
            check_positive("training.gradient_clip", self.gradient_clip)
        if self.threads is not None:
            check_positive_int("training.threads", self.threads)


@dataclass
class EvaluationConfig:
    """Thresholds and reporting.

    ``threshold``: ``tuned`` picks one threshold per label on validation with
    :func:`imbalance_kit.metrics.best_threshold` (max F1, or the highest
    precision at ``target_recall``); ``fixed`` uses ``fixed_threshold``.
    Labels with fewer than ``min_tune_positives`` validation positives are not tuned
    on their own (tuned on a handful of positives, a threshold overfits them: on the
    simulated corpus it cut the rare labels' test recall from 0.79 to 0.59); they get
    the cut of ``rare_threshold`` for the ``pos_weight`` they were trained with
    (:mod:`imbalance_text.thresholds`: ``pooled``, ``prior_shift``, or ``fixed``:
    ``fixed_threshold`` whatever the weight). ``enforce_constraints``: a positive
    secondary forces its primary.
    ``rare_ratio``: labels at least this many negatives per positive in the
    training split are "rare" when the schema does not list them.
    """

    threshold: Literal["tuned", "fixed"] = "tuned"
    fixed_threshold: float = 0.5
    target_recall: float | None = None
    min_tune_positives: int = 30
    rare_threshold: Literal["pooled", "prior_shift", "fixed"] = "pooled"
    enforce_constraints: bool = True
    n_bins: int = 10
    rare_ratio: float = 50.0

    def validate(self) -> None:
        check_choice("evaluation.threshold", self.threshold, ("tuned", "fixed"))
        check_in_range("evaluation.fixed_threshold", self.fixed_threshold, 0.0, 1.0)
        if self.target_recall is not None:
            check_in_range(
                "evaluation.target_recall", self.target_recall, 0.0, 1.0, low_inclusive=False
            )
        check_positive_int("evaluation.min_tune_positives", self.min_tune_positives)
        check_choice(
            "evaluation.rare_threshold", self.rare_threshold, ("pooled", "prior_shift", "fixed")
        )
        check_positive_int("evaluation.n_bins", self.n_bins)
        check_positive("evaluation.rare_ratio", self.rare_ratio)


@dataclass
class TextConfig:
    """The whole run configuration (one field per YAML section).

    Examples:
        >>> cfg = TextConfig.from_dict({"loss": {"focal_gamma": 3.0}})
        >>> cfg.loss.focal_gamma, cfg.loss.constraint_lambda
        (3.0, 0.5)
        >>> TextConfig.from_dict({"loss": {"gama": 3.0}})
        Traceback (most recent call last):
        ...
        ValueError: config key 'loss.gama' must be one of 'focal_gamma', ..., got 'gama'
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def validate(self) -> TextConfig:
        """Check every section; returns ``self``."""
        for section in dataclasses.fields(self):
            getattr(self, section.name).validate()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TextConfig:
        """Build and validate a config from nested mappings; unknown keys are refused.

        Missing keys take their defaults; numbers PyYAML reads as text (``1e-3``) become
        floats in float fields (:func:`imbalance_kit.app.build_dataclass`).

        Raises:
            ValueError: a section that is not a mapping, an unknown key, an invalid value.
        """
        return build_dataclass(cls, data or {}).validate()

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML/JSON ready)."""
        return asdict(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None
) -> TextConfig:
    """Read a YAML run configuration (``None``: the defaults), apply overrides, validate.

    Args:
        path: a YAML file, or the name of a config this package ships (``default``,
            ``quick``, ``finetune``); ``None`` starts from the defaults.
        overrides: ``section.key=value`` strings (as :func:`apply_overrides`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that is not a mapping, unknown keys or invalid values.

    Examples:
        >>> load_config(None, ["training.lr=1e-3"]).training.lr
        0.001
    """
    return _load_config(
        TextConfig.from_dict, path, overrides, package="imbalance_text", example="loss.focal_gamma"
    )


def apply_overrides(config: TextConfig, overrides: list[str]) -> TextConfig:
    """A new config with ``section.key=value`` overrides applied (values parsed as YAML).

    Raises:
        ValueError: a malformed override, an unknown key, an invalid value.

    Examples:
        >>> cfg = apply_overrides(TextConfig(), ["loss.focal_gamma=3", "model.mode=finetune"])
        >>> cfg.loss.focal_gamma, cfg.model.mode
        (3.0, 'finetune')
    """
    raw = _apply_overrides(config.to_dict(), overrides, example="loss.focal_gamma")
    return TextConfig.from_dict(raw)
