"""Label distribution report: counts, imbalance ratios, the weights training will use, warnings.

The weights are exactly those :func:`~imbalance_text.objective.label_weights`
gives the loss (custom by name from the schema, automatic and capped for the
others), so the report shows what training will apply before it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import write_json
from imbalance_kit.weights import plot_distribution
from imbalance_text.constraints import violations_per_pair
from imbalance_text.data import Corpus
from imbalance_text.objective import label_weights, weight_table
from imbalance_text.plots import save_figure

__all__ = ["analyze", "format_analysis"]


def analyze(
    corpus: Corpus,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    method: str = "positive",
    max_weight: float | None = 3.0,
    use_custom: bool = True,
    min_examples: int = 20,
) -> dict[str, Any]:
    """Per-label counts, ratios and weights, plus warnings; optionally JSON + PNG.

    Warnings are raised (as strings in ``warnings``) for a label with no
    positive, a label with fewer than ``min_examples`` positives, a custom
    weight above the label's negative/positive ratio (its positives would
    outweigh its negatives), and rows whose labels break an implication
    (a secondary without its primary).

    Args:
        corpus: the labelled corpus (usually the training data).
        out_dir: where to write ``analysis.json`` and ``label_distribution.png``
            (``None``: nothing written).
        method: automatic weight method (see :func:`~imbalance_text.objective.label_weights`).
        max_weight: cap of the automatic weights.
        use_custom: apply the schema's custom weights.
        min_examples: fewer positives than this raises a warning.

    Returns:
        ``{"n_samples", "labels": [rows of weight_table + ratio_to_largest],
        "label_cardinality", "violations", "warnings"}``.

    Examples:
        >>> from imbalance_text.simulate import SimulationSpec, simulate_corpus
        >>> report = analyze(simulate_corpus(SimulationSpec(n=500, seed=0)))
        >>> rows = {r["label"]: r for r in report["labels"]}
        >>> rows["praising extremist acts"]["source"], rows["hate"]["weight"]
        ('custom', 3.0)
        >>> any("praising extremist acts" in w for w in report["warnings"])
        True
    """
    schema = corpus.schema
    weights = label_weights(
        corpus.targets, schema, method=method, max_weight=max_weight, use_custom=use_custom
    )
    rows = weight_table(corpus.targets, schema, weights)
    largest = max(r["positives"] for r in rows) or 1
    for r in rows:
        r["ratio_to_largest"] = largest / r["positives"] if r["positives"] else None
    warnings_: list[str] = []
    for r in rows:
        name, pos = r["label"], r["positives"]
        if pos == 0:
            warnings_.append(f"{name}: no positive example; it cannot be learned or evaluated")
        elif pos < min_examples:
            warnings_.append(
                f"{name}: only {pos} positive examples (< {min_examples}); expect unstable "
                "thresholds and recall, collect or label more"
            )
        if r["source"] == "custom" and r["ratio"] is not None and r["weight"] > r["ratio"]:
            warnings_.append(
                f"{name}: custom weight {r['weight']:g} exceeds its negative/positive ratio "
                f"{r['ratio']:.3g}; positives will outweigh negatives and precision may drop"
            )
    counts = violations_per_pair(corpus.targets > 0.5, schema.implication_indices)
    violations = {f"{c} -> {p}": int(k) for (c, p), k in zip(schema.implications, counts.tolist())}
    for pair, k in violations.items():
        if k:
            warnings_.append(
                f"{k} rows carry {pair.split(' -> ')[0]!r} without its parent ({pair})"
            )
    report = {
        "n_samples": len(corpus),
        "labels": rows,
        "label_cardinality": float(corpus.targets.sum(axis=1).mean()) if len(corpus) else 0.0,
        "violations": violations,
        "warnings": warnings_,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "analysis.json", report)
        save_figure(_figure(corpus, rows), out / "label_distribution.png")
    return report


def _figure(corpus: Corpus, rows: list[dict[str, Any]]) -> Any:
    from matplotlib.figure import Figure

    names = corpus.schema.names
    fig = Figure(figsize=(max(8.0, 1.1 * len(names) + 3), 4.4))
    left, right = fig.subplots(1, 2)
    positives = np.repeat(np.arange(len(names)), [r["positives"] for r in rows])
    if positives.size:
        plot_distribution(positives, names, ax=left)
    left.set_ylabel("positive examples")
    left.set_title("positives per label (log scale)")
    colors = {"custom": "#e91e63", "auto": "#3f51b5", "none": "#9e9e9e"}
    right.bar(range(len(names)), [r["weight"] for r in rows],
              color=[colors[r["source"]] for r in rows])  # fmt: skip
    right.set_title("pos_weight applied (pink: custom, blue: automatic)")
    for ax in (left, right):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def format_analysis(report: dict[str, Any]) -> str:
    """Plain-text table of an :func:`analyze` report, warnings last.

    Examples:
        >>> print(format_analysis({"n_samples": 10, "label_cardinality": 0.5, "warnings": [],
        ...     "labels": [{"label": "a", "level": "primary", "positives": 2, "negatives": 8,
        ...                 "prevalence": 0.2, "ratio": 4.0, "weight": 3.0, "source": "auto"}]}))
        10 texts, 0.50 labels per text
        label  level    positives  prevalence  neg:pos  weight  source
        a      primary          2      20.00%      4:1    3.00  auto
    """
    header = ["label", "level", "positives", "prevalence", "neg:pos", "weight", "source"]
    table = [
        [
            r["label"], r["level"], str(r["positives"]), f"{100 * r['prevalence']:.2f}%",
            "-" if r["ratio"] is None else f"{r['ratio']:.3g}:1", f"{r['weight']:.2f}", r["source"],
        ]
        for r in report["labels"]
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    lines = [
        f"{report['n_samples']} texts, {report['label_cardinality']:.2f} labels per text",
        line(header),
        *(line(r) for r in table),
    ]
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)
