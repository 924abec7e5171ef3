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

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from imbalance_kit.app import (
    DamagedFileError,
    build_trainer,
    fit,
    last_checkpoint,
    load_json,
    load_torch,
    random_state_callback,
    save_torch,
    set_threads,
    write_json,
    write_text,
)
from imbalance_text.config import TextConfig
from imbalance_text.data import Corpus, read_corpus, split_corpus, write_corpus
from imbalance_text.evaluate import evaluate_stage, rare_labels
from imbalance_text.inference import load_module
from imbalance_text.model import TextEncoder, TokenizerProxy, cached_embeddings
from imbalance_text.module import EmbeddingDataset, TextDataset, TextModule, loader
from imbalance_text.objective import label_weights, weight_table
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema, load_schema

__all__ = [
    "RESUMABLE_CHANGES",
    "embed_corpora",
    "fit_module",
    "open_run",
    "prepare_splits",
    "run_pipeline",
    "train_stage",
]

Log = Callable[[str], None]


def _schema(config: TextConfig) -> LabelSchema:
    return load_schema(config.data.schema) if config.data.schema else DEFAULT_SCHEMA


def _read(config: TextConfig, path: str, schema: LabelSchema) -> Corpus:
    d = config.data
    return read_corpus(
        path, schema, text_column=d.text_column, labels_column=d.labels_column,
        id_column=d.id_column, allow_pickle=d.allow_pickle,
    )  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _saved_splits(run: Path, say: Log) -> tuple[LabelSchema, list[Corpus | None]] | None:
    """The splits an earlier run wrote, if its marker's checksums still hold."""
    marker = run / "splits" / "done.json"
    if not marker.is_file():
        return None
    try:
        sums = load_json(marker)
        for name, digest in sums.items():
            if _sha256(run / name) != digest:
                say(f"splits: {run / name} is damaged (checksum differs); splitting again")
                return None
        schema = load_schema(run / "schema.yaml")
        files = [run / "splits" / f"{name}.csv" for name in ("train", "val", "test")]
        parts = [read_corpus(f, schema, id_column="id") if f.is_file() else None for f in files]
    except (OSError, ValueError) as exc:
        say(f"splits: cannot be reused ({str(exc).splitlines()[0]}); splitting again")
        return None
    return schema, parts


def prepare_splits(
    config: TextConfig, run: Path, resume: bool = False, log: Log | None = None
) -> tuple[LabelSchema, Corpus, Corpus, Corpus | None]:
    """Read (or split) the corpora and write them under ``run/splits``.

    The split files and ``schema.yaml`` get a marker (``splits/done.json``) with their
    SHA-256; with ``resume`` the files are reused when the checksums hold, and split again
    (same seed, same result) when they do not.
    """
    say = log or (lambda _m: None)
    split_dir = run / "splits"
    if resume and (saved := _saved_splits(run, say)) is not None:
        schema, parts = saved
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
    (split_dir / "done.json").unlink(missing_ok=True)
    split_dir.mkdir(parents=True, exist_ok=True)
    written = ["schema.yaml"]
    for corpus, name in zip((train, val, test), ("train", "val", "test")):
        if corpus is not None:
            write_corpus(corpus, split_dir / f"{name}.csv")
            written.append(f"splits/{name}.csv")
    write_text(run / "schema.yaml", yaml.safe_dump(schema.to_dict(), sort_keys=False))
    write_json(split_dir / "done.json", {name: _sha256(run / name) for name in written})
    return schema, train, val, test  # type: ignore[return-value]


#: Settings that may change between a run and its resumption: they do not change what the
#: finished stages computed (evaluation is always redone).
RESUMABLE_CHANGES = (
    "training.epochs", "training.threads", "training.num_workers",
    "training.embed_batch_size", "data.cache_dir", "evaluation.",
)  # fmt: skip


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def open_run(config: TextConfig, run: Path, resume: bool, say: Log) -> bool:
    """Create the run folder and check that it may be resumed; returns whether to resume.

    With ``resume`` and a ``config.yaml`` in ``run``, the saved configuration must equal
    ``config`` except for :data:`RESUMABLE_CHANGES`. Without ``resume`` the outputs of an
    earlier run are removed (the embedding cache is kept: it is keyed by its content).

    Raises:
        ValueError: the folder holds a run with another configuration.
    """
    run.mkdir(parents=True, exist_ok=True)
    saved = run / "config.yaml"
    if resume and saved.is_file():
        try:
            old = _flat(TextConfig.from_dict(yaml.safe_load(saved.read_text())).to_dict())
        except (ValueError, yaml.YAMLError) as exc:
            say(f"config.yaml of {run} is damaged ({str(exc).splitlines()[0]}); starting over")
            resume = False
        else:
            new = _flat(config.to_dict())
            changed = [
                k for k in new
                if new[k] != old.get(k) and not k.startswith(RESUMABLE_CHANGES)
            ]  # fmt: skip
            if changed:
                details = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed[:4])
                raise ValueError(
                    f"--out {run} holds a run with another configuration ({details}); "
                    "use another --out, or --restart to replace it"
                )
    if not resume:
        for name in ("splits", "logs", "plots"):
            shutil.rmtree(run / name, ignore_errors=True)
        for name in (*_TRAIN_FILES, "config.yaml", "schema.yaml", "thresholds.json",
                     "metrics.json", "predictions.csv"):  # fmt: skip
            (run / name).unlink(missing_ok=True)
    write_text(saved, yaml.safe_dump(config.to_dict(), sort_keys=False))
    return resume


def embed_corpora(
    config: TextConfig,
    corpora: Sequence[Corpus | None],
    run: Path,
    log: Log,
    progress: bool = False,
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
        log=log,
        progress=progress,
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


_TRAIN_FILES = ("best.ckpt", "last.ckpt", "model.pt", "train_done.json", "weights.json")


def _finished(state: dict[str, Any], max_epochs: int) -> bool:
    """Whether a last checkpoint ends the training (last epoch, or early stopping fired)."""
    if int(state.get("epoch", -1)) + 1 >= max_epochs:
        return True
    for key, value in state.get("callbacks", {}).items():
        if key.startswith("EarlyStopping") and value.get("wait_count", 0) >= value["patience"]:
            return True
    return False


def _resume_point(run: Path, max_epochs: int, say: Log) -> tuple[Path | None, bool]:
    """``(checkpoint to resume from, whether it already ends the training)``.

    A damaged ``last.ckpt`` or ``best.ckpt`` is said in one line and training starts over.
    """
    last, best = run / "last.ckpt", run / "best.ckpt"
    if not last.is_file():
        return None, False
    try:
        state = load_torch(last, what="checkpoint")
        if best.is_file():
            load_torch(best, what="checkpoint")
    except DamagedFileError as exc:
        say(f"training: {exc}; training again from the start")
        last.unlink(missing_ok=True)
        best.unlink(missing_ok=True)
        return None, False
    epochs = int(state.get("epoch", -1)) + 1
    say(f"training: resuming after epoch {epochs} from {last}")
    return last, _finished(state, max_epochs)


def _reusable(run: Path, say: Log) -> bool:
    """Whether a finished training (``train_done.json`` + ``model.pt``) is there and sound."""
    done, model = run / "train_done.json", run / "model.pt"
    if not (done.is_file() and model.is_file()):
        return False
    try:
        load_json(done)
        load_torch(model, what="model")
    except DamagedFileError as exc:
        say(f"training: {exc}; finishing the training stage again")
        done.unlink(missing_ok=True)
        return False
    return True


def _merge_logs(log_file: Path, earlier: str, first_new_epoch: int) -> None:
    """Put the epochs an interrupted run logged before the resumed ones in ``metrics.csv``."""
    import io

    import pandas as pd

    try:
        old = pd.read_csv(io.StringIO(earlier))
        new = pd.read_csv(log_file) if log_file.is_file() else old.iloc[:0]
    except (ValueError, pd.errors.ParserError):
        return  # a damaged earlier log is not worth failing the run for
    if "epoch" in old:
        old = old[old["epoch"] < first_new_epoch]
    write_text(log_file, pd.concat([old, new], ignore_index=True).to_csv(index=False))


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
    log: Log | None = None,
    verbose: bool = False,
) -> TextModule:
    """Train a :class:`TextModule`; write ``weights.json``, ``model.pt`` and ``train_done.json``.

    ``last.ckpt`` holds the last finished epoch (and the random number generators' states),
    ``best.ckpt`` the best epoch by ``training.monitor``. With ``resume`` a sound
    ``last.ckpt`` is continued, so the result equals an uninterrupted run with the same seed.
    """
    say = log or (lambda _m: None)
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
    ckpt_path, finished = _resume_point(run, t.epochs, say) if resume else (None, False)
    if not resume:
        (run / "last.ckpt").unlink(missing_ok=True)
        (run / "best.ckpt").unlink(missing_ok=True)
    # best before last: at an epoch's end the best checkpoint is updated first, so last.ckpt
    # carries the up-to-date best score
    best_ckpt = ModelCheckpoint(
        dirpath=run, filename="best", monitor=t.monitor, mode="max",
        enable_version_counter=False, auto_insert_metric_name=False,
    )  # fmt: skip
    callbacks: list[Any] = [best_ckpt, last_checkpoint(run), random_state_callback()]
    if t.patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, mode="max", patience=t.patience))
    callbacks += list(extra_callbacks)
    seconds = 0.0
    if not finished:
        trainer = build_trainer(
            run, max_epochs=t.epochs, accelerator=t.accelerator, devices=t.devices,
            strategy=t.strategy, precision=t.precision, callbacks=callbacks,
            logger=CSVLogger(run, name="logs", version="", flush_logs_every_n_steps=1),
            progress_bar=progress, verbose=verbose, log_every_n_steps=1,
            gradient_clip_val=t.gradient_clip,
        )  # fmt: skip
        train_loader = loader(datasets[0], t.batch_size, True, t.num_workers)
        val_loader = loader(datasets[1], 4 * t.batch_size, False, t.num_workers)
        log_file = run / "logs" / "metrics.csv"
        earlier = log_file.read_text() if ckpt_path is not None and log_file.is_file() else None
        first_new = 0 if ckpt_path is None else int(load_torch(ckpt_path)["epoch"]) + 1
        seconds = fit(
            trainer, module, train_dataloaders=train_loader, val_dataloaders=val_loader,
            ckpt_path=ckpt_path, verbose=verbose,
        )  # fmt: skip
        if not trainer.is_global_zero:
            return module
        if earlier is not None:  # Lightning's CSV logger starts a new file on resume
            _merge_logs(log_file, earlier, first_new)
    best = run / "best.ckpt"
    state = load_torch(best, what="checkpoint", hint="run again with --restart")
    module.load_state_dict(state["state_dict"])
    save_torch({"state_dict": module.state_dict(), "hparams": dict(module.hparams)},
               run / "model.pt")  # fmt: skip
    # read from the checkpoints: under ddp_spawn this process's trainer saw no epoch
    epochs = int(load_torch(run / "last.ckpt", what="checkpoint")["epoch"]) + 1
    score = next(
        (v.get("best_model_score") for k, v in state.get("callbacks", {}).items()
         if k.startswith("ModelCheckpoint") and v.get("monitor") == t.monitor),
        None,
    )  # fmt: skip
    write_json(run / "train_done.json", {
        "best_checkpoint": str(best), "monitor": t.monitor,
        "best_score": None if score is None else float(score),
        "epochs": epochs, "seconds": round(seconds, 2),
    })  # fmt: skip
    return module


def train_stage(
    config: TextConfig,
    schema: LabelSchema,
    train: Corpus,
    datasets: list[Any],
    in_dim: int | None,
    run: Path,
    *,
    resume: bool,
    progress: bool,
    callbacks: Sequence[Any] = (),
    log: Log | None = None,
    verbose: bool = False,
) -> TextModule:
    """Reuse a sound finished training, else fit (continuing ``last.ckpt`` with ``resume``)."""

    say = log or (lambda _m: None)
    if resume and _reusable(run, say):
        say("training: reused (train_done.json)")
        return load_module(run, model_path=config.model.path)
    module = fit_module(
        config, schema, train, datasets, in_dim, run, resume, progress, callbacks, say, verbose
    )
    if (run / "train_done.json").is_file():
        done = load_json(run / "train_done.json")
        say(f"training: {done['epochs']} epochs in {done['seconds']}s, "
            f"best {done['monitor']} {done['best_score']}")  # fmt: skip
    return module


def run_pipeline(
    config: TextConfig,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = True,
    progress: bool = True,
    log: Log | None = None,
    callbacks: Sequence[Any] = (),
    verbose: bool = False,
) -> dict[str, Any]:
    """Split, embed, train, tune thresholds on validation, evaluate on test; write the run folder.

    Running it again on the same folder continues what an earlier, possibly
    interrupted, run left: sound splits, embeddings and a finished training are
    reused, an unfinished training continues from ``last.ckpt`` (the result equals an
    uninterrupted run), and a damaged file is said in one line and its stage redone.
    ``config.training.threads`` (when set) sets torch's thread count for the process
    (:func:`imbalance_kit.app.set_threads`).

    Args:
        config: the run configuration (``data.train`` required).
        run_dir: the run folder (created).
        resume: continue what the folder holds (``False``: remove it and start over).
        progress: Lightning's progress bar.
        log: receives one line per stage (default: silent).
        callbacks: extra Lightning callbacks for the fit.
        verbose: show Lightning's own output (model summary, banners, info lines).

    Returns:
        The content of ``metrics.json``.

    Raises:
        ValueError: no training data, an invalid corpus, or a folder that holds a run of
            another configuration (see :func:`open_run`).
    """
    set_threads(config.training.threads)
    say = log or (lambda _msg: None)
    run = Path(run_dir)
    resume = open_run(config, run, resume, say)
    L.seed_everything(config.training.seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(False)
    schema, train, val, test = prepare_splits(config, run, resume, say)
    say(f"splits: train {len(train)}, val {len(val)}, test {0 if test is None else len(test)}")
    datasets, in_dim = embed_corpora(config, [train, val, test], run, say, progress)
    module = train_stage(
        config, schema, train, datasets, in_dim, run, resume=resume, progress=progress,
        callbacks=callbacks, log=say, verbose=verbose,
    )  # fmt: skip
    metrics = evaluate_stage(config, schema, module, datasets, train, val, test, run)
    say(f"evaluation on {metrics['evaluated_on']}: written metrics.json, predictions.csv, plots/")
    return metrics
