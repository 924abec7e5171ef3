"""``imbalance-risk train``: Lightning training into a run folder, resumable.

Run folder layout::

    RUN/
      config.yaml              the resolved config (every key)
      checkpoints/best.ckpt    best epoch by ``train.monitor``  (Lightning checkpoint)
      checkpoints/last.ckpt    the last finished epoch, with the random number generators'
                               states (``--resume`` continues from it exactly)
      logs/version_N/metrics.csv  training and validation metrics (CSVLogger; a new version
                               per call, so a resumed run keeps the earlier log)
      model.pt                 the best network for ``evaluate``: state dict + config
      train_summary.json       epochs run, best score, data and sampling statistics

Every file loads with ``torch.load(..., weights_only=True)``: checkpoints hold
tensors and plain Python values only. The ``Trainer`` comes from
:func:`imbalance_kit.app.build_trainer`.

A run killed at any point and resumed (``--resume``, or ``demo`` / ``study`` run again) ends
with the same weights and metrics as an uninterrupted run with the same seed: ``last.ckpt``
is written after every finished epoch (:func:`imbalance_kit.app.last_checkpoint`) with the
Python, numpy and torch generator states (:func:`imbalance_kit.app.random_state_callback`),
the samplers draw from ``(seed, epoch)`` alone, and Lightning restores the optimizer, the
early-stopping and best-checkpoint bookkeeping and the epoch counter. A damaged
``last.ckpt`` is reported in one line; ``--restart`` trains from the start.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from imbalance_kit.app import (
    build_trainer,
    error,
    fit,
    last_checkpoint,
    load_torch,
    random_state_callback,
    save_torch,
    write_json,
    write_text,
)
from imbalance_risk.config import RiskConfig
from imbalance_risk.data import RiskDataModule, load_prepared
from imbalance_risk.model import RiskNet
from imbalance_risk.module import RiskModule

__all__ = ["TrainResult", "load_model", "train"]

_RESTART_HINT = "train again with --restart to start from the first epoch"


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        run_dir: the run folder.
        model_path: ``model.pt`` (written by rank 0).
        best_score: best value of the monitored metric.
        epochs: epochs finished in the run folder (those of a resumed run included).
        seconds: wall time of the fit.
        global_rank: this process's rank (0 without DDP).

    Examples:
        >>> TrainResult(Path("run"), Path("run/model.pt"), 0.8, 3, 12.5).epochs
        3
    """

    run_dir: Path
    model_path: Path
    best_score: float | None
    epochs: int
    seconds: float
    global_rank: int = 0


def train(
    config: RiskConfig,
    data_path: str | Path | None = None,
    run_dir: str | Path = "runs/risk",
    *,
    resume: bool = False,
    restart: bool = False,
    progress_bar: bool = True,
    verbose: bool = False,
    callbacks: Sequence[Any] = (),
    trainer_kwargs: dict[str, Any] | None = None,
) -> TrainResult:
    """Train the risk model (or the MSE baseline) with Lightning.

    Args:
        config: the training config (``config.baseline == "mse"`` trains the baseline).
        data_path: prepared data (``prepared.npz`` or its folder); defaults to ``config.data.path``.
        run_dir: output folder.
        resume: continue from ``checkpoints/last.ckpt`` when it exists.
        restart: delete the run's checkpoints first and train from the start.
        progress_bar: one progress bar for the training.
        verbose: Lightning's own output (model summary, banners, info lines).
        callbacks: extra Lightning callbacks.
        trainer_kwargs: extra ``lightning.Trainer`` arguments (they override the config's).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: no data path, or a split without both classes.
        imbalance_kit.app.DamagedFileError: ``resume`` with a truncated or corrupt
            ``last.ckpt`` (train again with ``restart=True``).

    Examples:
        >>> import tempfile
        >>> from imbalance_risk.prepare import prepare_rollouts, write_prepared
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> tmp = tempfile.mkdtemp()
        >>> rollouts = simulate_rollouts(n_episodes=80, horizon=70, seed=5, scene_dim=0)
        >>> _ = write_prepared(prepare_rollouts(rollouts, seed=1), f"{tmp}/prepared")
        >>> config = RiskConfig.from_dict({"model": {"hidden_dims": [16], "embed_dim": 8},
        ...                                "train": {"max_epochs": 1, "patience": 0}})
        >>> result = train(config, f"{tmp}/prepared", f"{tmp}/run", progress_bar=False)
        >>> result.epochs, result.model_path.name
        (1, 'model.pt')
        >>> net, loaded = load_model(f"{tmp}/run")
        >>> net.heads
        ('binary', 'risk', 'ttf', 'uncertainty', 'contrastive')
        >>> from imbalance_risk.evaluate import evaluate_run
        >>> metrics = evaluate_run(f"{tmp}/run", mc_samples=2, plots=False)  # data from the run
        >>> metrics["split"], metrics["model"], sorted(metrics["uncertainty_auroc"])[:2]
        ('test', 'risk_model', ['aleatoric_std', 'ensemble_std'])
    """
    path = data_path if data_path is not None else config.data.path
    if path is None:
        raise error("data_path", "a prepared data set (--data or data.path)", None)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if restart and ckpt_dir.is_dir():
        shutil.rmtree(ckpt_dir)
    ckpt_path = last if resume and last.is_file() else None
    resumed_at = None
    if ckpt_path is not None:  # one clear line for a damaged checkpoint, before any work
        resumed_at = int(load_torch(ckpt_path, what="checkpoint", hint=_RESTART_HINT)["epoch"]) + 1
    # Record where the data came from, so that `evaluate --run RUN` needs no --data.
    resolved = config.to_dict()
    resolved["data"]["path"] = str(Path(path).resolve())
    config = RiskConfig.from_dict(resolved)
    L.seed_everything(config.seed, workers=True, verbose=False)
    data = load_prepared(path)
    datamodule = RiskDataModule(data, config)
    module = RiskModule(
        config.to_dict(), datamodule.input_dim, datamodule.action_dim, datamodule.pos_weight
    )
    module.net.set_normalization(datamodule.feature_mean, datamodule.feature_std)
    write_text(run / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    cfg = config.train
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=cfg.monitor,
        mode=cfg.monitor_mode,
        enable_version_counter=False,
    )
    all_callbacks: list[Any] = [best, last_checkpoint(ckpt_dir), random_state_callback()]
    if cfg.patience > 0:
        all_callbacks.append(
            EarlyStopping(monitor=cfg.monitor, mode=cfg.monitor_mode, patience=cfg.patience)
        )
    all_callbacks.extend(callbacks)
    options: dict[str, Any] = {
        "accelerator": cfg.accelerator,
        "devices": cfg.devices,
        "num_nodes": cfg.num_nodes,
        "strategy": cfg.strategy,
        "precision": cfg.precision,
        "use_distributed_sampler": False,  # the data module shards its own samplers
    }
    options.update(trainer_kwargs or {})
    trainer = build_trainer(
        run,
        max_epochs=cfg.max_epochs,
        callbacks=all_callbacks,
        progress_bar=progress_bar,
        verbose=verbose,
        **options,
    )
    seconds = fit(trainer, module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose)

    best_path = best.best_model_path or str(last)
    best_score = None if best.best_model_score is None else float(best.best_model_score)
    model_path = run / "model.pt"
    if trainer.is_global_zero:
        state = load_torch(best_path, what="checkpoint", hint=_RESTART_HINT)
        net_state = {
            k.removeprefix("net."): v
            for k, v in state["state_dict"].items()
            if k.startswith("net.")
        }
        save_torch(
            {
                "config": config.to_dict(),
                "input_dim": datamodule.input_dim,
                "action_dim": datamodule.action_dim,
                "heads": list(module.net.heads),
                "state_dict": net_state,
                "epoch": int(state.get("epoch", -1)),
            },
            model_path,
        )
        summary = {
            "best_checkpoint": str(Path(best_path).name),
            "monitor": cfg.monitor,
            "best_score": best_score,
            "best_epoch": int(state.get("epoch", -1)),
            "epochs": int(trainer.current_epoch),
            "seconds": round(seconds, 2),
            "resumed_from": None if ckpt_path is None else str(ckpt_path),
            "resumed_at_epoch": resumed_at,
            "train_steps": len(datamodule.train_set),
            "synthetic_steps": datamodule.n_synthetic,
            "pos_weight": datamodule.pos_weight,
            "world_size": int(trainer.world_size),
        }
        write_json(run / "train_summary.json", summary)
    return TrainResult(
        run_dir=run,
        model_path=model_path,
        best_score=best_score,
        epochs=int(trainer.current_epoch),
        seconds=seconds,
        global_rank=int(trainer.global_rank),
    )


def load_model(path: str | Path) -> tuple[RiskNet, RiskConfig]:
    """Load ``model.pt`` (or a run folder holding it) with ``weights_only=True``.

    Returns:
        ``(net, config)`` with the network in evaluation mode on the CPU.

    Raises:
        FileNotFoundError: no ``model.pt`` there.
        imbalance_kit.app.DamagedFileError: a truncated or corrupt ``model.pt``.

    Examples:
        >>> load_model("no/such/run")
        Traceback (most recent call last):
        ...
        FileNotFoundError: model not found: no/such/run (run imbalance-risk train first)
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path} (run imbalance-risk train first)")
    payload = load_torch(path, what="model", hint="run imbalance-risk train again")
    config = RiskConfig.from_dict(payload["config"])
    net = RiskNet(payload["input_dim"], payload["action_dim"], config.model, payload["heads"])
    net.load_state_dict(payload["state_dict"])
    net.eval()
    return net, config
