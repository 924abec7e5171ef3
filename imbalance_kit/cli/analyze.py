"""``imbalance-kit analyze``: the label distribution of a CSV file, its class weights and warnings.

Output: a distribution table (counts, shares, imbalance ratio) with the weights
four methods would give, a list of warnings, ``analysis.json`` and
``distribution.png`` (plus ``multilabel.png`` for ``--multilabel``) in ``--out``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from imbalance_kit._validation import error
from imbalance_kit.app import UsageError, print_table

__all__ = ["EXTREME_RATIO", "RARE_COUNT", "analyze_labels", "analyze_multilabel", "run_analyze"]

#: Classes (or multi-label positives) with fewer samples than this get a warning.
RARE_COUNT = 10
#: Imbalance ratios (largest / smallest count, or negatives / positives) from here get a warning.
EXTREME_RATIO = 100.0
#: Weight methods of the table: column title -> (``compute_class_weights`` method, capped).
WEIGHT_COLUMNS = {
    "balanced": ("balanced", False),
    "sqrt-inverse": ("sqrt_inverse", False),
    "effective": ("effective", False),
    "capped": ("balanced", True),
}


def analyze_labels(
    y: np.ndarray, class_names: tuple[str, ...], max_weight: float
) -> dict[str, Any]:
    """Distribution summary, per-method weights and warnings of class labels."""
    from imbalance_kit.weights import compute_class_weights, describe_distribution

    summary = describe_distribution(y, list(class_names))
    weights = {
        title: compute_class_weights(
            y,
            method=method,
            beta=0.999,
            max_weight=max_weight if capped else None,
            num_classes=len(class_names),
        ).tolist()
        for title, (method, capped) in WEIGHT_COLUMNS.items()
    }
    warnings = []
    for name, count in zip(class_names, summary["counts"]):
        if count < RARE_COUNT:
            warnings.append(
                f"class {name!r} has {count} sample{'s' if count != 1 else ''} (< {RARE_COUNT}): "
                "its recall and F1 will be noisy, and a split may leave it out of the test set"
            )
    ratio = summary["imbalance_ratio"]
    if ratio >= EXTREME_RATIO:
        warnings.append(
            f"imbalance ratio {ratio:.4g} (>= {EXTREME_RATIO:g}): balanced weights reach "
            f"{max(weights['balanced']):.3g}x and make training noisy; prefer capped weights, "
            "logit adjustment or balanced softmax"
        )
    capped = [n for n, a, b in zip(class_names, weights["balanced"], weights["capped"]) if a > b]
    if capped:
        warnings.append(f"the cap {max_weight:g} changes the weights of {', '.join(capped)}")
    return {
        "num_samples": summary["num_samples"],
        "num_classes": summary["num_classes"],
        "class_names": list(class_names),
        "counts": summary["counts"],
        "shares": summary["shares"],
        "imbalance_ratio": ratio,
        "weights": weights,
        "max_weight": max_weight,
        "warnings": warnings,
    }


def analyze_multilabel(Y: np.ndarray, names: tuple[str, ...], max_weight: float) -> dict[str, Any]:
    """Positives, shares, ``pos_weight`` (negatives / positives) and warnings per label."""
    from imbalance_kit.weights import positive_weights

    positives = Y.sum(0).astype(int).tolist()
    n = len(Y)
    warnings = []
    for name, pos in zip(names, positives):
        if pos == 0:
            warnings.append(f"label {name!r} has no positive row: nothing to learn it from")
        elif pos < RARE_COUNT:
            warnings.append(f"label {name!r} has {pos} positive rows (< {RARE_COUNT})")
        if 0 < pos and (n - pos) / pos >= EXTREME_RATIO:
            warnings.append(
                f"label {name!r}: negatives / positives = {(n - pos) / pos:.4g} "
                f"(>= {EXTREME_RATIO:g}); cap pos_weight"
            )
    return {
        "num_samples": n,
        "labels": list(names),
        "positives": positives,
        "shares": [p / n for p in positives],
        "pos_weight": positive_weights(Y).tolist(),
        "pos_weight_capped": positive_weights(Y, max_weight=max_weight).tolist(),
        "labels_per_row": float(Y.sum(1).mean()),
        "warnings": warnings,
    }


def _plot_multilabel(result: dict[str, Any], path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 0.5 * len(result["labels"]) + 2), 3.5))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    ax.bar(range(len(result["labels"])), result["positives"], color="#3f51b5")
    ax.set_xticks(range(len(result["labels"])))
    ax.set_xticklabels(result["labels"], rotation=45 if len(result["labels"]) > 8 else 0)
    ax.set_yscale("log")
    ax.set_ylabel("positive rows")
    ax.set_title(f"{result['num_samples']} rows, positives per label")
    fig.savefig(path, dpi=110)


def run_analyze(args: argparse.Namespace) -> int:
    """Run ``imbalance-kit analyze`` with parsed ``args``; return the exit status."""
    from imbalance_kit.app import write_json
    from imbalance_kit.cli import datasets

    try:
        if args.target is None and not args.multilabel:
            raise ValueError("analyze needs --target COL, --multilabel COL,COL... or both")
        single = multi = None
        if args.target is not None:
            y, names = datasets.load_csv_labels(args.csv, args.target)
            single = analyze_labels(y, names, args.max_weight)
        if args.multilabel:
            Y, labels = datasets.load_csv_multilabel(args.csv, args.multilabel)
            multi = analyze_multilabel(Y, labels, args.max_weight)
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise error("--out", "a folder", f"the file {args.out!r}", raw=True)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        raise UsageError(str(exc)) from exc
    os.makedirs(args.out, exist_ok=True)
    written = ["analysis.json"]
    source = os.path.basename(args.csv)
    if single is not None:
        title = (
            f"{source}, target {args.target!r}: {single['num_samples']} rows, "
            f"{single['num_classes']} classes, imbalance ratio {single['imbalance_ratio']:.4g}"
        )
        columns = ["class", "count", "share", *WEIGHT_COLUMNS]
        columns[-1] = f"capped (<= {args.max_weight:g})"
        rows = [
            [
                name,
                str(single["counts"][c]),
                f"{100 * single['shares'][c]:.2f}%",
                *(f"{single['weights'][k][c]:.4g}" for k in WEIGHT_COLUMNS),
            ]
            for c, name in enumerate(single["class_names"])
        ]
        print_table(columns, rows, title=title, plain=args.plain)
    if multi is not None:
        title = (
            f"{source}, multi-label: {multi['num_samples']} rows, {len(multi['labels'])} labels, "
            f"{multi['labels_per_row']:.3g} positive labels per row"
        )
        columns = ["label", "positives", "share", "pos_weight", f"capped (<= {args.max_weight:g})"]
        rows = [
            [
                name,
                str(multi["positives"][j]),
                f"{100 * multi['shares'][j]:.2f}%",
                f"{multi['pos_weight'][j]:.4g}",
                f"{multi['pos_weight_capped'][j]:.4g}",
            ]
            for j, name in enumerate(multi["labels"])
        ]
        print_table(columns, rows, title=title, plain=args.plain)
    warnings = [*(single or {}).get("warnings", []), *(multi or {}).get("warnings", [])]
    print("warnings:" if warnings else "warnings: none")
    for line in warnings:
        print(f"  - {line}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("(matplotlib is not installed: no PNG chart)")
    else:
        if single is not None:
            from imbalance_kit.weights import plot_distribution

            fig = plot_distribution(y, list(names))
            fig.savefig(os.path.join(args.out, "distribution.png"), dpi=110)
            _close(fig)
            written.append("distribution.png")
        if multi is not None:
            _plot_multilabel(multi, os.path.join(args.out, "multilabel.png"))
            written.append("multilabel.png")
    payload = {
        "csv": os.path.abspath(args.csv),
        "target": args.target,
        "classes": single,
        "multilabel": multi,
    }
    write_json(os.path.join(args.out, "analysis.json"), payload)
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


def _close(fig: Any) -> None:
    """Release a pyplot figure (``plot_distribution`` draws through pyplot)."""
    import matplotlib.pyplot as plt

    plt.close(fig)
