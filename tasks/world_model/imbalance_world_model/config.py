"""The configuration: nested dataclasses read from YAML (``yaml.safe_load``), validated.

Unknown keys are errors, and ``--set section.key=value`` overrides are parsed as YAML
scalars (:func:`imbalance_kit.app.load_config`). The package ships its configs as package
data: ``configs/default.yaml`` lists every key with its default, ``configs/quick.yaml`` is the
``--quick`` preset; ``--config NAME`` names a shipped config, ``--config FILE`` a file.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imbalance_kit.app import (
    build_dataclass,
    check_bool_option,
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    check_positive_int,
    error,
    read_yaml_mapping,
    resolve_config_path,
)
from imbalance_kit.app import load_config as _load_config

__all__ = [
    "GateConfig",
    "GenerateConfig",
    "PolicyConfig",
    "SimulateConfig",
    "SplitConfig",
    "TrainerConfig",
    "TrustConfig",
    "WMConfig",
    "WMTrainConfig",
    "WorldModelConfig",
    "load_config",
    "shipped_config",
]

#: The package whose ``configs/`` folder ``--config NAME`` resolves against.
PACKAGE = "imbalance_world_model"

TrainMode = Literal["teacher_forcing", "scheduled_sampling", "bptt"]
PolicyAlgo = Literal["bc", "td3bc"]
Weighting = Literal["sample", "loss"]


@dataclass
class SimulateConfig:
    """Simulated real data: :func:`~imbalance_world_model.simulate.simulate_episodes`.

    Attributes:
        n_episodes, horizon, n_oscillators, dt, damping, coupling, process_noise: simulator.
        n_bricks: k-means clusters of the economic metrics.
        seed: simulation seed (the held-out split of simulated data is drawn with it too).

    Examples:
        >>> SimulateConfig(n_episodes=50).horizon   # 60 steps after the first state
        61
    """

    n_episodes: int = 200
    horizon: int = 61
    n_oscillators: int = 2
    dt: float = 0.1
    damping: float = 0.3
    coupling: float = 0.5
    process_noise: float = 0.1
    n_bricks: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("simulate.n_episodes", self.n_episodes, minimum=4)
        check_positive_int("simulate.horizon", self.horizon, minimum=3)
        check_positive_int("simulate.n_oscillators", self.n_oscillators)
        check_positive("simulate.dt", self.dt)
        for name in ("damping", "coupling", "process_noise"):
            check_non_negative(f"simulate.{name}", getattr(self, name))
        check_positive_int("simulate.n_bricks", self.n_bricks)
        check_positive_int("simulate.seed", self.seed, minimum=0)


@dataclass
class SplitConfig:
    """The held-out real episodes (policy evaluation), by episode.

    Simulated data and files with a ``meta_split_test`` array keep their split; a file without
    one is split when a command reads it, and the split is recorded in the run.

    Attributes:
        test_fraction: share of the real episodes held out (at least one).
        seed: seed of the split of a file without one (``None``: the run's ``seed``).

    Examples:
        >>> SplitConfig().test_fraction
        0.25
    """

    test_fraction: float = 0.25
    seed: int | None = None

    def __post_init__(self) -> None:
        check_in_range(
            "split.test_fraction",
            self.test_fraction,
            0.0,
            1.0,
            low_inclusive=False,
            high_inclusive=False,
        )
        if self.seed is not None:
            check_positive_int("split.seed", self.seed, minimum=0)


@dataclass
class TrainerConfig:
    """Where the training commands run (Lightning's ``Trainer`` arguments).

    ``devices`` processes per node on ``num_nodes`` nodes; more than one process needs
    ``strategy: ddp`` (under SLURM, ``srun`` starts the processes: see the package README's
    cluster recipe). Batch sizes are per process.

    Examples:
        >>> TrainerConfig(devices=2, strategy="ddp").devices
        2
    """

    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"

    def __post_init__(self) -> None:
        check_choice("trainer.accelerator", self.accelerator, ("cpu", "gpu", "auto"))
        check_positive_int("trainer.devices", self.devices)
        check_positive_int("trainer.num_nodes", self.num_nodes)
        check_choice("trainer.strategy", self.strategy, ("auto", "ddp"))
        if self.devices * self.num_nodes > 1 and self.strategy != "ddp":
            raise error(
                "trainer.strategy",
                "ddp for more than one process (devices x num_nodes > 1)",
                self.strategy,
            )

    def kwargs(self) -> dict[str, Any]:
        """The ``lightning.Trainer`` arguments (the gloo backend on CPU, NCCL on GPUs)."""
        out: dict[str, Any] = {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "num_nodes": self.num_nodes,
        }
        if self.strategy == "ddp":
            from lightning.pytorch.strategies import DDPStrategy

            backend = "gloo" if self.accelerator == "cpu" else None
            out["strategy"] = DDPStrategy(process_group_backend=backend)
        return out


@dataclass
class WorldModelConfig:
    """The network: GRU width and the optional residual clip.

    Examples:
        >>> WorldModelConfig(residual_clip=0.1).residual_clip
        0.1
    """

    hidden_dim: int = 64
    residual_clip: float | None = None

    def __post_init__(self) -> None:
        check_positive_int("world_model.hidden_dim", self.hidden_dim)
        if self.residual_clip is not None:
            check_positive("world_model.residual_clip", self.residual_clip)


@dataclass
class WMTrainConfig:
    """World-model training.

    Attributes:
        mode: ``"teacher_forcing"`` (inputs are always the true states),
            ``"scheduled_sampling"`` (true input with a probability that falls linearly from 1
            to ``ss_min_teacher`` over the epochs), ``"bptt"`` (free-running rollouts,
            back-propagation through time).
        horizon: predicted steps per training window (``None``: the whole episode).
        epochs, batch_size, lr, grad_clip: optimisation (Adam; gradient-norm clipping).
        ss_min_teacher: final teacher probability of scheduled sampling.
        var_reg_weight, var_reg_ratio: weight of the variance penalty and the allowed ratio
            of synthetic to real per-step variance.
        feature_match_weight: weight of the squared distance of mean trust features.
        trust_aware_weight: weight of ``BCE(trust_net(rollout), real)`` (needs a trust net).

    Examples:
        >>> WMTrainConfig(mode="teacher_forcing", horizon=10).horizon
        10
    """

    mode: TrainMode = "bptt"
    horizon: int | None = None
    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-3
    grad_clip: float = 1.0
    ss_min_teacher: float = 0.0
    var_reg_weight: float = 0.0
    var_reg_ratio: float = 1.2
    feature_match_weight: float = 0.0
    trust_aware_weight: float = 0.0

    def __post_init__(self) -> None:
        check_choice("wm_train.mode", self.mode, typing.get_args(TrainMode))
        if self.horizon is not None:
            check_positive_int("wm_train.horizon", self.horizon)
        check_positive_int("wm_train.epochs", self.epochs)
        check_positive_int("wm_train.batch_size", self.batch_size)
        check_positive("wm_train.lr", self.lr)
        check_positive("wm_train.grad_clip", self.grad_clip)
        check_in_range("wm_train.ss_min_teacher", self.ss_min_teacher, 0.0, 1.0)
        for name in ("var_reg_weight", "feature_match_weight", "trust_aware_weight"):
            check_non_negative(f"wm_train.{name}", getattr(self, name))
        check_positive("wm_train.var_reg_ratio", self.var_reg_ratio)


@dataclass
class GenerateConfig:
    """Synthetic data: whole episodes or short augmentation segments.

    Attributes:
        mode: ``"episodes"`` (the first state and action sequence of a real training episode,
            rolled out for its whole length) or ``"segments"`` (``segment_length`` steps
            started from a real state in the middle of a real training episode, with the
            model's state warmed up on the episode so far, under the real actions).
        n_episodes: synthetic episodes (``None``: as many as real training episodes).
        segment_length: steps per segment (segments of episodes that end sooner are shorter).
        n_segments: segments (``None``: as many transitions as the real training set).
        sample: add the calibrated noise at every step.

    Examples:
        >>> GenerateConfig(mode="segments").segment_length
        15
    """

    mode: Literal["episodes", "segments"] = "episodes"
    n_episodes: int | None = None
    segment_length: int = 15
    n_segments: int | None = None
    sample: bool = True

    def __post_init__(self) -> None:
        check_choice("generate.mode", self.mode, ("episodes", "segments"))
        if self.n_episodes is not None:
            check_positive_int("generate.n_episodes", self.n_episodes)
        check_positive_int("generate.segment_length", self.segment_length)
        if self.n_segments is not None:
            check_positive_int("generate.n_segments", self.n_segments)
        check_bool_option("generate.sample", self.sample)


@dataclass
class TrustConfig:
    """Trust net: ``kind`` (``"mlp"`` on features, ``"temporal"`` GRU) and its training.

    The fields are the keyword arguments of
    :func:`~imbalance_world_model.trust.train_trust` (``**dataclasses.asdict(config)``).

    Examples:
        >>> TrustConfig(kind="temporal").kind
        'temporal'
    """

    kind: Literal["mlp", "temporal"] = "mlp"
    hidden_dim: int = 64
    epochs: int = 30
    lr: float = 3e-3
    batch_size: int = 64
    val_fraction: float = 0.3

    def __post_init__(self) -> None:
        check_choice("trust.kind", self.kind, ("mlp", "temporal"))
        check_positive_int("trust.hidden_dim", self.hidden_dim)
        check_positive_int("trust.epochs", self.epochs)
        check_positive("trust.lr", self.lr)
        check_positive_int("trust.batch_size", self.batch_size)
        check_in_range("trust.val_fraction", self.val_fraction, 0.0, 1.0, high_inclusive=False)


@dataclass
class GateConfig:
    """Bounds filter (see :class:`~imbalance_world_model.gates.BoundsFilter`), trust threshold
    and the gate's rule.

    Attributes:
        quantile, margin, std_tolerance, max_outside: the bounds filter.
        trust_threshold: ``p(real)`` a synthetic episode needs under the rules with trust.
        rule: which synthetic episodes the trust-weighted mix uses: ``"trust"`` (trust
            threshold), ``"bounds"`` (bounds filter, weight 1) or ``"both"`` (both tests,
            weight ``p(real)``).

    Examples:
        >>> GateConfig().trust_threshold, GateConfig().rule
        (0.5, 'both')
    """

    quantile: float = 0.005
    margin: float = 0.1
    std_tolerance: float = 1.25
    max_outside: float = 0.0
    trust_threshold: float = 0.5
    rule: Literal["trust", "bounds", "both"] = "both"

    def __post_init__(self) -> None:
        check_choice("gate.rule", self.rule, ("trust", "bounds", "both"))
        check_in_range("gate.quantile", self.quantile, 0.0, 0.5, high_inclusive=False)
        check_non_negative("gate.margin", self.margin)
        check_positive("gate.std_tolerance", self.std_tolerance)
        check_in_range("gate.max_outside", self.max_outside, 0.0, 1.0)
        check_in_range("gate.trust_threshold", self.trust_threshold, 0.0, 1.0)


@dataclass
class PolicyConfig:
    """Offline policy learning.

    Attributes:
        algo: ``"bc"`` (weighted behaviour cloning) or ``"td3bc"`` (TD3+BC).
        weighting: ``"sample"`` draws transitions with
            :class:`imbalance_kit.sampling.WeightedSampler`
            in proportion to their weights; ``"loss"`` draws uniformly and weights the loss
            (importance-weighted loss).
        fixed_share: synthetic share of the fixed-mix policy (0.1: the 10% mix).
        hidden_dim, epochs, batch_size, lr: network and optimisation.
        td3_alpha, gamma, tau, policy_noise, noise_clip, policy_delay: TD3+BC settings.

    Examples:
        >>> PolicyConfig(algo="td3bc").td3_alpha
        2.5
    """

    algo: PolicyAlgo = "bc"
    weighting: Weighting = "sample"
    fixed_share: float = 0.1
    hidden_dim: int = 64
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    td3_alpha: float = 2.5
    gamma: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2

    def __post_init__(self) -> None:
        check_choice("policy.algo", self.algo, typing.get_args(PolicyAlgo))
        check_choice("policy.weighting", self.weighting, typing.get_args(Weighting))
        check_in_range("policy.fixed_share", self.fixed_share, 0.0, 1.0, high_inclusive=False)
        check_positive_int("policy.hidden_dim", self.hidden_dim)
        check_positive_int("policy.epochs", self.epochs)
        check_positive_int("policy.batch_size", self.batch_size)
        check_positive("policy.lr", self.lr)
        check_non_negative("policy.td3_alpha", self.td3_alpha)
        check_in_range("policy.gamma", self.gamma, 0.0, 1.0, high_inclusive=False)
        check_in_range("policy.tau", self.tau, 0.0, 1.0, low_inclusive=False)
        check_non_negative("policy.policy_noise", self.policy_noise)
        check_non_negative("policy.noise_clip", self.noise_clip)
        check_positive_int("policy.policy_delay", self.policy_delay)


@dataclass
class WMConfig:
    """Everything the pipeline reads.

    Examples:
        >>> cfg = WMConfig.from_dict({"wm_train": {"mode": "teacher_forcing", "horizon": 10}})
        >>> cfg.wm_train.mode, cfg.policy.algo
        ('teacher_forcing', 'bc')
        >>> WMConfig.from_dict({"wm_trian": {}})
        Traceback (most recent call last):
        ...
        ValueError: config key 'wm_trian' must be one of 'seed', 'simulate', ..., got 'wm_trian'
    """

    seed: int = 0
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    wm_train: WMTrainConfig = field(default_factory=WMTrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        check_positive_int("seed", self.seed, minimum=0)
        if self.wm_train.horizon is not None and self.wm_train.horizon >= self.simulate.horizon:
            raise error(
                "wm_train.horizon",
                f"< simulate.horizon ({self.simulate.horizon}) or null for the whole episode",
                self.wm_train.horizon,
            )

    @classmethod
    def from_dict(cls, mapping: dict[str, Any] | None) -> WMConfig:
        """Build from a nested dict (missing keys take defaults; unknown keys are errors)."""
        return build_dataclass(cls, mapping or {}, "")

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (YAML / JSON ready)."""
        return dataclasses.asdict(self)


def shipped_config(name: str) -> dict[str, Any]:
    """The mapping of a config the package ships (``default``, ``quick``, ...).

    Examples:
        >>> shipped_config("quick")["simulate"]
        {'n_episodes': 120}
    """
    return read_yaml_mapping(resolve_config_path(name, PACKAGE))


def load_config(
    source: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    base: dict[str, Any] | None = None,
) -> WMConfig:
    """Read a YAML config (a file or a shipped name), apply ``--set`` overrides, validate.

    Args:
        source: a YAML file, the name of a shipped config, or ``None`` for the defaults.
        overrides: ``section.key=value`` strings, applied last.
        base: a mapping the file is merged onto (a preset such as ``shipped_config("quick")``).

    Raises:
        FileNotFoundError: no such file or shipped config.
        ValueError: unknown keys or invalid values.

    Examples:
        >>> load_config(None, ["wm_train.epochs=2"]).wm_train.epochs
        2
        >>> load_config("quick").simulate.n_episodes
        120
    """
    return _load_config(
        WMConfig.from_dict, source, overrides, package=PACKAGE, base=base, example="policy.lr"
    )
