"""``imbalance-kit compare``: check the input, run strategies x seeds, report.

Input is checked completely before any training starts; every problem found
there becomes a [`UsageError`][imbalance_kit.app.cli.UsageError] (one line, exit 2).
Errors during training are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from imbalance_kit._validation import error
from imbalance_kit.app import Progress, UsageError, print_table

__all__ = ["ComparePlan", "prepare", "resolve_strategies", "run_compare_command"]

QUICK_EPOCHS = 20
DEFAULT_EPOCHS = 60
DEFAULT_SEEDS = 3


@dataclass
class ComparePlan:
    """Everything ``compare`` needs, checked."""

    dataset: str
    description: str
    make_split: Callable[[int], Any]
    strategies: list[str]
    seeds: list[int]
    config: Any
    out: str
    plots: bool


def resolve_strategies(requested: list[list[str]] | None) -> list[str]:
    """Flatten the parsed ``--strategies`` groups (``all`` for every one) and check the names.

    Examples:
        >>> resolve_strategies([["ce", "focal"], ["ce"]])  # --strategies ce,focal ce
        ['ce', 'focal']
    """
    from imbalance_kit.cli.compare import STRATEGIES

    if not requested:
        return list(STRATEGIES)
    names = [n.lower() for group in requested for n in group]
    if "all" in names:
        return list(STRATEGIES)
    for name in names:
        if name not in STRATEGIES:
            raise error("strategies", f"names from {', '.join(STRATEGIES)} or all", name)
    return list(dict.fromkeys(names))


def _dataset(args: argparse.Namespace, n_seeds: int) -> tuple[str, str, Callable[[int], Any]]:
    """Name, description and per-seed split builder of the requested data.

    Tables are split for every seed here, so a split that leaves a class
    without training rows is reported before any training starts.
    """
    from imbalance_kit.cli import datasets

    if args.csv is not None and args.dataset is not None:
        raise error("--dataset", "left out when --csv is given", args.dataset)
    if (args.csv is None) != (args.target is None):
        raise ValueError("--csv and --target must be given together")
    if args.drop and args.csv is None:
        raise error("--drop", "used with --csv only", ",".join(args.drop), raw=True)
    spec = "digits-lt" if args.dataset is None and args.csv is None else args.dataset
    if spec == "digits-lt":
        if args.test_size is not None:
            raise error("--test-size", "left out for digits-lt (its test split is fixed)", "")
        ratio = 50.0 if args.imbalance_ratio is None else args.imbalance_ratio
        if ratio < 1:
            raise error("--imbalance-ratio", ">= 1", ratio)
        first = datasets.make_digits_lt(ratio, seed=0)
        desc = (
            f"digits-lt: 10 classes, imbalance ratio {ratio:g}, train counts "
            f"{first.train_counts.tolist()}, balanced test split of {len(first.y_test)}"
        )
        return "digits-lt", desc, lambda seed: datasets.make_digits_lt(ratio, seed=seed)
    if args.imbalance_ratio is not None:
        raise error("--imbalance-ratio", "used with digits-lt only", args.imbalance_ratio)
    test_size = 0.3 if args.test_size is None else args.test_size
    if not 0 < test_size < 1:
        raise error("--test-size", "in (0, 1)", test_size)
    if args.csv is not None:
        data = datasets.load_csv(args.csv, args.target, drop=args.drop)
        name = f"csv:{data.name}"
    elif spec.startswith("keel:") and spec[5:]:
        data = datasets.load_keel(spec[5:])
        name = f"keel:{data.name}"
    else:
        raise error("--dataset", "'digits-lt' or 'keel:NAME'", spec)

    splits = [
        datasets.stratified_split(
            data.X, data.y, test_size=test_size, seed=seed, class_names=data.class_names
        )
        for seed in range(n_seeds)
    ]
    first = splits[0]
    counts = dict(zip(data.class_names, first.train_counts.tolist()))
    desc = (
        f"{name}: {len(data.y)} rows, {data.X.shape[1]} features, {len(counts)} classes, "
        f"train counts {counts}, stratified test split of {len(first.y_test)}"
    )
    return name, desc, splits.__getitem__


def prepare(args: argparse.Namespace) -> ComparePlan:
    """Check the ``compare`` arguments and load the data; raise ``UsageError`` on bad input."""
    from imbalance_kit.cli.compare import TrainConfig

    try:
        strategies = resolve_strategies(args.strategies)
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise error("--device", "'cpu' on this machine (CUDA is not available)", "cuda")
        n_seeds = args.seeds or (1 if args.quick else DEFAULT_SEEDS)
        name, desc, make_split = _dataset(args, n_seeds)
        epochs = args.epochs or (QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS)
        config = TrainConfig(
            model=args.model,
            hidden=args.hidden,
            epochs=epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            device=args.device,
        )
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            raise error("--out", "a folder", f"the file {args.out!r}", raw=True)
        plots = not args.no_plots
        if plots:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                print("imbalance-kit: matplotlib is not installed, skipping plots", file=sys.stderr)
                plots = False
    except (ValueError, TypeError, OSError, ImportError) as exc:
        raise UsageError(str(exc)) from exc
    return ComparePlan(
        name, desc, make_split, strategies, list(range(n_seeds)), config, args.out, plots
    )


def _environment(device: str) -> dict[str, Any]:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def run_compare_command(args: argparse.Namespace) -> int:
    """Run ``imbalance-kit compare`` with parsed ``args``; return the exit status."""
    import torch

    plan = prepare(args)
    os.makedirs(plan.out, exist_ok=True)
    threads = torch.get_num_threads()
    if plan.config.device == "cpu":
        torch.set_num_threads(1)  # these small models train fastest on one thread
    try:
        return _run(plan, args)
    finally:
        torch.set_num_threads(threads)


def _run(plan: ComparePlan, args: argparse.Namespace) -> int:
    from imbalance_kit.cli import compare_report as report
    from imbalance_kit.cli.compare import STRATEGIES, preload, run_strategy

    print(textwrap.fill(plan.description, 80, break_on_hyphens=False))
    preload()
    runs = []
    start = time.perf_counter()
    total = len(plan.strategies) * len(plan.seeds)
    labels: dict[int, np.ndarray] = {}
    with Progress(total, enabled=not args.no_progress, description="training") as bar:
        for seed in plan.seeds:
            split = plan.make_split(seed)
            labels[seed] = split.y_test
            for name in plan.strategies:
                runs.append(
                    run_strategy(STRATEGIES[name], split, plan.config, seed, keep_probs=seed == 0)
                )
                bar.advance(f"{STRATEGIES[name].label} (seed {seed})")
    elapsed = time.perf_counter() - start
    summary = report.summarise(runs)
    columns, rows = report.summary_table(summary, stacked=True, timing=False)  # 80 columns
    n = len(plan.seeds)
    title = f"{plan.dataset}: test metrics, mean ± std over {n} seed{'s' if n > 1 else ''}"
    print_table(columns, rows, title=title, plain=args.plain)
    report.write_csv(os.path.join(plan.out, "results.csv"), runs, dataset=plan.dataset)
    payload = {
        "command": shlex.join(["imbalance-kit", *getattr(args, "argv", ["compare"])]),
        "dataset": plan.dataset,
        "description": plan.description,
        "config": {**asdict(plan.config), "seeds": plan.seeds},
        "strategies": {n: STRATEGIES[n].summary for n in plan.strategies},
        "runs": [
            {"strategy": r.strategy, "seed": r.seed, **r.metrics, "seconds": r.seconds}
            for r in runs
        ],
        "summary": summary,
        "seconds_total": elapsed,
        "environment": _environment(plan.config.device),
    }
    report.write_json(os.path.join(plan.out, "results.json"), payload)
    written = ["results.csv", "results.json"]
    if plan.plots:
        report.plot_metric_bars(summary, os.path.join(plan.out, "metrics.png"), title)
        written.append("metrics.png")
        for r in runs:
            if r.test_probs is None:
                continue
            fname = f"reliability_{r.strategy}.png"
            title = (
                f"{STRATEGIES[r.strategy].label}, seed {r.seed} "
                f"(ECE after TS {r.metrics['ece_ts']:.3f})"
            )
            report.plot_reliability(
                r.test_probs, labels[r.seed], os.path.join(plan.out, fname), title
            )
            written.append(fname)
    print(
        "* best mean per column (under it: ± std over seeds)\n"
        "tail rec: mean recall of the rarest third of the classes (binary: the rarer class)\n"
        "ECE: top-label, 15 bins; TS: temperature scaling fitted on a validation part of the\n"
        "training split"
    )
    shown = ", ".join(written[:3]) + (f" and {len(written) - 3} more" if len(written) > 3 else "")
    print(f"{total} runs in {elapsed:.1f} s; wrote {shown} to {plan.out}")
    return 0
