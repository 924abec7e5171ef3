"""Loss speed and memory: imbalance-kit's torch and Triton paths against their peers.

Sections:

* ``focal``: sigmoid focal loss (alpha=0.25, gamma=2, mean) on ``(N, C)`` logits. Providers:
  the torchvision formula in eager mode (``imbalance_kit.testing.references.focal``),
  kornia's ``binary_focal_loss_with_logits`` (if installed), ``torch.compile`` of the
  torchvision formula, ``imbalance_kit`` torch path, ``imbalance_kit`` Triton path (CUDA
  only), and ``roofline``: a plain read-2-write-1 ``torch.add(a, b, out=c)`` over the same
  bytes.
* ``softmax``: softmax focal loss (gamma=2, mean) on ``(N, C)``: ``F.cross_entropy`` (the
  gamma=0 floor), the usual eager focal formula, kornia's ``focal_loss``, our two paths.
* ``contrastive``: peak memory and time of ``supervised_contrastive_loss`` (with and without
  ``chunk_size``) against pytorch-metric-learning's ``SupConLoss`` (if installed) and the
  naive reference of ``imbalance_kit.testing.references.contrastive``.

Modes: ``forward`` (logits require grad: our fused paths compute the gradient here),
``backward`` (the forward runs untimed first) and ``full`` (forward + backward).
Effective bandwidth counts the bytes any implementation must move: forward reads logits and
targets (2 units of ``N * C * itemsize``), backward writes the gradient (1 unit), full does
both (3 units, the same bytes as the roofline copy).

Timing happens in this process, as a user's training step runs: no allocator, environment or
thread setting is made besides the thread setting being reported (``--threads``, default
``default 1``: ``default`` sets nothing; ``N`` limits torch, OpenMP and BLAS to N threads for
every provider alike). Every provider gets the same untimed warm-up calls on the measured
tensors (``torch.compile`` compiles there, once per shape: dynamo is reset for every shape,
as in a training run with one input shape), then the median of ``--repeats`` calls is
reported. Ratios come from the same run and thread setting.

Peak memory is measured apart from the timing: on GPU with ``torch.cuda.max_memory_allocated``
(one extra call after the timed ones); on CPU in a subprocess per (section, provider, dtype,
shape), which tells glibc to serve every block of 64 KiB or more with ``mmap`` (so the
resident set tracks every tensor) and reports the growth of the peak resident set (``VmHWM``
after resetting it through ``/proc/self/clear_refs``) over one call after the warm-up. That
setting makes allocations slower, so it is never active while timing.

Usage: ``python benchmarks/bench_losses.py [--quick] [--sections focal softmax contrastive]``.
Every result is printed, with the command that reproduces it, and appended to
``benchmarks/results/losses.csv``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from _harness import (
    ResultsFile,
    add_threads_option,
    check_device,
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
from _host import describe_host

from imbalance_kit.losses import (
    sigmoid_focal_loss,
    softmax_focal_loss,
    supervised_contrastive_loss,
)
from imbalance_kit.testing.references.contrastive import supcon_reference
from imbalance_kit.testing.references.focal import torchvision_sigmoid_focal_loss

PROG = "bench_losses"
RESULTS = Path(__file__).resolve().parent / "results" / "losses.csv"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SECTIONS = ["focal", "softmax", "contrastive"]
MODES = ["forward", "backward", "full"]
# Bytes any implementation must move, in units of N * C * itemsize: the sigmoid loss reads
# logits and targets and writes the gradient; the softmax loss reads logits (the (N,)
# targets are negligible) and writes the gradient.
FOCAL_UNITS = {"forward": 2, "backward": 1, "full": 3}
SOFTMAX_UNITS = {"forward": 1, "backward": 1, "full": 2}
COLUMNS = [
    "timestamp", "command", "host", "device", "device_name", "torch", "triton", "python",
    "threads", "threads_in_use", "load_average", "section", "provider", "mode", "dtype",
    "shape", "ms", "repeats", "peak_mb", "mem_method", "gbps", "roofline_fraction", "ratio",
    "status", "extra",
]  # fmt: skip


# ----------------------------------------------------------------------------- measurement


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_kib(field_name: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise OSError(field_name)


def _malloc_returns_big_blocks() -> None:
    """Make glibc serve blocks >= 64 KiB with mmap (freed at once), so RSS tracks tensors.

    glibc otherwise raises its mmap threshold after the first large free and keeps freed
    tensors in the heap, which hides later peaks from the resident-set measurement. Every
    temporary then maps fresh pages, which makes allocation-heavy code several times slower:
    called only in the memory subprocess (:func:`memory_child`), never where time is taken.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _cpu_peak_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        _rss_kib("VmHWM")
        return True
    except OSError:
        return False


def measure_peak_mb(run: Callable[[], object], device: torch.device) -> float | None:
    """Peak memory added by one call of ``run`` (MiB), or ``None`` where unsupported."""
    gc.collect()
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = run()
        _sync(device)
        del result
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not _cpu_peak_supported():
        return None
    base = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    result = run()
    peak = _rss_kib("VmHWM")
    del result
    return max(peak - base, 0) / 1024


def time_ms(
    run: Callable[..., object],
    device: torch.device,
    *,
    repeats: int,
    warmup: int,
    setup: Callable[[], object] | None = None,
) -> float:
    """Median milliseconds of ``repeats`` calls of ``run`` after ``warmup`` untimed calls.

    ``setup`` runs untimed before each call and its result is passed to ``run``.
    """
    times = []
    for i in range(warmup + repeats):
        state = setup() if setup is not None else None
        _sync(device)
        start = time.perf_counter()
        out = run() if state is None else run(state)
        _sync(device)
        elapsed = (time.perf_counter() - start) * 1e3
        del out, state
        if i >= warmup:
            times.append(elapsed)
    return statistics.median(times)


@dataclass
class Row:
    section: str
    provider: str
    mode: str
    dtype: str
    shape: str
    ms: float | None = None
    peak_mb: float | None = None
    gbps: float | None = None
    roofline: float | None = None
    status: str = "ok"
    threads: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- providers


def _kornia():
    try:
        import kornia.losses as kl
    except Exception:
        return None
    return kl


def _pml_supcon():
    try:
        from pytorch_metric_learning.losses import SupConLoss
    except Exception:
        return None
    return SupConLoss


def focal_providers(device: torch.device, compiled: Callable | None, compile_error: str | None):
    """name -> callable(x, t) returning the mean loss, or a string saying why not."""
    kl = _kornia()
    providers: dict[str, Callable | str] = {
        "torchvision_eager": lambda x, t: torchvision_sigmoid_focal_loss(x, t, 0.25, 2.0, "mean"),
        "kornia": (
            (lambda x, t: kl.binary_focal_loss_with_logits(x, t, 0.25, 2.0, "mean"))
            if kl is not None
            else "kornia not installed"
        ),
        "torch_compile": (
            (lambda x, t: compiled(x, t, 0.25, 2.0, "mean"))
            if compiled is not None
            else (compile_error or "skipped")
        ),
        "imbalance_kit_torch": lambda x, t: sigmoid_focal_loss(
            x, t, 0.25, 2.0, backend="torch", validate_args=False
        ),
        "imbalance_kit_triton": (
            (
                lambda x, t: sigmoid_focal_loss(
                    x, t, 0.25, 2.0, backend="triton", validate_args=False
                )
            )
            if device.type == "cuda"
            else "needs CUDA: not measured"
        ),
    }
    return providers


def _eager_softmax_focal(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The usual eager multi-class focal loss (log_softmax, gather, modulate)."""
    logp = torch.log_softmax(x.float(), dim=1)
    logpt = logp.gather(1, y[:, None]).squeeze(1)
    return (-((1 - logpt.exp()) ** 2) * logpt).mean().to(x.dtype)


def softmax_providers(device: torch.device):
    kl = _kornia()
    return {
        "cross_entropy": lambda x, y: F.cross_entropy(x, y),
        "eager_focal": _eager_softmax_focal,
        "kornia": (
            (lambda x, y: kl.focal_loss(x, y, 0.25, 2.0, "mean"))
            if kl is not None
            else "kornia not installed"
        ),
        "imbalance_kit_torch": lambda x, y: softmax_focal_loss(
            x, y, gamma=2.0, backend="torch", validate_args=False
        ),
        "imbalance_kit_triton": (
            (
                lambda x, y: softmax_focal_loss(
                    x, y, gamma=2.0, backend="triton", validate_args=False
                )
            )
            if device.type == "cuda"
            else "needs CUDA: not measured"
        ),
    }


# ----------------------------------------------------------------------------- sections


def _mode_calls(fn: Callable, x: torch.Tensor, t: torch.Tensor, mode: str):
    """``(run, setup)`` of one mode for :func:`time_ms` (and the memory probe)."""

    def forward():
        return fn(x, t)

    def clear_grad():
        x.grad = None
        return True

    def full(_state=None):
        loss = fn(x, t)
        loss.backward()
        return loss

    def setup_backward():
        x.grad = None
        return fn(x, t)

    def backward(loss):
        loss.backward()
        return None

    if mode == "forward":
        return forward, None
    if mode == "backward":
        return backward, setup_backward
    return full, clear_grad


def _bound(run: Callable, setup: Callable | None) -> Callable[[], object]:
    """One call of a mode as a function of no argument; ``setup`` runs now, untimed."""
    state = setup() if setup is not None else None
    if state is None:
        return run
    return lambda: run(state)


def _bench_loss(
    section: str,
    provider: str,
    fn: Callable,
    make: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    mode: str,
    dtype_name: str,
    shape: tuple[int, int],
    device: torch.device,
    args: argparse.Namespace,
    unit_bytes: int,
    units: dict[str, int],
) -> Row:
    row = Row(section, provider, mode, dtype_name, "x".join(map(str, shape)))
    x, t = make()
    run, setup = _mode_calls(fn, x, t, mode)
    try:
        row.ms = time_ms(run, device, repeats=args.repeats, warmup=args.warmup, setup=setup)
        if device.type == "cuda" and args.memory:  # no setting needed: measured in-process
            row.peak_mb = measure_peak_mb(_bound(run, setup), device)
    except Exception as exc:
        row.status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        return row
    if mode != "backward":  # fused paths finish the gradient in forward: no bandwidth here
        row.gbps = units[mode] * unit_bytes / (row.ms * 1e-3) / 1e9
    return row


def _roofline(shape, dtype, device, args) -> Row:
    a = torch.randn(shape, device=device).to(dtype)
    b = torch.randn(shape, device=device).to(dtype)
    c = torch.empty_like(a)
    ms = time_ms(lambda: torch.add(a, b, out=c), device, repeats=args.repeats, warmup=args.warmup)
    unit = a.numel() * a.element_size()
    row = Row("focal", "roofline", "copy", "", "x".join(map(str, shape)), ms=ms)
    row.gbps = 3 * unit / (ms * 1e-3) / 1e9
    row.roofline = 1.0
    return row


def _compile(fn: Callable) -> tuple[Callable | None, str | None]:
    try:
        return torch.compile(fn), None
    except Exception as exc:
        return None, f"failed: {type(exc).__name__}: {exc}"[:160]


def _focal_setup(args, device, dtype_name: str, shape: tuple[int, int]):
    """``(providers, make)`` of one focal case; ``torch.compile`` starts afresh per shape."""
    dtype = DTYPES[dtype_name]
    compiled, compile_error = None, "skipped (--no-compile)"
    if not args.no_compile and dtype_name in args.compile_dtypes:
        torch._dynamo.reset()  # a fresh compile for this shape, as in a one-shape training run
        compiled, compile_error = _compile(torchvision_sigmoid_focal_loss)
    elif not args.no_compile:
        compile_error = "skipped in --quick (compiling takes minutes on 2 CPU cores)"
    providers = focal_providers(device, compiled, compile_error)

    def make():
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(shape, generator=gen) * 2).to(device=device, dtype=dtype)
        t = (torch.rand(shape, generator=gen) < 0.1).to(device=device, dtype=dtype)
        return x.requires_grad_(), t

    return providers, make


def _softmax_setup(args, device, dtype_name: str, shape: tuple[int, int]):
    dtype = DTYPES[dtype_name]

    def make():
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(shape, generator=gen) * 2).to(device=device, dtype=dtype)
        y = torch.randint(0, shape[1], (shape[0],), generator=gen).to(device)
        return x.requires_grad_(), y

    return softmax_providers(device), make


def run_focal(args, device) -> list[Row]:
    rows: list[Row] = []
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        for shape in args.focal_shapes:
            providers, make = _focal_setup(args, device, dtype_name, shape)
            roof = _roofline(shape, dtype, device, args)
            roof.dtype = dtype_name
            rows.append(roof)
            unit = shape[0] * shape[1] * torch.empty((), dtype=dtype).element_size()
            for mode in args.modes:
                eager_ms = None
                for name, fn in providers.items():
                    if isinstance(fn, str):
                        row = Row("focal", name, mode, dtype_name, "x".join(map(str, shape)))
                        row.status = fn
                    else:
                        row = _bench_loss(
                            "focal", name, fn, make, mode, dtype_name, shape, device, args, unit,
                            FOCAL_UNITS,
                        )  # fmt: skip
                    if row.gbps is not None:
                        row.roofline = row.gbps / roof.gbps
                    if row.ms is not None:
                        if name == "torchvision_eager":
                            eager_ms = row.ms
                        if eager_ms is not None:
                            row.extra["speedup_vs_eager"] = f"{eager_ms / row.ms:.2f}"
                    rows.append(row)
                    _print_progress(row)
    return rows


def run_softmax(args, device) -> list[Row]:
    rows: list[Row] = []
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        for shape in args.softmax_shapes:
            providers, make = _softmax_setup(args, device, dtype_name, shape)
            unit = shape[0] * shape[1] * torch.empty((), dtype=dtype).element_size()
            for mode in args.softmax_modes:
                base_ms = None
                for name, fn in providers.items():
                    if isinstance(fn, str):
                        row = Row("softmax", name, mode, dtype_name, "x".join(map(str, shape)))
                        row.status = fn
                    else:
                        row = _bench_loss(
                            "softmax", name, fn, make, mode, dtype_name, shape, device, args,
                            unit, SOFTMAX_UNITS,
                        )  # fmt: skip
                    if row.ms is not None:
                        if name == "cross_entropy":
                            base_ms = row.ms
                        if base_ms is not None:
                            row.extra["time_vs_cross_entropy"] = f"{row.ms / base_ms:.2f}"
                    rows.append(row)
                    _print_progress(row)
    return rows


def contrastive_providers(args, n: int, device: torch.device):
    """``(features, providers)``: name -> callable(features) or a string saying why not."""
    supcon = _pml_supcon()
    dim = 128
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(n, dim, generator=gen).to(device)
    labels = torch.randint(0, 100, (n,), generator=gen).to(device)
    pml = supcon(temperature=0.1) if supcon is not None else None
    providers: dict[str, Callable | str] = {
        "imbalance_kit(chunk_size=None)": lambda f, y=labels: supervised_contrastive_loss(
            f, y, 0.1, validate_args=False
        ),
        "imbalance_kit(chunk_size=1024)": lambda f, y=labels: supervised_contrastive_loss(
            f, y, 0.1, chunk_size=1024, validate_args=False
        ),
        "pytorch_metric_learning.SupConLoss": (
            (lambda f, y=labels, loss=pml: loss(f, y))
            if pml is not None
            else "pytorch-metric-learning not installed: pip install pytorch-metric-learning"
        ),
        "naive_reference": lambda f, y=labels: supcon_reference(f, y, 0.1),
    }
    if n > args.naive_max_n:
        providers["naive_reference"] = f"skipped: N > {args.naive_max_n} (N x N matrices)"
    if n > args.pml_max_n and not isinstance(providers["pytorch_metric_learning.SupConLoss"], str):
        providers["pytorch_metric_learning.SupConLoss"] = (
            f"skipped: N > {args.pml_max_n} (N x N matrices)"
        )
    return feats, providers


def run_contrastive(args, device) -> list[Row]:
    rows: list[Row] = []
    for n in args.contrastive_sizes:
        feats, providers = contrastive_providers(args, n, device)
        for name, fn in providers.items():
            row = Row("contrastive", name, "full", "fp32", f"N={n},D={feats.shape[1]}")
            if isinstance(fn, str):
                row.status = fn
            else:
                x = feats.clone().requires_grad_()
                run, setup = _mode_calls(lambda f, _t, fn=fn: fn(f), x, None, "full")
                try:
                    row.ms = time_ms(
                        run, device, repeats=args.contrastive_repeats, warmup=1, setup=setup
                    )
                    if device.type == "cuda" and args.memory:
                        row.peak_mb = measure_peak_mb(_bound(run, setup), device)
                    row.extra["loss"] = f"{fn(x).item():.4f}"
                except Exception as exc:
                    row.status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
            rows.append(row)
            _print_progress(row)
    return rows


# ----------------------------------------------------------------------------- memory


def memory_child(args, section: str, provider: str, dtype_name: str, shape_text: str) -> dict:
    """Peak MiB of one provider on one case, per mode; runs in its own process.

    glibc is told to return big blocks at once (so the resident set tracks every tensor);
    that slows allocation down, which is why no time is taken here.
    """
    _malloc_returns_big_blocks()
    device = torch.device("cpu")
    peaks: dict[str, float | None] = {}
    if section == "contrastive":
        feats, providers = contrastive_providers(args, int(shape_text), device)
        fn = providers[provider]
        x = feats.clone().requires_grad_()
        run, setup = _mode_calls(lambda f, _t: fn(f), x, None, "full")
        for _ in range(max(1, args.warmup)):
            _bound(run, setup)()
        peaks["full"] = measure_peak_mb(_bound(run, setup), device)
        return peaks
    shape = tuple(int(v) for v in shape_text.split("x"))
    setup_case = _focal_setup if section == "focal" else _softmax_setup
    providers, make = setup_case(args, device, dtype_name, shape)
    fn = providers[provider]
    x, t = make()
    modes = args.modes if section == "focal" else args.softmax_modes
    for mode in modes:
        run, setup = _mode_calls(fn, x, t, mode)
        for _ in range(max(1, args.warmup)):  # after compilation and first-call caching
            _bound(run, setup)()
        peaks[mode] = measure_peak_mb(_bound(run, setup), device)
    return peaks


def _memory_cases(rows: list[Row]) -> dict[tuple[str, str, str, str], list[Row]]:
    cases: dict[tuple[str, str, str, str], list[Row]] = {}
    for row in rows:
        if row.ms is None or row.provider == "roofline":
            continue
        shape = (
            row.shape.split(",")[0].removeprefix("N=")
            if row.section == "contrastive"
            else row.shape
        )
        cases.setdefault((row.section, row.provider, row.dtype, shape), []).append(row)
    return cases


def measure_cpu_memory(rows: list[Row], argv: list[str], timeout: float) -> None:
    """Fill ``peak_mb`` of every timed CPU row from one subprocess per provider and case."""
    for (section, provider, dtype_name, shape), case_rows in _memory_cases(rows).items():
        cmd = [sys.executable, __file__, *argv, "--threads", "default", "--memory-child",
               section, provider, dtype_name, shape]  # fmt: skip
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"  memory {section} {provider} {dtype_name} {shape}: timeout", flush=True)
            continue
        if out.returncode != 0:
            tail = (out.stderr.strip().splitlines() or ["?"])[-1]
            print(f"  memory {section} {provider} {dtype_name} {shape}: {tail}", flush=True)
            continue
        peaks = json.loads(out.stdout.strip().splitlines()[-1])
        for row in case_rows:
            row.peak_mb = peaks.get(row.mode)
        print(f"  memory {section} {provider} {dtype_name} {shape}: {peaks}", flush=True)


# ----------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(row: Row) -> str:
    return row.extra.get("speedup_vs_eager") or row.extra.get("time_vs_cross_entropy") or ""


def _print_progress(row: Row) -> None:
    print(
        f"  {row.section:11s} {row.provider:34s} {row.mode:8s} {row.dtype:4s} {row.shape:14s} "
        f"{_fmt(row.ms, '9.2f')} ms  {row.status}",
        flush=True,
    )


def _table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    columns = ["section", "provider", "mode", "dtype", "shape", "threads", "ms", "peak MiB",
               "GB/s", "roofline", "ratio", "status"]  # fmt: skip
    body = [
        [
            r.section, r.provider, r.mode, r.dtype, r.shape, r.threads, _fmt(r.ms, ".2f"),
            _fmt(r.peak_mb, ".1f"), _fmt(r.gbps, ".1f"), _fmt(r.roofline, ".2f"), _ratio(r),
            r.status,
        ]
        for r in rows
    ]  # fmt: skip
    return columns, body


def _shapes(values: list[int], rows: int) -> list[tuple[int, int]]:
    return [(rows, c) for c in values]


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (minutes on CPU)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu",
        help="cpu or cuda[:N] (default: cuda when a GPU is visible)",
    )  # fmt: skip
    parser.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS)
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--modes", nargs="+", default=MODES, choices=MODES)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile peer")
    parser.add_argument("--repeats", type=int, help="timed calls per cell, median (CPU 7, GPU 50)")
    parser.add_argument("--warmup", type=int, help="untimed calls first (CPU 2, GPU 10)")
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the peak-memory probes"
    )
    add_threads_option(parser)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per memory probe")
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = check_device(args.device)
    gpu = device.type == "cuda"
    # Sizes: the GPU grid; on CPU smaller upper shapes (stated in the table).
    if args.quick:
        repeats, warmup = (10, 3) if gpu else (3, 1)
        args.focal_shapes = _shapes([1, 1000, 32768], 8192) if gpu else [(4096, 1000)]
        args.softmax_shapes = _shapes([1000, 32768], 8192) if gpu else [(4096, 1000)]
        args.softmax_modes = ["full"]
        args.contrastive_sizes = [4096, 16384] if gpu else [4096]
        args.compile_dtypes = list(DTYPES) if gpu else ["fp32"]
    else:
        repeats, warmup = (50, 10) if gpu else (7, 2)
        cols = [1, 8, 80, 1000, 4096, 32768] if gpu else [1, 80, 1000, 4096]
        args.focal_shapes = _shapes(cols, 8192) + [(4096, 1000)]
        args.softmax_shapes = (
            _shapes([1000, 8192, 32768], 8192) if gpu else [(4096, 1000), (8192, 4096)]
        )
        args.softmax_modes = args.modes
        args.contrastive_sizes = [4096, 8192, 16384, 32768] if gpu else [4096, 8192, 16384]
        args.compile_dtypes = list(DTYPES)
    args.repeats = args.repeats or repeats
    args.warmup = warmup if args.warmup is None else args.warmup
    args.contrastive_repeats = 3
    args.naive_max_n = 16384 if gpu else 8192
    args.pml_max_n = 32768 if gpu else 8192
    return args, device


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, device = _parse(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args, *args.memory_child)))
        return
    results_file = ResultsFile(args.csv, COLUMNS)
    gpu = device.type == "cuda"
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = ""
    command = command_line(__file__, argv)
    host = describe_host(f"default threads: {threads_in_use()}")
    load_start = load_average()
    print(f"command: {command}\nhost: {host}\nload average at start: {load_start}", flush=True)
    for note in environment_notes():
        print(f"note: {note} is set in the environment (it applies to every provider)")
    start = time.perf_counter()
    rows: list[Row] = []
    loads: dict[str, str] = {}
    in_use: dict[str, str] = {}
    for setting in args.threads:
        label = thread_label(setting)
        loads[label] = load_average()
        with limited_threads(setting):
            in_use[label] = threads_in_use()
            print(f"threads {label}: {in_use[label]}; load average {loads[label]}", flush=True)
            torch.manual_seed(0)
            setting_rows: list[Row] = []
            if "focal" in args.sections:
                setting_rows += run_focal(args, device)
            if "softmax" in args.sections:
                setting_rows += run_softmax(args, device)
            if "contrastive" in args.sections:
                setting_rows += run_contrastive(args, device)
        for row in setting_rows:
            row.threads = label
        rows += setting_rows
    if gpu:
        mem_method = "torch.cuda.max_memory_allocated" if args.memory else "not measured"
    elif args.memory and _cpu_peak_supported():
        mem_method = (
            "peak RSS growth (VmHWM after /proc/self/clear_refs) in a subprocess per provider "
            "and case, glibc mmap threshold 64 KiB there"
        )
        measure_cpu_memory(rows, [a for a in argv if a != "--markdown"], args.timeout)
    else:
        mem_method = "not measured"
    load_end = load_average()
    columns, body = _table(rows)
    title = (
        f"Loss benchmark on {device.type}: median of {args.repeats} calls after {args.warmup} "
        f"warm-up calls; ratio = speed-up over the eager formula (focal) or time relative to "
        f"F.cross_entropy (softmax), same run and thread setting; peak memory: {mem_method}"
    )
    print_report(
        columns, body, title=title, command=command, host=host, load_start=load_start,
        load_end=load_end, markdown=args.markdown,
    )  # fmt: skip
    meta = {
        "timestamp": utc_stamp(),
        "command": command,
        "host": host,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device)
        if gpu
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "triton": triton_version,
        "python": platform.python_version(),
        "mem_method": mem_method,
    }
    results_file.append(
        [
            {
                **meta,
                "threads": r.threads,
                "threads_in_use": in_use.get(r.threads, ""),
                "load_average": loads.get(r.threads, ""),
                "section": r.section, "provider": r.provider, "mode": r.mode,
                "dtype": r.dtype, "shape": r.shape, "ms": _fmt(r.ms, ".4f"),
                "repeats": args.repeats, "peak_mb": _fmt(r.peak_mb, ".2f"),
                "gbps": _fmt(r.gbps, ".3f"), "roofline_fraction": _fmt(r.roofline, ".4f"),
                "ratio": _ratio(r), "status": r.status,
                "extra": ";".join(f"{k}={v}" for k, v in r.extra.items()),
            }
            for r in rows
        ]
    )  # fmt: skip
    print(f"{len(rows)} rows appended to {args.csv} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
