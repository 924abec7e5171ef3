"""Losses for imbalanced classification: functions and their ``nn.Module`` twins.

Every loss is a function ``snake_case(...)`` plus a module ``CamelCase`` whose
``forward`` only calls the function. ``reduction`` follows torch's semantics.
"""

from imbalance_kit.losses._registry import available_losses, get_loss, register_loss
from imbalance_kit.losses.contrastive import (
    NTXentLoss,
    SupervisedContrastiveLoss,
    nt_xent_loss,
    supervised_contrastive_loss,
)
from imbalance_kit.losses.focal import (
    SigmoidFocalLoss,
    SoftmaxFocalLoss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)
from imbalance_kit.losses.multitask import MultiTaskLoss

__all__ = [
    "MultiTaskLoss",
    "NTXentLoss",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "SupervisedContrastiveLoss",
    "available_losses",
    "get_loss",
    "nt_xent_loss",
    "register_loss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "supervised_contrastive_loss",
]
