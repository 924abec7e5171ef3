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

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from imbalance_kit.weights import class_counts, compute_class_weights
from imbalance_video.config import VideoConfig
from imbalance_video.data import VideoDataModule
from imbalance_video.decode import VideoCache
from imbalance_video.labels import TaskLabels, infer_classes
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.module import VideoEventModule

__all__ = ["HistoryCallback", "build_tasks", "compute_task_weights", "train"]


# Lightning remarks that say nothing about this run's correctness
_NOISE = (
    ".*does not have many workers.*",
    ".*number of training batches.*",
    ".*exists and is not empty.*",
    ".*LeafSpec.*",
    ".*litlogger.*",
)


@contextlib.contextmanager
def _quiet_lightning(quiet: bool) -> Iterator[None]:
    """Hide Lightning's informational messages (not its warnings about problems)."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        if quiet:
            for logger in loggers:
                logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


class HistoryCallback(Callback):
    """Appends one record per epoch to ``training_history.json`` (rank 0 only).

    A record holds ``epoch``, every epoch-level logged value (``train_loss``,
    ``val_loss``, ``val_tail_recall``, ``val_tail_f1``, ...), the learning rate and
    ``task_weights`` (the weights the epoch trained with). On resume the records of
    epochs not yet re-run are kept.

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
        if self.path.is_file():
            old = json.loads(self.path.read_text())
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
            _write_json(self.path, self.records)


def _spawned_record(best: Path, history: Path) -> tuple[float | None, int]:
    """Best score and finished epochs read from the files, for training that ran in spawned
    processes (``ddp_spawn``), whose callback state does not come back to this one."""
    score = None
    if best.is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)
        for key, value in state.get("callbacks", {}).items():
            if key.startswith("ModelCheckpoint") and value.get("best_model_score") is not None:
                score = float(value["best_model_score"])
    records = json.loads(history.read_text()) if history.is_file() else []
    return score, 1 + max((int(r["epoch"]) for r in records), default=-1)


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
            TaskLabels.from_values(name, values, task_cfg.tail, classes=infer_classes(every))
        )
    return tasks


def compute_task_weights(
    config: VideoConfig, tasks: list[TaskLabels], train: Manifest
) -> tuple[dict[str, list[int]], dict[str, list[float] | None]]:
    """Training class counts and the configured class weights of every task.

    Weights come from :func:`imbalance_kit.weights.compute_class_weights`
    (``training.class_weights``: ``balanced`` or ``effective`` with
    ``effective_beta``), capped at ``max_class_weight``; ``None`` when off.

    Examples:
        >>> rows = [{"video_path": "v.mp4", "video_id": "v", "event_id": str(i),
        ...          "start_frame": "0", "end_frame": "4", "label": str(int(i == 0))}
        ...         for i in range(4)]
        >>> config = VideoConfig.from_dict({"training": {"class_weights": "balanced"}})
        >>> compute_task_weights(config, build_tasks(config, Manifest(rows)), Manifest(rows))
        ({'label': [3, 1]}, {'label': [0.6666666865348816, 2.0]})
    """
    counts: dict[str, list[int]] = {}
    weights: dict[str, list[float] | None] = {}
    training = config.training
    for task in tasks:
        labels = torch.from_numpy(task.encode(train.column(task.name)))
        counts[task.name] = class_counts(labels, task.num_classes).tolist()
        if training.class_weights == "none":
            weights[task.name] = None
            continue
        weights[task.name] = compute_class_weights(
            torch.tensor(counts[task.name]),
            method=training.class_weights,
            beta=training.effective_beta,
            max_weight=training.max_class_weight,
            from_counts=True,
        ).tolist()
    return counts, weights


def train(
    config: VideoConfig,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: list[Callback] | None = None,
) -> dict[str, Any]:
    """Train on ``config.data.train``, select on ``config.data.val``; write the run folder.

    Args:
        config: the run configuration (``data.train`` and ``data.val`` required).
        run_dir: the run folder (created).
        resume: continue from ``run_dir/last.ckpt`` when it exists.
        progress: show Lightning's progress bar.
        callbacks: extra Lightning callbacks.

    Returns:
        ``best_checkpoint``, ``best_score``, ``monitor``, ``epochs`` (the content of
        ``train_done.json``).

    Raises:
        ValueError: ``data.train`` or ``data.val`` missing, or a bad manifest.

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
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    names = config.task_names
    train_m = read_manifest(config.data.train, label_columns=names)
    val_m = read_manifest(config.data.val, label_columns=names)
    tasks = build_tasks(config, train_m, val_m)
    counts, weights = compute_task_weights(config, tasks, train_m)
    config.save(run / "config.yaml")
    _write_json(run / "label_map.json", {t.name: t.to_dict() for t in tasks})
    used = [
        f"train: {Path(config.data.train).resolve()}",
        f"val: {Path(config.data.val).resolve()}",
    ]
    if config.data.test:
        used.append(f"test: {Path(config.data.test).resolve()}")
    (run / "manifests_used.txt").write_text("\n".join(used) + "\n")

    cache = VideoCache(config.data.frame_size, config.data.cache_dir or run / "cache")
    module = VideoEventModule(config.to_dict(), [t.to_dict() for t in tasks], counts, weights)
    weight_tensors = {k: (None if v is None else torch.tensor(v)) for k, v in weights.items()}
    datamodule = VideoDataModule(train_m, val_m, tasks, cache, config, weight_tensors)
    training = config.training
    checkpoint = ModelCheckpoint(
        dirpath=run,
        filename="best",
        monitor=training.monitor,
        mode="max",
        save_last=True,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    all_callbacks: list[Callback] = [checkpoint, HistoryCallback(run / "training_history.json")]
    if training.patience is not None:
        all_callbacks.append(
            EarlyStopping(monitor=training.monitor, mode="max", patience=training.patience)
        )
    all_callbacks += callbacks or []
    last = run / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    threads = torch.get_num_threads()
    try:
        with _quiet_lightning(not progress):
            trainer = L.Trainer(
                max_epochs=training.epochs,
                accelerator=training.accelerator,
                devices=training.devices,
                strategy=training.strategy,
                precision=training.precision,  # type: ignore[arg-type]
                logger=CSVLogger(run, name="logs", version=""),
                callbacks=all_callbacks,
                enable_progress_bar=progress,
                enable_model_summary=False,
                use_distributed_sampler=False,
                num_sanity_val_steps=0,
                log_every_n_steps=1,
                gradient_clip_val=training.gradient_clip,
                deterministic=training.deterministic,
                default_root_dir=run,
            )
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    finally:
        torch.set_num_threads(threads)  # the module may have changed it (training.num_threads)
    best = Path(checkpoint.best_model_path or last)
    if checkpoint.best_model_score is not None:
        score, epochs = float(checkpoint.best_model_score), int(trainer.current_epoch)
    else:
        score, epochs = _spawned_record(best, run / "training_history.json")
    done = {
        "best_checkpoint": best.name,
        "best_score": score,
        "monitor": training.monitor,
        "epochs": epochs,
        "class_weights": weights,
        "class_counts": counts,
    }
    if trainer.is_global_zero:
        _write_json(run / "train_done.json", done)
    return done
