"""The training objective: one loss per task from imbalance-kit, class counts and class weights.

Every loss comes from :mod:`imbalance_kit.losses` (through its registry, ``get_loss``) and
every class weight from :func:`imbalance_kit.weights.compute_class_weights`; the tasks are
combined by :class:`imbalance_kit.losses.MultiTaskLoss` in
:class:`imbalance_video.module.VideoEventModule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from imbalance_kit.losses import get_loss
from imbalance_kit.weights import class_counts, compute_class_weights
from imbalance_video.config import TaskConfig, VideoConfig
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest

__all__ = ["build_task_loss", "compute_task_weights"]


def build_task_loss(
    task: TaskConfig,
    counts: Sequence[int],
    weight: torch.Tensor | None,
    label_smoothing: float,
) -> nn.Module:
    """The loss module of one task from :mod:`imbalance_kit.losses` (via ``get_loss``).

    ``ce`` -> ``cross_entropy``; ``focal`` -> ``softmax_focal`` with ``gamma``;
    ``balanced_softmax`` and ``ldam`` read ``counts``; ``logit_adjusted`` reads the
    priors ``counts / sum(counts)``. ``weight`` (per-class) and ``label_smoothing``
    go to every loss.

    Examples:
        >>> loss = build_task_loss(TaskConfig(loss="focal", gamma=2.0), [90, 10], None, 0.1)
        >>> type(loss).__name__
        'SoftmaxFocalLoss'
    """
    common: dict[str, Any] = {"weight": weight, "label_smoothing": label_smoothing}
    n = torch.tensor([float(c) for c in counts])
    if task.loss == "ce":
        return get_loss("cross_entropy", **common)
    if task.loss == "focal":
        return get_loss("softmax_focal", gamma=task.gamma, **common)
    if task.loss == "balanced_softmax":
        return get_loss("balanced_softmax", samples_per_class=n, **common)
    if task.loss == "ldam":
        return get_loss("ldam", samples_per_class=n, **common)
    return get_loss("logit_adjusted", class_priors=n / n.sum(), **common)


def compute_task_weights(
    config: VideoConfig, tasks: list[TaskLabels], train: Manifest
) -> tuple[dict[str, list[int]], dict[str, list[float] | None]]:
    """Training class counts and the configured class weights of every task.

    Weights come from :func:`imbalance_kit.weights.compute_class_weights`
    (``training.class_weights``: ``balanced`` or ``effective`` with
    ``effective_beta``), capped at ``max_class_weight``; ``None`` when off.

    Examples:
        >>> from imbalance_video.train import build_tasks
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
