"""Training configuration: nested dataclasses read from YAML (``yaml.safe_load``), validated.

Unknown keys are errors (a typo never silently falls back to a default), and
``--set section.key=value`` overrides are parsed as YAML scalars. The full
schema with defaults is :class:`RiskConfig`; ``imbalance_risk/configs/default.yaml``
(``--config default``) lists every key.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imbalance_kit.app import apply_overrides as _apply_overrides
from imbalance_kit.app import (
    build_dataclass,
    check_bool_option,
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
    error,
)
from imbalance_kit.app import load_config as _load_config

__all__ = [
    "BinaryLossConfig",
    "ContrastiveLossConfig",
    "DataConfig",
    "EvalConfig",
    "ImbalanceConfig",
    "LossConfig",
    "ModelConfig",
    "OversampleConfig",
    "RiskConfig",
    "RiskLossConfig",
    "SamplerConfig",
    "TTFLossConfig",
    "TrainConfig",
    "UncertaintyLossConfig",
    "WeightedLossConfig",
    "apply_overrides",
    "load_config",
]

Weighting = Literal["uniform", "uncertainty", "dwa"]
Monitor = Literal["val_ap", "val_auc", "val_loss"]


def _check_alpha(name: str, alpha: float | None) -> None:
    if alpha is not None:
        check_in_range(name, alpha, 0.0, 1.0)


@dataclass
class DataConfig:
    """Where the prepared data is and how it is batched.

    Attributes:
        path: ``prepared.npz`` or its folder (the CLI's ``--data`` overrides it).
        batch_size: training batch size over all processes.
        eval_batch_size: batch size for validation and prediction.
        num_workers: DataLoader workers.

    Examples:
        >>> DataConfig(batch_size=512).batch_size
        512
    """

    path: str | None = None
    batch_size: int = 256
    eval_batch_size: int = 4096
    num_workers: int = 0

    def __post_init__(self) -> None:
        check_positive_int("data.batch_size", self.batch_size)
        check_positive_int("data.eval_batch_size", self.eval_batch_size)
        check_positive_int("data.num_workers", self.num_workers, minimum=0)


@dataclass
class ModelConfig:
    """Encoder and heads.

    Attributes:
        hidden_dims: widths of the encoder MLP's hidden layers.
        embed_dim: width of the shared embedding.
        head_hidden: hidden width of every head.
        proj_dim: output width of the contrastive projection head.
        dropout: dropout probability (also used for MC dropout).
        n_heads: binary heads in the ensemble.

    Examples:
        >>> ModelConfig(hidden_dims=[256, 128], dropout=0.2).hidden_dims
        [256, 128]
    """

    hidden_dims: list[int] = field(default_factory=lambda: [128, 128])
    embed_dim: int = 64
    head_hidden: int = 32
    proj_dim: int = 32
    dropout: float = 0.1
    n_heads: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.hidden_dims, list):
            raise error("model.hidden_dims", "a list of layer widths", self.hidden_dims)
        for i, width in enumerate(self.hidden_dims):
            check_positive_int(f"model.hidden_dims[{i}]", width)
        for name in ("embed_dim", "head_hidden", "proj_dim", "n_heads"):
            check_positive_int(f"model.{name}", getattr(self, name))
        check_in_range("model.dropout", self.dropout, 0.0, 1.0, high_inclusive=False)


@dataclass
class WeightedLossConfig:
    """A task whose loss needs only a weight (``0`` removes the task and its head).

    Examples:
        >>> TTFLossConfig(weight=0.25).weight
        0.25
    """

    weight: float = 0.5

    def __post_init__(self) -> None:
        check_non_negative(f"loss.{self._name}.weight", self.weight)

    _name = "task"


@dataclass
class BinaryLossConfig:
    """Sigmoid focal loss of the binary heads.

    Attributes:
        weight: task weight (``0`` removes the binary heads).
        alpha: focal alpha in ``[0, 1]`` or ``None``.
        gamma: focal gamma ``>= 0``.
        pos_weight: ``None``; ``"auto"`` (negatives / positives of the training
            labels, :func:`imbalance_kit.weights.positive_weights`); or a number.

    Examples:
        >>> BinaryLossConfig(pos_weight="auto").pos_weight
        'auto'
    """

    weight: float = 1.0
    alpha: float | None = 0.25
    gamma: float = 2.0
    pos_weight: float | str | None = None

    def __post_init__(self) -> None:
        check_non_negative("loss.binary.weight", self.weight)
        _check_alpha("loss.binary.alpha", self.alpha)
        check_non_negative("loss.binary.gamma", self.gamma)
        if isinstance(self.pos_weight, str):
            check_choice("loss.binary.pos_weight", self.pos_weight, ("auto",))
        elif self.pos_weight is not None:
            check_positive("loss.binary.pos_weight", self.pos_weight)


@dataclass
class RiskLossConfig:
    """Sigmoid focal loss of the per-dimension risk head on the soft risk labels.

    Examples:
        >>> RiskLossConfig(alpha=None).alpha is None
        True
    """

    weight: float = 1.0
    alpha: float | None = 0.25
    gamma: float = 2.0

    def __post_init__(self) -> None:
        check_non_negative("loss.risk.weight", self.weight)
        _check_alpha("loss.risk.alpha", self.alpha)
        check_non_negative("loss.risk.gamma", self.gamma)


@dataclass
class TTFLossConfig(WeightedLossConfig):
    """Mean squared error of the time-to-failure head (``weight`` is ``ttf_weight``).

    Examples:
        >>> TTFLossConfig().weight
        0.5
    """

    weight: float = 0.5
    _name = "ttf"


@dataclass
class UncertaintyLossConfig(WeightedLossConfig):
    """Gaussian NLL of the uncertainty head (mean and log-variance of the step's risk).

    Examples:
        >>> UncertaintyLossConfig().weight
        0.1
    """

    weight: float = 0.1
    _name = "uncertainty"


@dataclass
class ContrastiveLossConfig:
    """Supervised contrastive loss of the projection head.

    Attributes:
        weight: task weight (``0`` removes the projection head).
        temperature: SupCon temperature ``> 0``.
        label: ``"binary"`` contrasts steps by their fails-within-k label;
            ``"episode"`` contrasts steps of failed and successful episodes. Every
            step of an episode shares the episode's scene, so ``"episode"``
            rewards recognising training episodes; on the simulated data (3 seeds)
            it ranked steps as well as ``"binary"`` with a lower balanced accuracy
            (see the package README).

    Examples:
        >>> ContrastiveLossConfig(label="episode").temperature
        0.1
    """

    weight: float = 0.1
    temperature: float = 0.1
    label: Literal["episode", "binary"] = "binary"

    def __post_init__(self) -> None:
        check_non_negative("loss.contrastive.weight", self.weight)
        check_positive("loss.contrastive.temperature", self.temperature)
        check_choice("loss.contrastive.label", self.label, ("episode", "binary"))


@dataclass
class LossConfig:
    """The multi-task objective: ``MultiTaskLoss`` over the weighted task losses.

    Attributes:
        weighting: ``MultiTaskLoss`` weighting of the (already weighted) tasks:
            ``"uniform"`` gives ``binary + risk + ttf_weight * ttf + ...``.

    Examples:
        >>> LossConfig(weighting="uncertainty").binary.gamma
        2.0
    """

    weighting: Weighting = "uniform"
    binary: BinaryLossConfig = field(default_factory=BinaryLossConfig)
    risk: RiskLossConfig = field(default_factory=RiskLossConfig)
    ttf: TTFLossConfig = field(default_factory=TTFLossConfig)
    uncertainty: UncertaintyLossConfig = field(default_factory=UncertaintyLossConfig)
    contrastive: ContrastiveLossConfig = field(default_factory=ContrastiveLossConfig)

    def __post_init__(self) -> None:
        check_choice("loss.weighting", self.weighting, typing.get_args(Weighting))


@dataclass
class SamplerConfig:
    """``ClassBalancedSampler`` on the binary label (``power=0``: balanced batches).

    Examples:
        >>> SamplerConfig(power=0.5).enabled
        True
    """

    enabled: bool = True
    power: float = 0.0

    def __post_init__(self) -> None:
        check_bool_option("imbalance.sampler.enabled", self.enabled)
        check_non_negative("imbalance.sampler.power", self.power)


@dataclass
class OversampleConfig:
    """``noise_oversample`` of the positive training steps.

    Two ways to say how many synthetic positives to add (give at most one):

    * ``ratio``: positives are raised to ``int(ratio * n_negative)`` (in ``(0, 1]``);
      ``null`` with no ``augment_factor`` means ``0.5``.
    * ``augment_factor``: ``augment_factor`` jittered copies per positive step, the field
      report's spelling (``n_positive * augment_factor`` new rows, their sources drawn
      uniformly with replacement, so each positive gets that many copies on average).

    Attributes:
        enabled: switch.
        ratio: target positives relative to the negatives, or ``None``.
        augment_factor: copies per positive (an integer >= 1), or ``None``.
        noise_std: jitter relative to the positives' per-feature standard deviation.

    Examples:
        >>> OversampleConfig(ratio=1.0).noise_std
        0.1
        >>> OversampleConfig().target_positives(n_positive=10, n_negative=200)
        100
        >>> OversampleConfig(augment_factor=3).target_positives(n_positive=10, n_negative=200)
        40
        >>> OversampleConfig(ratio=0.5, augment_factor=3)
        Traceback (most recent call last):
        ...
        ValueError: imbalance.noise_oversample.ratio must be null when augment_factor is set ...
    """

    enabled: bool = True
    ratio: float | None = None
    augment_factor: int | None = None
    noise_std: float = 0.1

    def __post_init__(self) -> None:
        check_bool_option("imbalance.noise_oversample.enabled", self.enabled)
        if self.ratio is not None:
            check_in_range(
                "imbalance.noise_oversample.ratio", self.ratio, 0.0, 1.0, low_inclusive=False
            )
        if self.augment_factor is not None:
            check_positive_int("imbalance.noise_oversample.augment_factor", self.augment_factor)
            if self.ratio is not None:
                raise error(
                    "imbalance.noise_oversample.ratio",
                    "null when augment_factor is set (one target: ratio * negatives, or "
                    "augment_factor copies per positive)",
                    self.ratio,
                )
        check_non_negative("imbalance.noise_oversample.noise_std", self.noise_std)

    def target_positives(self, n_positive: int, n_negative: int) -> int:
        """How many positive rows there are after over-sampling."""
        if self.augment_factor is not None:
            return n_positive * (1 + self.augment_factor)
        return int((0.5 if self.ratio is None else self.ratio) * n_negative)


@dataclass
class ImbalanceConfig:
    """The re-sampling switches.

    Examples:
        >>> ImbalanceConfig().sampler.power
        0.0
    """

    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    noise_oversample: OversampleConfig = field(default_factory=OversampleConfig)


@dataclass
class TrainConfig:
    """Optimisation and the Lightning ``Trainer``.

    Attributes:
        max_epochs: epoch limit.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        patience: early-stopping patience in epochs (``0`` turns early stopping off).
        monitor: validation metric for early stopping and the best checkpoint.
        accelerator: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``).
        devices: devices (processes) per node.
        num_nodes: machines (under SLURM: ``--nodes``; see ``imbalance_risk/slurm/train.sbatch``).
        strategy: Lightning strategy (``"auto"``, ``"ddp"``, ``"ddp_spawn"``).
        precision: Lightning precision (``"32-true"``, ``"bf16-mixed"``, ...).
        epoch_size: training samples drawn per epoch (``None``: the training set size).

    Examples:
        >>> TrainConfig(monitor="val_loss").monitor_mode
        'min'
    """

    max_epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    monitor: Monitor = "val_ap"
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    epoch_size: int | None = None

    def __post_init__(self) -> None:
        check_positive_int("train.max_epochs", self.max_epochs)
        check_positive("train.lr", self.lr)
        check_non_negative("train.weight_decay", self.weight_decay)
        check_positive_int("train.patience", self.patience, minimum=0)
        check_choice("train.monitor", self.monitor, typing.get_args(Monitor))
        check_positive_int("train.devices", self.devices)
        check_positive_int("train.num_nodes", self.num_nodes)
        if self.epoch_size is not None:
            check_positive_int("train.epoch_size", self.epoch_size)
        for name in ("accelerator", "strategy", "precision"):
            if not isinstance(getattr(self, name), str):
                raise error(f"train.{name}", "a string", getattr(self, name))

    @property
    def monitor_mode(self) -> Literal["min", "max"]:
        """``"min"`` for the loss, ``"max"`` for AUC / AP."""
        return "min" if self.monitor == "val_loss" else "max"


@dataclass
class EvalConfig:
    """Evaluation settings.

    Attributes:
        mc_samples: MC-dropout forward passes (``0`` skips MC dropout).
        n_bins: bins of the ECE and the reliability diagram.
        threshold: ``"val_f1"`` picks the threshold with the best F1 on the
            validation split (:func:`imbalance_risk.evaluate.best_f1_threshold`); a number fixes it.

    Examples:
        >>> EvalConfig(threshold=0.3).threshold
        0.3
    """

    mc_samples: int = 20
    n_bins: int = 15
    threshold: float | str = "val_f1"

    def __post_init__(self) -> None:
        check_positive_int("evaluate.mc_samples", self.mc_samples, minimum=0)
        check_positive_int("evaluate.n_bins", self.n_bins)
        if isinstance(self.threshold, str):
            check_choice("evaluate.threshold", self.threshold, ("val_f1",))
        else:
            check_in_range("evaluate.threshold", self.threshold, 0.0, 1.0)


@dataclass
class RiskConfig:
    """Everything ``imbalance-risk train`` / ``evaluate`` read.

    Attributes:
        seed: seed of initialisation, sampling and over-sampling.
        baseline: ``None`` for the risk model; ``"mse"`` for the baseline that
            regresses the risk labels with MSE. ``"mse"`` is a preset: it sets the
            binary, TTF, uncertainty and contrastive weights to 0 and switches the
            sampler and the over-sampling off, whatever the other keys say (see
            :meth:`as_baseline`).

    Examples:
        >>> cfg = RiskConfig.from_dict(
        ...     {"loss": {"binary": {"gamma": 1.0}}, "train": {"max_epochs": 3}}
        ... )
        >>> cfg.loss.binary.gamma, cfg.train.max_epochs, cfg.loss.risk.gamma
        (1.0, 3, 2.0)
        >>> RiskConfig.from_dict({"loss": {"binry": {}}})
        Traceback (most recent call last):
        ...
        ValueError: config key 'loss.binry' must be one of 'weighting', 'binary', ..., got 'binry'
    """

    seed: int = 0
    baseline: Literal["mse"] | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    imbalance: ImbalanceConfig = field(default_factory=ImbalanceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check_positive_int("seed", self.seed, minimum=0)
        if self.baseline is not None:
            check_choice("baseline", self.baseline, ("mse",))
            # The baseline preset: only the MSE task, no re-sampling.
            for task in ("binary", "ttf", "uncertainty", "contrastive"):
                getattr(self.loss, task).weight = 0.0
            self.loss.binary.pos_weight = None
            self.imbalance.sampler.enabled = False
            self.imbalance.noise_oversample.enabled = False

    @classmethod
    def from_dict(cls, mapping: dict[str, Any] | None) -> RiskConfig:
        """Build from a nested dict (missing keys take their defaults; unknown keys are errors)."""
        return build_dataclass(cls, mapping or {}, "")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML/JSON ready)."""
        return dataclasses.asdict(self)

    def as_baseline(self) -> RiskConfig:
        """The MSE baseline: MSE on the risk labels, every imbalance technique off.

        The encoder, data and training settings are kept; the binary, TTF,
        uncertainty and contrastive tasks (and their heads), the sampler and
        the over-sampling are switched off, as in the setup that predicted zeros.
        """
        data = self.to_dict()
        data["baseline"] = "mse"
        return RiskConfig.from_dict(data)

    def active_tasks(self) -> dict[str, float]:
        """Task name -> weight for every task with a positive weight."""
        if self.baseline == "mse":
            return {"risk_mse": 1.0}
        return {
            name: float(getattr(self.loss, name).weight)
            for name in ("binary", "risk", "ttf", "uncertainty", "contrastive")
            if getattr(self.loss, name).weight > 0
        }


def apply_overrides(mapping: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed with ``yaml.safe_load``).

    Examples:
        >>> apply_overrides({"train": {"lr": 0.1}}, ["train.lr=0.01"])
        {'train': {'lr': 0.01}}
    """
    return _apply_overrides(mapping, overrides, example="train.lr")


def load_config(
    source: str | Path | None = None,
    overrides: Sequence[str] | None = None,
    *,
    base: Mapping[str, Any] | None = None,
) -> RiskConfig:
    """Read a YAML config (``yaml.safe_load``), apply overrides, validate.

    Args:
        source: a YAML file, or the name of a config the package ships (``default``,
            ``quick``, ``baseline_mse``, ``ddp_cpu``); ``None`` starts from the defaults.
        overrides: ``section.key=value`` strings, applied after the file.
        base: a mapping the file is merged onto (a preset).

    Raises:
        FileNotFoundError: no such file or shipped config.
        ValueError: unknown keys or invalid values.

    Examples:
        >>> load_config(None, ["train.max_epochs=2"]).train.max_epochs
        2
        >>> load_config("baseline_mse").baseline
        'mse'
    """
    return _load_config(
        RiskConfig.from_dict,
        source,
        list(overrides or []),
        package="imbalance_risk",
        base=base,
        example="train.lr",
    )
