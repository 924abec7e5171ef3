"""CPU forward + backward of the focal losses against their eager formula and torch.compile.

Prints one table per loss: for each shape and thread count (the default, then 1) the median
time of ``loss = f(x, t); loss.backward()`` for

* ``eager``: the formula in plain torch operations (sigmoid: the torchvision formula;
  softmax: ``log_softmax``, ``gather``, ``(1 - p)^2 (-log p)``);
* ``imbalance_kit``: ``sigmoid_focal_loss`` / ``softmax_focal_loss`` with their defaults
  (``backend="auto"``, which is the CPU path here, and ``validate_args=True``: the value
  checks of targets and logits are timed, as a user's call pays them);
* ``torch.compile``: ``torch.compile`` of the same eager formula, compiled afresh for each
  shape and thread count (``torch._dynamo.reset()`` first, so no shape falls back to a
  dynamic-shape graph) before timing;

with the ratios ``eager / imbalance_kit`` and ``compile / imbalance_kit`` (> 1: ours is
faster) and the bandwidth floor: the bytes any implementation must move (sigmoid: read logits
and targets, write the gradient, 12 bytes per float32 element; softmax: read logits, write the
gradient, 8 bytes) divided by the copy bandwidth measured in the same run (``torch.add(a, b,
out=c)`` over arrays of the logits' size, at the same thread count).

Nothing here changes a peer's speed: no allocator or environment setting; the thread count
is torch's default, then ``torch.set_num_threads(1)``. Peers and ours are timed interleaved
(round-robin, ``--repeats`` rounds), so a load change on a shared machine hits all alike.

Usage: ``python benchmarks/loss_cpu_table.py [--repeats 9] [--quick] [--no-compile]``
(the numbers in docs/benchmarks/losses.md: ``python benchmarks/loss_cpu_table.py --repeats 15``)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from imbalance_kit.kernels import cpu
from imbalance_kit.losses import sigmoid_focal_loss, softmax_focal_loss
from imbalance_kit.testing.references.focal import torchvision_sigmoid_focal_loss

SIGMOID_SHAPES = [(4096, 1000), (8192, 80), (65536, 1)]
SOFTMAX_SHAPES = [(4096, 1000), (8192, 32000)]


def eager_sigmoid(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torchvision_sigmoid_focal_loss(x, t, 0.25, 2.0, "mean")


def eager_softmax(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    log_p = torch.log_softmax(x, dim=1)
    log_pt = log_p.gather(1, y[:, None]).squeeze(1)
    return (-((1 - log_pt.exp()) ** 2) * log_pt).mean()


def ours_sigmoid(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return sigmoid_focal_loss(x, t, 0.25, 2.0)


def ours_softmax(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return softmax_focal_loss(x, y, gamma=2.0)


def _step(fn: Callable, x: torch.Tensor, t: torch.Tensor) -> float:
    x.grad = None
    start = time.perf_counter()
    fn(x, t).backward()
    return (time.perf_counter() - start) * 1e3


def _copy_ms(shape: tuple[int, int], repeats: int) -> float:
    a, b = torch.randn(shape), torch.randn(shape)
    c = torch.empty_like(a)
    torch.add(a, b, out=c)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.add(a, b, out=c)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(kind: str, shape: tuple[int, int], threads: int, args) -> dict[str, float]:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=gen) * 2).requires_grad_()
    if kind == "sigmoid":
        t = (torch.rand(shape, generator=gen) < 0.1).float()
        providers = {"eager": eager_sigmoid, "ours": ours_sigmoid}
        formula, bytes_per = eager_sigmoid, 12
    else:
        t = torch.randint(0, shape[1], (shape[0],), generator=gen)
        providers = {"eager": eager_softmax, "ours": ours_softmax}
        formula, bytes_per = eager_softmax, 8
    if not args.no_compile:
        torch._dynamo.reset()  # a fresh static-shape graph for this shape and thread count
        providers["compile"] = torch.compile(formula)
    for fn in providers.values():  # warm-up: compilation, caches, thread pools
        for _ in range(2):
            _step(fn, x, t)
    times: dict[str, list[float]] = {name: [] for name in providers}
    for _ in range(args.repeats):  # interleaved rounds
        for name, fn in providers.items():
            times[name].append(_step(fn, x, t))
    result = {name: statistics.median(v) for name, v in times.items()}
    copy_ms = _copy_ms(shape, args.repeats)
    bandwidth = 3 * x.numel() * 4 / (copy_ms * 1e-3)  # bytes per second
    result["floor"] = bytes_per * x.numel() / bandwidth * 1e3
    result["gbps"] = bandwidth / 1e9
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="small shapes only")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile peer")
    parser.add_argument("--sections", nargs="+", default=["sigmoid", "softmax"])
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, default threads {default_threads}, CPU kernels: {cpu.status()}"
    )
    shapes = {
        "sigmoid": SIGMOID_SHAPES[1:] if args.quick else SIGMOID_SHAPES,
        "softmax": SOFTMAX_SHAPES[:1] if args.quick else SOFTMAX_SHAPES,
    }
    header = (
        f"| {'loss':7s} | {'shape':11s} | thr | {'eager ms':>9s} | {'ours ms':>8s} | "
        f"{'compile ms':>10s} | {'eager/ours':>10s} | {'compile/ours':>12s} | "
        f"{'floor ms':>8s} | {'copy GB/s':>9s} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for kind in args.sections:
        for shape in shapes[kind]:
            for threads in dict.fromkeys([default_threads, 1]):
                r = measure(kind, shape, threads, args)
                comp = r.get("compile")
                comp_ms = "-" if comp is None else f"{comp:.2f}"
                comp_ratio = "-" if comp is None else f"{comp / r['ours']:.2f}"
                print(
                    f"| {kind:7s} | {'x'.join(map(str, shape)):11s} | {threads:3d} | "
                    f"{r['eager']:9.2f} | {r['ours']:8.2f} | {comp_ms:>10s} | "
                    f"{r['eager'] / r['ours']:10.2f} | {comp_ratio:>12s} | "
                    f"{r['floor']:8.2f} | {r['gbps']:9.1f} |",
                    flush=True,
                )
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
