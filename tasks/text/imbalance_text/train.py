"""Training: split -> embed -> train the head (or fine-tune) -> tune thresholds -> evaluate.

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
last checkpoint of an unfinished one. The evaluation stage is
:func:`imbalance_text.evaluate.evaluate_stage`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from imbalance_kit.app import build_trainer, fit, load_json, set_threads, write_json
from imbalance_text.config import TextConfig
from imbalance_text.data import Corpus, read_corpus, split_corpus, write_corpus
from imbalance_text.evaluate import evaluate_stage, rare_labels
from imbalance_text.inference import load_run
from imbalance_text.model import TextEncoder, TokenizerProxy, cached_embeddings
from imbalance_text.module import EmbeddingDataset, TextDataset, TextModule, loader
from imbalance_text.objective import label_weights, weight_table
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema, load_schema

__all__ = ["embed_corpora", "fit_module", "prepare_splits", "run_pipeline"]

Log = Callable[[str], None]


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


def embed_corpora(
    config: TextConfig, corpora: Sequence[Corpus | None], run: Path, log: Log
) -> tuple[list[Any], int | None]:
    """Datasets of each corpus: cached embeddings (frozen) or texts (fine-tune); and the width."""
    m = config.model
    if m.mode == "finetune":
        tokenize = TokenizerProxy(m.path, m.max_length)
        return [
            None if c is None else TextDataset(c.texts, c.targets, tokenize) for c in corpora
        ], None
    t0 = time.perf_counter()
    encoder = TextEncoder(m.path, pooling=m.pooling, normalize=m.normalize, max_length=m.max_length)
    texts = [t for c in corpora if c is not None for t in c.texts]
    emb = cached_embeddings(
        texts,
        encoder,
        config.data.cache_dir or run / "cache",
        batch_size=config.training.embed_batch_size,
        device=config.training.device(),
        bf16=config.training.bf16,
    )
    log(f"embedded {len(texts)} texts ({emb.shape[1]} dims) in {time.perf_counter() - t0:.1f}s")
    out, start = [], 0
    for c in corpora:
        if c is None:
            out.append(None)
            continue
        out.append(EmbeddingDataset(emb[start : start + len(c)], c.targets))
        start += len(c)
    return out, encoder.dim


def fit_module(
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
    """Train a :class:`TextModule`; write ``weights.json``, ``model.pt`` and ``train_done.json``."""
    t = config.training
    weights = label_weights(
        train.targets, schema, method=config.loss.weights, max_weight=config.loss.max_weight,
        use_custom=config.loss.use_custom_weights,
    )  # fmt: skip
    write_json(run / "weights.json", weight_table(train.targets, schema, weights))
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
    trainer = build_trainer(
        run, max_epochs=t.epochs, accelerator=t.accelerator, devices=t.devices,
        strategy=t.strategy, precision=t.precision, callbacks=callbacks,
        logger=CSVLogger(run, name="logs", version=""), progress_bar=progress,
        log_every_n_steps=1, gradient_clip_val=t.gradient_clip,
    )  # fmt: skip
    train_loader = loader(datasets[0], t.batch_size, True, t.num_workers)
    val_loader = loader(datasets[1], 4 * t.batch_size, False, t.num_workers)
    last = run / "last.ckpt"
    ckpt_path = str(last) if resume and last.is_file() else None
    seconds = fit(
        trainer, module, train_dataloaders=train_loader, val_dataloaders=val_loader,
        ckpt_path=ckpt_path,
    )  # fmt: skip
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
        write_json(run / "train_done.json", {
            "best_checkpoint": best, "monitor": t.monitor,
            "best_score": None if score is None else float(score),
            "epochs": epochs, "seconds": round(seconds, 2),
        })  # fmt: skip
    return module


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

    ``config.training.threads`` (when set) sets torch's thread count for the process
    (:func:`imbalance_kit.app.set_threads`).

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
    set_threads(config.training.threads)
    say = log or (lambda _msg: None)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(False)
    schema, train, val, test = prepare_splits(config, run, resume)
    config.save(run / "config.yaml")
    say(f"splits: train {len(train)}, val {len(val)}, test {0 if test is None else len(test)}")
    datasets, in_dim = embed_corpora(config, [train, val, test], run, say)
    if resume and (run / "train_done.json").is_file() and (run / "model.pt").is_file():
        module = load_run(run)[0]
        say("training: reused (train_done.json)")
    else:
        module = fit_module(
            config, schema, train, datasets, in_dim, run, resume, progress, callbacks
        )
        done = load_json(run / "train_done.json")
        say(f"training: {done['epochs']} epochs in {done['seconds']}s, "
            f"best {done['monitor']} {done['best_score']}")  # fmt: skip
    metrics = evaluate_stage(config, schema, module, datasets, train, val, test, run)
    say(f"evaluation on {metrics['evaluated_on']}: written metrics.json, predictions.csv, plots/")
    return metrics
