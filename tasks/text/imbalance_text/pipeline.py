"""The training pipeline: split -> embed -> train -> tune thresholds -> evaluate.

Run folder layout::

    config.yaml, schema.yaml   the resolved configuration and label schema
    splits/{train,val,test}.csv the corpora used (reused by --resume)
    cache/emb-*.npy            frozen-encoder embeddings (reused when texts and model match)
    weights.json               pos_weight per label, with counts and source (custom / auto)
    best.ckpt, last.ckpt       Lightning checkpoints (last.ckpt resumes an interrupted fit)
    logs/metrics.csv           Lightning's CSV log
    model.pt                   best weights + hyper-parameters (torch.load(weights_only=True))
    train_done.json            written when training finished
    thresholds.json            per-label thresholds tuned on validation
    metrics.json               evaluation on test (and validation)
    predictions.csv            test predictions (probabilities, enforced 0/1, truth)
    plots/*.png                per-label scores, PR curves, reliability curves

Every stage writes its outputs before the next starts; ``resume=True`` reuses
the splits, the embeddings, a finished training (``train_done.json``) or the
last checkpoint of an unfinished one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from imbalance_text.config import TextConfig
from imbalance_text.data import Corpus, read_corpus, split_corpus, write_corpus
from imbalance_text.encoder import TextEncoder, cached_embeddings
from imbalance_text.evaluate import (
    evaluate_predictions,
    predictions_frame,
    rare_labels,
    tune_thresholds,
)
from imbalance_text.module import EmbeddingDataset, TextDataset, TextModule, predict_probs
from imbalance_text.objective import label_weights, weight_table
from imbalance_text.plots import (
    plot_per_label_scores,
    plot_pr_curves,
    plot_reliability,
    save_figure,
)
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema, load_schema

__all__ = [
    "evaluate_file",
    "evaluate_stage",
    "load_run",
    "predict",
    "prepare_splits",
    "run_pipeline",
]

_NOISE = (
    ".*does not have many workers.*",
    ".*number of training batches.*",
    ".*exists and is not empty.*",
    ".*LeafSpec.*",
    ".*litlogger.*",
    ".*precision.*is supported.*",
    ".*when logging on epoch level in distributed setting.*",
    ".*all_gather is deprecated.*",
)
Log = Callable[[str], None]


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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False))
    os.replace(tmp, path)


def _device(config: TextConfig) -> torch.device:
    acc = config.training.accelerator
    if acc in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _bf16(config: TextConfig) -> bool:
    return str(config.training.precision).startswith("bf16")


def _schema(config: TextConfig) -> LabelSchema:
    return load_schema(config.data.schema) if config.data.schema else DEFAULT_SCHEMA


def _read(config: TextConfig, path: str, schema: LabelSchema) -> Corpus:
    d = config.data
    return read_corpus(
        path, schema, text_column=d.text_column, labels_column=d.labels_column,
        id_column=d.id_column, allow_pickle=d.allow_pickle,
    )  # fmt: skip


def prepare_splits(
    config: TextConfig, run: Path, resume: bool = False
) -> tuple[LabelSchema, Corpus, Corpus, Corpus | None]:
    """Read (or split) the corpora and write them under ``run/splits``."""
    split_dir = run / "splits"
    files = [split_dir / f"{name}.csv" for name in ("train", "val", "test")]
    if resume and (run / "schema.yaml").is_file() and files[0].is_file() and files[1].is_file():
        schema = load_schema(run / "schema.yaml")
        parts = [read_corpus(f, schema, id_column="id") if f.is_file() else None for f in files]
        return schema, parts[0], parts[1], parts[2]  # type: ignore[return-value]
    if not config.data.train:
        raise ValueError("data.train must be a corpus path (CLI --data), got None")
    schema = _schema(config)
    train = _read(config, config.data.train, schema)
    val = _read(config, config.data.val, schema) if config.data.val else None
    test = _read(config, config.data.test, schema) if config.data.test else None
    d, seed = config.data, config.training.seed
    if val is None and test is None:
        train, val, test = split_corpus(train, d.val_fraction, d.test_fraction, seed)
    elif val is None:
        train, val, _ = split_corpus(train, d.val_fraction, 0.0, seed)
    elif test is None and d.test_fraction > 0:
        train, _, test = split_corpus(train, 0.0, d.test_fraction, seed)
    if test is not None and len(test) == 0:
        test = None
    split_dir.mkdir(parents=True, exist_ok=True)
    for corpus, file in zip((train, val, test), files):
        if corpus is not None:
            write_corpus(corpus, file)
    schema.save(run / "schema.yaml")
    return schema, train, val, test


def _loader(dataset: Any, batch_size: int, shuffle: bool, workers: int) -> DataLoader:
    collate = getattr(dataset, "collate", None)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate
    )


def _datasets(
    config: TextConfig, corpora: Sequence[Corpus | None], run: Path, log: Log
) -> tuple[list[Any], int | None]:
    """Datasets of each corpus: cached embeddings (frozen) or texts (fine-tune)."""
    if config.model.mode == "finetune":
        tokenize = _TokenizerProxy(config)
        return [
            None if c is None else TextDataset(c.texts, c.targets, tokenize) for c in corpora
        ], None
    m = config.model
    t0 = time.perf_counter()
    encoder = TextEncoder(m.path, pooling=m.pooling, normalize=m.normalize, max_length=m.max_length)
    texts = [t for c in corpora if c is not None for t in c.texts]
    emb = cached_embeddings(
        texts, encoder, config.data.cache_dir or run / "cache",
        batch_size=config.training.embed_batch_size, device=_device(config), bf16=_bf16(config),
    )  # fmt: skip
    log(f"embedded {len(texts)} texts ({emb.shape[1]} dims) in {time.perf_counter() - t0:.1f}s")
    out, start = [], 0
    for c in corpora:
        if c is None:
            out.append(None)
            continue
        out.append(EmbeddingDataset(emb[start : start + len(c)], c.targets))
        start += len(c)
    return out, encoder.dim


class _TokenizerProxy:
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


def _fit(
    config: TextConfig,
    schema: LabelSchema,
    train: Corpus,
    datasets: list[Any],
    in_dim: int | None,
    run: Path,
    resume: bool,
    progress: bool,
    extra_callbacks: Sequence[Any] = (),
) -> TextModule:
    t = config.training
    weights = label_weights(
        train.targets, schema, method=config.loss.weights, max_weight=config.loss.max_weight,
        use_custom=config.loss.use_custom_weights,
    )  # fmt: skip
    _write_json(run / "weights.json", weight_table(train.targets, schema, weights))
    rare = [
        schema.index(n) for n in rare_labels(train.targets, schema, config.evaluation.rare_ratio)
    ]
    module = TextModule(
        schema.names, schema.implication_indices,
        model=vars(config.model), loss=vars(config.loss), training=vars(t), in_dim=in_dim,
        pos_weight=None if weights is None else weights.tolist(),
        prior=train.targets.mean(axis=0).tolist(), rare=rare,
    )  # fmt: skip
    checkpoint = ModelCheckpoint(
        dirpath=run, filename="best", monitor=t.monitor, mode="max", save_last=True,
        enable_version_counter=False, auto_insert_metric_name=False,
    )  # fmt: skip
    callbacks: list[Any] = [checkpoint]
    if t.patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, mode="max", patience=t.patience))
    callbacks += list(extra_callbacks)
    trainer = L.Trainer(
        max_epochs=t.epochs, accelerator=t.accelerator, devices=t.devices, strategy=t.strategy,
        precision=t.precision,  # type: ignore[arg-type]
        logger=CSVLogger(run, name="logs", version=""), callbacks=callbacks,
        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
        log_every_n_steps=1, gradient_clip_val=t.gradient_clip, default_root_dir=run,
    )  # fmt: skip
    train_loader = _loader(datasets[0], t.batch_size, True, t.num_workers)
    val_loader = _loader(datasets[1], 4 * t.batch_size, False, t.num_workers)
    last = run / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    if not progress:
        for lg in loggers:
            lg.setLevel(logging.WARNING)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            for pattern in _NOISE:
                warnings.filterwarnings("ignore", message=pattern)
            trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    best = checkpoint.best_model_path or str(last)
    if trainer.is_global_zero:
        state = torch.load(best, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
        torch.save({"state_dict": module.state_dict(), "hparams": dict(module.hparams)},
                   run / "model.pt")  # fmt: skip
        # read from the checkpoints: under ddp_spawn this process's trainer saw no epoch
        epochs = int(torch.load(last, map_location="cpu", weights_only=True)["epoch"]) + 1
        score = next(
            (v.get("best_model_score") for k, v in state.get("callbacks", {}).items()
             if k.startswith("ModelCheckpoint")),
            None,
        )  # fmt: skip
        _write_json(run / "train_done.json", {
            "best_checkpoint": best, "monitor": t.monitor,
            "best_score": None if score is None else float(score),
            "epochs": epochs, "seconds": round(time.perf_counter() - t0, 2),
        })  # fmt: skip
    return module


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
    import yaml

    config = TextConfig.from_dict(yaml.safe_load((run / "config.yaml").read_text()))
    if model_path is not None:
        config.model.path = model_path
    schema = load_schema(run / "schema.yaml")
    saved = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
    hparams = dict(saved["hparams"])
    hparams["model"] = {**hparams["model"], "path": config.model.path}
    module = TextModule(**hparams)
    module.load_state_dict(saved["state_dict"])
    thresholds: dict[str, float] = {}
    if (run / "thresholds.json").is_file():
        tuned = json.loads((run / "thresholds.json").read_text())
        thresholds = {k: float(v["threshold"]) for k, v in tuned.items()}
    return module.eval(), config, schema, thresholds


def _probs(config: TextConfig, module: TextModule, dataset: Any) -> np.ndarray:
    loader = _loader(dataset, 4 * config.training.batch_size, False, 0)
    return predict_probs(module, loader, _device(config))


def run_pipeline(
    config: TextConfig,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    progress: bool = True,
    log: Log | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Split, embed, train, tune thresholds on validation, evaluate on test; write the run folder.

    Args:
        config: the run configuration (``data.train`` required).
        run_dir: the run folder (created).
        resume: reuse what an earlier, possibly interrupted, run left (see the module docs).
        progress: Lightning's progress bar.
        log: receives one line per stage (default: silent).
        callbacks: extra Lightning callbacks for the fit.

    Returns:
        The content of ``metrics.json``.

    Raises:
        ValueError: no training data, or an invalid corpus.
    """
    with torch_threads(config.training.threads):
        say = log or (lambda _msg: None)
        return _run(config, Path(run_dir), resume, progress, say, callbacks)


def _run(
    config: TextConfig,
    run: Path,
    resume: bool,
    progress: bool,
    say: Log,
    callbacks: Sequence[Any],
) -> dict[str, Any]:
    run.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(False)
    schema, train, val, test = prepare_splits(config, run, resume)
    config.save(run / "config.yaml")
    say(f"splits: train {len(train)}, val {len(val)}, test {0 if test is None else len(test)}")
    datasets, in_dim = _datasets(config, [train, val, test], run, say)
    if resume and (run / "train_done.json").is_file() and (run / "model.pt").is_file():
        module = load_run(run)[0]
        say("training: reused (train_done.json)")
    else:
        module = _fit(config, schema, train, datasets, in_dim, run, resume, progress, callbacks)
        done = json.loads((run / "train_done.json").read_text())
        say(f"training: {done['epochs']} epochs in {done['seconds']}s, "
            f"best {done['monitor']} {done['best_score']}")  # fmt: skip
    metrics = evaluate_stage(config, schema, module, datasets, train, val, test, run)
    say(f"evaluation on {metrics['evaluated_on']}: written metrics.json, predictions.csv, plots/")
    return metrics


def evaluate_stage(
    config: TextConfig,
    schema: LabelSchema,
    module: TextModule,
    datasets: Sequence[Any],
    train: Corpus,
    val: Corpus,
    test: Corpus | None,
    run: Path,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """Tune thresholds on validation, evaluate on test (validation without one), write outputs.

    Writes ``thresholds.json``, ``metrics.json``, ``predictions.csv`` and, with
    ``plots``, ``plots/*.png``; returns the metrics. ``metrics["test"]`` uses the
    tuned thresholds, ``metrics["test_at_0.5"]`` the default 0.5.
    """
    ev = config.evaluation
    rare = rare_labels(train.targets, schema, ev.rare_ratio)
    val_probs = _probs(config, module, datasets[1])
    if ev.threshold == "tuned":
        tuned = tune_thresholds(
            val.targets, val_probs, schema, target_recall=ev.target_recall,
            default=ev.fixed_threshold, min_positives=ev.min_tune_positives,
        )  # fmt: skip
    else:
        tuned = {n: {"threshold": ev.fixed_threshold, "tuned": False} for n in schema.names}
    _write_json(run / "thresholds.json", tuned)
    cuts = {n: float(v["threshold"]) for n, v in tuned.items()}
    common = {"rare": rare, "enforce": ev.enforce_constraints, "n_bins": ev.n_bins}
    metrics: dict[str, Any] = {
        "val": evaluate_predictions(val.targets, val_probs, schema, thresholds=cuts, **common),
    }
    final, probs = (val, val_probs) if test is None else (test, _probs(config, module, datasets[2]))
    metrics["test"] = evaluate_predictions(final.targets, probs, schema, thresholds=cuts, **common)
    metrics["test_at_0.5"] = evaluate_predictions(
        final.targets, probs, schema, thresholds=0.5, **common
    )
    metrics["evaluated_on"] = "val" if test is None else "test"
    _write_json(run / "metrics.json", metrics)
    frame = predictions_frame(
        final.ids or [], final.texts, probs, schema, thresholds=cuts,
        enforce=ev.enforce_constraints, targets=final.targets,
    )  # fmt: skip
    frame.to_csv(run / "predictions.csv", index=False)
    if plots:
        folder = run / "plots"
        folder.mkdir(exist_ok=True)
        save_figure(plot_per_label_scores(metrics["test"]), folder / "per_label_scores.png")
        save_figure(plot_pr_curves(final.targets, probs, schema), folder / "pr_curves.png")
        save_figure(
            plot_reliability(final.targets, probs, schema, ev.n_bins), folder / "reliability.png"
        )
    return metrics


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
        dataset: Any = TextDataset(texts, targets, _TokenizerProxy(config))
    else:
        m = config.model
        encoder = TextEncoder(
            m.path, pooling=m.pooling, normalize=m.normalize, max_length=m.max_length
        )
        emb = cached_embeddings(texts, encoder, None, batch_size=batch_size, device=_device(config))
        dataset = EmbeddingDataset(emb, targets)
    probs = predict_probs(module, _loader(dataset, batch_size, False, 0), _device(config))
    return predictions_frame(
        list(ids) if ids is not None else [str(i) for i in range(len(texts))], texts, probs, schema,
        thresholds=thresholds or 0.5, enforce=config.evaluation.enforce_constraints,
    )  # fmt: skip


def evaluate_file(
    run_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    text_column: str = "text",
    labels_column: str | None = None,
    model_path: str | None = None,
) -> dict[str, Any]:
    """Score a trained run on a labelled corpus with the run's thresholds and enforcement.

    Writes ``metrics.json`` and ``predictions.csv`` to ``out_dir``; returns the
    :func:`~imbalance_text.evaluate.evaluate_predictions` report.
    """
    module, config, schema, thresholds = load_run(run_dir, model_path=model_path)
    corpus = read_corpus(data, schema, text_column=text_column, labels_column=labels_column)
    frame = predict(run_dir, corpus.texts, ids=corpus.ids, model_path=model_path)
    probs = frame[[f"prob:{n}" for n in schema.names]].to_numpy()
    saved = json.loads((Path(run_dir) / "metrics.json").read_text())
    ev = config.evaluation
    report = evaluate_predictions(
        corpus.targets, probs, schema, thresholds=thresholds or 0.5,
        rare=saved["test"]["rare_labels"], enforce=ev.enforce_constraints, n_bins=ev.n_bins,
    )  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "metrics.json", report)
    for j, name in enumerate(schema.names):
        frame[f"true:{name}"] = corpus.targets[:, j].astype(np.int64)
    frame.to_csv(out / "predictions.csv", index=False)
    return report
