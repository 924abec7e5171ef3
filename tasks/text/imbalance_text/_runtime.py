"""Shared run-time helpers of the pipeline and inference: threads, devices, loaders, JSON."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from imbalance_text.config import TextConfig
from imbalance_text.module import TextModule, predict_probs

__all__ = [
    "TokenizerProxy",
    "device_for",
    "loader",
    "probs_of",
    "torch_threads",
    "uses_bf16",
    "write_json",
]


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads inside the block (``None``: leave them), then restore."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False))
    os.replace(tmp, path)


def device_for(config: TextConfig) -> torch.device:
    acc = config.training.accelerator
    if acc in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def uses_bf16(config: TextConfig) -> bool:
    return str(config.training.precision).startswith("bf16")


def loader(dataset: Any, batch_size: int, shuffle: bool, workers: int) -> DataLoader:
    collate = getattr(dataset, "collate", None)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate
    )


class TokenizerProxy:
    """Tokenises with the model's own tokenizer, loaded once on first use."""

    def __init__(self, config: TextConfig) -> None:
        self.model = config.model
        self._tok: Any = None

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        if self._tok is None:
            from transformers import AutoTokenizer

            from imbalance_text.encoder import resolve_model_path

            path = resolve_model_path(self.model.path)
            self._tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        batch = self._tok(
            texts, padding=True, truncation=True, max_length=self.model.max_length,
            return_tensors="pt",
        )  # fmt: skip
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def probs_of(config: TextConfig, module: TextModule, dataset: Any) -> np.ndarray:
    batches = loader(dataset, 4 * config.training.batch_size, False, 0)
    return predict_probs(module, batches, device_for(config))
