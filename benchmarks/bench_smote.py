"""SMOTE speed benchmark: imbalance-kit's ``smote`` against imbalanced-learn's ``SMOTE``.

Grid: n in {1e3, 1e4, 1e5, 1e6} rows, d in {8, 64, 256} float32 features and a
minority share in {1%, 10%, 40%} (binary, ``sampling_strategy="auto"``,
``k_neighbors=5``: the minority is raised to the majority count). The minority
rows are a Gaussian blob shifted by 0.5 from the majority blob.

Providers, each case in a fresh subprocess with the data built before timing:

* ``imblearn``: ``imblearn.over_sampling.SMOTE(random_state=0).fit_resample`` on
  numpy float32 arrays (scikit-learn's neighbour search at its defaults).
* ``ours_cpu``: ``imbalance_kit.augment.smote`` on CPU tensors (default chunk size).
* ``ours_cuda``: the same on a CUDA device (timed with ``torch.cuda.synchronize``;
  the data already on the device). On by default when a GPU is visible.

Timing, the same for every provider: the child process starts with the thread setting of
the run (``--threads``: ``default`` sets nothing, ``N`` limits torch, OpenMP and BLAS to
N threads) and nothing else (no allocator or environment setting); one untimed warm-up
call on 300 rows of the same width pays the first-call costs (imports, thread pools);
then the call is repeated (as many times as fit in ~1 s, at most 20, and at least 3 when
they fit in ~20 s) and the median is reported, with the first of these calls beside it (a
program that calls SMOTE once pays that one: fresh memory is mapped, which later calls in
the same process reuse). Peak memory above the data is read from
the same calls (CPU: ``VmHWM`` minus the resident size before them, after
``/proc/self/clear_refs``; CUDA: ``torch.cuda.max_memory_allocated`` minus the allocated
size before them); reading it changes nothing in the process. The speed-up over
imbalanced-learn is taken in the same run, for the same thread setting. A case slower
than ``--timeout`` is reported as such.

    python benchmarks/bench_smote.py            # the full grid (long: hours at n = 1e6)
    python benchmarks/bench_smote.py --quick    # n <= 1e5, d in {8, 64}, share 1% and 10%
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _harness import (
    ResultsFile,
    add_threads_option,
    apply_threads,
    check_device,
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

PROG = "bench_smote"
PROVIDERS = ["imblearn", "ours_cpu", "ours_cuda"]
FULL = {"n": [10**3, 10**4, 10**5, 10**6], "d": [8, 64, 256], "share": [0.01, 0.1, 0.4]}
QUICK = {"n": [10**3, 10**4, 10**5], "d": [8, 64], "share": [0.01, 0.1]}
RESULTS = Path(__file__).resolve().parent / "results" / "smote.csv"
COLUMNS = [
    "timestamp", "command", "host", "threads", "threads_in_use", "load_average", "torch",
    "python", "imblearn", "sklearn", "provider", "n", "d", "share", "status", "time_s",
    "best_s", "first_s", "repeats", "peak_mb", "memory", "speedup", "first_speedup",
]  # fmt: skip


def make_data(n: int, d: int, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 Gaussian features, int64 labels with ``round(share * n)`` (>= 6) minority rows."""
    rng = np.random.default_rng(seed)
    n_min = max(6, round(share * n))
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = np.zeros(n, dtype=np.int64)
    y[rng.choice(n, n_min, replace=False)] = 1
    X[y == 1] += 0.5
    return X, y


def _provider_call(provider: str):
    """``prepare(X, y) -> call()`` for one provider: data conversion happens in prepare."""
    if provider == "imblearn":
        from imblearn.over_sampling import SMOTE

        def prepare(X, y):
            return lambda: SMOTE(random_state=0).fit_resample(X, y)

        return prepare

    from imbalance_kit.augment import smote

    device = torch.device("cuda" if provider == "ours_cuda" else "cpu")

    def prepare(X, y):
        Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)

        def call():
            out = smote(Xt, yt, generator=torch.Generator().manual_seed(0))
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        return call

    return prepare


def run_case(provider: str, n: int, d: int, share: float) -> dict:
    """Time one provider on one case; runs in its own process (threads already set)."""
    prepare = _provider_call(provider)
    warm = prepare(*make_data(300, d, 0.3, seed=1))
    warm()  # the same untimed warm-up for every provider: imports, thread pools, first calls
    X, y = make_data(n, d, share)
    call = prepare(X, y)
    cuda = provider == "ours_cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset_peak_rss()
        base = status_mb("VmRSS")
    times: list[float] = []
    spent = 0.0
    while len(times) < 20 and (not times or spent < 1.0 or (len(times) < 3 and spent < 20.0)):
        t0 = time.perf_counter()
        out = call()
        elapsed = time.perf_counter() - t0
        times.append(elapsed)
        spent += elapsed
        del out
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        memory = "cuda max_memory_allocated"
    else:
        peak = max(0.0, status_mb("VmHWM") - base)
        memory = "VmHWM - VmRSS"
    return {
        "provider": provider,
        "n": n,
        "d": d,
        "share": share,
        "status": "ok",
        "time_s": statistics.median(times),
        "best_s": min(times),
        "first_s": times[0],
        "repeats": len(times),
        "peak_mb": peak,
        "memory": memory,
        "threads_in_use": threads_in_use(),
    }


def _child(provider: str, n: int, d: int, share: float, setting, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", provider, str(n), str(d), str(share)]
    cmd += ["--threads", thread_label(setting)]
    case = {"provider": provider, "n": n, "d": d, "share": share}
    try:  # the child inherits this environment unchanged
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**case, "status": f"> {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {**case, "status": f"error: {tail}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt_n(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


def _seconds(result: dict, key: str = "time_s") -> str:
    if result.get("status") != "ok":
        return result.get("status", "-") if key == "time_s" else "-"
    return f"{result[key]:.3g}"


def _speedups(res: dict, providers: list[str], key: str, out: str) -> list[str]:
    """imbalanced-learn's time over each other provider's (``key``), stored as ``out``."""
    ref = res.get("imblearn", {})
    cells = []
    for p in providers:
        if p == "imblearn":
            continue
        r = res[p]
        if r.get("status") == "ok" and ref.get("status") == "ok":
            r[out] = ref[key] / r[key]
            cells.append(f"{r[out]:.2f}x")
        else:
            cells.append("-")
    return cells


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small grid")
    parser.add_argument("--sizes", type=float, nargs="+", help="override n")
    parser.add_argument("--dims", type=int, nargs="+", help="override d")
    parser.add_argument("--shares", type=float, nargs="+", help="override the minority share")
    parser.add_argument(
        "--providers", nargs="+", choices=PROVIDERS,
        help="providers (default: imblearn ours_cpu, and ours_cuda when a GPU is visible)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    add_threads_option(parser)
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        setting = args.threads[0] if args.threads else None
        apply_threads(setting)
        p, n, d, share = args.child
        print(json.dumps(run_case(p, int(n), int(d), float(share))))
        return

    cuda = torch.cuda.is_available()
    providers = args.providers or [p for p in PROVIDERS if p != "ours_cuda" or cuda]
    if "ours_cuda" in providers:
        check_device("cuda", option="--providers ours_cuda")
    results_file = ResultsFile(args.csv, COLUMNS)
    grid = QUICK if args.quick else FULL
    sizes = [int(s) for s in (args.sizes or grid["n"])]
    dims = args.dims or grid["d"]
    shares = args.shares or grid["share"]
    command = command_line(__file__, argv)
    import imblearn
    import sklearn

    host = describe_host(f"default threads: {threads_in_use()}")
    load_start = load_average()
    print(f"command: {command}\nhost: {host}\nload average at start: {load_start}", flush=True)
    for note in environment_notes():
        print(f"note: {note} is set in the environment (it applies to every provider)")

    stamp = utc_stamp()
    rows, records = [], []
    for n in sizes:
        for d in dims:
            for share in shares:
                for setting in args.threads:
                    load = load_average()
                    res = {p: _child(p, n, d, share, setting, args.timeout) for p in providers}
                    row = [_fmt_n(n), str(d), f"{share:.0%}", thread_label(setting)]
                    row += [_seconds(res[p]) for p in providers]
                    row += _speedups(res, providers, "time_s", "speedup")
                    row += [_seconds(res[p], "first_s") for p in providers]
                    row += _speedups(res, providers, "first_s", "first_speedup")
                    for p in providers:
                        r = res[p]
                        row.append(f"{r['peak_mb']:.0f}" if r.get("status") == "ok" else "-")
                    for r in res.values():
                        records.append(
                            {**r, "threads": thread_label(setting), "load_average": load}
                        )
                    rows.append(row)
                    print("  ".join(row), flush=True)

    ours = [p for p in providers if p != "imblearn"]
    columns = ["n", "d", "minority", "threads", *(f"{p} s" for p in providers)]
    columns += [f"{p} speed-up" for p in ours]
    columns += [f"{p} first s" for p in providers] + [f"{p} first speed-up" for p in ours]
    columns += [f"{p} peak MB" for p in providers]
    load_end = load_average()
    title = (
        f"SMOTE (k=5) vs imbalanced-learn {imblearn.__version__}: median seconds; speed-up = "
        "imblearn time / ours, same run and thread setting; first = the first call at full size "
        "in the process (after the warm-up on 300 rows); peak MB above the data"
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
        "imblearn": imblearn.__version__,
        "sklearn": sklearn.__version__,
    }
    results_file.append([{**r, **meta} for r in records])
    print(f"appended {len(records)} rows to {args.csv}")


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
