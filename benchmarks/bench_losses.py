"""Loss speed and memory: imbalance-kit's torch and Triton paths against their peers.

Sections:

* ``focal``: sigmoid focal loss (alpha=0.25, gamma=2, mean) on ``(N, C)`` logits. Providers:
  the torchvision formula in eager mode (``tests/references/focal.py``), kornia's
  ``binary_focal_loss_with_logits`` (if installed), ``torch.compile`` of the torchvision
  formula, ``imbalance_kit`` torch path, ``imbalance_kit`` Triton path (CUDA only), and
  ``roofline``: a plain read-2-write-1 ``torch.add(a, b, out=c)`` over the same bytes.
* ``softmax``: softmax focal loss (gamma=2, mean) on ``(N, C)``: ``F.cross_entropy`` (the
  gamma=0 floor), the usual eager focal formula, kornia's ``focal_loss``, our two paths.
* ``contrastive``: peak memory and time of ``supervised_contrastive_loss`` (with and without
  ``chunk_size``) against pytorch-metric-learning's ``SupConLoss`` (if installed) and the
  naive reference of ``tests/references/contrastive.py``.

Modes: ``forward`` (logits require grad: our fused paths compute the gradient here),
``backward`` (the forward runs untimed first) and ``full`` (forward + backward).
Effective bandwidth counts the bytes any implementation must move: forward reads logits and
targets (2 units of ``N * C * itemsize``), backward writes the gradient (1 unit), full does
both (3 units, the same bytes as the roofline copy). Peak memory: ``torch.cuda.max_memory_
allocated`` on GPU; on CPU the growth of the process's peak resident set (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``) over the resident set before the call.

Usage: ``python benchmarks/bench_losses.py [--quick] [--sections focal softmax contrastive]``.
Every result is printed and appended to ``benchmarks/results/losses.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from imbalance_kit.losses import (  # noqa: E402
    sigmoid_focal_loss,
    softmax_focal_loss,
    supervised_contrastive_loss,
)
from imbalance_kit.testing.references.contrastive import supcon_reference  # noqa: E402
from imbalance_kit.testing.references.focal import torchvision_sigmoid_focal_loss  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results", "losses.csv")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Bytes any implementation must move, in units of N * C * itemsize: the sigmoid loss reads
# logits and targets and writes the gradient; the softmax loss reads logits (the (N,)
# targets are negligible) and writes the gradient.
FOCAL_UNITS = {"forward": 2, "backward": 1, "full": 3}
SOFTMAX_UNITS = {"forward": 1, "backward": 1, "full": 2}


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
    tensors in the heap, which hides later peaks from the resident-set measurement.
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
) -> tuple[float, float | None]:
    """``(median ms, peak MiB)`` of ``run``; ``setup`` runs untimed before each call.

    The peak memory is taken on the last call (after any compilation and caching).
    """
    times = []
    peak = None
    for i in range(warmup + repeats):
        state = setup() if setup is not None else None
        last = i == warmup + repeats - 1

        def call(state=state):
            return run() if state is None else run(state)

        if last:
            # one extra, untimed call measures the peak (the measurement perturbs timing)
            peak = measure_peak_mb(call, device)
            state = setup() if setup is not None else None
        _sync(device)
        start = time.perf_counter()
        out = run() if state is None else run(state)
        _sync(device)
        elapsed = (time.perf_counter() - start) * 1e3
        del out, state
        if i >= warmup:
            times.append(elapsed)
    return statistics.median(times), peak


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

    try:
        if mode == "forward":
            ms, peak = time_ms(forward, device, repeats=args.repeats, warmup=args.warmup)
        elif mode == "backward":
            ms, peak = time_ms(
                backward, device, repeats=args.repeats, warmup=args.warmup, setup=setup_backward
            )
        else:
            ms, peak = time_ms(
                full, device, repeats=args.repeats, warmup=args.warmup, setup=clear_grad
            )
    except Exception as exc:
        row.status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        return row
    row.ms, row.peak_mb = ms, peak
    if mode != "backward":  # fused paths finish the gradient in forward: no bandwidth here
        row.gbps = units[mode] * unit_bytes / (ms * 1e-3) / 1e9
    return row


def _roofline(shape, dtype, device, args) -> Row:
    a = torch.randn(shape, device=device).to(dtype)
    b = torch.randn(shape, device=device).to(dtype)
    c = torch.empty_like(a)
    ms, _ = time_ms(
        lambda: torch.add(a, b, out=c), device, repeats=args.repeats, warmup=args.warmup
    )
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


def run_focal(args, device) -> list[Row]:
    rows: list[Row] = []
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        compiled, compile_error = None, "skipped (--no-compile)"
        if not args.no_compile and (dtype_name in args.compile_dtypes):
            torch._dynamo.reset()
            compiled, compile_error = _compile(torchvision_sigmoid_focal_loss)
        elif not args.no_compile:
            compile_error = "skipped in --quick (compiling takes minutes on 2 CPU cores)"
        providers = focal_providers(device, compiled, compile_error)
        for shape in args.focal_shapes:
            roof = _roofline(shape, dtype, device, args)
            roof.dtype = dtype_name
            rows.append(roof)
            unit = shape[0] * shape[1] * torch.empty((), dtype=dtype).element_size()

            def make(shape=shape, dtype=dtype):
                gen = torch.Generator().manual_seed(0)
                x = (torch.randn(shape, generator=gen) * 2).to(device=device, dtype=dtype)
                t = (torch.rand(shape, generator=gen) < 0.1).to(device=device, dtype=dtype)
                return x.requires_grad_(), t

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
    providers = softmax_providers(device)
    for dtype_name in args.dtypes:
        dtype = DTYPES[dtype_name]
        for shape in args.softmax_shapes:
            unit = shape[0] * shape[1] * torch.empty((), dtype=dtype).element_size()

            def make(shape=shape, dtype=dtype):
                gen = torch.Generator().manual_seed(0)
                x = (torch.randn(shape, generator=gen) * 2).to(device=device, dtype=dtype)
                y = torch.randint(0, shape[1], (shape[0],), generator=gen).to(device)
                return x.requires_grad_(), y

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


def run_contrastive(args, device) -> list[Row]:
    rows: list[Row] = []
    supcon = _pml_supcon()
    dim = 128
    for n in args.contrastive_sizes:
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
        for name, fn in providers.items():
            row = Row("contrastive", name, "full", "fp32", f"N={n},D={dim}")
            if isinstance(fn, str):
                row.status = fn
            elif name == "naive_reference" and n > args.naive_max_n:
                row.status = f"skipped: N > {args.naive_max_n} (N x N matrices)"
            elif name.startswith("pytorch") and n > args.pml_max_n:
                row.status = f"skipped: N > {args.pml_max_n} (N x N matrices)"
            else:
                x = feats.clone().requires_grad_()

                def clear_grad(x=x):
                    x.grad = None
                    return True

                def full(_state=None, fn=fn, x=x):
                    loss = fn(x)
                    loss.backward()
                    return loss

                try:
                    row.ms, row.peak_mb = time_ms(
                        full, device, repeats=args.contrastive_repeats, warmup=0, setup=clear_grad
                    )
                    row.extra["loss"] = f"{fn(x).item():.4f}"
                except Exception as exc:
                    row.status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
            rows.append(row)
            _print_progress(row)
    return rows


# ----------------------------------------------------------------------------- output


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(row: Row) -> str:
    return row.extra.get("speedup_vs_eager") or row.extra.get("time_vs_cross_entropy") or ""


def _print_progress(row: Row) -> None:
    print(
        f"  {row.section:11s} {row.provider:34s} {row.mode:8s} {row.dtype:4s} {row.shape:14s} "
        f"{_fmt(row.ms, '9.2f')} ms  {_fmt(row.peak_mb, '8.1f')} MiB  {row.status}",
        flush=True,
    )


def print_table(rows: list[Row], mem_method: str) -> None:
    headers = ["section", "provider", "mode", "dtype", "shape", "ms", "peak MiB", "GB/s",
               "roofline", "ratio", "status"]  # fmt: skip
    body = []
    for r in rows:
        ratio = _ratio(r)
        body.append([
            r.section, r.provider, r.mode, r.dtype, r.shape, _fmt(r.ms, ".2f"),
            _fmt(r.peak_mb, ".1f"), _fmt(r.gbps, ".1f"), _fmt(r.roofline, ".2f"), ratio, r.status,
        ])  # fmt: skip
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Loss benchmark (peak memory: {mem_method})")
        for h in headers:
            table.add_column(h)
        for line in body:
            table.add_row(*line)
        Console(width=200).print(table)
    except ImportError:
        print(" | ".join(headers))
        for line in body:
            print(" | ".join(line))


def write_csv(rows: list[Row], path: str, meta: dict[str, str], mem_method: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fields = ["timestamp", "device", "device_name", "torch", "triton", "python", "loadavg",
              "section", "provider", "mode", "dtype", "shape", "ms", "peak_mb", "mem_method",
              "gbps", "roofline_fraction", "ratio", "status", "extra"]  # fmt: skip
    new = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        for r in rows:
            writer.writerow({
                **meta, "section": r.section, "provider": r.provider, "mode": r.mode,
                "dtype": r.dtype, "shape": r.shape, "ms": _fmt(r.ms, ".4f"),
                "peak_mb": _fmt(r.peak_mb, ".2f"), "mem_method": mem_method,
                "gbps": _fmt(r.gbps, ".3f"), "roofline_fraction": _fmt(r.roofline, ".4f"),
                "ratio": _ratio(r),
                "status": r.status, "extra": ";".join(f"{k}={v}" for k, v in r.extra.items()),
            })  # fmt: skip


def _shapes(values: list[int], rows: int) -> list[tuple[int, int]]:
    return [(rows, c) for c in values]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about 2 min on CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sections", nargs="+", default=["focal", "softmax", "contrastive"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--modes", nargs="+", default=["forward", "backward", "full"])
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile peer")
    parser.add_argument("--csv", default=RESULTS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    gpu = device.type == "cuda"

    # Sizes: the GPU grid of the issue; on CPU smaller upper shapes (stated in the table).
    if args.quick:
        args.repeats, args.warmup = (10, 3) if gpu else (3, 1)
        args.focal_shapes = _shapes([1, 1000, 32768], 8192) if gpu else [(4096, 1000)]
        args.softmax_shapes = _shapes([1000, 32768], 8192) if gpu else [(4096, 1000)]
        args.softmax_modes = ["full"]
        args.contrastive_sizes = [4096, 16384] if gpu else [4096]
        args.compile_dtypes = list(DTYPES) if gpu else ["fp32"]
    else:
        args.repeats, args.warmup = (50, 10) if gpu else (3, 1)
        cols = [1, 8, 80, 1000, 4096, 32768] if gpu else [1, 80, 1000, 4096]
        args.focal_shapes = _shapes(cols, 8192) + [(4096, 1000)]
        args.softmax_shapes = (
            _shapes([1000, 8192, 32768], 8192) if gpu else [(4096, 1000), (8192, 4096)]
        )
        args.softmax_modes = args.modes
        args.contrastive_sizes = [4096, 8192, 16384, 32768] if gpu else [4096, 8192, 16384]
        args.compile_dtypes = list(DTYPES)
    args.contrastive_repeats = 3 if gpu else 1
    args.naive_max_n = 16384 if gpu else 8192
    args.pml_max_n = 32768 if gpu else 8192

    torch.manual_seed(0)
    if not gpu:
        torch.set_num_threads(min(os.cpu_count() or 1, 16))
        _malloc_returns_big_blocks()
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = ""
    meta = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device)
        if gpu
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "triton": triton_version,
        "python": platform.python_version(),
        "loadavg": f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "",
    }
    mem_method = (
        "torch.cuda.max_memory_allocated"
        if gpu
        else "peak RSS growth (VmHWM after /proc/self/clear_refs)"
        if _cpu_peak_supported()
        else "unavailable"
    )
    print(
        f"device={meta['device_name']} torch={meta['torch']} threads={torch.get_num_threads()} "
        f"load average={meta['loadavg']}"
    )
    start = time.perf_counter()
    rows: list[Row] = []
    if "focal" in args.sections:
        rows += run_focal(args, device)
    if "softmax" in args.sections:
        rows += run_softmax(args, device)
    if "contrastive" in args.sections:
        rows += run_contrastive(args, device)
    print_table(rows, mem_method)
    write_csv(rows, args.csv, meta, mem_method)
    print(f"{len(rows)} rows appended to {args.csv} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
