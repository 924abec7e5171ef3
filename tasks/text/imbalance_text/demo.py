"""End-to-end demo: simulate -> analyze -> train -> evaluate, in one folder.

``quick=True`` uses 2,400 simulated texts, the frozen packaged MiniLM encoder
and a head trained on cached embeddings for at most 15 epochs, all on one
thread: about 25 s of CPU time. The full demo uses 8,000 texts and 30 epochs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imbalance_text.analysis import analyze, format_analysis
from imbalance_text.config import load_config
from imbalance_text.data import write_corpus
from imbalance_text.schema import DEFAULT_SCHEMA
from imbalance_text.simulate import SimulationSpec, simulate_corpus

__all__ = ["format_summary", "run_demo"]


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    seed: int = 0,
    n_texts: int | None = None,
    config: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline on a simulated corpus; returns the run's metrics.

    Writes ``data/corpus.csv`` and ``data/schema.yaml``, ``analysis/``
    (``analysis.json``, ``label_distribution.png``), ``run/`` (see
    :mod:`imbalance_text.train`) and ``summary.md`` under ``out_dir``.

    Args:
        out_dir: the demo folder.
        quick: the small, fast set-up.
        seed: seed of the corpus, the split and the training.
        n_texts: corpus size (default 2,400 quick, 8,000 full).
        config: a run configuration file or shipped name, under the demo's settings.
        overrides: extra ``section.key=value`` config overrides.
        progress: Lightning's progress bar.
        log: receives one line per stage (default: silent).
        verbose: show Lightning's own output.
    """
    from imbalance_text.train import run_pipeline

    say = log or (lambda _m: None)
    out = Path(out_dir)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    corpus = simulate_corpus(SimulationSpec(n=n_texts or (2400 if quick else 8000), seed=seed))
    write_corpus(corpus, data / "corpus.csv")
    DEFAULT_SCHEMA.save(data / "schema.yaml")
    say(f"simulate: {len(corpus)} texts -> {data / 'corpus.csv'}")
    report = analyze(corpus, out / "analysis")
    say(format_analysis(report))
    base = [
        f"data.train={data / 'corpus.csv'}",
        f"data.schema={data / 'schema.yaml'}",
        f"training.seed={seed}",
    ]
    if quick:
        base += ["training.epochs=15", "training.patience=5", "training.threads=1"]
    run_config = load_config(config, [*base, *(overrides or [])])
    metrics = run_pipeline(run_config, out / "run", progress=progress, log=say, verbose=verbose)
    seconds = time.perf_counter() - t0
    summary = format_summary(metrics, seconds)
    (out / "summary.md").write_text(summary + "\n")
    say(summary)
    return metrics


def format_summary(metrics: dict[str, Any], seconds: float | None = None) -> str:
    """Markdown summary of a run: per-label table and the headline numbers.

    Examples:
        >>> m = {"evaluated_on": "test", "test": {"per_label": {"a": {
        ...     "level": "primary", "rare": False, "support": 3, "threshold": 0.4,
        ...     "precision": 1.0, "recall": 0.5, "f1": 0.667, "pr_auc": 0.8, "ece": 0.1}},
        ...     "secondary_f1_macro": None, "rare_recall": None, "pr_auc_micro": 0.8,
        ...     "pr_auc_macro": 0.8, "violation_rate_before": 0.0, "violation_rate_after": 0.0},
        ...     "test_at_0.5": {"rare_recall": None}}
        >>> print(format_summary(m).splitlines()[2])
        | a | primary | 3 | 0.40 | 1.000 | 0.500 | 0.667 | 0.800 | 0.100 |
    """
    test = metrics["test"]

    def num(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        "| label | level | support | threshold | precision | recall | F1 | PR-AUC | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in test["per_label"].items():
        label = f"{name} (rare)" if r["rare"] else name
        lines.append(
            f"| {label} | {r['level']} | {r['support']} | {r['threshold']:.2f} | "
            f"{num(r['precision'])} | {num(r['recall'])} | {num(r['f1'])} | "
            f"{num(r['pr_auc'])} | {num(r['ece'])} |"
        )
    lines += [
        "",
        f"On {metrics['evaluated_on']}: secondary macro-F1 {num(test['secondary_f1_macro'])}, "
        f"rare-label recall {num(test['rare_recall'])} (at threshold 0.5: "
        f"{num(metrics['test_at_0.5']['rare_recall'])}), PR-AUC micro "
        f"{num(test['pr_auc_micro'])} / macro {num(test['pr_auc_macro'])}, "
        f"constraint violations {100 * test['violation_rate_before']:.2f}% of texts before "
        f"enforcement, {100 * test['violation_rate_after']:.2f}% after.",
    ]
    if seconds is not None:
        lines.append(f"Total time: {seconds:.1f} s.")
    return "\n".join(lines)
