"""The Lightning module: video network, per-task losses, TTA validation, task weighting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from imbalance_kit.losses import MultiTaskLoss
from imbalance_video.config import VideoConfig
from imbalance_video.distributed import gather_rows
from imbalance_video.labels import TaskLabels
from imbalance_video.model import build_model
from imbalance_video.objective import build_task_loss
from imbalance_video.scoring import task_metrics

__all__ = ["SUMMARY_METRICS", "VideoEventModule", "aggregate_clips"]

SUMMARY_METRICS = ("tail_recall", "tail_f1", "macro_f1", "roc_auc", "ece")


def aggregate_clips(probs: torch.Tensor, how: str) -> torch.Tensor:
    """Combine ``(N, k, C)`` clip probabilities into ``(N, C)`` event probabilities.

    ``"mean"`` averages the clips; ``"max"`` takes each class's maximum over clips
    and renormalises the row to sum to 1.

    Examples:
        >>> p = torch.tensor([[[0.9, 0.1], [0.4, 0.6]]])
        >>> aggregate_clips(p, "mean"), aggregate_clips(p, "max")
        (tensor([[0.6500, 0.3500]]), tensor([[0.6000, 0.4000]]))
    """
    if how == "mean":
        return probs.mean(dim=1)
    top = probs.amax(dim=1)
    return top / top.sum(dim=1, keepdim=True)


class VideoEventModule(L.LightningModule):
    """Trains a :class:`imbalance_video.model.VideoClassifier` on event clips.

    The objective is :class:`imbalance_kit.losses.MultiTaskLoss` over the task heads
    (one task: just that task's loss). Validation runs the TTA clips of each event,
    aggregates their probabilities, gathers the events of every rank and logs, per
    task, ``tail_recall``, ``tail_f1``, ``macro_f1``, ``roc_auc``, ``ece`` and
    ``degenerate`` (1.0 when the outputs are near-constant or one class,
    :func:`imbalance_video.scoring.degenerate_outputs`): as ``val_<metric>`` for a single
    task, as ``val_<task>_<metric>`` plus the mean over tasks ``val_<metric>`` in
    multi-task mode. With adaptive weights the
    metric-driven weightings get each task's accuracy (``inverse_accuracy``) or
    macro-F1 (``inverse_f1``, ``difficulty``) after every validation epoch, and
    ``dwa`` the epoch's mean task losses (averaged over ranks).

    All arguments are plain data (they are saved in the checkpoint and rebuild the
    module with ``VideoEventModule(**checkpoint["hyper_parameters"])``).

    Args:
        config: a :class:`imbalance_video.config.VideoConfig` as a dict.
        tasks: :meth:`imbalance_video.labels.TaskLabels.to_dict` of every task.
        class_counts: task -> training count of every class.
        class_weights: task -> per-class loss weights, or ``None`` for unweighted.

    Examples:
        >>> config = VideoConfig.from_dict({"model": {"width": 4, "embed_dim": 8}})
        >>> task = TaskLabels("label", ("0", "1"), (1,))
        >>> module = VideoEventModule(config.to_dict(), [task.to_dict()], {"label": [86, 14]})
        >>> module(torch.randn(2, 3, 8, 16, 16))["label"].shape
        torch.Size([2, 2])
        >>> module.criterion.task_weights()
        {'label': 1.0}
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        tasks: Sequence[Mapping[str, Any]],
        class_counts: Mapping[str, Sequence[int]],
        class_weights: Mapping[str, Sequence[float] | None] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = VideoConfig.from_dict(config)
        self.task_labels = [TaskLabels.from_dict(t) for t in tasks]
        cfg = self.config
        self.model = build_model(
            cfg.model.name,
            {t.name: t.num_classes for t in self.task_labels},
            width=cfg.model.width,
            embed_dim=cfg.model.embed_dim,
            dropout=cfg.model.dropout,
            pooling=cfg.model.pooling,
        )
        weights = dict(class_weights or {})
        losses = {}
        for task in self.task_labels:
            w = weights.get(task.name)
            w_tensor = None if w is None else torch.tensor(list(w), dtype=torch.float32)
            losses[task.name] = build_task_loss(
                cfg.tasks[task.name],
                class_counts[task.name],
                w_tensor,
                cfg.training.label_smoothing,
                name=task.name,
            )
        # "difficulty" combines each task's class counts with its performance (the counts
        # are the training set's, the same for every process).
        counts_for_weighting = (
            {t.name: list(class_counts[t.name]) for t in self.task_labels}
            if cfg.multitask.weighting == "difficulty"
            else None
        )
        self.criterion = MultiTaskLoss(
            losses,
            weighting=cfg.multitask.weighting,
            max_weight=cfg.multitask.max_weight,
            metric_momentum=cfg.multitask.metric_momentum,
            class_counts=counts_for_weighting,
        )
        self._val_rows: list[dict[str, np.ndarray]] = []
        self._train_sums: dict[str, float] = {}
        self._train_steps = 0
        self.weights_used: dict[str, float] = self.criterion.task_weights()
        self.last_val_metrics: dict[str, dict[str, float]] = {}

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(clips)

    def setup(self, stage: str) -> None:
        if self.config.training.num_threads is not None:
            torch.set_num_threads(self.config.training.num_threads)

    # ----------------------------------------------------------------- training

    def on_train_epoch_start(self) -> None:
        self.weights_used = self.criterion.task_weights()
        self._train_sums = {t.name: 0.0 for t in self.task_labels}
        self._train_steps = 0

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        outputs = self(batch["clip"])
        total, per_task = self.criterion(outputs, batch["targets"])
        size = batch["clip"].shape[0]
        self.log("train_loss", total, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        if len(per_task) > 1:
            for name, value in per_task.items():
                self.log(
                    f"train_{name}_loss",
                    value,
                    on_step=False,
                    on_epoch=True,
                    batch_size=size,
                    sync_dist=True,
                )
        for name, value in per_task.items():
            self._train_sums[name] = self._train_sums.get(name, 0.0) + float(value.detach())
        self._train_steps += 1
        return total

    def on_train_epoch_end(self) -> None:
        if self.config.multitask.weighting != "dwa" or self._train_steps == 0:
            return
        means = torch.tensor(
            [self._train_sums[t.name] / self._train_steps for t in self.task_labels],
            device=self.device,
        )
        if self.trainer.world_size > 1:
            means = self.all_gather(means).reshape(-1, means.numel()).mean(dim=0)
        self.criterion.step_epoch({t.name: float(m) for t, m in zip(self.task_labels, means)})

    # --------------------------------------------------------------- validation

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        clips = batch["clip"]
        n, k = clips.shape[:2]
        z = self.model.embed(clips.flatten(0, 1))
        logits = self.model.classify(z)
        repeated = {t: y.repeat_interleave(k) for t, y in batch["targets"].items()}
        total, _ = self.criterion(logits, repeated)
        self.log("val_loss", total, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        row: dict[str, np.ndarray] = {"index": batch["index"].cpu().numpy()}
        for task in self.task_labels:
            probs = F.softmax(logits[task.name].float(), dim=1).view(n, k, -1)
            row[f"p_{task.name}"] = aggregate_clips(probs, self.config.tta.aggregate).cpu().numpy()
            row[f"y_{task.name}"] = batch["targets"][task.name].cpu().numpy()
        self._val_rows.append(row)

    def on_validation_epoch_start(self) -> None:
        self._val_rows = []

    def on_validation_epoch_end(self) -> None:
        if not self._val_rows:
            return
        local = {k: np.concatenate([r[k] for r in self._val_rows]) for k in self._val_rows[0]}
        rows = gather_rows(local)
        self._val_rows = []
        metrics = {
            t.name: task_metrics(rows[f"y_{t.name}"], rows[f"p_{t.name}"], t)
            for t in self.task_labels
        }
        self.last_val_metrics = metrics
        multi = len(self.task_labels) > 1
        for values in metrics.values():  # 1.0: the outputs are degenerate (see scoring)
            values["degenerate_flag"] = float(values["degenerate"] is not None)
        for name, values in metrics.items():
            prefix = f"val_{name}_" if multi else "val_"
            for metric in (*SUMMARY_METRICS, "degenerate"):
                key = "degenerate_flag" if metric == "degenerate" else metric
                self.log(prefix + metric, float(values[key]), sync_dist=True)
        if multi:
            for metric in (*SUMMARY_METRICS, "degenerate_flag"):
                mean = float(np.nanmean([m[metric] for m in metrics.values()]))
                self.log(f"val_{metric.replace('_flag', '')}", mean, sync_dist=True)
        for name, weight in self.weights_used.items():
            self.log(f"weight_{name}", float(weight), sync_dist=True)
        cfg = self.config.multitask
        if cfg.adaptive and cfg.weighting != "dwa" and not self.trainer.sanity_checking:
            key = "accuracy" if cfg.weighting == "inverse_accuracy" else "macro_f1"
            self.criterion.update_metrics({t: float(m[key]) for t, m in metrics.items()})

    # ---------------------------------------------------------------- optimiser

    def configure_optimizers(self) -> dict[str, Any]:
        training = self.config.training
        groups = [
            {"params": list(self.model.parameters()), "weight_decay": training.weight_decay},
        ]
        extra = [p for p in self.criterion.parameters() if p.requires_grad]
        if extra:  # the learned log-variances of the "uncertainty" weighting: no decay
            groups.append({"params": extra, "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=training.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, training.epochs)
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}
