"""Using a trained run: load it and label new texts.

Scoring a trained run on a labelled file is :func:`imbalance_text.evaluate.evaluate_file`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imbalance_kit.app import load_json, load_torch
from imbalance_text.config import TextConfig
from imbalance_text.evaluate import predictions_frame
from imbalance_text.model import TextEncoder, TokenizerProxy, cached_embeddings
from imbalance_text.module import EmbeddingDataset, TextDataset, TextModule, loader, predict_probs
from imbalance_text.schema import LabelSchema, load_schema

__all__ = ["load_module", "load_run", "predict"]


def load_module(run_dir: str | os.PathLike[str], *, model_path: str | None = None) -> TextModule:
    """The trained module of a run folder's ``model.pt`` (``weights_only=True``), in eval mode.

    Args:
        run_dir: a folder with ``model.pt``.
        model_path: the encoder folder (fine-tune mode), when it moved since training.
    """
    saved = load_torch(
        Path(run_dir) / "model.pt", what="model", hint="run train again on this folder"
    )
    hparams = dict(saved["hparams"])
    hparams["model"] = {**hparams["model"], "path": model_path}
    module = TextModule(**hparams)
    module.load_state_dict(saved["state_dict"])
    return module.eval()


def load_run(
    run_dir: str | os.PathLike[str], *, model_path: str | None = None
) -> tuple[TextModule, TextConfig, LabelSchema, dict[str, float]]:
    """The trained module (from ``model.pt``, ``weights_only=True``), config, schema and thresholds.

    Args:
        run_dir: a finished run folder.
        model_path: the encoder folder, when it moved since training.

    Raises:
        FileNotFoundError: the run has no ``model.pt``.
    """
    run = Path(run_dir)
    if not (run / "model.pt").is_file():
        raise FileNotFoundError(f"{run} has no model.pt: train first (imbalance-text train)")
    from imbalance_text.config import load_config

    config = load_config(run / "config.yaml")
    if model_path is not None:
        config.model.path = model_path
    schema = load_schema(run / "schema.yaml")
    module = load_module(run, model_path=config.model.path)
    thresholds: dict[str, float] = {}
    if (run / "thresholds.json").is_file():
        tuned = load_json(run / "thresholds.json")
        thresholds = {k: float(v["threshold"]) for k, v in tuned.items()}
    return module.eval(), config, schema, thresholds


def predict(
    run_dir: str | os.PathLike[str],
    texts: Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    model_path: str | None = None,
    batch_size: int = 128,
) -> pd.DataFrame:
    """Probabilities and enforced 0/1 predictions of a trained run for new texts.

    Args:
        run_dir: a finished run folder.
        texts: the documents.
        ids: identifiers (default: row numbers).
        model_path: the encoder folder, when it moved since training.
        batch_size: texts per batch.

    Returns:
        :func:`~imbalance_text.evaluate.predictions_frame` without truth columns.
    """
    module, config, schema, thresholds = load_run(run_dir, model_path=model_path)
    targets = np.zeros((len(texts), schema.num_labels), dtype=np.float32)
    if config.model.mode == "finetune":
        tokenize = TokenizerProxy(config.model.path, config.model.max_length)
        dataset: Any = TextDataset(texts, targets, tokenize)
    else:
        m = config.model
        encoder = TextEncoder(
            m.path, pooling=m.pooling, normalize=m.normalize, max_length=m.max_length
        )
        emb = cached_embeddings(
            texts, encoder, None, batch_size=batch_size, device=config.training.device()
        )
        dataset = EmbeddingDataset(emb, targets)
    probs = predict_probs(module, loader(dataset, batch_size), config.training.device())
    return predictions_frame(
        list(ids) if ids is not None else [str(i) for i in range(len(texts))], texts, probs, schema,
        thresholds=thresholds or 0.5, enforce=config.evaluation.enforce_constraints,
    )  # fmt: skip
