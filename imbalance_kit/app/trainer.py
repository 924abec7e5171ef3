"""One way to build and run a Lightning ``Trainer`` for the task packages.

Lightning (the ``lightning`` package) is not a dependency of the core library; the task
packages depend on it, and this module imports it only when called.

* [`build_trainer`][imbalance_kit.app.trainer.build_trainer]: a ``Trainer`` with the packages'
  defaults. Its output is one progress bar per training and nothing else (no banners, no model
  summary, no tips); ``verbose=True`` shows Lightning's own output.
* [`fit`][imbalance_kit.app.trainer.fit]: ``trainer.fit`` with the warnings that small CPU runs
  always trigger filtered (few loader workers, few batches, ...); returns the wall time.
* [`last_checkpoint`][imbalance_kit.app.trainer.last_checkpoint] and
  [`random_state_callback`][imbalance_kit.app.trainer.random_state_callback]: a ``last.ckpt``
  written at the end of every epoch, holding the random number generators' states, so that a resumed
  run continues exactly as the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LIGHTNING_NOISE",
    "build_trainer",
    "capture_random_state",
    "fit",
    "last_checkpoint",
    "quiet_lightning",
    "random_state_callback",
    "restore_random_state",
]

#: Warnings that small CPU runs always trigger and that say nothing about the user's run.
LIGHTNING_NOISE: tuple[str, ...] = (
    ".*does not have many workers.*",
    ".*The number of training batches.*",
    ".*LeafSpec.*",
    ".*GPU available but not used.*",
    ".*TPU available but not used.*",
    ".*`training_step` returned `None`.*",
    ".*module\\(s\\) in eval mode.*",
    ".*exists and is not empty.*",
    ".*Checkpoint directory .* exists.*",
    ".*litlogger.*",
    ".*You are using a CUDA device.*",
    ".*barebones.*",
    ".*srun.*",
)

_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")


def quiet_lightning(verbose: bool = False) -> None:
    """Lightning's info lines (GPU/TPU availability, "Seed set", adverts) off unless ``verbose``."""
    level = logging.INFO if verbose else logging.ERROR
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(level)
        for child in list(logging.root.manager.loggerDict):
            if child.startswith(name + "."):
                logging.getLogger(child).setLevel(level)


@contextlib.contextmanager
def _filtered_warnings(verbose: bool) -> Iterator[None]:
    with warnings.catch_warnings():
        if not verbose:
            for pattern in LIGHTNING_NOISE:
                warnings.filterwarnings("ignore", message=pattern)
        yield


def random_state_callback() -> Any:
    """A Lightning callback that stores Python's, numpy's and torch's RNG states in checkpoints.

    Lightning restores the model, the optimizers and the loop counters from a checkpoint, but
    not the random number generators, so a resumed run shuffles and drops out differently
    from the uninterrupted one. With this callback the states captured when the checkpoint
    was written are restored when training resumes from it. The states are plain lists and
    tensors, so the checkpoint still loads with ``weights_only=True``.
    """
    from lightning.pytorch.callbacks import Callback

    class RandomState(Callback):
        @property
        def state_key(self) -> str:
            return "RandomState"

        def state_dict(self) -> dict[str, Any]:
            return capture_random_state()

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            restore_random_state(state_dict)

    return RandomState()


def capture_random_state() -> dict[str, Any]:
    """Python's, numpy's and torch's (CPU and CUDA) RNG states as checkpoint-safe values."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global state)
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Undo [`capture_random_state`][imbalance_kit.app.trainer.capture_random_state]."""
    import numpy as np
    import torch

    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        legacy = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
        np.random.set_state(legacy)  # noqa: NPY002 (the global state Lightning seeds)
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_lists(v) for v in value]
    return value


def last_checkpoint(dirpath: str | Path, filename: str = "last") -> Any:
    """A ``ModelCheckpoint`` that overwrites ``<dirpath>/<filename>.ckpt`` after every epoch.

    (A ``ModelCheckpoint`` with a ``monitor`` keeps the best epoch; this one keeps the
    latest finished epoch, which is what a resume continues from.)
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=str(dirpath),
        filename=filename,
        save_top_k=1,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def build_trainer(
    run_dir: str | Path | None = None,
    *,
    max_epochs: int,
    callbacks: Sequence[Any] = (),
    logger: bool | Any = True,
    progress_bar: bool = True,
    verbose: bool = False,
    accelerator: str = "cpu",
    devices: int | str = 1,
    strategy: Any = "auto",
    precision: Any = "32-true",
    **kwargs: Any,
) -> Any:
    """A ``lightning.Trainer`` with the task packages' defaults.

    Args:
        run_dir: Lightning's ``default_root_dir``; with ``logger=True`` a ``CSVLogger``
            writes ``<run_dir>/logs/version_N/metrics.csv`` (a new version per call).
        max_epochs: epochs to train.
        callbacks: Lightning callbacks (checkpoints, early stopping, ...).
        logger: ``True`` for the CSV logger above, ``False`` for none, or a logger.
        progress_bar: one progress bar per training.
        verbose: show Lightning's model summary, banners and info lines.
        accelerator: as ``lightning.Trainer`` (``"cpu"``, ``"gpu"``, ``"auto"``).
        devices: as ``lightning.Trainer``.
        strategy: as ``lightning.Trainer`` (``"ddp"`` for several processes).
        precision: as ``lightning.Trainer``.
        **kwargs: any other ``lightning.Trainer`` argument (they win over the defaults).

    Examples:
        >>> trainer = build_trainer(None, max_epochs=1, logger=False, progress_bar=False)
        >>> trainer.max_epochs, trainer.enable_model_summary  # doctest: +SKIP
        (1, False)
    """
    import lightning as L

    quiet_lightning(verbose)
    if logger is True:
        if run_dir is None:
            raise ValueError("logger=True needs a run_dir to write logs/ into")
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(str(run_dir), name="logs")
    options: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": accelerator,
        "devices": devices,
        "strategy": strategy,
        "precision": precision,
        "callbacks": list(callbacks),
        "logger": logger,
        "enable_progress_bar": progress_bar,
        "enable_model_summary": verbose,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 10,
    }
    if run_dir is not None:
        options["default_root_dir"] = str(run_dir)
    if not any(_is_checkpoint(c) for c in callbacks):
        options["enable_checkpointing"] = False
    options.update(kwargs)
    with _filtered_warnings(verbose):
        return L.Trainer(**options)


def _is_checkpoint(callback: Any) -> bool:
    from lightning.pytorch.callbacks import Checkpoint

    return isinstance(callback, Checkpoint)


def fit(
    trainer: Any,
    module: Any,
    *,
    datamodule: Any = None,
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    ckpt_path: str | Path | None = None,
    verbose: bool = False,
) -> float:
    """``trainer.fit(...)`` with the noise of small runs filtered; returns the wall time in seconds.

    Examples:
        >>> import torch
        >>> import lightning as L
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> class M(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = torch.nn.Parameter(torch.zeros(1))
        ...     def training_step(self, batch, i):
        ...         return ((self.w - batch[0]) ** 2).mean()
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.5)
        >>> m = M()
        >>> trainer = build_trainer(None, max_epochs=20, logger=False, progress_bar=False)
        >>> _ = fit(trainer, m, train_dataloaders=DataLoader(TensorDataset(torch.ones(4)), 4))
        >>> round(m.w.item(), 3)
        1.0
    """
    start = time.perf_counter()
    with _filtered_warnings(verbose):
        trainer.fit(
            module,
            train_dataloaders=train_dataloaders,
            val_dataloaders=val_dataloaders,
            datamodule=datamodule,
            ckpt_path=None if ckpt_path is None else str(ckpt_path),
        )
    return time.perf_counter() - start
