"""Training under Lightning: the world model, the trust net and the offline policies.

:func:`train_world_model`, :func:`train_trust` and :func:`train_policy` train in memory
(:mod:`imbalance_world_model.module` holds their LightningModules,
:mod:`imbalance_world_model.objective` their losses); :func:`fit_module` is the one place that
builds Lightning's ``Trainer`` (:func:`imbalance_kit.app.build_trainer`). The stage functions
``stage_train_world_model``, ``stage_train_trust`` and ``stage_train_policy`` are the training
commands: episodes files in, ``model.pt`` and a summary out.

Every training draws its data with :class:`imbalance_kit.sampling.WeightedSampler` (uniform
weights without replacement for the world model and the trust net), built when Lightning asks
for the loader, so under DDP each process draws its shard of the single-process draw; batch
sizes are per process. The ``trainer`` config section says where training runs
(``devices``, ``num_nodes``, ``strategy: ddp``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from imbalance_kit.app import (
    build_trainer,
    check_in_range,
    check_positive_int,
    fit,
    last_checkpoint,
    random_state_callback,
    write_json,
)
from imbalance_kit.sampling import WeightedSampler
from imbalance_kit.weights import positive_weights
from imbalance_world_model._runs import fingerprint, is_rank_zero, load_real, resume_point
from imbalance_world_model.config import PolicyConfig, WMConfig, WMTrainConfig, WorldModelConfig
from imbalance_world_model.data import Episodes, load_episodes, pad_time, writable_dir
from imbalance_world_model.model import (
    LatentWorldModel,
    action_mse,
    calibrate_noise,
    load_trust_net,
    save_checkpoint,
)
from imbalance_world_model.module import PolicyModule, TrustModule, WorldModelModule
from imbalance_world_model.objective import episode_mse
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.trust import TrustKind, build_trust_net, trust_metrics, trust_scores

__all__ = [
    "MIXES",
    "fit_module",
    "load_real",
    "stage_train_policy",
    "stage_train_trust",
    "stage_train_world_model",
    "train_policy",
    "train_trust",
    "train_world_model",
]

#: The policy training mixes.
MIXES = ("real_only", "fixed_share", "trust_weighted")

Log = Callable[[str], None]


class _Loader(L.LightningDataModule):
    """Builds the training loader when Lightning asks for it (after DDP has started)."""

    def __init__(self, make: Callable[[], DataLoader]) -> None:
        super().__init__()
        self.make = make

    def train_dataloader(self) -> DataLoader:
        return self.make()


def fit_module(
    module: L.LightningModule,
    loader: DataLoader | Callable[[], DataLoader],
    max_epochs: int,
    *,
    progress_bar: bool = False,
    verbose: bool = False,
    run_dir: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    fingerprint: dict[str, Any] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Train ``module`` for ``max_epochs`` under Lightning; resume a stopped run in ``run_dir``.

    With a ``run_dir``, Lightning's CSV log goes to ``run_dir/logs/version_N/metrics.csv`` and
    ``run_dir/checkpoints/last.ckpt`` is written after every finished epoch
    (:func:`imbalance_kit.app.last_checkpoint`) with the random number generators' states
    (:func:`imbalance_kit.app.random_state_callback`). A later call with the same ``run_dir``
    and ``fingerprint`` resumes from it, so a killed training ends exactly as an uninterrupted
    one; a checkpoint written under another fingerprint, or a damaged one, is set aside with
    one line on ``log`` and training starts from the beginning.

    Args:
        module: the LightningModule.
        loader: the training data loader, or a function that builds it (called once Lightning
            has started its processes, so that samplers see their DDP rank).
        max_epochs: epochs to train.
        progress_bar: Lightning's progress bar (one per training).
        verbose: Lightning's own output (model summary, info lines, warnings).
        run_dir: folder of logs and checkpoints (``None``: neither).
        callbacks: more Lightning callbacks.
        fingerprint: what the run depends on (config, inputs); a checkpoint is resumed only
            under the same fingerprint.
        trainer_kwargs: more ``lightning.Trainer`` arguments (e.g. ``devices``, ``num_nodes``
            and ``strategy`` for DDP: :meth:`~imbalance_world_model.config.TrainerConfig.kwargs`).
        log: where the resume lines go.

    Returns:
        ``{"seconds", "epochs", "resumed_after_epochs"}``: the wall time of this call, the
        epochs finished in total and, for a resumed run, the epochs that were finished
        before (``None`` otherwise).

    Examples:
        >>> class M(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.zeros(1))
        ...     def training_step(self, batch, i):
        ...         return ((self.w - batch[0]) ** 2).mean()
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.5)
        >>> m = M()
        >>> fit_module(m, DataLoader(TensorDataset(torch.ones(4)), batch_size=4), 20)["epochs"]
        20
        >>> round(m.w.item(), 3)
        1.0
    """
    cbs = list(callbacks)
    ckpt_path, resumed = None, None
    if run_dir is not None:
        folder = Path(run_dir) / "checkpoints"
        ckpt_path, resumed = resume_point(folder, fingerprint, log)
        cbs = [last_checkpoint(folder), random_state_callback(), *cbs]
    trainer = build_trainer(
        run_dir,
        max_epochs=max_epochs,
        callbacks=cbs,
        logger=run_dir is not None,
        progress_bar=progress_bar,
        verbose=verbose,
        log_every_n_steps=1,
        use_distributed_sampler=False,  # the samplers shard themselves
        **(trainer_kwargs or {}),
    )
    data = {"train_dataloaders": loader} if isinstance(loader, DataLoader) else {}
    with warnings.catch_warnings():
        # a run folder that was moved or copied: its checkpoint names the old folder
        warnings.filterwarnings("ignore", message=".*The dirpath has changed.*")
        seconds = fit(
            trainer,
            module,
            datamodule=None if data else _Loader(loader),  # type: ignore[arg-type]
            ckpt_path=ckpt_path,
            verbose=verbose,
            **data,
        )
    return {
        "seconds": round(seconds, 2),
        "epochs": int(trainer.current_epoch),
        "resumed_after_epochs": resumed,
    }


def _shuffled(dataset: TensorDataset, batch_size: int, seed: int) -> Callable[[], DataLoader]:
    """A loader factory: every sample once per epoch, shuffled by ``(seed, epoch)``, sharded
    over DDP processes."""

    def make() -> DataLoader:
        n = len(dataset)
        sampler = WeightedSampler(torch.ones(n), n, replacement=False, seed=seed)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler)

    return make


def train_world_model(
    episodes: Episodes,
    model_config: WorldModelConfig,
    config: WMTrainConfig,
    *,
    trust_net: nn.Module | None = None,
    seed: int = 0,
    **fit_options: Any,
) -> tuple[LatentWorldModel, dict[str, Any]]:
    """Train a world model on real ``episodes``; return it (noise calibrated) and a summary.

    The summary's free-running MSE (before and after training) is in units of the training
    states' per-dimension variance (a model that predicts the mean scores about 1).

    ``fit_options`` go to :func:`fit_module` (``run_dir`` for logs and resumable
    checkpoints, ``progress_bar``, ``verbose``, ``callbacks``, ``fingerprint``,
    ``trainer_kwargs``).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=16, horizon=12, seed=0)
        >>> wm, summary = train_world_model(real, WorldModelConfig(hidden_dim=8),
        ...                                 WMTrainConfig(epochs=2, batch_size=8))
        >>> sorted(summary)
        ['epochs', 'final_recon_mse', 'initial_recon_mse', 'resumed_after_epochs', 'seconds',
         'sigma']
    """
    torch.manual_seed(seed)
    model = LatentWorldModel(
        episodes.latent_dim,
        episodes.action_dim,
        model_config.hidden_dim,
        model_config.residual_clip,
    )
    z = torch.as_tensor(episodes.z)
    a = torch.as_tensor(episodes.actions)
    r = torch.as_tensor(episodes.rewards)
    lengths = torch.as_tensor(episodes.lengths)
    model.fit_scale(z, lengths)
    module = WorldModelModule(
        model,
        config,
        trust_net,
        calibration=(z, a, lengths),
        seed=seed,
        n_samples=episodes.n_episodes,
        max_length=episodes.horizon,
    )
    before = _free_running_mse(model, z, a, lengths)
    data = TensorDataset(z, a, r, lengths, torch.arange(episodes.n_episodes))
    run = fit_module(module, _shuffled(data, config.batch_size, seed), config.epochs, **fit_options)
    model.cpu()
    sigma = calibrate_noise(model, z, a, lengths)
    model.eval()
    return model, {
        "initial_recon_mse": before,
        "final_recon_mse": _free_running_mse(model, z, a, lengths),
        "sigma": [round(float(s), 6) for s in sigma],
        **run,
    }


@torch.no_grad()
def _free_running_mse(
    model: LatentWorldModel, z: torch.Tensor, a: torch.Tensor, lengths: torch.Tensor
) -> float:
    traj = model.rollout(z[:, 0], a[:, :-1])
    valid = torch.arange(z.shape[1])[None, :] < lengths[:, None]
    mse = episode_mse(model.normalise(traj), model.normalise(z), valid)
    return float(np.round(mse.item(), 6))


def train_trust(
    real_z: np.ndarray,
    synthetic_z: np.ndarray,
    *,
    real_lengths: np.ndarray | None = None,
    synthetic_lengths: np.ndarray | None = None,
    kind: TrustKind = "mlp",
    hidden_dim: int = 64,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 64,
    val_fraction: float = 0.3,
    seed: int = 0,
    **fit_options: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a trust net on real (label 1) vs synthetic (label 0) episodes.

    Episodes of both sources (padded, with their lengths) are split at random into training
    and validation sets (``val_fraction``); the metrics are those of the validation episodes.
    ``fit_options`` go to :func:`fit_module`.

    Returns:
        The trained net and ``{"val": trust_metrics, "train": trust_metrics, "seconds",
        "epochs", ...}``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> real, syn = rng.normal(0, 1, (40, 8, 2)), rng.normal(0, 3, (40, 8, 2))
        >>> net, m = train_trust(real, syn, hidden_dim=16, epochs=20)
        >>> m["val"]["roc_auc"] > 0.9
        True
    """
    check_in_range("val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    t = max(real_z.shape[1], synthetic_z.shape[1])
    z = torch.as_tensor(
        np.concatenate([pad_time(np.asarray(real_z), t), pad_time(np.asarray(synthetic_z), t)]),
        dtype=torch.float32,
    )
    lengths = torch.as_tensor(
        np.concatenate(
            [
                np.full(len(real_z), real_z.shape[1]) if real_lengths is None else real_lengths,
                np.full(len(synthetic_z), synthetic_z.shape[1])
                if synthetic_lengths is None
                else synthetic_lengths,
            ]
        ).astype(np.int64)
    )
    y = torch.cat([torch.ones(len(real_z)), torch.zeros(len(synthetic_z))])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(z))
    n_val = int(round(val_fraction * len(z)))
    val, tr = order[:n_val], order[n_val:]
    torch.manual_seed(seed)
    net = build_trust_net(kind, z.shape[2], hidden_dim)
    net.standardise_on(z[tr], lengths[tr])
    pos_weight = float(positive_weights(y[tr]))
    module = TrustModule(net, pos_weight=pos_weight, lr=lr)
    data = TensorDataset(z[tr], y[tr], lengths[tr])
    run = fit_module(module, _shuffled(data, batch_size, seed), epochs, **fit_options)
    net.cpu()
    p = trust_scores(net, z, lengths)
    metrics = {
        "train": trust_metrics(p[tr], y[tr].numpy()),
        "val": trust_metrics(p[val], y[val].numpy()) if n_val else None,
        "pos_weight": pos_weight,
        **run,
    }
    return net, metrics


def train_policy(
    buffer: ReplayBuffer,
    config: PolicyConfig,
    *,
    seed: int = 0,
    samples_per_epoch: int | None = None,
    **fit_options: Any,
) -> tuple[PolicyModule, dict[str, Any]]:
    """Train a policy on ``buffer`` (weights as sampling probabilities or loss weights).

    Every epoch draws ``samples_per_epoch`` transitions (default: the number of real
    transitions), so mixes with and without synthetic data get the same number of updates.
    Both weightings draw with :class:`imbalance_kit.sampling.WeightedSampler` (uniform weights
    for ``"loss"``), which shards the draw by rank under DDP (``trainer_kwargs`` with
    ``devices``, ``num_nodes`` and a DDP ``strategy``; or inside a process group that exists
    before the call, e.g. under ``torchrun``): each process trains on its shard with
    ``batch_size`` per process. ``fit_options`` go to :func:`fit_module`.

    Returns:
        The module (``module.actor`` is the policy) and ``{"synthetic_share", "seconds", ...}``.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> buf = ReplayBuffer.from_episodes(simulate_episodes(n_episodes=4, horizon=6, seed=0))
        >>> module, summary = train_policy(buf, PolicyConfig(hidden_dim=8, epochs=1))
        >>> summary["synthetic_share"], summary["n_transitions"]
        (0.0, 20)
    """
    if float(buffer.weights.sum()) <= 0:
        raise ValueError("the replay buffer's weights are all zero: nothing to train on")
    torch.manual_seed(seed)
    # with weighting "loss", each batch's loss is sum(w l) / (B * mean weight of the buffer):
    # a plain mean, so DDP shards average to the full batch's loss
    mean_weight = float(buffer.weights.double().mean())
    module = PolicyModule(buffer.states.shape[1], buffer.actions.shape[1], config, mean_weight)
    data = TensorDataset(*buffer.tensors())
    n_real = int((~buffer.synthetic).sum())
    per_epoch = samples_per_epoch or n_real or len(buffer)

    def make() -> DataLoader:
        if config.weighting == "sample":
            sampler = buffer.sampler(per_epoch, seed=seed)
        else:  # uniform draws; the weights go into the loss
            sampler = WeightedSampler(torch.ones(len(buffer)), per_epoch, seed=seed)
        return DataLoader(data, batch_size=config.batch_size, sampler=sampler)

    run = fit_module(module, make, config.epochs, **fit_options)
    module.cpu()
    module.eval()
    return module, {
        "algo": config.algo,
        "weighting": config.weighting,
        "n_transitions": len(buffer),
        "n_synthetic_transitions": int(buffer.synthetic.sum()),
        "synthetic_share": round(buffer.synthetic_share(), 6),
        **run,
        "seed": seed,
        "samples_per_epoch": per_epoch,
        "mean_weight": float(np.round(float(buffer.weights.mean()), 6)),
    }


def _fit_options(config: WMConfig, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the ``trainer`` section's Trainer arguments under its own."""
    merged = dict(options)
    merged["trainer_kwargs"] = {**config.trainer.kwargs(), **options.get("trainer_kwargs", {})}
    return merged


def stage_train_world_model(
    config: WMConfig,
    real_path: str | Path,
    out_dir: str | Path,
    *,
    trust_net_path: str | Path | None = None,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train the world model on the real training episodes; write ``model.pt``, ``summary.json``.

    ``out_dir/checkpoints/last.ckpt`` is written after every epoch: run again after an
    interruption and training resumes where it stopped (:func:`fit_module`; ``fit_options``
    go there). Under DDP only rank 0 writes the files.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> _ = stage_simulate(cfg, f"{d}/real.npz")
        >>> summary = stage_train_world_model(cfg, f"{d}/real.npz", f"{d}/wm")
        >>> summary["mode"], sorted(p.name for p in Path(d, "wm").glob("*.*"))
        ('bptt', ['model.pt', 'summary.json'])
    """
    train, _, split = load_real(real_path, config)
    trust_net = load_trust_net(trust_net_path) if trust_net_path is not None else None
    if config.wm_train.trust_aware_weight > 0 and trust_net is None:
        raise ValueError("wm_train.trust_aware_weight > 0 needs a trust net (--trust-net)")
    out = writable_dir(out_dir)
    stamp = fingerprint(
        "train-world-model",
        config,
        ("seed", "split", "world_model", "wm_train"),
        real=real_path,
        trust_net=trust_net_path,
    )
    model, summary = train_world_model(
        train,
        config.world_model,
        config.wm_train,
        trust_net=trust_net,
        seed=config.seed,
        run_dir=out,
        fingerprint=stamp,
        **_fit_options(config, fit_options),
    )
    summary.update(mode=config.wm_train.mode, horizon=config.wm_train.horizon, split=split)
    if is_rank_zero():
        settings = {
            "latent_dim": train.latent_dim,
            "action_dim": train.action_dim,
            "hidden_dim": config.world_model.hidden_dim,
            "residual_clip": config.world_model.residual_clip,
        }
        save_checkpoint(out / "model.pt", "world_model", model, settings)
        write_json(out / "summary.json", summary)
    return summary


def stage_train_trust(
    config: WMConfig,
    real_path: str | Path,
    synthetic_path: str | Path,
    out_dir: str | Path,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train the trust net on real vs synthetic episodes; write ``model.pt``, ``metrics.json``
    (resumable as :func:`stage_train_world_model`).

    The real class is the real training episodes, or for augmentation segments the real
    windows they replay (:func:`~imbalance_world_model.generate.real_reference`).

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes, split_real
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> syn = split_real(real)[0].subset(np.arange(5))
        >>> syn.meta.update(source_episode=np.arange(5), source_start=np.zeros(5, int))
        >>> _ = save_episodes(syn, f"{d}/syn.npz")
        >>> sorted(stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust"))
        ['epochs', 'pos_weight', 'resumed_after_epochs', 'seconds', 'split', 'train', 'val']
    """
    from imbalance_world_model.generate import real_reference

    train, _, split = load_real(real_path, config)
    syn = load_episodes(synthetic_path)
    ref = real_reference(train, syn)
    t = config.trust
    out = writable_dir(out_dir)
    stamp = fingerprint(
        "train-trust", config, ("seed", "split", "trust"), real=real_path, synthetic=synthetic_path
    )
    net, metrics = train_trust(
        ref.z,
        syn.z,
        real_lengths=ref.lengths,
        synthetic_lengths=syn.lengths,
        **dataclasses.asdict(t),
        seed=config.seed,
        run_dir=out,
        fingerprint=stamp,
        **_fit_options(config, fit_options),
    )
    metrics["split"] = split
    if is_rank_zero():
        settings = {
            "trust_kind": t.kind,
            "latent_dim": train.latent_dim,
            "hidden_dim": t.hidden_dim,
        }
        save_checkpoint(out / "model.pt", "trust_net", net, settings)
        write_json(out / "metrics.json", metrics)
    return metrics


def stage_train_policy(
    config: WMConfig,
    mix: str,
    real_path: str | Path,
    synthetic_path: str | Path | None,
    scores_path: str | Path | None,
    out_dir: str | Path,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train one policy on a mix of real and synthetic transitions; evaluate on held-out real.

    ``mix``: ``"real_only"``, ``"fixed_share"`` (``policy.fixed_share`` synthetic) or
    ``"trust_weighted"`` (needs ``scores_path``; the gate's ``rule`` decides which synthetic
    episodes count). Resumable as :func:`stage_train_world_model`.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes, split_real
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> s = stage_train_policy(cfg, "fixed_share", f"{d}/real.npz", f"{d}/syn.npz", None,
        ...                        f"{d}/policy")
        >>> s["mix"], round(s["synthetic_share"], 4), s["action_mse_test"] > 0
        ('fixed_share', 0.1, True)
    """
    from imbalance_world_model.gates import load_scores

    if mix not in MIXES:
        raise ValueError(f"mix must be one of {list(MIXES)}, got {mix!r}")
    t = config.trainer
    if config.policy.algo == "td3bc" and t.devices * t.num_nodes > 1:
        raise ValueError(
            "policy.algo td3bc trains on one process (its two optimizers step in one "
            "training step); use trainer.devices=1 trainer.num_nodes=1, or policy.algo=bc"
        )
    train, test, split = load_real(real_path, config)
    episodes, trust, bounds = train, None, None
    if mix != "real_only":
        if synthetic_path is None:
            raise ValueError(f"mix {mix!r} needs synthetic episodes (--synthetic)")
        syn = load_episodes(synthetic_path)
        if syn.latent_dim != train.latent_dim or syn.action_dim != train.action_dim:
            raise ValueError(
                f"synthetic episodes must have D = {train.latent_dim}, A = {train.action_dim} "
                f"like the real ones, got D = {syn.latent_dim}, A = {syn.action_dim}"
            )
        episodes = Episodes.concatenate([train, syn])
    if mix == "trust_weighted":
        if scores_path is None:
            raise ValueError("mix 'trust_weighted' needs gate scores (--scores)")
        scores = load_scores(scores_path)
        if len(scores["p_real_synthetic"]) != episodes.n_episodes - train.n_episodes:
            raise ValueError(
                f"gate scores {scores_path} must score the {episodes.n_episodes - train.n_episodes}"
                f" synthetic episodes, got {len(scores['p_real_synthetic'])} scores"
            )
        trust = np.concatenate([np.ones(train.n_episodes), scores["p_real_synthetic"]])
        bounds = np.concatenate([np.ones(train.n_episodes, bool), scores["bounds_pass_synthetic"]])
    weights = mix_weights(
        episodes.is_synthetic,
        {"real_only": "real_only", "fixed_share": "fixed", "trust_weighted": "trust"}[mix],
        share=config.policy.fixed_share,
        trust=trust,
        threshold=config.gate.trust_threshold,
        bounds=bounds,
        rule=config.gate.rule,
        transitions=episodes.lengths - 1,
    )
    out = writable_dir(out_dir)
    stamp = fingerprint(
        f"train-policy {mix}",
        config,
        ("seed", "split", "policy", "gate"),
        real=real_path,
        synthetic=synthetic_path if mix != "real_only" else None,
        scores=scores_path if mix == "trust_weighted" else None,
    )
    keep = weights > 0  # episodes the mix gives no weight add nothing: leave them out, so a
    # trust-weighted mix that accepts no synthetic episode is exactly the real-only policy
    buffer = ReplayBuffer.from_episodes(episodes.subset(np.flatnonzero(keep)), weights[keep])
    module, summary = train_policy(
        buffer,
        config.policy,
        seed=config.seed,
        run_dir=out,
        fingerprint=stamp,
        **_fit_options(config, fit_options),
    )
    summary["mix"] = mix
    summary["gate_rule"] = config.gate.rule if mix == "trust_weighted" else None
    summary["action_mse_test"] = round(action_mse(module.actor, test), 6)
    summary["action_mse_train_real"] = round(action_mse(module.actor, train), 6)
    summary["split"] = split
    if is_rank_zero():
        settings = {
            "latent_dim": train.latent_dim,
            "action_dim": train.action_dim,
            "hidden_dim": config.policy.hidden_dim,
        }
        save_checkpoint(out / "model.pt", "policy", module.actor, settings)
        write_json(out / "summary.json", summary)
    return summary
