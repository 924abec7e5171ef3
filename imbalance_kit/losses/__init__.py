"""Losses for imbalanced classification: functions and their ``nn.Module`` twins.

Every loss is a function ``snake_case(...)`` plus a module ``CamelCase`` whose
``forward`` only calls the function. ``reduction`` follows torch's semantics.
"""

from imbalance_kit.losses._registry import available_losses, get_loss, register_loss
from imbalance_kit.losses.asymmetric import AsymmetricLoss, asymmetric_loss
from imbalance_kit.losses.balanced_softmax import BalancedSoftmaxLoss, balanced_softmax_loss
from imbalance_kit.losses.class_balanced import ClassBalancedLoss, class_balanced_loss
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
from imbalance_kit.losses.implication import ImplicationPenalty, implication_penalty
from imbalance_kit.losses.ldam import LDAMLoss, ldam_loss, ldam_margins
from imbalance_kit.losses.logit_adjustment import (
    LogitAdjustedLoss,
    adjust_logits,
    logit_adjusted_loss,
)
from imbalance_kit.losses.multitask import MultiTaskLoss

__all__ = [
    "AsymmetricLoss",
    "BalancedSoftmaxLoss",
    "ClassBalancedLoss",
    "ImplicationPenalty",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "MultiTaskLoss",
    "NTXentLoss",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "SupervisedContrastiveLoss",
    "adjust_logits",
    "asymmetric_loss",
    "available_losses",
    "balanced_softmax_loss",
    "class_balanced_loss",
    "get_loss",
    "implication_penalty",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
    "nt_xent_loss",
    "register_loss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
    "supervised_contrastive_loss",
]
