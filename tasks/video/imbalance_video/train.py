"""Training a run: manifests + config -> checkpoints, history and logs in a run folder.

Run folder layout::

    config.yaml             the resolved configuration
    label_map.json          classes and tail classes of every task
    manifests_used.txt      the manifests read
    best.ckpt / last.ckpt  best checkpoint by ``training.monitor`` / the last epoch
    training_history.json   one record per epoch (losses, validation metrics, task weights)
    logs/metrics.csv        Lightning's CSV log
    cache/                  decoded videos (.npy)
    train_done.json         written when training finished (best score and path)
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from imbalance_kit.app import (
    DamagedFileError,
    build_trainer,
    error,
    fit,
    last_checkpoint,
    load_json,
    load_torch,
    random_state_callback,
    write_json,
    write_text,
)
from imbalance_video.config import VideoConfig
from imbalance_video.data import VideoDataModule, check_events
from imbalance_video.decode import VideoCache
from imbalance_video.labels import TaskLabels, infer_classes
from imbalance_video.manifest import Manifest, VideoDataWarning, read_manifest
from imbalance_video.module import VideoEventModule
from imbalance_video.objective import compute_task_weights

__all__ = [
    "HistoryCallback",
    "build_tasks",
    "check_validation_tails",
    "compute_task_weights",
    "train",
]


class HistoryCallback(Callback):
    """Appends one record per epoch to ``training_history.json`` (rank 0 only).

    A record holds ``epoch``, every epoch-level logged value (``train_loss``,
    ``val_loss``, ``val_tail_recall``, ``val_tail_f1``, ...), the learning rate and
    ``task_weights`` (the weights the epoch trained with). On resume the records of
    the epochs the checkpoint holds are kept and the later ones dropped.

    Examples:
        >>> callback = HistoryCallback("run/training_history.json")
        >>> callback.records
        []
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # runs after a resumed checkpoint has restored the epoch counter
        self.records = []
        if trainer.current_epoch > 0 and self.path.is_file():
            old = load_json(self.path)
            self.records = [r for r in old if r.get("epoch", 0) < trainer.current_epoch]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        record: dict[str, Any] = {"epoch": int(trainer.current_epoch)}
        for key, value in sorted(trainer.callback_metrics.items()):
            record[key] = float(value)
        record["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        record["task_weights"] = dict(getattr(pl_module, "weights_used", {}))
        self.records.append(record)
        if trainer.is_global_zero:
            write_json(self.path, self.records)


def _spawned_record(best: Path, history: Path) -> tuple[float | None, int]:
    """Best score and finished epochs read from the files, for training that ran in spawned
    processes (``ddp_spawn``), whose callback state does not come back to this one."""
    score = None
    if best.is_file():
        state = load_torch(best, what="checkpoint")
        for key, value in state.get("callbacks", {}).items():
            if key.startswith("ModelCheckpoint") and value.get("best_model_score") is not None:
                score = float(value["best_model_score"])
    records = load_json(history) if history.is_file() else []
    return score, 1 + max((int(r["epoch"]) for r in records), default=-1)


def _best_epoch(history: Path, monitor: str) -> tuple[int | None, bool | None]:
    """The epoch ``best.ckpt`` holds (the first with the highest ``monitor``) and whether
    its validation outputs were degenerate (near-constant or one class)."""
    if not history.is_file():
        return None, None
    records = [r for r in load_json(history) if isinstance(r.get(monitor), (int, float))]
    if not records:
        return None, None
    best = max(records, key=lambda r: (r[monitor], -r["epoch"]))
    flag = best.get("val_degenerate")
    return int(best["epoch"]), (None if flag is None else bool(flag > 0))


def build_tasks(
    config: VideoConfig, train: Manifest, val: Manifest | None = None
) -> list[TaskLabels]:
    """The label space of every configured task (classes from train + val labels).

    The tail is the task's configured ``tail`` or the rarest class of ``train``.

    Examples:
        >>> rows = [{"video_path": "v.mp4", "video_id": "v", "event_id": str(i),
        ...          "start_frame": "0", "end_frame": "4", "label": str(int(i == 0))}
        ...         for i in range(4)]
        >>> build_tasks(VideoConfig(), Manifest(rows))[0]
        TaskLabels(name='label', classes=('0', '1'), tail=(1,))
    """
    tasks = []
    for name, task_cfg in config.tasks.items():
        values = train.column(name)
        every = values + (val.column(name) if val is not None else [])
        tasks.append(
            TaskLabels.from_values(
                name,
                values,
                task_cfg.tail,
                classes=infer_classes(every),
                tail_key=f"tasks.{name}.tail",
            )
        )
    return tasks


def check_validation_tails(tasks: list[TaskLabels], val: Manifest, where: str = "data.val") -> None:
    """Refuse a validation set without tail events; warn for a task that has none.

    Model selection reads validation tail metrics (``training.monitor``, by default tail F1):
    with no tail event on the validation side they are 0 (or undefined) every epoch and the
    best checkpoint is arbitrary. One task without validation tail events is refused; in
    multi-task training a task without them is warned about (its tail metrics do not
    inform the selection) and the run is refused only when no task has any.

    Raises:
        ValueError: no task has a tail event in ``val``; the message says how to split instead.

    Examples:
        >>> rows = [{"video_path": "v.mp4", "video_id": "v", "event_id": str(i),
        ...          "start_frame": "0", "end_frame": "4", "label": "0"} for i in range(3)]
        >>> check_validation_tails([TaskLabels("label", ("0", "1"), (1,))], Manifest(rows))
        Traceback (most recent call last):
        ...
        ValueError: data.val must be a manifest with tail events for model selection (else the \
best checkpoint is arbitrary), got none of class '1' of task 'label' in 3 events of 1 video; \
split with --method intravideo (events of every video on both sides), a larger --val-share or \
another --seed
    """
    missing = []
    for task in tasks:
        if not task.is_tail(task.encode(val.column(task.name))).any():
            tail = ", ".join(repr(task.classes[i]) for i in task.tail)
            missing.append(f"class {tail} of task {task.name!r}")
    if not missing:
        return
    videos = len(set(val.video_ids()))
    got = (
        f"none of {' or '.join(missing)} in {len(val)} events of {videos} "
        f"video{'s' if videos != 1 else ''}"
    )
    if len(missing) < len(tasks):
        warnings.warn(
            VideoDataWarning(
                f"{where} holds {got}: those tasks' validation tail metrics are 0 or undefined"
            ),
            stacklevel=2,
        )
        return
    raise error(
        where,
        "a manifest with tail events for model selection (else the best checkpoint is arbitrary)",
        f"{got}; split with --method intravideo (events of every video on both sides), "
        "a larger --val-share or another --seed",
        raw=True,
    )


#: Files of a run folder that training writes (removed by ``restart=True``).
RUN_FILES = (
    "best.ckpt",
    "last.ckpt",
    "training_history.json",
    "train_done.json",
    "metrics.json",
    "predictions.csv",
)


def _resume_point(run: Path, resume: bool, restart: bool) -> tuple[Path | None, int]:
    """The checkpoint to resume from (checked to load) and its finished epochs.

    ``restart`` clears the run's training files first.
    """
    last = run / "last.ckpt"
    if restart:
        for name in RUN_FILES:
            (run / name).unlink(missing_ok=True)
        return None, 0
    if not resume or not last.is_file():
        return None, 0
    hint = "run again with --restart to train from the first epoch"
    state = load_torch(last, what="checkpoint", hint=hint)
    history = run / "training_history.json"
    if history.is_file():
        try:
            load_json(history)
        except DamagedFileError as exc:
            raise DamagedFileError(f"{str(exc).split(';')[0]}; {hint}") from None
    return last, int(state.get("epoch", -1)) + 1


def train(
    config: VideoConfig,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    restart: bool = False,
    progress: bool | None = None,
    verbose: bool = False,
    callbacks: list[Callback] | None = None,
) -> dict[str, Any]:
    """Train on ``config.data.train``, select on ``config.data.val``; write the run folder.

    ``last.ckpt`` is written after every finished epoch with the random number
    generators' states (:func:`imbalance_kit.app.last_checkpoint`,
    :func:`imbalance_kit.app.random_state_callback`), so a run resumed from it ends
    with the same weights and metrics as one that was never interrupted.

    Args:
        config: the run configuration (``data.train`` and ``data.val`` required).
        run_dir: the run folder (created).
        resume: continue from ``run_dir/last.ckpt`` when it exists (it is checked first:
            a damaged file raises :class:`imbalance_kit.app.DamagedFileError`).
        restart: delete the run's checkpoints, history and results first and train from
            the first epoch.
        progress: show one progress bar per training (``None``: when standard output is a
            terminal, so logs carry no bar fragments).
        verbose: show Lightning's own messages (model summary, banners).
        callbacks: extra Lightning callbacks.

    Returns:
        ``best_checkpoint``, ``best_score``, ``monitor``, ``best_epoch``,
        ``best_epoch_degenerate`` (its validation outputs were near-constant or one class:
        the selection then says little), ``epochs`` (finished epochs, resumed ones
        included), ``resumed_from_epoch``, ``class_weights``, ``class_counts`` (the content
        of ``train_done.json``).

    Raises:
        ValueError: ``data.train`` or ``data.val`` missing, a bad manifest, or a validation
            manifest without tail events (:func:`check_validation_tails`).
        imbalance_kit.app.DamagedFileError: ``resume`` with a damaged ``last.ckpt``.

    Examples:
        >>> import tempfile
        >>> from imbalance_video import SimulationSpec, simulate_dataset, split_manifest
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = simulate_dataset(root, SimulationSpec(n_videos=3, n_test_videos=0,
        ...     events_per_video=4, event_frames=4, gap_frames=1, size=16, tail_share=0.25))
        >>> paths = split_manifest(read_manifest(root / "manifest.csv"), "intravideo",
        ...                        val_share=0.5).write(root / "split")
        >>> config = VideoConfig.from_dict({
        ...     "data": {"train": paths["train"], "val": paths["val"], "frame_size": 16,
        ...              "clip_len": 4},
        ...     "model": {"name": "c3d", "width": 4, "embed_dim": 8},
        ...     "training": {"epochs": 1, "num_threads": 1}, "tta": {"clips": 2}})
        >>> done = train(config, root / "run", progress=False)
        >>> done["epochs"], (root / "run" / "best.ckpt").is_file()
        (1, True)
    """
    if not config.data.train or not config.data.val:
        raise ValueError(
            "data.train and data.val must be manifest paths, got "
            f"{config.data.train!r} and {config.data.val!r}"
        )
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    ckpt_path, resumed = _resume_point(run, resume, restart)
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    names = config.task_names
    train_m = read_manifest(config.data.train, label_columns=names)
    val_m = read_manifest(config.data.val, label_columns=names)
    tasks = build_tasks(config, train_m, val_m)
    check_validation_tails(tasks, val_m)
    counts, weights = compute_task_weights(config, tasks, train_m)
    config.save(run / "config.yaml")
    write_json(run / "label_map.json", {t.name: t.to_dict() for t in tasks})
    used = [
        f"train: {Path(config.data.train).resolve()}",
        f"val: {Path(config.data.val).resolve()}",
    ]
    if config.data.test:
        used.append(f"test: {Path(config.data.test).resolve()}")
    write_text(run / "manifests_used.txt", "\n".join(used) + "\n")

    cache = VideoCache(config.data.frame_size, config.data.cache_dir or run / "cache")
    for manifest in (train_m, val_m):  # decodes every video once: bad files fail here
        check_events(manifest, cache, config.data.clip_len, config.data.frame_stride)
    module = VideoEventModule(config.to_dict(), [t.to_dict() for t in tasks], counts, weights)
    weight_tensors = {k: (None if v is None else torch.tensor(v)) for k, v in weights.items()}
    datamodule = VideoDataModule(train_m, val_m, tasks, cache, config, weight_tensors)
    training = config.training
    checkpoint = ModelCheckpoint(
        dirpath=run,
        filename="best",
        monitor=training.monitor,
        mode="max",
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    all_callbacks: list[Callback] = [
        HistoryCallback(run / "training_history.json"),
        random_state_callback(),
        checkpoint,
        last_checkpoint(run),
    ]
    if training.patience is not None:
        all_callbacks.append(
            EarlyStopping(monitor=training.monitor, mode="max", patience=training.patience)
        )
    all_callbacks += callbacks or []
    threads = torch.get_num_threads()
    try:
        trainer = build_trainer(
            run,
            max_epochs=training.epochs,
            callbacks=all_callbacks,
            logger=CSVLogger(run, name="logs", version=""),
            progress_bar=progress,
            verbose=verbose,
            accelerator=training.accelerator,
            devices=training.devices,
            strategy=training.strategy,
            precision=training.precision,
            use_distributed_sampler=False,
            log_every_n_steps=1,
            gradient_clip_val=training.gradient_clip,
            deterministic=training.deterministic,
        )
        fit(trainer, module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose)
    finally:
        torch.set_num_threads(threads)  # the module may have changed it (training.num_threads)
    best = Path(checkpoint.best_model_path or run / "last.ckpt")
    if checkpoint.best_model_score is not None:
        score, epochs = float(checkpoint.best_model_score), int(trainer.current_epoch)
    else:
        score, epochs = _spawned_record(best, run / "training_history.json")
    best_epoch, degenerate = _best_epoch(run / "training_history.json", training.monitor)
    done = {
        "best_checkpoint": best.name,
        "best_score": score,
        "monitor": training.monitor,
        "best_epoch": best_epoch,
        "best_epoch_degenerate": degenerate,
        "epochs": epochs,
        "resumed_from_epoch": resumed,
        "class_weights": weights,
        "class_counts": counts,
    }
    if trainer.is_global_zero:
        write_json(run / "train_done.json", done)
    return done


class _CallableModule(types.ModuleType):
    """``imbalance_video.train`` is this module and, called, its :func:`train` function."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
