"""Sampling benchmark: one epoch of class-balanced indices at N = 1e5 ... 1e8.

Providers, all drawing class-balanced indices (each class equally likely) with
replacement from the same long-tailed labels (1,000 classes, imbalance ratio
1,000, classes drawn i.i.d. so the labels are in random order):

* ``WeightedRandomSampler``: torch's sampler on per-sample weights ``1 / n_c``;
  ``torch.multinomial`` limits it to ``2**24`` weights.
* ``ImbalancedDatasetSampler``: the torchsampler pattern (weights ``1 / n_c``,
  one ``torch.multinomial`` call, iterated element by element), from
  ``tests/references/sampling.py``; same limit.
* ``WeightedSampler`` (imbalance-kit, alias table) on the same weights.
* ``ClassBalancedSampler`` (imbalance-kit) on the labels, ``power=0``.
* ``BalancedBatchSampler`` (imbalance-kit): 32 classes x 8 samples per batch,
  ``N / 256`` batches (a different draw: P x K batches, classes cycled).
* ``.../no-replacement``: ``WeightedRandomSampler`` and ``WeightedSampler`` with
  ``replacement=False`` (a weighted permutation of all N indices).

Timing: each (provider, N, thread setting, repeat) runs in a fresh subprocess that
starts with the thread setting (``--threads``: ``default`` sets nothing, ``N``
limits torch, OpenMP and BLAS to N threads) and no other setting. It warms up on
4,096 labels (the same for every provider: first-call costs of the torch ops),
builds the labels and weights, resets the peak resident memory
(``/proc/self/clear_refs``), builds the sampler and consumes one epoch
(``collections.deque(sampler, maxlen=0)``, the same Python-level iteration a
``DataLoader`` does). The providers of one N and thread setting run round-robin,
``--repeats`` times (3; once at N >= 1e8), and the run with the median build +
epoch time is reported: build time, epoch time, indices per second over build +
epoch, and the peak RSS above the data (``VmHWM``, Linux; reading it changes
nothing). Speed ratios are against ``WeightedRandomSampler`` with the same
replacement setting, in the same run and thread setting.

    python benchmarks/bench_sampling.py              # N = 1e5, 1e6, 1e7, 1e8
    python benchmarks/bench_sampling.py --quick      # N = 1e5, 1e6, one repeat
    python benchmarks/bench_sampling.py --threads 1  # only the 1-thread setting
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from _harness import (
    ResultsFile,
    add_threads_option,
    apply_threads,
    command_line,
    environment_notes,
    load_average,
    make_parser,
    print_report,
    run_main,
    thread_label,
    threads_in_use,
    utc_stamp,
)
from _host import describe_host, reset_peak_rss, status_mb

PROG = "bench_sampling"
RESULTS = Path(__file__).resolve().parent / "results" / "sampling.csv"
COLUMNS = [
    "timestamp", "command", "host", "threads", "threads_in_use", "load_average", "torch",
    "python", "provider", "n", "num_classes", "status", "repeats", "build_s", "epoch_s",
    "indices_per_s", "ratio_vs_weighted_random_sampler", "peak_rss_mb", "data_mb",
]  # fmt: skip

PROVIDERS = [
    "WeightedRandomSampler",
    "ImbalancedDatasetSampler",
    "WeightedSampler",
    "ClassBalancedSampler",
    "BalancedBatchSampler",
    "WeightedRandomSampler/no-replacement",
    "WeightedSampler/no-replacement",
]
NUM_CLASSES = 1000
IMBALANCE = 1000.0
MULTINOMIAL_LIMIT = 2**24


def make_labels(n: int, seed: int = 0) -> torch.Tensor:
    """Long-tailed int64 labels: class c has share proportional to IMBALANCE ** (-c / (C - 1))."""
    share = IMBALANCE ** (-torch.arange(NUM_CLASSES, dtype=torch.float64) / (NUM_CLASSES - 1))
    cdf = torch.cumsum(share / share.sum(), 0)
    cdf[-1] = 1.0
    g = torch.Generator().manual_seed(seed)
    labels = torch.empty(n, dtype=torch.int64)
    step = 1 << 22
    for start in range(0, n, step):
        u = torch.rand(min(step, n - start), generator=g, dtype=torch.float64)
        labels[start : start + u.numel()] = torch.searchsorted(cdf, u, right=True).clamp_(
            max=NUM_CLASSES - 1
        )
    return labels


def run_case(provider: str, n: int) -> dict:
    """Build one sampler and consume one epoch; runs in its own process."""
    from torch.utils.data import WeightedRandomSampler

    from imbalance_kit.sampling import (
        BalancedBatchSampler,
        ClassBalancedSampler,
        WeightedSampler,
    )
    from imbalance_kit.testing.references.sampling import ImbalancedDatasetSampler

    def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        labels = make_labels(n, seed)
        weights = (1.0 / torch.bincount(labels).double())[labels] if needs_weights else None
        return labels, weights

    def build(labels: torch.Tensor, weights: torch.Tensor | None) -> object:
        n = labels.numel()
        if provider == "WeightedRandomSampler":
            return WeightedRandomSampler(weights, num_samples=n, replacement=True)
        if provider == "ImbalancedDatasetSampler":
            return ImbalancedDatasetSampler(labels, num_samples=n)
        if provider == "WeightedSampler":
            return WeightedSampler(weights, num_samples=n, seed=0)
        if provider == "ClassBalancedSampler":
            return ClassBalancedSampler(labels, num_samples=n, seed=0)
        if provider == "BalancedBatchSampler":
            return BalancedBatchSampler(labels, 32, 8, num_batches=max(1, n // 256), seed=0)
        if provider == "WeightedRandomSampler/no-replacement":
            return WeightedRandomSampler(weights, num_samples=n, replacement=False)
        if provider == "WeightedSampler/no-replacement":
            return WeightedSampler(weights, num_samples=n, replacement=False, seed=0)
        raise ValueError(f"provider must be one of {PROVIDERS}, got {provider!r}")

    def consume(sampler: object) -> int:
        if provider == "BalancedBatchSampler":
            return sum(len(batch) for batch in sampler)
        collections.deque(sampler, maxlen=0)  # the fastest pure-Python consumer
        return len(sampler)

    needs_weights = provider.startswith(("WeightedRandomSampler", "WeightedSampler"))
    consume(build(*data(4096, seed=1)))  # warm-up: first-call costs of the torch ops
    labels, weights = data(n, seed=0)
    data_mb = status_mb("VmRSS")
    reset_peak_rss()
    base_mb = status_mb("VmRSS")
    try:
        t0 = time.perf_counter()
        sampler = build(labels, weights)
        t1 = time.perf_counter()
        drawn = consume(sampler)
        t2 = time.perf_counter()
    except RuntimeError as exc:  # torch.multinomial beyond 2**24 categories
        return {
            "provider": provider,
            "n": n,
            "status": f"fails: {str(exc).splitlines()[0]}",
            "data_mb": data_mb,
        }
    return {
        "provider": provider,
        "n": n,
        "status": "ok",
        "drawn": drawn,
        "build_s": t1 - t0,
        "epoch_s": t2 - t1,
        "per_s": drawn / (t2 - t0),
        "peak_mb": max(0.0, status_mb("VmHWM") - base_mb),
        "data_mb": data_mb,
        "threads_in_use": threads_in_use(),
    }


def _child(provider: str, n: int, setting: int | None, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", provider, str(n)]
    cmd += ["--threads", thread_label(setting)]
    try:  # the child inherits this environment unchanged
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"provider": provider, "n": n, "status": f"timeout > {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"provider": provider, "n": n, "status": f"error: {tail}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt_n(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def _median_run(runs: list[dict]) -> dict:
    """The run with the median build + epoch time (the lower middle one of an even count)."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[0]
    ok.sort(key=lambda r: r["build_s"] + r["epoch_s"])
    return {**ok[(len(ok) - 1) // 2], "repeats": len(ok)}


def _kind(provider: str) -> str:
    return "no-replacement" if provider.endswith("/no-replacement") else "replacement"


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e5 and 1e6, one repeat")
    parser.add_argument("--sizes", type=float, nargs="+", help="override the sizes")
    parser.add_argument("--providers", nargs="+", default=PROVIDERS, choices=PROVIDERS)
    parser.add_argument("--repeats", type=int, help="runs per case below N = 1e8 (3; quick 1)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    add_threads_option(parser)
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--child", nargs=2, metavar=("PROVIDER", "N"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        apply_threads(args.threads[0])
        print(json.dumps(run_case(args.child[0], int(args.child[1]))))
        return

    results_file = ResultsFile(args.csv, COLUMNS)
    sizes = [int(s) for s in (args.sizes or ([1e5, 1e6] if args.quick else [1e5, 1e6, 1e7, 1e8]))]
    repeats = args.repeats or (1 if args.quick else 3)
    command = command_line(__file__, argv)
    host = describe_host(f"default threads: {threads_in_use()}")
    load_start = load_average()
    print(f"command: {command}\nhost: {host}\nload average at start: {load_start}", flush=True)
    for note in environment_notes():
        print(f"note: {note} is set in the environment (it applies to every provider)")
    stamp = utc_stamp()
    results = []
    for n in sizes:
        for setting in args.threads:
            load = load_average()
            runs: dict[str, list[dict]] = {p: [] for p in args.providers}
            for _ in range(repeats if n < 10**8 else 1):
                for provider in args.providers:  # round-robin: the same load for every provider
                    runs[provider].append(_child(provider, n, setting, args.timeout))
            chosen = {p: _median_run(r) for p, r in runs.items()}
            reference = {
                _kind(p): r["per_s"]
                for p, r in chosen.items()
                if p.startswith("WeightedRandomSampler") and r["status"] == "ok"
            }
            for provider, r in chosen.items():
                ref = reference.get(_kind(provider))
                if r["status"] == "ok" and ref:
                    r["ratio"] = r["per_s"] / ref
                r.update(threads=thread_label(setting), load_average=load)
                results.append(r)
                shown = r["status"] if r["status"] != "ok" else f"{r['per_s'] / 1e6:.2f} M/s"
                print(
                    f"  N={_fmt_n(n):>4} threads={thread_label(setting):<7} {provider:<36} {shown}",
                    flush=True,
                )

    columns = ["N", "provider", "threads", "build s", "epoch s", "M indices/s", "vs WRS", "peak MB"]
    rows = []
    for r in results:
        if r["status"] != "ok":
            rows.append(
                [_fmt_n(r["n"]), r["provider"], r["threads"], "-", "-", r["status"], "-", "-"]
            )
            continue
        rows.append(
            [
                _fmt_n(r["n"]),
                r["provider"],
                r["threads"],
                f"{r['build_s']:.2f}",
                f"{r['epoch_s']:.2f}",
                f"{r['per_s'] / 1e6:.2f}",
                f"{r['ratio']:.2f}x" if "ratio" in r else "-",
                f"{r['peak_mb']:.0f}",
            ]
        )
    load_end = load_average()
    title = (
        "One epoch of N class-balanced indices (median of the runs); vs WRS = speed against "
        "WeightedRandomSampler, same replacement, same run and thread setting; peak MB = peak "
        "RSS above the labels/weights (VmHWM)"
    )
    print_report(
        columns, rows, title=title, command=command, host=host, load_start=load_start,
        load_end=load_end, markdown=args.markdown,
    )  # fmt: skip

    meta = {
        "timestamp": stamp,
        "command": command,
        "host": host,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "num_classes": NUM_CLASSES,
    }
    results_file.append(
        [
            {
                **r,
                **meta,
                "indices_per_s": r.get("per_s", ""),
                "ratio_vs_weighted_random_sampler": r.get("ratio", ""),
                "peak_rss_mb": r.get("peak_mb", ""),
            }
            for r in results
        ]
    )
    print(f"appended {len(results)} rows to {args.csv}")


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
