"""The engines of the fused losses agree with their definitions, in float32 over the whole range.

Every fused loss has three engines: the compiled CPU kernels (``imbalance_kit.kernels.cpu``),
the blocked torch code (the fallback) and the Triton kernels (run here by the interpreter).
Each is checked against the eager definition beside the loss (``_sigmoid_focal_formula``,
``_softmax_family_formula``) and against float64, and the CPU kernels' build and fallback
are exercised (no compiler, a failed self-test, switched off).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

import imbalance_kit.kernels.cpu as cpu
from imbalance_kit.losses import asymmetric_loss, sigmoid_focal_loss
from imbalance_kit.losses._softmax_core import _softmax_family_formula, softmax_family_loss
from imbalance_kit.losses.focal import _sigmoid_focal_formula

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = ["cpu", "blocked", "triton"]
TINY = torch.finfo(torch.float32).tiny


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """Run the torch backend on one engine: the compiled kernels or the blocked code."""
    if request.param == "cpu":
        if not cpu.handles(torch.zeros(1)):
            pytest.skip(f"compiled CPU kernels unavailable: {cpu.status()}")
    elif request.param == "blocked":
        monkeypatch.setattr(cpu, "handles", lambda logits: False)
    else:
        pytest.importorskip("triton")
    return request.param


def _backend(engine: str) -> str:
    return "triton" if engine == "triton" else "torch"


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest relative error where float32 holds the value as a normal number."""
    got, want = got.detach().double(), want.detach()
    keep = want.abs() > TINY * 1e3
    return float(((got - want).abs()[keep] / want.abs()[keep]).max())


# ----------------------------------------------------------------------------- float32 range


@pytest.mark.parametrize("target", [0.0, 1.0])
@pytest.mark.parametrize(
    "options",
    [
        dict(alpha=None, gamma=0.0),
        dict(alpha=0.25, gamma=2.0),
        dict(alpha=0.25, gamma=1.0),
        dict(alpha=None, gamma=0.5, pos_weight=3.0),
        dict(alpha=0.75, gamma=3.5, pos_weight=0.5),
        dict(alpha=None, gamma=2.0, label_smoothing=0.1),
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_sigmoid_focal_float32_holds_float64_for_logits_in_pm_100(engine, target, options):
    """softplus(-x) must not be formed as softplus(x) - x: confident positives kept 7% error
    at x = 12 and 0 instead of 3e-7 at x = 15 that way."""
    x64 = torch.linspace(-100, 100, 1601, dtype=torch.float64).float().double()
    kw = dict(options)
    pos_weight = kw.pop("pos_weight", None)
    t64 = torch.full_like(x64, target)
    ref_x = x64.clone().requires_grad_()
    pw64 = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    want = _sigmoid_focal_formula(ref_x, t64, pos_weight=pw64, reduction="none", **kw)
    (want_grad,) = torch.autograd.grad(want.sum(), ref_x)
    x = x64.float().requires_grad_()
    pw32 = None if pw64 is None else pw64.float()
    got = sigmoid_focal_loss(
        x, t64.float(), pos_weight=pw32, reduction="none", backend=_backend(engine), **kw
    )
    (grad,) = torch.autograd.grad(got.sum(), x)
    assert got.dtype == torch.float32
    # (1 - p)^gamma = exp(-gamma softplus(x)) carries the float32 rounding of its argument
    # (up to 100 * gamma) as relative error: 1e-5 is what float32 holds for gamma = 3.5
    assert _rel_err(got, want.detach()) < 1e-5
    assert _rel_err(grad, want_grad) < 1e-5
    if target == 1.0 and options == dict(alpha=None, gamma=0.0):  # the case of the bug report
        at15 = sigmoid_focal_loss(
            torch.tensor([15.0]), torch.tensor([1.0]), alpha=None, gamma=0.0, reduction="none",
            backend=_backend(engine),
        )  # fmt: skip
        bce = F.binary_cross_entropy_with_logits(torch.tensor([15.0]), torch.tensor([1.0]))
        assert float(at15) == pytest.approx(float(bce), rel=1e-6) and float(at15) > 3e-7


@pytest.mark.parametrize("clip", [0.0, 0.05])
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_asymmetric_loss_float32_holds_float64_for_logits_in_pm_100(clip, target):
    x64 = torch.linspace(-100, 100, 1601, dtype=torch.float64).float().double()
    t64 = torch.full_like(x64, target)
    want = asymmetric_loss(x64, t64, 1.0, 4.0, clip, reduction="none")
    got = asymmetric_loss(x64.float(), t64.float(), 1.0, 4.0, clip, reduction="none")
    # p_m = p - clip is condition-limited near p = clip; 2e-5 is what float32 holds there
    assert _rel_err(got, want) < 2e-5


# ----------------------------------------------------------------------------- engines agree


SIGMOID_CASES = [
    dict(alpha=0.25, gamma=2.0, reduction="mean"),
    dict(alpha=None, gamma=0.0, reduction="sum", pos_weight="col"),
    dict(alpha=0.5, gamma=1.0, reduction="none", weight="row", ignore_index=-1.0),
    dict(
        alpha=0.25,
        gamma=1.7,
        reduction="mean",
        weight="full",
        label_smoothing=0.2,
        pos_weight="col",
        ignore_index=-1.0,
    ),  # fmt: skip
    dict(alpha=None, gamma=3.0, reduction="sum", weight="col"),
]


def _operand(kind, shape, dtype):
    if kind == "col":
        return torch.rand(shape[-1], dtype=dtype) + 0.5
    if kind == "row":
        return torch.rand(*shape[:-1], 1, dtype=dtype) + 0.5
    return torch.rand(shape, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(37, 300), (257, 1), (3, 5000), (4, 2, 20)])
@pytest.mark.parametrize("case", SIGMOID_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_sigmoid_engines_match_the_definition(engine, dtype, shape, case):
    if engine == "triton" and shape[-1] == 5000:
        pytest.skip("long rows are covered by tests/test_kernels.py on the interpreter")
    kw = dict(case)
    for name in ("weight", "pos_weight"):
        if name in kw:
            kw[name] = _operand(kw[name], shape, dtype)
    x = (torch.randn(shape, dtype=torch.float64) * 4).to(dtype).requires_grad_()
    t = torch.rand(shape, dtype=dtype)
    t.view(-1)[::11] = -1.0
    if "ignore_index" not in kw:
        t = t.clamp_min(0.0)
    got = sigmoid_focal_loss(x, t, backend=_backend(engine), **kw)
    x64 = x.detach().double().requires_grad_()
    want = _sigmoid_focal_formula(x64, t.double(), **{
        k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()
    })  # fmt: skip
    up = torch.rand_like(got) + 0.5
    (grad,) = torch.autograd.grad(got, x, up)
    (want_grad,) = torch.autograd.grad(want, x64, up.double())
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.double(), want.detach(), **tol)
    torch.testing.assert_close(grad.double(), want_grad, **tol)


SOFTMAX_CASES = [
    dict(gamma=0.0),
    dict(gamma=2.0, weight=True, reduction="sum"),
    dict(gamma=0.5, alpha=0.25, label_smoothing=0.1, reduction="none"),
    dict(gamma=0.0, label_smoothing=0.2, weight=True, offsets=True, scale=2.0),
    dict(gamma=1.0, alpha="vec", margins=True, scale=3.0, label_smoothing=0.05),
    dict(gamma=3.0, weight=True, offsets=True, reduction="none"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(37, 300), (9, 1), (3, 7, 5), (2, 5000)])
@pytest.mark.parametrize("case", SOFTMAX_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_softmax_engines_match_the_definition(engine, dtype, shape, case):
    if engine == "triton" and shape[1] == 5000:
        pytest.skip("long rows are covered by tests/test_kernels.py on the interpreter")
    classes = shape[1]
    if classes == 1 and case["gamma"] not in (0.0, 1.0, 2.0, 3.0):
        pytest.skip("one class: p = 1, where (1 - p)^gamma has no derivative for gamma < 1")
    kw = dict(case)
    for name in ("weight", "offsets", "margins"):
        if kw.pop(name, False):
            kw[name] = torch.rand(classes, dtype=dtype) + 0.2
    if kw.get("alpha") == "vec":
        kw["alpha"] = torch.rand(classes, dtype=dtype)
    x = (torch.randn(shape, dtype=torch.float64) * 5).to(dtype).requires_grad_()
    y = torch.randint(0, classes, (shape[0], *shape[2:]))
    y.view(-1)[::4] = -100
    got = softmax_family_loss(x, y, backend=_backend(engine), **kw)
    x64 = x.detach().double().requires_grad_()
    want = _softmax_family_formula(x64, y, **{
        k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()
    })  # fmt: skip
    up = torch.rand_like(got) + 0.5
    (grad,) = torch.autograd.grad(got, x, up)
    (want_grad,) = torch.autograd.grad(want, x64, up.double())
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(got.double(), want.detach(), **tol)
    torch.testing.assert_close(grad.double(), want_grad, **tol)


def test_definitions_match_torch_at_gamma_zero():
    x = torch.randn(6, 5, dtype=torch.float64)
    y = torch.tensor([0, 4, 2, -100, 1, 3])
    w = torch.rand(5, dtype=torch.float64)
    got = _softmax_family_formula(x, y, weight=w, label_smoothing=0.1)
    assert torch.allclose(got, F.cross_entropy(x, y, weight=w, label_smoothing=0.1))
    t = torch.rand(6, 5, dtype=torch.float64)
    got = _sigmoid_focal_formula(x, t, alpha=None, gamma=0.0, pos_weight=w, weight=t)
    assert torch.allclose(got, F.binary_cross_entropy_with_logits(x, t, weight=t, pos_weight=w))


@pytest.mark.parametrize("bad", [2.0, -0.5, float("nan"), -100.0])
def test_every_engine_checks_sigmoid_targets_with_validate_args(engine, bad):
    """validate_args reaches each engine (the compiled kernel counts bad targets in its pass)."""
    x = torch.randn(6, 5, requires_grad=True)
    t = (torch.rand(6, 5) < 0.3).float()
    t[4, 2] = bad
    message = r"targets must be in \[0, 1\], got (2\.0|-0\.5|nan|-100\.0)$"
    with pytest.raises(ValueError, match=message):
        sigmoid_focal_loss(x, t, backend=_backend(engine))
    sigmoid_focal_loss(x, t, backend=_backend(engine), validate_args=False)  # not checked
    if bad == -100.0:  # ignored elements are not targets
        loss = sigmoid_focal_loss(x, t, ignore_index=-100.0, backend=_backend(engine))
        assert torch.isfinite(loss)


@pytest.mark.parametrize("bad", [7, 9, 1000, -3])
def test_out_of_range_softmax_targets_give_nan_rows_on_every_engine(engine, bad):
    """With validate_args=False no engine reads outside a row: the row is NaN."""
    x = torch.randn(4, 5, requires_grad=True)
    y = torch.tensor([0, bad, 2, -100])
    kw = dict(gamma=2.0, validate_args=False, backend=_backend(engine))
    rows = softmax_family_loss(x, y, reduction="none", **kw)
    assert torch.isnan(rows[1]) and torch.isfinite(rows[[0, 2, 3]]).all()
    rows.nansum().backward()
    assert torch.isnan(x.grad[1]).all() and torch.isfinite(x.grad[[0, 2, 3]]).all()
    assert torch.isnan(softmax_family_loss(x, y, **kw))


# ----------------------------------------------------------------------------- build, fallback


def _python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip


_FALLBACK = """
import os, torch, torch.nn.functional as F
from imbalance_kit.kernels import cpu
from imbalance_kit.losses import sigmoid_focal_loss, softmax_focal_loss
x, t = torch.randn(64, 40, dtype=torch.float64), torch.rand(64, 40, dtype=torch.float64)
ok = torch.allclose(sigmoid_focal_loss(x, t, alpha=None, gamma=0.0),
                    F.binary_cross_entropy_with_logits(x, t))
y = torch.randint(0, 40, (64,))
ok &= torch.allclose(softmax_focal_loss(x, y, gamma=0.0), F.cross_entropy(x, y))
cache = os.environ["IMBALANCE_KIT_CACHE"]
print(cpu.status(), "|", ok, "|", sorted(os.listdir(cache)) if os.path.exists(cache) else [])
"""


def test_without_a_c_compiler_the_losses_run_the_torch_code_and_compile_nothing(tmp_path):
    cache = tmp_path / "cache"
    bin_dir = tmp_path / "bin"  # a PATH that holds python but no C compiler
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = _python(_FALLBACK, PATH=str(bin_dir), CC=None, IMBALANCE_KIT_CACHE=str(cache))
    assert result.returncode == 0, result.stderr
    status, ok, files = (part.strip() for part in result.stdout.split("|"))
    assert status.startswith("no C compiler found") and ok == "True" and files == "[]"


def test_the_cpu_kernels_can_be_switched_off(tmp_path):
    result = _python(_FALLBACK, IMBALANCE_KIT_CPU_KERNELS="0", IMBALANCE_KIT_CACHE=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("off (IMBALANCE_KIT_CPU_KERNELS=0) | True | []")


def test_a_build_that_fails_its_self_test_is_not_used(monkeypatch):
    if cpu._compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setattr(cpu, "_state", {})
    monkeypatch.setattr(cpu, "_self_test", lambda: False)
    with pytest.warns(RuntimeWarning, match="failed their self-test"):
        assert not cpu.handles(torch.zeros(1))
    assert cpu.status() == "no build worked: blocked torch code"
    x, t = torch.randn(8, 3), torch.rand(8, 3)
    bce = F.binary_cross_entropy_with_logits(x, t)
    assert torch.allclose(sigmoid_focal_loss(x, t, alpha=None, gamma=0.0), bce)


def test_a_broken_compiler_falls_back_cleanly(monkeypatch, tmp_path):
    fake = tmp_path / "cc"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(cpu, "_state", {})
    monkeypatch.setenv("CC", str(fake))
    monkeypatch.setenv("IMBALANCE_KIT_CACHE", str(tmp_path / "cache"))
    assert not cpu.handles(torch.zeros(1))
    assert cpu.status() == "no build worked: blocked torch code"
    assert list((tmp_path / "cache").iterdir()) == []
