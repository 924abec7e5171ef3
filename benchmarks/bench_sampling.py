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

Each (provider, N) runs in a fresh subprocess, after a warm-up on 4,096 labels
(first-call costs of the torch ops). The labels and weights are built first;
then the peak resident memory is reset (``/proc/self/clear_refs``), the sampler
is built and one epoch is consumed (``collections.deque(sampler, maxlen=0)``,
the same Python-level iteration a ``DataLoader`` does). Reported: build time,
epoch time, indices per second over build + epoch, and the peak RSS above the
data (``VmHWM``, Linux). Speed ratios are against
``WeightedRandomSampler`` in the same run.

    python benchmarks/bench_sampling.py              # N = 1e5, 1e6, 1e7, 1e8
    python benchmarks/bench_sampling.py --quick      # N = 1e5, 1e6
    python benchmarks/bench_sampling.py --threads 1  # one torch thread for every provider
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._host import describe_host, reset_peak_rss, status_mb  # noqa: E402
from imbalance_kit.app import print_table  # noqa: E402

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


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        return int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1)) / 1024


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
    data_mb = _rss_mb()
    reset_peak_rss()
    base_mb = _rss_mb()
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
    }


def _child(provider: str, n: int, timeout: float, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", provider, str(n), "--threads", str(threads)]
    try:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e5 and 1e6 only")
    parser.add_argument("--sizes", type=float, nargs="*", help="override the sizes")
    parser.add_argument("--providers", nargs="*", default=PROVIDERS, choices=PROVIDERS)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch.set_num_threads for every provider (default: torch's default)",
    )
    parser.add_argument("--csv", default=str(ROOT / "benchmarks" / "results" / "sampling.csv"))
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--child", nargs=2, metavar=("PROVIDER", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(run_case(args.child[0], int(args.child[1]))))
        return

    sizes = [int(s) for s in (args.sizes or ([1e5, 1e6] if args.quick else [1e5, 1e6, 1e7, 1e8]))]
    machine = describe_host(f"{torch.get_num_threads()} threads")
    print(f"machine: {machine}")
    results = []
    for n in sizes:
        for provider in args.providers:
            res = _child(provider, n, args.timeout, args.threads)
            results.append(res)
            shown = res["status"] if res["status"] != "ok" else f"{res['per_s'] / 1e6:.2f} M/s"
            print(f"  N={_fmt_n(n):>4} {provider:<26} {shown}", flush=True)

    # ratios against WeightedRandomSampler with the same replacement setting
    def kind(provider: str) -> str:
        return "no-replacement" if provider.endswith("/no-replacement") else "replacement"

    reference = {
        (r["n"], kind(r["provider"])): r["per_s"]
        for r in results
        if r["provider"].startswith("WeightedRandomSampler") and r["status"] == "ok"
    }
    columns = ["N", "provider", "build s", "epoch s", "M indices/s", "vs WRS", "peak MB"]
    rows = []
    for r in results:
        if r["status"] != "ok":
            rows.append([_fmt_n(r["n"]), r["provider"], "-", "-", r["status"], "-", "-"])
            continue
        ref = reference.get((r["n"], kind(r["provider"])))
        ratio = f"{r['per_s'] / ref:.2f}x" if ref else "-"
        rows.append(
            [
                _fmt_n(r["n"]),
                r["provider"],
                f"{r['build_s']:.2f}",
                f"{r['epoch_s']:.2f}",
                f"{r['per_s'] / 1e6:.2f}",
                ratio,
                f"{r['peak_mb']:.0f}",
            ]
        )
    title = (
        "One epoch of N class-balanced indices; peak MB = peak RSS above the labels/weights (VmHWM)"
    )
    print_table(columns, rows, title=title)
    if args.markdown:
        print()
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")

    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    new_file = not os.path.exists(args.csv)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(args.csv, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(
                [
                    "timestamp",
                    "device",
                    "torch",
                    "python",
                    "provider",
                    "n",
                    "num_classes",
                    "status",
                    "build_s",
                    "epoch_s",
                    "indices_per_s",
                    "ratio_vs_weighted_random_sampler",
                    "peak_rss_mb",
                ]
            )
        for r in results:
            ok = r["status"] == "ok"
            ref = reference.get((r["n"], kind(r["provider"])))
            ratio = r["per_s"] / ref if ok and ref else ""
            writer.writerow(
                [
                    stamp,
                    machine,
                    torch.__version__,
                    platform.python_version(),
                    r["provider"],
                    r["n"],
                    NUM_CLASSES,
                    r["status"],
                    r.get("build_s", ""),
                    r.get("epoch_s", ""),
                    r.get("per_s", ""),
                    ratio,
                    r.get("peak_mb", ""),
                ]
            )
    print(f"rows appended to {args.csv}")


if __name__ == "__main__":
    main()
