"""Name -> loss module registry for config-driven code (the task packages)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["available_losses", "get_loss", "register_loss"]

# name -> "module:attribute" (imported on first use) or a factory registered at run time.
_REGISTRY: dict[str, str | Callable[..., nn.Module]] = {
    "cross_entropy": "torch.nn:CrossEntropyLoss",
    "ce": "torch.nn:CrossEntropyLoss",
    "bce": "torch.nn:BCEWithLogitsLoss",
    "bce_with_logits": "torch.nn:BCEWithLogitsLoss",
    "mse": "torch.nn:MSELoss",
    "sigmoid_focal": "imbalance_kit.losses.focal:SigmoidFocalLoss",
    "softmax_focal": "imbalance_kit.losses.focal:SoftmaxFocalLoss",
    "focal": "imbalance_kit.losses.focal:SoftmaxFocalLoss",
    "class_balanced": "imbalance_kit.losses.class_balanced:ClassBalancedLoss",
    "balanced_softmax": "imbalance_kit.losses.balanced_softmax:BalancedSoftmaxLoss",
    "logit_adjusted": "imbalance_kit.losses.logit_adjustment:LogitAdjustedLoss",
    "ldam": "imbalance_kit.losses.ldam:LDAMLoss",
    "asymmetric": "imbalance_kit.losses.asymmetric:AsymmetricLoss",
    "implication_penalty": "imbalance_kit.losses.implication:ImplicationPenalty",
    "supervised_contrastive": "imbalance_kit.losses.contrastive:SupervisedContrastiveLoss",
    "nt_xent": "imbalance_kit.losses.contrastive:NTXentLoss",
}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def available_losses() -> list[str]:
    """Sorted names accepted by [`get_loss`][imbalance_kit.losses.get_loss].

    Examples:
        >>> "sigmoid_focal" in available_losses()
        True
    """
    return sorted(_REGISTRY)


def register_loss(name: str, factory: Callable[..., nn.Module], *, overwrite: bool = False) -> None:
    """Make ``get_loss(name, **kwargs)`` return ``factory(**kwargs)``.

    Raises:
        TypeError: ``name`` is not a string or ``factory`` is not callable.
        ValueError: ``name`` is empty (or only spaces), or already registered and
            ``overwrite`` is false.

    Examples:
        >>> register_loss(" ", nn.L1Loss)
        Traceback (most recent call last):
        ...
        ValueError: name must be a non-empty string, got ' '
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = _normalise(name)
    if not key:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"name must not already be registered, got {name!r} (pass overwrite=True)")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}")
    _REGISTRY[key] = factory


def get_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build a loss module from its registry name and keyword arguments.

    Names are case-insensitive and ``-`` equals ``_``. Built-in names include
    torch's ``cross_entropy`` (short name ``ce``: ``nn.CrossEntropyLoss``), ``bce``
    (also ``bce_with_logits``: ``nn.BCEWithLogitsLoss``, on logits) and ``mse``, and every
    loss of [`imbalance_kit.losses`][imbalance_kit.losses] (``focal`` is
    ``softmax_focal``); see [`available_losses`][imbalance_kit.losses.available_losses].
    The short names are the spelling of multi-task training scripts, e.g.
    ``--loss-types action_class ce severity focal offence bce``.

    Raises:
        ValueError: unknown name (the message lists the known ones).

    Examples:
        >>> loss = get_loss("sigmoid_focal", gamma=1.0)
        >>> type(loss).__name__
        'SigmoidFocalLoss'
        >>> type(get_loss("ce")).__name__, type(get_loss("BCE")).__name__
        ('CrossEntropyLoss', 'BCEWithLogitsLoss')
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = _normalise(name)
    if key not in _REGISTRY:
        known = ", ".join(available_losses())
        raise ValueError(f"name must be one of {known}, got {name!r}")
    entry = _REGISTRY[key]
    if isinstance(entry, str):
        module_name, attr = entry.split(":")
        factory = getattr(importlib.import_module(module_name), attr)
    else:
        factory = entry
    return factory(**kwargs)
