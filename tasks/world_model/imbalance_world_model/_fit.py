"""One place that runs Lightning: ``fit(module, loader, epochs)`` with this package's defaults.

Checkpoints are written by the callers as ``model.pt`` (state dict + plain settings), so
every saved file loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

__all__ = ["fit"]

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def fit(
    module: L.LightningModule,
    loader: DataLoader,
    max_epochs: int,
    *,
    progress_bar: bool = False,
    log_dir: str | Path | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> float:
    """Train ``module`` on CPU for ``max_epochs``; return the wall time in seconds.

    ``log_dir`` gets Lightning's ``CSVLogger`` metrics (``None``: no logger);
    ``trainer_kwargs`` override the ``lightning.Trainer`` arguments (e.g. ``devices`` and
    ``strategy`` for DDP).

    Examples:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> class M(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.zeros(1))
        ...     def training_step(self, batch, i):
        ...         return ((self.w - batch[0]) ** 2).mean()
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.5)
        >>> m = M()
        >>> _ = fit(m, DataLoader(TensorDataset(torch.ones(4)), batch_size=4), 20)
        >>> round(m.w.item(), 3)
        1.0
    """
    from lightning.pytorch.loggers import CSVLogger

    # a new version_N folder per call, so a stage that runs again keeps the earlier log
    logger = CSVLogger(str(log_dir), name="") if log_dir is not None else False
    kwargs: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": max_epochs,
        "logger": logger,
        "enable_checkpointing": False,
        "enable_progress_bar": progress_bar,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
        "num_sanity_val_steps": 0,
    }
    kwargs.update(trainer_kwargs or {})
    trainer = L.Trainer(**kwargs)
    start = time.perf_counter()
    with warnings.catch_warnings():
        for pattern in (
            ".*does not have many workers.*",
            ".*The number of training batches.*",
            ".*LeafSpec.*",
            ".*GPU available but not used.*",
            ".*`training_step` returned `None`.*",
            ".*module\\(s\\) in eval mode.*",
        ):
            warnings.filterwarnings("ignore", message=pattern)
        trainer.fit(module, loader)
    return time.perf_counter() - start
