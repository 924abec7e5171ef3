"""Compiled CPU kernels of the fused losses: loss and analytic gradient in one pass.

On CPU tensors (float32 / float64) the sigmoid focal family and the softmax family run one
C loop each (``_cpu.c`` beside this file): the formulas, derivatives and numerics are those
of the Triton kernels ([`imbalance_kit.kernels.sigmoid_focal`][imbalance_kit.kernels.sigmoid_focal],
[`imbalance_kit.kernels.softmax_loss`][imbalance_kit.kernels.softmax_loss]), written once more for
the CPU. The sigmoid loop reads the logits and targets once and writes the gradient once; the
softmax loop keeps one row in a private buffer (it stays in cache), so each row is read from memory
once and its gradient written once. With glibc's vector math library (libmvec) ``exp``, ``log`` and
``log1p`` are vectorised; the loops share out their work over ``torch.get_num_threads()``
OpenMP threads (the same OpenMP runtime torch uses on Linux), one thread per 32768 elements
at most, so small inputs never pay for a thread hand-off.

**Build.** The source is compiled on first use with the system C compiler (``$CC``, else
``cc``, ``gcc`` or ``clang``), about one to two seconds once per machine, into a per-user
cache (``$IMBALANCE_KIT_CACHE``, else ``$XDG_CACHE_HOME/imbalance_kit`` or
``~/.cache/imbalance_kit``) keyed by the source, the compiler and the CPU; later processes
load the cached library. Flags are tried from the fastest (``-O3 -march=native -fopenmp``
with libmvec) to the plainest (``-O2``, one thread). The loaded library must reproduce the
blocked torch engine on a small self-test before it is used.

**Fallback.** Without a C compiler (found in microseconds: no compile is attempted), when
every build fails, when the self-test fails, for float16 / bfloat16 input, or with
``IMBALANCE_KIT_CPU_KERNELS=0``, the losses run their blocked torch code instead (same
results; slower). [`status`][imbalance_kit.kernels.cpu.status] says which.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from imbalance_kit._fused import (
    SigmoidFocalOptions,
    SoftmaxOptions,
    check_unit_targets,
    compute_dtype,
    gamma_mode,
)

__all__ = ["handles", "sigmoid_focal_cpu", "softmax_loss_cpu", "status"]

SOURCE = Path(__file__).with_name("_cpu.c")
# Elements per thread: below this, a thread hand-off costs more than it saves.
GRAIN = 32768
# Flag sets, fastest first; the first that compiles and passes the self-test is kept.
_FLAG_SETS = (
    ["-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-DIK_MVEC", "-lmvec"],
    ["-O3", "-march=native", "-fno-math-errno", "-fopenmp"],
    ["-O3", "-fno-math-errno", "-fopenmp-simd"],
    ["-O2"],
)
_lock = threading.Lock()
_state: dict[str, object] = {}


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir() -> Path:
    base = os.environ.get("IMBALANCE_KIT_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "imbalance_kit")
    path = Path(base)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="imbalance_kit-"))  # private, for this process only


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            lines = [ln for ln in handle if ln.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _build(compiler: str, flags: list[str]) -> Path | None:
    source = SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join(
            [
                source,
                compiler.encode(),
                " ".join(flags).encode(),
                platform.machine().encode(),
                _cpu_signature().encode(),
            ]
        )  # fmt: skip
    ).hexdigest()[:20]
    directory = _cache_dir()
    target = directory / f"cpu_kernels-{key}.so"
    if target.exists():
        return target
    tmp = directory / f".cpu_kernels-{key}-{os.getpid()}-{threading.get_ident()}.so"
    libs = [f for f in flags if f.startswith("-l")]
    opts = [f for f in flags if not f.startswith("-l")]
    cmd = [compiler, *opts, "-shared", "-fPIC", str(SOURCE), "-o", str(tmp), *libs, "-lm"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, target)  # atomic: a concurrent process sees the old or the new file
    return target


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix, real in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        fn = getattr(lib, f"ik_sigmoid_focal_{suffix}")
        fn.restype = None
        fn.argtypes = [p, p, p, i32, p, i32, p, p, p, i64, i64, i32, real, real, real, real,
                       i32, real, real, i32]  # fmt: skip
        fn = getattr(lib, f"ik_softmax_{suffix}")
        fn.restype = None
        fn.argtypes = [p, i64, p, p, p, p, p, p, p, i64, i64, i64, real, i32, real, real, real,
                       i32]  # fmt: skip


def _self_test() -> bool:
    """The compiled loops against plain float64 autograd on small inputs (a broken build,
    e.g. a faulty vector math library, is caught here, before any loss uses it)."""
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    x64 = torch.randn(37, 300, generator=gen, dtype=torch.float64).mul_(6).requires_grad_()
    t64 = (torch.rand(37, 300, generator=gen) < 0.3).double()
    pw = torch.rand(300, generator=gen, dtype=torch.float64) + 0.5
    p, q = torch.sigmoid(x64), torch.sigmoid(-x64)
    sig = -(
        0.25 * pw * t64 * q**1.5 * F.logsigmoid(x64)
        + 0.75 * (1 - t64) * p**1.5 * F.logsigmoid(-x64)
    )
    y = torch.randint(0, 300, (37,), generator=gen)
    w = torch.rand(300, generator=gen, dtype=torch.float64) + 0.5
    log_p = torch.log_softmax(2.0 * x64, dim=1)
    smooth = 0.9 * F.one_hot(y, 300) + 0.1 / 300
    soft = ((smooth * w * (-torch.expm1(log_p)) ** 2 * -log_p).sum(1)).sum() / w[y].sum()
    sig_opts = SigmoidFocalOptions(0.25, 1.5, 0.0, None, "sum")
    soft_opts = SoftmaxOptions(2.0, None, 0.1, -100, 2.0, "mean")
    for loss, engine, args, opts in (
        (sig.sum(), sigmoid_focal_cpu, (t64, pw, None), sig_opts),
        (soft, softmax_loss_cpu, (y, None, w, None, None), soft_opts),
    ):
        (want,) = torch.autograd.grad(loss, x64)
        for dtype in (torch.float32, torch.float64):
            cast = [a.to(dtype) if a is not None and a.is_floating_point() else a for a in args]
            got, grad = engine(x64.detach().to(dtype), *cast, opts=opts, need_grad=True)
            if not (
                torch.allclose(got.double(), loss.detach(), rtol=1e-4)
                and torch.allclose(grad.double(), want, rtol=1e-4, atol=1e-6 * want.abs().max())
            ):
                return False
    return True


def _load() -> ctypes.CDLL | None:
    if os.environ.get("IMBALANCE_KIT_CPU_KERNELS", "1") in ("0", ""):
        _state["status"] = "off (IMBALANCE_KIT_CPU_KERNELS=0)"
        return None
    compiler = _compiler()
    if compiler is None:
        _state["status"] = "no C compiler found: blocked torch code"
        return None
    for flags in _FLAG_SETS:
        path = _build(compiler, flags)
        if path is None:
            continue
        try:
            lib = ctypes.CDLL(str(path))
            _declare(lib)
        except (OSError, AttributeError):
            continue
        _state["lib"] = lib
        if _self_test():
            _state["status"] = f"compiled with {Path(compiler).name} {' '.join(flags)}"
            return lib
        _state.pop("lib", None)
        warnings.warn(
            f"the compiled CPU loss kernels ({' '.join(flags)}) failed their self-test and "
            "are not used",
            RuntimeWarning,
            stacklevel=3,
        )
    _state["status"] = "no build worked: blocked torch code"
    return None


def _library() -> ctypes.CDLL | None:
    if "done" not in _state:
        with _lock:
            if "done" not in _state:
                lib = _load()
                _state["lib"] = lib
                _state["done"] = True
    return _state["lib"]  # type: ignore[return-value]


def status() -> str:
    """How the CPU losses run: the flags of the compiled kernels, or why the torch code runs.

    Examples:
        >>> isinstance(status(), str)
        True
    """
    _library()
    return str(_state["status"])


def handles(logits: torch.Tensor) -> bool:
    """Whether the compiled kernels run for these logits (float32 / float64 on the CPU)."""
    return (
        logits.device.type == "cpu"
        and logits.dtype in (torch.float32, torch.float64)
        and _library() is not None
    )


def _threads(elements: int) -> int:
    return max(1, min(torch.get_num_threads(), elements // GRAIN))


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _operand(value: torch.Tensor | None, shape: torch.Size, dtype: torch.dtype):
    """``(mode, tensor)``: 0 absent, 1 per element, 2 per column, 3 per row (see ``_cpu.c``)."""
    if value is None:
        return 0, None
    value = value.detach().to(dtype)
    ndim = len(shape)
    padded = (1,) * (ndim - value.ndim) + tuple(value.shape)
    cols = shape[-1] if ndim else 1
    if ndim >= 1 and cols >= 16 and all(d == 1 for d in padded[:-1]):
        return 2, value.reshape(-1).expand(cols).contiguous()
    if ndim >= 2 and padded[-1] == 1 and tuple(padded[:-1]) == tuple(shape[:-1]):
        return 3, value.reshape(-1).contiguous()
    return 1, value.expand(shape).contiguous()


def sigmoid_focal_cpu(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_weight: torch.Tensor | None,
    weight: torch.Tensor | None,
    *,
    opts: SigmoidFocalOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Engine of the sigmoid focal family on CPU float32 / float64 tensors: ``(loss, grad)``."""
    lib = _state.get("lib") or _library()
    dtype = logits.dtype
    x = logits.contiguous()
    shape, n = x.shape, x.numel()
    t = targets.to(dtype).contiguous()
    pw_mode, pw = _operand(pos_weight, shape, dtype)
    w_mode, w = _operand(weight, shape, dtype)
    rows_cols = (1, n) if 2 not in (pw_mode, w_mode) and 3 not in (pw_mode, w_mode) else None
    if rows_cols is None:
        cols = shape[-1]
        rows_cols = (n // cols if cols else 0, cols)
    out = torch.empty(shape, dtype=dtype) if opts.reduction == "none" else None
    grad = torch.empty(shape, dtype=dtype) if need_grad else None
    factor = 1.0
    if opts.reduction == "mean":
        count = n if opts.ignore_index is None else int((t != opts.ignore_index).sum())
        factor = 1.0 / count if count else float("nan")
    threads = _threads(n)
    partial = torch.empty(2 * threads, dtype=torch.float64)  # sums, then bad-target counts
    if n:
        suffix = "f64" if dtype == torch.float64 else "f32"
        getattr(lib, f"ik_sigmoid_focal_{suffix}")(
            x.data_ptr(), t.data_ptr(), _ptr(pw), pw_mode, _ptr(w), w_mode, _ptr(out),
            _ptr(grad), partial.data_ptr(), rows_cols[0], rows_cols[1], gamma_mode(opts.gamma),
            opts.a_pos, opts.a_neg, opts.gamma, opts.label_smoothing,
            int(opts.ignore_index is not None),
            0.0 if opts.ignore_index is None else opts.ignore_index, factor, threads,
        )  # fmt: skip
    values = partial.tolist() if n else [0.0] * (2 * threads)
    if opts.check_targets and sum(values[threads:]):
        check_unit_targets(targets, opts.ignore_index)  # raises, naming the first bad value
        raise RuntimeError("the CPU kernel counted targets outside [0, 1] that torch did not")
    if out is not None:
        loss = out
    elif opts.reduction == "mean" and factor != factor:  # nothing counted: NaN, as torch
        loss = torch.full((), float("nan"), dtype=dtype)
    else:
        loss = torch.tensor(sum(values[:threads]), dtype=dtype)
    return loss, grad


def softmax_loss_cpu(
    logits2d: torch.Tensor,
    target1d: torch.Tensor,
    alpha: torch.Tensor | None,
    weight: torch.Tensor | None,
    offsets: torch.Tensor | None,
    margins: torch.Tensor | None,
    *,
    opts: SoftmaxOptions,
    need_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Engine of the softmax family on CPU float32 / float64 tensors: ``(loss, grad)``.

    A row whose target is neither in ``[0, C)`` nor ``ignore_index`` gets a NaN loss and a NaN
    gradient row; nothing outside the row is read.
    """
    lib = _state.get("lib") or _library()
    dtype = logits2d.dtype
    x = logits2d if logits2d.stride(-1) == 1 else logits2d.contiguous()
    rows, classes = x.shape
    target = target1d.to(torch.int64).contiguous()
    if alpha is None and opts.alpha is not None:
        alpha = torch.full((classes,), opts.alpha, dtype=dtype)

    def vec(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(dtype).contiguous()

    alpha, weight, offsets, margins = map(vec, (alpha, weight, offsets, margins))
    g_scale = opts.scale
    denominator = None
    if opts.reduction == "mean":
        valid = target != opts.ignore_index
        if weight is None:
            denominator = valid.sum().to(compute_dtype(dtype))
        else:
            safe = target.clamp(0, max(classes - 1, 0))
            denominator = (weight[safe] * valid).sum() if classes else valid.sum().to(dtype)
        g_scale = g_scale / float(denominator) if float(denominator) else float("nan")
    row_loss = torch.empty(rows, dtype=torch.float64)
    grad = torch.empty((rows, classes), dtype=dtype) if need_grad else None
    if rows and classes:
        suffix = "f64" if dtype == torch.float64 else "f32"
        getattr(lib, f"ik_softmax_{suffix}")(
            x.data_ptr(), x.stride(0), target.data_ptr(), _ptr(alpha), _ptr(weight),
            _ptr(offsets), _ptr(margins), _ptr(grad), row_loss.data_ptr(), rows, classes,
            opts.ignore_index, opts.gamma, gamma_mode(opts.gamma), opts.label_smoothing,
            opts.scale, g_scale, _threads(rows * classes),
        )  # fmt: skip
    elif grad is not None:
        grad.zero_()
        row_loss.zero_()
    if opts.reduction == "none":
        return row_loss.to(dtype), grad
    total = row_loss.sum()
    if opts.reduction == "sum":
        return total.to(dtype), grad
    return (total / denominator).to(dtype), grad
