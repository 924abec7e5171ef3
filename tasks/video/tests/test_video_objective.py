"""Per-task losses: every loss type of the field recipe, ``bce`` for binary heads included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from imbalance_video.cli import apply_train_flags, build_parser
from imbalance_video.config import TaskConfig, VideoConfig
from imbalance_video.labels import TaskLabels
from imbalance_video.module import VideoEventModule
from imbalance_video.objective import BinaryHeadBCELoss, build_task_loss


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_head_bce_equals_two_class_cross_entropy(weighted, smoothing):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(37, 2, generator=generator, dtype=torch.float64) * 3
    target = torch.randint(0, 2, (37,), generator=generator)
    weight = torch.tensor([0.6, 2.5], dtype=torch.float64) if weighted else None
    ours = BinaryHeadBCELoss(weight, smoothing)(logits, target)
    if not (weighted and smoothing):
        # torch's own cross-entropy of the same two logits (with both class weights and
        # smoothing, torch weighs each smoothed term by its own class: not the same loss)
        reference = F.cross_entropy(logits, target, weight=weight, label_smoothing=smoothing)
        torch.testing.assert_close(ours, reference)
    # torch's BCE on the margin, by hand for the smoothed targets
    margin = logits[:, 1] - logits[:, 0]
    soft = target.double() * (1 - smoothing) + smoothing / 2
    per_event = F.binary_cross_entropy_with_logits(margin, soft, reduction="none")
    w = torch.ones(37, dtype=torch.float64) if weight is None else weight[target]
    torch.testing.assert_close(ours, (w * per_event).sum() / w.sum())


def test_binary_head_bce_gradients():
    logits = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 1, 1, 0, 1, 0])
    loss = BinaryHeadBCELoss(torch.tensor([1.0, 3.0], dtype=torch.float64), 0.1)
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (logits,))


def test_bce_is_refused_for_more_than_two_classes_and_wrong_heads():
    with pytest.raises(ValueError, match=r"tasks.severity.loss must be a loss for a task of 3"):
        build_task_loss(TaskConfig(loss="bce"), [5, 3, 2], None, 0.0, name="severity")
    with pytest.raises(ValueError, match=r"logits must be an \(N, 2\) tensor"):
        BinaryHeadBCELoss()(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"weight must be a \(2,\) tensor"):
        BinaryHeadBCELoss(torch.ones(3))


def test_loss_types_with_bce_build_a_multi_task_module():
    args = build_parser().parse_args(
        ["train", "--out", "r", "--loss-types", "action_class", "ce", "severity", "focal",
         "offence", "bce", "--weighting-strategy", "inverse_f1", "--adaptive-weights"]
    )  # fmt: skip
    config = VideoConfig.from_dict(
        {**apply_train_flags({}, args), "model": {"name": "c3d", "width": 4, "embed_dim": 8}}
    )
    assert {t: c.loss for t, c in config.tasks.items()} == {
        "action_class": "ce",
        "severity": "focal",
        "offence": "bce",
    }
    tasks = [
        TaskLabels("action_class", ("0", "1", "2", "3"), (1,)),
        TaskLabels("severity", ("0", "1", "2"), (2,)),
        TaskLabels("offence", ("0", "1"), (1,)),
    ]
    counts = {"action_class": [5, 2, 3, 4], "severity": [8, 4, 2], "offence": [10, 4]}
    module = VideoEventModule(config.to_dict(), [t.to_dict() for t in tasks], counts)
    names = module.criterion.task_names
    used = [type(getattr(t, "fn", t)).__name__ for t in module.criterion.task_losses]
    assert dict(zip(names, used))["offence"] == "BinaryHeadBCELoss"
    clips = torch.randn(4, 3, 8, 16, 16)
    targets = {
        "action_class": torch.tensor([0, 1, 2, 3]),
        "severity": torch.tensor([0, 1, 2, 0]),
        "offence": torch.tensor([0, 1, 1, 0]),
    }
    total, per_task = module.criterion(module(clips), targets)
    total.backward()
    assert set(per_task) == set(targets) and torch.isfinite(total)
    bad = VideoConfig.from_dict({"tasks": {"severity": {"loss": "bce"}, "offence": {"loss": "ce"}}})
    with pytest.raises(ValueError, match="tasks.severity.loss must be a loss for a task of 3"):
        VideoEventModule(bad.to_dict(), [t.to_dict() for t in tasks[1:]], counts)


def test_difficulty_weighting_reads_each_task_class_counts():
    args = build_parser().parse_args(
        ["train", "--out", "r", "--loss-types", "action_class", "ce", "severity", "focal",
         "offence", "bce", "--weighting-strategy", "difficulty", "--adaptive-weights"]
    )  # fmt: skip
    config = VideoConfig.from_dict(
        {**apply_train_flags({}, args), "model": {"name": "c3d", "width": 4, "embed_dim": 8}}
    )
    tasks = [
        TaskLabels("action_class", ("0", "1", "2", "3"), (1,)),
        TaskLabels("severity", ("0", "1", "2"), (2,)),
        TaskLabels("offence", ("0", "1"), (1,)),
    ]
    counts = {"action_class": [5, 5, 5, 5], "severity": [80, 15, 5], "offence": [10, 4]}
    module = VideoEventModule(config.to_dict(), [t.to_dict() for t in tasks], counts)
    # before any metric the weights follow 1 + u_t (u_t: 1 - normalised entropy of the counts)
    imbalance = {}
    for task, c in counts.items():
        p = np.asarray(c, float) / sum(c)
        imbalance[task] = 1 + np.sum(p * np.log(p)) / np.log(len(c))
    raw = np.array([1 + imbalance[t] for t in module.criterion.task_names])
    expected = raw * len(raw) / raw.sum()
    assert list(module.criterion.task_weights().values()) == pytest.approx(expected)
