"""Losses for imbalanced classification: functions and their ``nn.Module`` twins.

Every loss is a function ``snake_case(...)`` plus a module ``CamelCase`` whose
``forward`` only calls the function. ``reduction`` follows torch's semantics.
"""

from imbalance_kit.losses._registry import available_losses, get_loss, register_loss

__all__ = [
    "available_losses",
    "get_loss",
    "register_loss",
]
