"""Bad input to every public loss, function and module: a clear error or the documented value.

A table of calls is built from one valid call per loss and a list of mutations (wrong dtype,
wrong shape, empty batch, NaN / Inf in every tensor argument, out-of-range classes on both
backends, unknown option strings, meta-device and wrong-length weights). Each call has one
expected outcome:

* ``error``: a ``ValueError`` / ``TypeError`` / ``RuntimeError`` whose message follows the
  library's template (``"<name> must be ..."``) and names the argument (and ``device`` for
  device errors);
* ``nan``: a non-finite result (NaN logits propagate, as in torch's losses; an out-of-range
  class with ``validate_args=False`` gives a NaN row on every backend);
* ``value``: a finite result (e.g. ``"sum"`` over an empty batch is 0).

Anything else is a wrong answer (a value where an error or NaN was due) or a crash (another
exception, or an error that does not name the argument). :func:`run_battery` counts them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

os.environ.setdefault("TRITON_INTERPRET", "1")  # as tests/conftest.py, also when run directly

import imbalance_kit.losses as L

pytest.importorskip("triton")  # the Triton backend runs on CPU tensors through the interpreter

C = 4
COUNTS = [40.0, 20.0, 8.0, 2.0]
NAN, INF = float("nan"), float("inf")


@dataclass
class Call:
    label: str
    thunk: Callable[[], object]
    expect: str  # "error" | "nan" | "value"
    names: tuple[str, ...] = ()  # words the error message must contain


def _x(n=6, c=C):
    return torch.randn(n, c, generator=torch.Generator().manual_seed(n * 100 + c))


def _y(n=6, c=C):
    return torch.arange(n) % c


def _t(n=6, c=C):
    return (torch.arange(n * c).reshape(n, c) % 3 == 0).float()


def _with(tensor: torch.Tensor, value: float) -> torch.Tensor:
    out = tensor.clone()
    out.view(-1)[1] = value
    return out


# ----------------------------------------------------------------------------- the table


def _class_losses() -> dict[str, Callable]:
    """Softmax-family losses: fn(logits, target, **kw) with class-index targets."""
    return {
        "softmax_focal_loss": lambda x, y, **kw: L.softmax_focal_loss(x, y, **kw),
        "balanced_softmax_loss": lambda x, y, **kw: L.balanced_softmax_loss(x, y, COUNTS, **kw),
        "logit_adjusted_loss": lambda x, y, **kw: L.logit_adjusted_loss(x, y, COUNTS, **kw),
        "ldam_loss": lambda x, y, **kw: L.ldam_loss(x, y, COUNTS, **kw),
        "class_balanced_loss": lambda x, y, **kw: L.class_balanced_loss(x, y, COUNTS, **kw),
        "class_balanced_loss[focal]": lambda x, y, **kw: L.class_balanced_loss(
            x, y, COUNTS, loss_type="focal", **kw
        ),
        "SoftmaxFocalLoss": lambda x, y, **kw: L.SoftmaxFocalLoss(**kw)(x, y),
        "BalancedSoftmaxLoss": lambda x, y, **kw: L.BalancedSoftmaxLoss(COUNTS, **kw)(x, y),
        "LogitAdjustedLoss": lambda x, y, **kw: L.LogitAdjustedLoss(COUNTS, **kw)(x, y),
        "LDAMLoss": lambda x, y, **kw: L.LDAMLoss(COUNTS, **kw)(x, y),
        "ClassBalancedLoss": lambda x, y, **kw: L.ClassBalancedLoss(COUNTS, **kw)(x, y),
    }


def _binary_losses() -> dict[str, Callable]:
    """Element-wise losses: fn(logits, targets, **kw) with targets in [0, 1]."""
    return {
        "sigmoid_focal_loss": lambda x, t, **kw: L.sigmoid_focal_loss(x, t, **kw),
        "asymmetric_loss": lambda x, t, **kw: L.asymmetric_loss(x, t, **kw),
        "SigmoidFocalLoss": lambda x, t, **kw: L.SigmoidFocalLoss(**kw)(x, t),
        "AsymmetricLoss": lambda x, t, **kw: L.AsymmetricLoss(**kw)(x, t),
    }


def build_calls() -> list[Call]:
    calls: list[Call] = []
    meta = torch.device("meta")
    for name, fn in _class_losses().items():
        weighted = not name.startswith(("class_balanced", "ClassBalanced"))
        backends = ["torch", "triton"]

        def add(label, thunk, expect, *names, _name=name):
            calls.append(Call(f"{_name}: {label}", thunk, expect, names))

        add("int logits", lambda fn=fn: fn(_x().long(), _y()), "error", "logits")
        add("1-D logits", lambda fn=fn: fn(_x()[:, 0], _y()), "error", "logits")
        add("float target", lambda fn=fn: fn(_x(), _y().float()), "error", "target")
        add("target shape", lambda fn=fn: fn(_x(), _y(5)), "error", "target")
        add("empty batch, sum", lambda fn=fn: fn(_x(0), _y(0), reduction="sum"), "value")
        add("empty batch, mean", lambda fn=fn: fn(_x(0), _y(0)), "nan")
        add("NaN logits", lambda fn=fn: fn(_with(_x(), NAN), _y()), "nan")
        add("+Inf logits", lambda fn=fn: fn(_with(_x(), INF), _y(), reduction="sum"), "nan")
        # -inf at a non-target class is a zero probability (a finite softmax loss); the
        # one-vs-all BCE of the sigmoid types is non-finite there, as in torch's BCE
        minus_inf = "nan" if name.endswith("[focal]") else "value"
        add("-Inf logits", lambda fn=fn: fn(_with(_x(), -INF), _y(), reduction="sum"), minus_inf)
        for backend in backends:
            add(f"NaN logits, {backend}",
                lambda fn=fn, b=backend: fn(_with(_x(), NAN), _y(), backend=b), "nan")  # fmt: skip
        add("reduction='avg'", lambda fn=fn: fn(_x(), _y(), reduction="avg"), "error", "reduction")
        add("backend='cuda'", lambda fn=fn: fn(_x(), _y(), backend="cuda"), "error", "backend")
        add("meta logits", lambda fn=fn: fn(_x().to(meta), _y().to(meta)), "error", "device")
        add("target on meta", lambda fn=fn: fn(_x(), _y().to(meta)), "error", "target", "device")
        for bad in (C, C + 5, 1000, -3):
            for backend in backends:
                add(
                    f"class {bad}, {backend}, validated",
                    lambda fn=fn, bad=bad, b=backend: fn(_x(), _with(_y(), bad), backend=b),
                    "error",
                    "target",
                )
                add(
                    f"class {bad}, {backend}, validate_args=False",
                    lambda fn=fn, bad=bad, b=backend: fn(
                        _x(), _with(_y(), bad), backend=b, validate_args=False
                    ),
                    "nan",
                )
        if weighted:
            w = torch.rand(C) + 0.5
            for what, value in (("NaN", NAN), ("Inf", INF), ("negative", -1.0)):
                add(f"{what} weight",
                    lambda fn=fn, v=value, w=w: fn(_x(), _y(), weight=_with(w, v)),
                    "error", "weight")  # fmt: skip
            add("weight length", lambda fn=fn: fn(_x(), _y(), weight=torch.ones(C + 1)),
                "error", "weight")  # fmt: skip
            add("int weight", lambda fn=fn: fn(_x(), _y(), weight=torch.ones(C, dtype=torch.long)),
                "error", "weight")  # fmt: skip
            add("meta weight", lambda fn=fn, w=w: fn(_x(), _y(), weight=w.to(meta)),
                "error", "weight", "device")  # fmt: skip
    # per-class statistics of the rebalanced losses
    for name, fn in {
        "balanced_softmax_loss": L.balanced_softmax_loss,
        "logit_adjusted_loss": L.logit_adjusted_loss,
        "ldam_loss": L.ldam_loss,
        "class_balanced_loss": L.class_balanced_loss,
        "BalancedSoftmaxLoss": lambda x, y, c: L.BalancedSoftmaxLoss(c)(x, y),
        "LogitAdjustedLoss": lambda x, y, c: L.LogitAdjustedLoss(c)(x, y),
        "LDAMLoss": lambda x, y, c: L.LDAMLoss(c)(x, y),
        "ClassBalancedLoss": lambda x, y, c: L.ClassBalancedLoss(c)(x, y),
    }.items():
        arg = "class_priors" if "ogit" in name else "samples_per_class"
        for what, counts in (
            ("NaN", [1.0, NAN, 2.0, 3.0]), ("Inf", [1.0, INF, 2.0, 3.0]),
            ("negative", [1.0, -2.0, 2.0, 3.0]), ("empty", []), ("wrong length", [1.0, 2.0]),
            ("2-D", [[1.0, 2.0, 3.0, 4.0]]), ("string", "1234"),
        ):  # fmt: skip
            calls.append(Call(f"{name}: {what} {arg}", lambda fn=fn, c=counts: fn(_x(), _y(), c),
                              "error", (arg,)))  # fmt: skip
    calls.append(Call("ldam_margins: empty", lambda: L.ldam_margins([]), "error",
                      ("samples_per_class",)))  # fmt: skip
    calls.append(Call("ldam_margins: zero", lambda: L.ldam_margins([1.0, 0.0]), "error",
                      ("samples_per_class",)))  # fmt: skip
    calls.append(Call("adjust_logits: NaN priors", lambda: L.adjust_logits(_x(), [1, NAN, 1, 1]),
                      "error", ("class_priors",)))  # fmt: skip
    for name, fn in _binary_losses().items():

        def add(label, thunk, expect, *names, _name=name):
            calls.append(Call(f"{_name}: {label}", thunk, expect, names))

        add("int logits", lambda fn=fn: fn(_x().long(), _t()), "error", "logits")
        add("targets shape", lambda fn=fn: fn(_x(), _t(5)), "error", "targets")
        add("empty, sum", lambda fn=fn: fn(_x(0), _t(0), reduction="sum"), "value")
        add("empty, mean", lambda fn=fn: fn(_x(0), _t(0)), "nan")
        add("NaN logits", lambda fn=fn: fn(_with(_x(), NAN), _t()), "nan")
        add("NaN target", lambda fn=fn: fn(_x(), _with(_t(), NAN)), "error", "targets")
        add("Inf target", lambda fn=fn: fn(_x(), _with(_t(), INF)), "error", "targets")
        add("target 2", lambda fn=fn: fn(_x(), _with(_t(), 2.0)), "error", "targets")
        add("reduction='avg'", lambda fn=fn: fn(_x(), _t(), reduction="avg"), "error", "reduction")
        add("meta logits", lambda fn=fn: fn(_x().to(meta), _t().to(meta)), "error", "device")
        add("targets on meta", lambda fn=fn: fn(_x(), _t().to(meta)), "error", "targets", "device")
        weights = ("weight", "pos_weight") if "igmoid" in name else ("weight",)
        for arg in weights:
            w = torch.rand(C) + 0.5
            for what, value in (("NaN", NAN), ("Inf", INF), ("negative", -1.0)):
                add(f"{what} {arg}",
                    lambda fn=fn, v=value, a=arg, w=w: fn(_x(), _t(), **{a: _with(w, v)}),
                    "error", arg)  # fmt: skip
            add(f"{arg} shape", lambda fn=fn, a=arg: fn(_x(), _t(), **{a: torch.ones(C + 1)}),
                "error", arg)  # fmt: skip
            add(f"meta {arg}", lambda fn=fn, a=arg, w=w: fn(_x(), _t(), **{a: w.to(meta)}),
                "error", arg, "device")  # fmt: skip
        if "igmoid" in name:
            for backend in ("torch", "triton"):
                add(f"backend {backend}, NaN target, validated",
                    lambda fn=fn, b=backend: fn(_x(), _with(_t(), NAN), backend=b),
                    "error", "targets")  # fmt: skip
            add("backend='cuda'", lambda fn=fn: fn(_x(), _t(), backend="cuda"), "error", "backend")
            for bad in (0.5, NAN, INF, 0.0):
                add(f"ignore_index={bad}", lambda fn=fn, b=bad: fn(_x(), _t(), ignore_index=b),
                    "error", "ignore_index")  # fmt: skip
    # implication penalty and the contrastive losses
    pairs = [(1, 0), (3, 2)]
    calls += [
        Call("implication_penalty: int logits",
             lambda: L.implication_penalty(_x().long(), pairs), "error", ("logits",)),
        Call("implication_penalty: NaN logits",
             lambda: L.implication_penalty(_with(_x(), NAN), pairs), "nan"),
        Call("implication_penalty: pair out of range",
             lambda: L.implication_penalty(_x(), [(1, 9)]), "error", ("implications",)),
        Call("implication_penalty: no pairs", lambda: L.implication_penalty(_x(), []), "error",
             ("implications",)),
        Call("implication_penalty: NaN weight",
             lambda: L.implication_penalty(_x(), pairs, weight=torch.tensor([1.0, NAN])),
             "error", ("weight",)),
        Call("implication_penalty: negative weight",
             lambda: L.implication_penalty(_x(), pairs, weight=torch.tensor([1.0, -1.0])),
             "error", ("weight",)),
        Call("implication_penalty: meta logits",
             lambda: L.implication_penalty(_x().to(meta), pairs), "error", ("logits", "device")),
        Call("implication_penalty: reduction",
             lambda: L.implication_penalty(_x(), pairs, reduction="avg"), "error", ("reduction",)),
        Call("ImplicationPenalty: NaN weight",
             lambda: L.ImplicationPenalty(pairs, weight=torch.tensor([NAN, 1.0])), "error",
             ("weight",)),
        Call("supervised_contrastive_loss: NaN features",
             lambda: L.supervised_contrastive_loss(_with(_x(), NAN), _y()), "error",
             ("features",)),
        Call("supervised_contrastive_loss: int features",
             lambda: L.supervised_contrastive_loss(_x().long(), _y()), "error", ("features",)),
        Call("supervised_contrastive_loss: meta features",
             lambda: L.supervised_contrastive_loss(_x().to(meta), _y().to(meta)), "error",
             ("features", "device")),
        Call("supervised_contrastive_loss: float labels",
             lambda: L.supervised_contrastive_loss(_x(), _y().float()), "error", ("labels",)),
        Call("supervised_contrastive_loss: labels length",
             lambda: L.supervised_contrastive_loss(_x(), _y(5)), "error", ("labels",)),
        Call("supervised_contrastive_loss: temperature 0",
             lambda: L.supervised_contrastive_loss(_x(), _y(), 0.0), "error", ("temperature",)),
        Call("nt_xent_loss: shape", lambda: L.nt_xent_loss(_x(), _x(5)), "error", ("z2",)),
        Call("nt_xent_loss: NaN", lambda: L.nt_xent_loss(_with(_x(), NAN), _x()), "error",
             ("features",)),
    ]  # fmt: skip
    # module constructors: bad weights are refused when the module is built
    for name, make in {
        "SigmoidFocalLoss(weight)": lambda w: L.SigmoidFocalLoss(weight=w),
        "SigmoidFocalLoss(pos_weight)": lambda w: L.SigmoidFocalLoss(pos_weight=w),
        "SoftmaxFocalLoss(weight)": lambda w: L.SoftmaxFocalLoss(weight=w),
        "SoftmaxFocalLoss(alpha)": lambda w: L.SoftmaxFocalLoss(alpha=w),
        "BalancedSoftmaxLoss(weight)": lambda w: L.BalancedSoftmaxLoss(COUNTS, weight=w),
        "LogitAdjustedLoss(weight)": lambda w: L.LogitAdjustedLoss(COUNTS, weight=w),
        "LDAMLoss(weight)": lambda w: L.LDAMLoss(COUNTS, weight=w),
        "AsymmetricLoss(weight)": lambda w: L.AsymmetricLoss(weight=w),
    }.items():
        arg = name[name.index("(") + 1 : -1]
        for what, value in (
            ("NaN", torch.tensor([1.0, NAN, 1.0, 1.0])),
            ("negative", torch.tensor([1.0, -1.0, 1.0, 1.0])),
            ("int", torch.ones(C, dtype=torch.long)), ("meta", torch.ones(C, device="meta")),
        ):  # fmt: skip
            calls.append(Call(f"{name}: {what}", lambda m=make, v=value: m(v), "error", (arg,)))
    # option strings and registry names
    calls += [
        Call("class_balanced_loss: loss_type", lambda: L.class_balanced_loss(_x(), _y(), COUNTS,
             loss_type="cb"), "error", ("loss_type",)),
        Call("get_loss: unknown", lambda: L.get_loss("nope"), "error", ("name",)),
        Call("get_loss: not a string", lambda: L.get_loss(3), "error", ("name",)),
        Call("register_loss: empty name", lambda: L.register_loss("", torch.nn.L1Loss), "error",
             ("name",)),
        Call("register_loss: taken", lambda: L.register_loss("ce", torch.nn.L1Loss), "error",
             ("name",)),
        Call("MultiTaskLoss: weighting", lambda: L.MultiTaskLoss({"a": "ce"}, weighting="x"),
             "error", ("weighting",)),
        Call("MultiTaskLoss: unknown loss", lambda: L.MultiTaskLoss({"a": "cee"}), "error",
             ("name",)),
    ]  # fmt: skip
    return calls


# ----------------------------------------------------------------------------- running


def classify(call: Call) -> tuple[str, str]:
    """``(outcome, detail)``: outcome is ``clear error``, ``correct``, ``wrong answer`` or
    ``crash``."""
    try:
        result = call.thunk()
    except (ValueError, TypeError, RuntimeError) as exc:
        message = str(exc)
        if call.expect != "error":
            return "crash", f"{type(exc).__name__}: {message}"
        named = all(word in message for word in call.names) and " must " in message
        return ("clear error" if named else "crash"), f"{type(exc).__name__}: {message}"
    except Exception as exc:  # anything else is a crash
        return "crash", f"{type(exc).__name__}: {exc}"
    if call.expect == "error":
        return "wrong answer", f"returned {result!r}"
    value = result if isinstance(result, torch.Tensor) else torch.tensor(math.nan)
    has_nan = not bool(torch.isfinite(value).all())
    if call.expect == "nan":
        return ("correct" if has_nan else "wrong answer"), f"returned {value!r}"
    return ("correct" if not has_nan else "wrong answer"), f"returned {value!r}"


def run_battery() -> dict[str, list[tuple[str, str]]]:
    outcomes: dict[str, list[tuple[str, str]]] = {
        "clear error": [], "correct": [], "wrong answer": [], "crash": []
    }  # fmt: skip
    for call in build_calls():
        outcome, detail = classify(call)
        outcomes[outcome].append((call.label, detail))
    return outcomes


def test_every_bad_call_gives_a_clear_error_or_the_documented_value():
    outcomes = run_battery()
    tried = sum(map(len, outcomes.values()))
    assert tried > 300
    assert len(outcomes["clear error"]) > 200
    assert outcomes["wrong answer"] == [] and outcomes["crash"] == []


def test_the_classifier_catches_wrong_answers_and_crashes():
    ok = torch.tensor(1.0)
    assert classify(Call("x", lambda: ok, "error", ("weight",)))[0] == "wrong answer"
    assert classify(Call("x", lambda: ok, "nan"))[0] == "wrong answer"

    def unnamed():
        raise ValueError("something must be positive")

    def index():
        raise IndexError("index 7 is out of bounds")

    assert classify(Call("x", unnamed, "error", ("weight",)))[0] == "crash"
    assert classify(Call("x", index, "error", ("weight",)))[0] == "crash"
    assert classify(Call("x", lambda: torch.tensor(NAN), "nan"))[0] == "correct"


if __name__ == "__main__":  # prints the counts: python tests/test_bad_input_losses.py
    found = run_battery()
    print(f"calls tried: {sum(map(len, found.values()))}")
    for outcome, items in found.items():
        print(f"{outcome}: {len(items)}")
        if outcome in ("wrong answer", "crash"):
            for label, detail in items:
                print(f"  {label}: {detail[:160]}")
