"""Training under Lightning: the world model, the trust net and the offline policies.

:func:`train_world_model`, :func:`train_trust` and :func:`train_policy` train in memory
(:mod:`imbalance_world_model.module` holds their LightningModules,
:mod:`imbalance_world_model.objective` their losses); :func:`fit_module` is the one place that
builds Lightning's ``Trainer`` (:func:`imbalance_kit.app.build_trainer`). The stage functions
``stage_train_world_model``, ``stage_train_trust`` and ``stage_train_policy`` are the training
commands: episodes files in, ``model.pt`` and a summary out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from imbalance_kit.app import (
    DamagedFileError,
    build_trainer,
    check_in_range,
    check_positive_int,
    fit,
    last_checkpoint,
    load_json,
    load_torch,
    random_state_callback,
    write_json,
)
from imbalance_kit.sampling import WeightedSampler
from imbalance_kit.weights import positive_weights
from imbalance_world_model.config import PolicyConfig, WMConfig, WMTrainConfig, WorldModelConfig
from imbalance_world_model.data import (
    Episodes,
    load_episodes,
    read_npz,
    split_real,
    writable_dir,
)
from imbalance_world_model.gates import load_scores
from imbalance_world_model.model import (
    LatentWorldModel,
    action_mse,
    calibrate_noise,
    load_trust_net,
    save_checkpoint,
)
from imbalance_world_model.module import PolicyModule, TrustModule, WorldModelModule
from imbalance_world_model.replay import ReplayBuffer, mix_weights
from imbalance_world_model.trust import TrustKind, build_trust_net, trust_metrics, trust_scores

__all__ = [
    "MIXES",
    "file_digest",
    "fit_module",
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


def fit_module(
    module: L.LightningModule,
    loader: DataLoader,
    max_epochs: int,
    *,
    progress_bar: bool = False,
    verbose: bool = False,
    run_dir: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    generators: dict[str, torch.Generator] | None = None,
    fingerprint: dict[str, Any] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Train ``module`` for ``max_epochs`` under Lightning; resume a stopped run in ``run_dir``.

    With a ``run_dir``, Lightning's CSV log goes to ``run_dir/logs/version_N/metrics.csv`` and
    ``run_dir/checkpoints/last.ckpt`` is written after every finished epoch
    (:func:`imbalance_kit.app.last_checkpoint`) with the random number generators' states
    (:func:`imbalance_kit.app.random_state_callback`) and those of ``generators`` (e.g. a
    data loader's shuffling generator). A later call with the same ``run_dir`` and
    ``fingerprint`` resumes from it, so a killed training ends exactly as an uninterrupted
    one; a checkpoint written under another fingerprint, or a damaged one, is set aside with
    one line on ``log`` and training starts from the beginning.

    Args:
        module: the LightningModule.
        loader: the training data loader.
        max_epochs: epochs to train.
        progress_bar: Lightning's progress bar (one per training).
        verbose: Lightning's own output (model summary, info lines, warnings).
        run_dir: folder of logs and checkpoints (``None``: neither).
        callbacks: more Lightning callbacks.
        generators: ``torch.Generator`` objects whose states belong in the checkpoints.
        fingerprint: what the run depends on (config, inputs); a checkpoint is resumed only
            under the same fingerprint.
        trainer_kwargs: more ``lightning.Trainer`` arguments (e.g. ``devices`` and
            ``strategy`` for DDP).
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
        ckpt_path, resumed = _resume_point(folder, fingerprint, log)
        cbs = [
            last_checkpoint(folder),
            random_state_callback(),
            _generator_states(generators or {}),
            *cbs,
        ]
    trainer = build_trainer(
        run_dir,
        max_epochs=max_epochs,
        callbacks=cbs,
        logger=run_dir is not None,
        progress_bar=progress_bar,
        verbose=verbose,
        log_every_n_steps=1,
        **(trainer_kwargs or {}),
    )
    with warnings.catch_warnings():
        # a run folder that was moved or copied: its checkpoint names the old folder
        warnings.filterwarnings("ignore", message=".*The dirpath has changed.*")
        seconds = fit(
            trainer, module, train_dataloaders=loader, ckpt_path=ckpt_path, verbose=verbose
        )
    return {
        "seconds": round(seconds, 2),
        "epochs": int(trainer.current_epoch),
        "resumed_after_epochs": resumed,
    }


def _resume_point(
    folder: Path, fingerprint: dict[str, Any] | None, log: Log
) -> tuple[Path | None, int | None]:
    """The checkpoint to resume from (and its finished epochs), or ``(None, None)``."""
    last, stamp = folder / "last.ckpt", folder / "fingerprint.json"
    if last.exists():
        try:
            saved = load_json(stamp) if stamp.exists() else None
        except DamagedFileError:
            saved = None
        if fingerprint is not None and saved != _plain(fingerprint):
            log(f"{last} was written for other settings or inputs: training from the start")
            last.unlink(missing_ok=True)
        else:
            try:
                state = load_torch(last, what="checkpoint")
                return last, int(state["epoch"]) + 1
            except (DamagedFileError, KeyError, TypeError) as exc:
                log(f"{str(exc) or last}: training from the start")
                last.unlink(missing_ok=True)
    if fingerprint is not None:
        write_json(stamp, fingerprint)
    return None, None


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _generator_states(generators: dict[str, torch.Generator]) -> Any:
    """A callback that keeps the states of ``generators`` in the checkpoints."""
    from lightning.pytorch.callbacks import Callback

    class GeneratorStates(Callback):
        @property
        def state_key(self) -> str:
            return "GeneratorStates"

        def state_dict(self) -> dict[str, Any]:
            return {name: g.get_state() for name, g in generators.items()}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            for name, state in state_dict.items():
                if name in generators:
                    generators[name].set_state(state)

    return GeneratorStates()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (what a run's fingerprint records of its inputs).

    For an NPZ file the digest covers its arrays (names, dtypes, shapes, values), not the
    archive's bytes, which carry write times.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f"
        >>> _ = p.write_bytes(b"abc")
        >>> file_digest(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    path = Path(path)
    if path.suffix == ".npz":
        for key, value in sorted(read_npz(path).items()):
            h.update(f"{key}:{value.dtype.str}:{value.shape};".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    if episodes.horizon < 2:
        raise ValueError(f"episodes must be >= 2 steps long, got {episodes.horizon}")
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
    module = WorldModelModule(model, config, trust_net, calibration=(z, a), seed=seed)
    before = _free_running_mse(model, z, a)
    shuffle = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        TensorDataset(z, a, r), batch_size=config.batch_size, shuffle=True, generator=shuffle
    )
    generators = {"shuffle": shuffle, "module": module.gen}
    run = fit_module(module, loader, config.epochs, generators=generators, **fit_options)
    sigma = calibrate_noise(model, z, a)
    model.eval()
    return model, {
        "initial_recon_mse": before,
        "final_recon_mse": _free_running_mse(model, z, a),
        "sigma": [round(float(s), 6) for s in sigma],
        **run,
    }


@torch.no_grad()
def _free_running_mse(model: LatentWorldModel, z: torch.Tensor, a: torch.Tensor) -> float:
    traj = model.rollout(z[:, 0], a[:, :-1])
    return float(np.round(F.mse_loss(traj, z).item(), 6))


def train_trust(
    real_z: np.ndarray,
    synthetic_z: np.ndarray,
    *,
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

    Episodes of both sources are split at random into training and validation sets
    (``val_fraction``); the metrics are those of the validation episodes. ``fit_options`` go
    to :func:`fit_module`.

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
    z = torch.as_tensor(np.concatenate([real_z, synthetic_z]), dtype=torch.float32)
    y = torch.cat([torch.ones(len(real_z)), torch.zeros(len(synthetic_z))])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(z))
    n_val = int(round(val_fraction * len(z)))
    val, tr = order[:n_val], order[n_val:]
    torch.manual_seed(seed)
    net = build_trust_net(kind, z.shape[2], hidden_dim)
    net.standardise_on(z[tr])
    pos_weight = float(positive_weights(y[tr]))
    module = TrustModule(net, pos_weight=pos_weight, lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        TensorDataset(z[tr], y[tr]), batch_size=batch_size, shuffle=True, generator=shuffle
    )
    run = fit_module(module, loader, epochs, generators={"shuffle": shuffle}, **fit_options)
    p = trust_scores(net, z)
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
    trainer_kwargs: dict[str, Any] | None = None,
    **fit_options: Any,
) -> tuple[PolicyModule, dict[str, Any]]:
    """Train a policy on ``buffer`` (weights as sampling probabilities or loss weights).

    Every epoch draws ``samples_per_epoch`` transitions (default: the number of real
    transitions), so mixes with and without synthetic data get the same number of updates.
    Both weightings draw with :class:`imbalance_kit.sampling.WeightedSampler` (uniform weights
    for ``"loss"``), which shards the draw by rank when ``torch.distributed`` is initialised:
    under Lightning DDP (``trainer_kwargs={"devices": 2, "strategy": ...}`` in a process group
    that exists before the call, e.g. under ``torchrun`` with ``init_process_group``) each
    process trains on its shard with ``batch_size`` per process. ``fit_options`` go to
    :func:`fit_module`.

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
    if config.weighting == "sample":
        sampler = buffer.sampler(per_epoch, seed=seed)
    else:  # uniform draws; the weights go into the loss
        sampler = WeightedSampler(torch.ones(len(buffer)), per_epoch, seed=seed)
    loader = DataLoader(data, batch_size=config.batch_size, sampler=sampler)
    run = fit_module(
        module,
        loader,
        config.epochs,
        trainer_kwargs={"use_distributed_sampler": False, **(trainer_kwargs or {})},
        **fit_options,
    )
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
    go there).

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
    train, _ = split_real(load_episodes(real_path))
    trust_net = load_trust_net(trust_net_path) if trust_net_path is not None else None
    if config.wm_train.trust_aware_weight > 0 and trust_net is None:
        raise ValueError("wm_train.trust_aware_weight > 0 needs a trust net (--trust-net)")
    out = writable_dir(out_dir)
    stamp = _fingerprint(
        "train-world-model",
        config,
        ("seed", "world_model", "wm_train"),
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
        **fit_options,
    )
    settings = {
        "latent_dim": train.latent_dim,
        "action_dim": train.action_dim,
        "hidden_dim": config.world_model.hidden_dim,
        "residual_clip": config.world_model.residual_clip,
    }
    save_checkpoint(out / "model.pt", "world_model", model, settings)
    summary.update(mode=config.wm_train.mode, horizon=config.wm_train.horizon)
    write_json(out / "summary.json", summary)
    return summary


def stage_train_trust(
    config: WMConfig,
    real_path: str | Path,
    synthetic_path: str | Path,
    out_dir: str | Path,
    **fit_options: Any,
) -> dict[str, Any]:
    """Train the trust net on real training vs synthetic episodes; write ``model.pt``,
    ``metrics.json`` (resumable as :func:`stage_train_world_model`).

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> sorted(stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust"))
        ['epochs', 'pos_weight', 'resumed_after_epochs', 'seconds', 'train', 'val']
    """
    train, _ = split_real(load_episodes(real_path))
    syn = load_episodes(synthetic_path)
    t = config.trust
    out = writable_dir(out_dir)
    stamp = _fingerprint(
        "train-trust", config, ("seed", "trust"), real=real_path, synthetic=synthetic_path
    )
    net, metrics = train_trust(
        train.z,
        syn.z,
        **dataclasses.asdict(t),
        seed=config.seed,
        run_dir=out,
        fingerprint=stamp,
        **fit_options,
    )
    save_checkpoint(
        out / "model.pt",
        "trust_net",
        net,
        {"trust_kind": t.kind, "latent_dim": train.latent_dim, "hidden_dim": t.hidden_dim},
    )
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
    ``"trust_weighted"`` (needs ``scores_path``). Resumable as
    :func:`stage_train_world_model`.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> s = stage_train_policy(cfg, "fixed_share", f"{d}/real.npz", f"{d}/syn.npz", None,
        ...                        f"{d}/policy")
        >>> s["mix"], round(s["synthetic_share"], 4), s["action_mse_test"] > 0
        ('fixed_share', 0.1, True)
    """
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {list(MIXES)}, got {mix!r}")
    train, test = split_real(load_episodes(real_path))
    if test.n_episodes == 0:
        raise ValueError("the real episodes have no held-out split (meta split_test)")
    episodes, trust = train, None
    if mix != "real_only":
        if synthetic_path is None:
            raise ValueError(f"mix {mix!r} needs synthetic episodes (--synthetic)")
        episodes = Episodes.concatenate([train, load_episodes(synthetic_path)])
    if mix == "trust_weighted":
        if scores_path is None:
            raise ValueError("mix 'trust_weighted' needs gate scores (--scores)")
        scores = load_scores(scores_path)
        trust = np.concatenate([np.ones(train.n_episodes), scores["p_real_synthetic"]])
    weights = mix_weights(
        episodes.is_synthetic,
        {"real_only": "real_only", "fixed_share": "fixed", "trust_weighted": "trust"}[mix],
        share=config.policy.fixed_share,
        trust=trust,
        threshold=config.gate.trust_threshold,
    )
    out = writable_dir(out_dir)
    stamp = _fingerprint(
        f"train-policy {mix}",
        config,
        ("seed", "policy", "gate"),
        real=real_path,
        synthetic=synthetic_path if mix != "real_only" else None,
        scores=scores_path if mix == "trust_weighted" else None,
    )
    buffer = ReplayBuffer.from_episodes(episodes, weights)
    module, summary = train_policy(
        buffer, config.policy, seed=config.seed, run_dir=out, fingerprint=stamp, **fit_options
    )
    summary["mix"] = mix
    summary["action_mse_test"] = round(action_mse(module.actor, test), 6)
    summary["action_mse_train_real"] = round(action_mse(module.actor, train), 6)
    save_checkpoint(
        out / "model.pt",
        "policy",
        module.actor,
        {
            "latent_dim": train.latent_dim,
            "action_dim": train.action_dim,
            "hidden_dim": config.policy.hidden_dim,
        },
    )
    write_json(out / "summary.json", summary)
    return summary


def _fingerprint(
    stage: str, config: WMConfig, sections: tuple[str, ...], **inputs: str | Path | None
) -> dict[str, Any]:
    """What a training stage depends on: its config sections and its input files' digests."""
    whole = config.to_dict()
    return {
        "stage": stage,
        "config": {name: whole[name] for name in sections},
        "inputs": {k: file_digest(v) for k, v in inputs.items() if v is not None},
    }
