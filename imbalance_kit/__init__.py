"""imbalance-kit: learning from rare labels in PyTorch.

Losses, class weights, samplers, oversamplers, calibration metrics and
imbalance-aware metrics that take and return torch tensors on any device.

Subpackages are imported lazily on first attribute access, so
``import imbalance_kit`` stays cheap::

    >>> import imbalance_kit as ik
    >>> ik.__version__
    '0.1.0'
    >>> callable(ik.losses.sigmoid_focal_loss)
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imbalance_kit._version import __version__

_SUBMODULES = (
    "app",
    "augment",
    "calibration",
    "cli",
    "kernels",
    "losses",
    "metrics",
    "sampling",
    "testing",
    "weights",
)

__all__ = ["__version__", *_SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover
    from imbalance_kit import (  # noqa: F401
        app,
        augment,
        calibration,
        cli,
        kernels,
        losses,
        metrics,
        sampling,
        testing,
        weights,
    )


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"imbalance_kit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'imbalance_kit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
