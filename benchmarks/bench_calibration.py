"""Calibration benchmark: streaming ECE, temperature-scaling fits, and ECE on a real data set.

Three parts, each printed as a table and appended to ``benchmarks/results/calibration.csv``:

1. **Streaming ECE** over ``N`` predictions x 100 classes (default ``N = 1e7``,
   ``--quick`` ``1e6``), fed in batches of 100,000 rows; top-label L1 ECE, 15 bins.
   Providers: torchmetrics ``MulticlassCalibrationError`` (validation on / off)
   and imbalance-kit ``CalibrationMeter`` (validation on / off). A pool of 4
   random batches (softmax of ``3 * randn``, labels drawn from a flatter
   softmax so the model is over-confident) is built first and cycled, so data
   generation is not timed. Reported: update + compute time, the metric state
   kept in memory (bytes of the state tensors after the last update), and the
   peak RSS above the data pool (``VmHWM`` after ``/proc/self/clear_refs``,
   Linux). Each provider runs in a fresh subprocess.
2. **Temperature scaling** on ``10^5 x 1000`` float32 logits (``--quick``:
   ``2 x 10^4``) of a model over-confident by a factor 2.5 (labels drawn from
   the calibrated softmax). Providers: the LBFGS recipe most projects copy
   (``T = 1.5``, ``LBFGS(lr=0.01, max_iter=50)``, gpleiss/temperature_scaling,
   imported from ``tests/references/calibration.py``), the same with
   ``lr=1`` and a strong-Wolfe line search (a tuned LBFGS), and
   ``TemperatureScaling`` (defaults). Reported: fit time, the final T, the NLL
   (float64) and the gap to the best NLL any provider reached, peak RSS above
   the logits.
3. **Real data** (Guo et al. 2017): a small MLP trained without regularisation
   on 10% of scikit-learn's bundled ``load_digits`` until it is over-confident;
   T is fitted on a validation split and the test ECE (15 bins) is compared
   before and after, over 10 random splits (``--quick``: 5).

Timing: every timed case runs in a fresh subprocess that starts with the thread
setting (``--threads``, default ``default 1``: ``default`` sets nothing, ``N``
limits torch, OpenMP and BLAS to N threads) and no other setting, and makes one
untimed warm-up call of its provider on a small input (streaming: one update and
compute of a throw-away metric on 1,000 rows; temperature scaling: a fit on
1,000 x 1,000 logits), the same for every provider. Streaming cases run
round-robin ``--repeats`` times (3; quick 2) and the median is reported; each
temperature-scaling fit runs once (minutes). Peak memory is read from the timed
call (reading ``VmHWM`` changes nothing in the process). Ratios are taken in the
same run and thread setting. The real-data part is not timed; it runs in this
process under each thread setting.

    python benchmarks/bench_calibration.py            # N = 1e7, 1e5 x 1000 logits
    python benchmarks/bench_calibration.py --quick    # N = 1e6, 2e4 x 1000 logits
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
import torch.nn.functional as F
from _harness import (
    ResultsFile,
    add_threads_option,
    apply_threads,
    command_line,
    environment_notes,
    limited_threads,
    load_average,
    make_parser,
    print_report,
    run_main,
    thread_label,
    threads_in_use,
    utc_stamp,
)
from _host import describe_host, reset_peak_rss, status_mb

PROG = "bench_calibration"
RESULTS = Path(__file__).resolve().parent / "results" / "calibration.csv"
COLUMNS = [
    "timestamp", "command", "host", "threads", "threads_in_use", "load_average", "torch",
    "python", "part", "provider", "n", "num_classes", "metric", "value", "speed_ratio_vs_peer",
]  # fmt: skip

STREAM_PROVIDERS = [
    "torchmetrics",
    "torchmetrics (no validation)",
    "CalibrationMeter",
    "CalibrationMeter (no validation)",
]
TS_PROVIDERS = ["LBFGS recipe (lr=0.01)", "LBFGS tuned (lr=1, strong Wolfe)", "TemperatureScaling"]
NUM_CLASSES = 100
BATCH = 100_000
POOL = 4
N_BINS = 15


# -------------------------------------------------------- part 1: streaming
def _batch_pool(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    pool = []
    for _ in range(POOL):
        logits = 3.0 * torch.randn(BATCH, NUM_CLASSES, generator=g)
        labels = torch.multinomial(torch.softmax(0.5 * logits, 1), 1, generator=g).squeeze(1)
        pool.append((torch.softmax(logits, 1), labels))
    return pool


def _stream_metric(provider: str):
    validate = "no validation" not in provider
    if provider.startswith("torchmetrics"):
        from torchmetrics.classification import MulticlassCalibrationError

        return MulticlassCalibrationError(
            NUM_CLASSES, n_bins=N_BINS, norm="l1", validate_args=validate
        )
    from imbalance_kit.calibration import CalibrationMeter

    return CalibrationMeter(N_BINS, validate_args=validate)


def run_stream(provider: str, n: int) -> dict:
    """Stream n predictions through one provider; runs in its own process."""
    pool = _batch_pool()
    data_mb = status_mb("VmRSS")
    warm = _stream_metric(provider)  # untimed warm-up: first-call costs of every op
    warm.update(pool[0][0][:1000], pool[0][1][:1000])
    warm.compute()
    del warm
    metric = _stream_metric(provider)
    reset_peak_rss()
    base_mb = status_mb("VmRSS")
    steps = n // BATCH
    t0 = time.perf_counter()
    for step in range(steps):
        probs, labels = pool[step % POOL]
        metric.update(probs, labels)
    t1 = time.perf_counter()
    if provider.startswith("torchmetrics"):
        state = sum(t.numel() * t.element_size() for t in metric.confidences + metric.accuracies)
    else:
        state = metric.state.numel() * metric.state.element_size()
    value = float(metric.compute())
    t2 = time.perf_counter()
    return {
        "provider": provider,
        "n": steps * BATCH,
        "update_s": t1 - t0,
        "compute_s": t2 - t1,
        "total_s": t2 - t0,
        "state_bytes": state,
        "peak_mb": max(0.0, status_mb("VmHWM") - base_mb),
        "data_mb": data_mb,
        "ece": value,
        "threads_in_use": threads_in_use(),
    }


# ----------------------------------------------------- part 2: temperature
def _logits(n: int, c: int = 1000, sharpen: float = 2.5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    calibrated = 2.0 * torch.randn(n, c, generator=g)
    labels = torch.multinomial(torch.softmax(calibrated, 1), 1, generator=g).squeeze(1)
    return (sharpen * calibrated).contiguous(), labels


def _nll64(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    total = 0.0
    for start in range(0, logits.shape[0], 10_000):
        z = logits[start : start + 10_000].double() / temperature
        total += float(F.cross_entropy(z, labels[start : start + 10_000], reduction="sum"))
    return total / logits.shape[0]


def _fit_temperature(provider: str, logits: torch.Tensor, labels: torch.Tensor):
    """``(temperature, NLL evaluations)`` of one provider's fit."""
    from imbalance_kit.calibration import TemperatureScaling
    from imbalance_kit.testing.references.calibration import lbfgs_temperature

    if provider == "TemperatureScaling":
        model = TemperatureScaling().fit(logits, labels)
        temperature, evaluations = model.temperature_, model.n_iter_
    elif provider.startswith("LBFGS recipe"):
        temperature, evaluations = lbfgs_temperature(logits, labels, return_evaluations=True)
    else:
        param = torch.nn.Parameter(torch.ones(1))
        opt = torch.optim.LBFGS([param], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(logits / param, labels)
            loss.backward()
            return loss

        opt.step(closure)
        temperature = float(param.detach())
        evaluations = opt.state[opt._params[0]]["func_evals"]
    return temperature, evaluations


def run_temperature(provider: str, n: int) -> dict:
    """Fit one temperature-scaling provider; runs in its own process."""
    _fit_temperature(provider, *_logits(1000, seed=1))  # untimed warm-up, every provider
    logits, labels = _logits(n)
    reset_peak_rss()
    base_mb = status_mb("VmRSS")
    t0 = time.perf_counter()
    temperature, evaluations = _fit_temperature(provider, logits, labels)
    seconds = time.perf_counter() - t0
    peak = max(0.0, status_mb("VmHWM") - base_mb)
    finite = bool(np.isfinite(temperature)) and temperature > 0
    return {
        "provider": provider,
        "n": n,
        "fit_s": seconds,
        "evaluations": evaluations,
        "temperature": temperature,
        "nll": _nll64(logits, labels, temperature) if finite else float("nan"),
        "nll_at_one": _nll64(logits, labels, 1.0),
        "peak_mb": peak,
        "threads_in_use": threads_in_use(),
    }


# ------------------------------------------------------- part 3: real data
def train_overconfident_mlp(seed: int = 0, steps: int = 1000, lr: float = 1e-2):
    """A small MLP on load_digits, trained until it is over-confident.

    Stratified splits: 10% train (180 images, so the net overfits), 22.5%
    validation (fits T), 67.5% test. Two hidden layers of 256, full-batch Adam
    at ``lr`` for ``steps`` steps, no weight decay, no early stopping: the
    training loss goes to ~0 and the logits keep growing. Returns
    ``(val_logits, val_labels, test_logits, test_labels)``. Shared with
    ``docs/scripts/make_reliability_figure.py``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, train_size=0.1, stratify=y, random_state=seed
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, train_size=0.25, stratify=y_rest, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)

    def as_t(a):
        return torch.as_tensor(scaler.transform(a), dtype=torch.float32)

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = as_t(x_train), torch.as_tensor(y_train)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        return (
            model(as_t(x_val)),
            torch.as_tensor(y_val),
            model(as_t(x_test)),
            torch.as_tensor(y_test),
        )


def run_real(seeds: int) -> list[dict]:
    from imbalance_kit.calibration import TemperatureScaling, expected_calibration_error

    rows = []
    for seed in range(seeds):
        val_z, val_y, test_z, test_y = train_overconfident_mlp(seed)
        model = TemperatureScaling().fit(val_z, val_y)
        before = float(expected_calibration_error(test_z, test_y, N_BINS, from_logits=True))
        after = float(
            expected_calibration_error(model.transform(test_z), test_y, N_BINS, from_logits=True)
        )
        rows.append(
            {
                "seed": seed,
                "accuracy": float((test_z.argmax(1) == test_y).double().mean()),
                "temperature": model.temperature_,
                "ece_before": before,
                "ece_after": after,
                "nll_before": float(F.cross_entropy(test_z, test_y)),
                "nll_after": float(F.cross_entropy(model.transform(test_z), test_y)),
            }
        )
    return rows


# ------------------------------------------------------------------- driver
def _child(kind: str, provider: str, n: int, setting: int | None, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, provider, str(n)]
    cmd += ["--threads", thread_label(setting)]
    try:  # the child inherits this environment unchanged
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"provider": provider, "n": n, "status": f"timeout > {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"provider": provider, "n": n, "status": f"error: {tail}"}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["status"] = "ok"
    return result


def _fmt_n(n: int) -> str:
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else str(n)


class _Report:
    """The command, host and loads printed beside every table, and the CSV rows."""

    def __init__(self, command: str, host: str, markdown: bool) -> None:
        self.command, self.host, self.markdown = command, host, markdown
        self.rows: list[dict] = []

    def table(self, columns, rows, title: str, load_start: str) -> None:
        print_report(
            columns, rows, title=title, command=self.command, host=self.host,
            load_start=load_start, load_end=load_average(), markdown=self.markdown,
        )  # fmt: skip
        if self.markdown:
            print()

    def add(self, part, provider, n, classes, metric, value, ratio="", **extra) -> None:
        self.rows.append(
            {
                "part": part,
                "provider": provider,
                "n": n,
                "num_classes": classes,
                "metric": metric,
                "value": value,
                "speed_ratio_vs_peer": ratio,
                **extra,
            }
        )


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e6 and 2e4 x 1000 logits")
    parser.add_argument("--n-stream", type=float, help="override the number of predictions")
    parser.add_argument("--n-logits", type=float, help="override the rows of the logits")
    parser.add_argument("--seeds", type=int, help="splits of the real-data part (10, quick 5)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    add_threads_option(parser)
    parser.add_argument(
        "--parts", nargs="+", default=["stream", "temperature", "real"],
        choices=["stream", "temperature", "real"], help="which parts to run (default: all)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, help="streaming runs per provider, median (3)")
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables")
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "PROVIDER", "N"), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        apply_threads(args.threads[0])
        kind, provider, n = args.child[0], args.child[1], int(args.child[2])
        run = run_stream if kind == "stream" else run_temperature
        print(json.dumps(run(provider, n)))
        return

    results_file = ResultsFile(args.csv, COLUMNS)
    n_stream = int(args.n_stream or (1e6 if args.quick else 1e7))
    n_logits = int(args.n_logits or (2e4 if args.quick else 1e5))
    command = command_line(__file__, argv)
    host = describe_host(f"default threads: {threads_in_use()}")
    print(f"command: {command}\nhost: {host}\nload average at start: {load_average()}")
    for note in environment_notes():
        print(f"note: {note} is set in the environment (it applies to every provider)")
    stamp = utc_stamp()
    report = _Report(command, host, args.markdown)
    if "stream" in args.parts:
        _stream_part(args, n_stream, report)
    if "temperature" in args.parts:
        _temperature_part(args, n_logits, report)
    if "real" in args.parts:
        _real_part(args, report)
    meta = {
        "timestamp": stamp,
        "command": command,
        "host": host,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    results_file.append([{**row, **meta} for row in report.rows])
    print(f"appended {len(report.rows)} rows to {args.csv}")


def _stream_part(args, n_stream: int, report: _Report) -> None:
    """Part 1: streaming ECE; providers round-robin, the median of the repeats is kept."""
    repeats = args.repeats or (2 if args.quick else 3)
    load_start = load_average()
    rows = []
    for setting in args.threads:
        label = thread_label(setting)
        load = load_average()
        runs: dict[str, list[dict]] = {provider: [] for provider in STREAM_PROVIDERS}
        for repeat in range(repeats):
            for provider in STREAM_PROVIDERS:
                res = _child("stream", provider, n_stream, setting, args.timeout)
                runs[provider].append(res)
                shown = f"{res['total_s']:.2f} s" if res["status"] == "ok" else res["status"]
                print(
                    f"  stream N={_fmt_n(n_stream)} threads={label} {provider:<34} run {repeat}: "
                    f"{shown}",
                    flush=True,
                )
        stream = []
        for results in runs.values():
            ok = sorted((r for r in results if r["status"] == "ok"), key=lambda r: r["total_s"])
            if ok:  # median of every timing; memory and ECE from the median run
                median = dict(ok[(len(ok) - 1) // 2])
                for key in ("update_s", "compute_s", "total_s"):
                    median[key] = statistics.median(r[key] for r in ok)
                stream.append(median)
            else:
                stream.append(results[0])
        ref = next((r for r in stream if r["provider"] == "torchmetrics" and "total_s" in r), None)
        for r in stream:
            if r["status"] != "ok":
                rows.append([r["provider"], label, "-", "-", "-", "-", "-", "-", r["status"]])
                continue
            ratio = f"{ref['total_s'] / r['total_s']:.2f}x" if ref else "-"
            state = r["state_bytes"]
            state_txt = f"{state / 2**20:.1f} MiB" if state >= 2**20 else f"{state} B"
            rows.append(
                [
                    r["provider"],
                    label,
                    f"{r['update_s']:.2f}",
                    f"{r['compute_s']:.3f}",
                    f"{r['total_s']:.2f}",
                    ratio,
                    state_txt,
                    f"{r['peak_mb']:.0f}",
                    f"{r['ece']:.6f}",
                ]
            )
            extra = {"threads": label, "threads_in_use": r["threads_in_use"], "load_average": load}
            for metric, value in (
                ("total_s", r["total_s"]),
                ("state_bytes", state),
                ("peak_rss_mb", r["peak_mb"]),
                ("ece", r["ece"]),
            ):
                report.add(
                    "stream", r["provider"], r["n"], NUM_CLASSES, metric, value,
                    ratio if metric == "total_s" else "", **extra,
                )  # fmt: skip
    columns = ["provider", "threads", "update s", "compute s", "total s", "speed vs tm", "state",
               "peak MB", "ECE"]  # fmt: skip
    title = (
        f"Streaming top-label ECE, {_fmt_n(n_stream)} predictions x {NUM_CLASSES} classes in "
        f"batches of {BATCH:,} (median of {repeats} runs); speed = torchmetrics time / provider "
        "time, same run and thread setting; peak MB = peak RSS above the data pool (VmHWM)"
    )
    report.table(columns, rows, title, load_start)


def _temperature_part(args, n_logits: int, report: _Report) -> None:
    """Part 2: temperature-scaling fits."""
    load_start = load_average()
    rows = []
    nll_at_one = None
    for setting in args.threads:
        label = thread_label(setting)
        load = load_average()
        fits = []
        for provider in TS_PROVIDERS:
            res = _child("temperature", provider, n_logits, setting, args.timeout)
            fits.append(res)
            shown = f"{res['fit_s']:.2f} s" if res["status"] == "ok" else res["status"]
            print(
                f"  temperature {_fmt_n(n_logits)} x 1000 threads={label} {provider:<34} {shown}",
                flush=True,
            )
        ok = [r for r in fits if r["status"] == "ok"]
        best = min((r["nll"] for r in ok if np.isfinite(r["nll"])), default=float("nan"))
        recipe = next((r for r in ok if r["provider"].startswith("LBFGS recipe")), None)
        for r in fits:
            if r["status"] != "ok":
                rows.append([r["provider"], label, "-", "-", "-", "-", "-", "-", r["status"]])
                continue
            nll_at_one = r["nll_at_one"]
            ratio = f"{recipe['fit_s'] / r['fit_s']:.2f}x" if recipe else "-"
            rows.append(
                [
                    r["provider"],
                    label,
                    f"{r['fit_s']:.2f}",
                    ratio,
                    str(r["evaluations"] or "-"),
                    f"{r['temperature']:.4f}",
                    f"{r['nll']:.6f}",
                    f"{r['nll'] - best:.2e}",
                    f"{r['peak_mb']:.0f}",
                ]
            )
            extra = {"threads": label, "threads_in_use": r["threads_in_use"], "load_average": load}
            for metric in ("fit_s", "temperature", "nll", "peak_mb"):
                report.add("temperature", r["provider"], r["n"], 1000, metric, r[metric], ratio,
                           **extra)  # fmt: skip
    if nll_at_one is not None:
        print(f"NLL at T = 1: {nll_at_one:.6f} (true temperature 2.5)")
    columns = ["provider", "threads", "fit s", "speed vs recipe", "NLL evals", "T", "NLL",
               "NLL - best", "peak MB"]  # fmt: skip
    title = (
        f"Temperature scaling on {_fmt_n(n_logits)} x 1000 float32 logits (2.5x over-confident); "
        "NLL evals = passes over the logits computing the NLL and its derivative(s) (LBFGS: "
        "forward + backward); speed = recipe time / provider time, same run and thread setting; "
        "peak MB = peak RSS above the logits"
    )
    report.table(columns, rows, title, load_start)


def _real_part(args, report: _Report) -> None:
    """Part 3: ECE before and after temperature scaling on load_digits, per thread setting."""
    seeds = args.seeds or (5 if args.quick else 10)
    load_start = load_average()
    rows = []
    for setting in args.threads:
        label = thread_label(setting)
        with limited_threads(setting):
            real = run_real(seeds)
            in_use = threads_in_use()
        for r in real:
            rows.append(
                [
                    str(r["seed"]),
                    label,
                    f"{r['accuracy']:.3f}",
                    f"{r['temperature']:.2f}",
                    f"{100 * r['ece_before']:.2f}%",
                    f"{100 * r['ece_after']:.2f}%",
                    f"{r['ece_after'] / r['ece_before']:.2f}",
                    f"{r['nll_before']:.3f}",
                    f"{r['nll_after']:.3f}",
                ]
            )
        mean = {k: float(np.mean([r[k] for r in real])) for k in real[0] if k != "seed"}
        rows.append(
            [
                "mean",
                label,
                f"{mean['accuracy']:.3f}",
                f"{mean['temperature']:.2f}",
                f"{100 * mean['ece_before']:.2f}%",
                f"{100 * mean['ece_after']:.2f}%",
                f"{mean['ece_after'] / mean['ece_before']:.2f}",
                f"{mean['nll_before']:.3f}",
                f"{mean['nll_after']:.3f}",
            ]
        )
        extra = {"threads": label, "threads_in_use": in_use, "load_average": load_start}
        for r in real:
            for metric in ("ece_before", "ece_after", "temperature", "accuracy"):
                report.add("real_digits", f"split {r['seed']}", 1213, 10, metric, r[metric],
                           **extra)  # fmt: skip
    columns = ["split", "threads", "test acc", "T", "ECE before", "ECE after", "after/before",
               "NLL before", "NLL after"]  # fmt: skip
    title = (
        "load_digits (10% train), over-confident MLP (2 x 256, full-batch Adam lr 1e-2, 1000 "
        f"steps): T fitted on validation, top-label ECE ({N_BINS} bins) on the test split"
    )
    report.table(columns, rows, title, load_start)


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
