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

from imbalance_kit.app import error
from imbalance_kit.losses import get_loss, sigmoid_focal_loss
from imbalance_kit.weights import class_counts, compute_class_weights
from imbalance_video.config import TaskConfig, VideoConfig
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest

__all__ = ["BinaryHeadBCELoss", "build_task_loss", "compute_task_weights"]


class BinaryHeadBCELoss(nn.Module):
    """Binary cross-entropy for a two-class head: the sigmoid of the logit margin.

    A task's head has one logit per class; for a binary task ``sigmoid(z_1 - z_0)`` is the
    softmax probability of class 1, so BCE on the margin (computed by
    :func:`imbalance_kit.losses.sigmoid_focal_loss` with ``gamma=0, alpha=None``) scores
    the same probabilities the evaluation reads. Label smoothing pulls the 0/1 target
    towards 1/2; a per-class ``weight`` weighs each event by its class and the mean divides
    by the weight mass, as ``F.cross_entropy`` does. Without class weights, or without
    smoothing, this loss equals the two-class cross-entropy; with both, torch's
    cross-entropy weighs each smoothed term by its own class, this loss by the event's.

    Args:
        weight: ``(2,)`` class weights, or ``None``.
        label_smoothing: in ``[0, 1)``.

    Examples:
        >>> import torch.nn.functional as F
        >>> logits, target = torch.tensor([[0.2, 1.5], [0.3, -0.4]]), torch.tensor([1, 0])
        >>> loss = BinaryHeadBCELoss()(logits, target)
        >>> torch.allclose(loss, F.cross_entropy(logits, target))
        True
    """

    weight: torch.Tensor | None

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if weight is not None and tuple(weight.shape) != (2,):
            raise error("weight", "a (2,) tensor of class weights", weight)
        self.register_buffer("weight", weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise error("logits", "an (N, 2) tensor (a binary task's head)", logits)
        margin = logits[:, 1] - logits[:, 0]
        per_event = sigmoid_focal_loss(
            margin,
            target.to(margin.dtype),
            alpha=None,
            gamma=0.0,
            label_smoothing=self.label_smoothing,
            reduction="none",
        )
        if self.weight is None:
            return per_event.mean()
        w = self.weight.to(per_event.dtype)[target]
        return (w * per_event).sum() / w.sum()


def build_task_loss(
    task: TaskConfig,
    counts: Sequence[int],
    weight: torch.Tensor | None,
    label_smoothing: float,
    *,
    name: str = "label",
) -> nn.Module:
    """The loss module of one task from :mod:`imbalance_kit.losses` (via ``get_loss``).

    ``ce`` -> ``cross_entropy``; ``bce`` (binary tasks) -> :class:`BinaryHeadBCELoss`;
    ``focal`` -> ``softmax_focal`` with ``gamma``; ``balanced_softmax`` and ``ldam`` read
    ``counts``; ``logit_adjusted`` reads the priors ``counts / sum(counts)``. ``weight``
    (per-class) and ``label_smoothing`` go to every loss.

    Raises:
        ValueError: ``bce`` for a task with more than two classes (``name`` is the task).

    Examples:
        >>> loss = build_task_loss(TaskConfig(loss="focal", gamma=2.0), [90, 10], None, 0.1)
        >>> type(loss).__name__
        'SoftmaxFocalLoss'
        >>> build_task_loss(TaskConfig(loss="bce"), [50, 30, 20], None, 0.0, name="severity")
        Traceback (most recent call last):
        ...
        ValueError: tasks.severity.loss must be a loss for a task of 3 classes ('bce' needs \
2: use ce or focal), got 'bce'
    """
    common: dict[str, Any] = {"weight": weight, "label_smoothing": label_smoothing}
    n = torch.tensor([float(c) for c in counts])
    if task.loss == "bce":
        if len(counts) != 2:
            raise error(
                f"tasks.{name}.loss",
                f"a loss for a task of {len(counts)} classes ('bce' needs 2: use ce or focal)",
                task.loss,
            )
        return BinaryHeadBCELoss(weight, label_smoothing)
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
