"""Table-driven bad-input batteries: every malformed call must raise a clear error.

A battery is a list of `BadCall`: a thunk that makes one malformed call and
the argument names its error must mention. `classify` runs one call and
sorts the outcome into

* ``"clear"``: a ``ValueError`` or ``TypeError`` (or the listed types) whose message
  names the argument;
* ``"unclear"``: the right exception type, but the message names none of the arguments;
* ``"wrong"``: no exception at all: the call returned a value (a silent wrong answer);
* ``"crash"``: another exception (``RuntimeError``, ``IndexError``, ``MemoryError``, ...);
* ``"hang"``: it ran past the time limit.

`tally` runs a battery and counts the outcomes; `assert_clear` is the
pytest form. Calls run in-process under an optional time limit (``SIGALRM``, main
thread only) and an optional cap on the address space (Linux), so a call that would
allocate a huge tensor fails fast instead of exhausting the machine.

`mutations` makes the standard malformed variants of a good tensor argument
(wrong type, dtype and shape, empty, NaN, inf, out-of-range values, the meta device,
huge labels), so a battery is a few lines per function.

Examples:
    >>> import torch
    >>> def mean(x):
    ...     if not x.is_floating_point():
    ...         raise TypeError(f"x must be floating point, got {x.dtype}")
    ...     return x.mean()
    >>> cases = [
    ...     BadCall("int", lambda: mean(torch.tensor([1, 2])), ("x",)),
    ...     BadCall("nan", lambda: mean(torch.tensor([float("nan")])), ("x",)),
    ... ]
    >>> [classify(case)[0] for case in cases]
    ['clear', 'wrong']
    >>> tally(cases).counts
    {'tried': 2, 'clear': 1, 'unclear': 0, 'wrong': 1, 'crash': 0, 'hang': 0}
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "HUGE_LABEL",
    "OUTCOMES",
    "BadCall",
    "BatteryReport",
    "assert_clear",
    "battery",
    "classify",
    "mutations",
    "tally",
]

OUTCOMES = ("clear", "unclear", "wrong", "crash", "hang")

#: Largest label used by the "huge label" mutation.
HUGE_LABEL = 10**9


@dataclass(frozen=True)
class BadCall:
    """One malformed call.

    Attributes:
        id: a readable identifier (shown in failures), e.g. ``"per_class_recall/target/nan"``.
        call: a thunk making the call.
        names: the error message must contain one of these (the argument's name).
        errors: the exception types that count as a clear refusal.
    """

    id: str
    call: Callable[[], Any]
    names: tuple[str, ...]
    errors: tuple[type[BaseException], ...] = (ValueError, TypeError)


class _Timeout(BaseException):
    """Raised by the alarm handler; a BaseException so ``except Exception`` can't swallow it."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int | None:
    """Current virtual memory size of this process in bytes (Linux), else None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def _memory_limit(headroom: int | None) -> Iterator[None]:
    """Cap the address space at its current size plus ``headroom`` bytes (Linux only)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        resource = None  # type: ignore[assignment]
    current = _address_space() if headroom is not None else None
    if resource is None or current is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = current + int(headroom)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def classify(
    case: BadCall, *, time_limit: float | None = 30.0, memory_headroom: int | None = None
) -> tuple[str, str]:
    """Run one bad call; return ``(outcome, detail)``.

    Args:
        case: the call.
        time_limit: seconds before the call counts as a hang (``None``: no limit).
        memory_headroom: bytes the call may add to the address space (Linux;
            ``None``: no cap). A huge allocation then fails instead of swapping.

    Returns:
        ``(outcome, detail)``: the outcome is one of `OUTCOMES`; the detail is
        the exception's type and message, or the returned value's rendering.
    """
    try:
        with _memory_limit(memory_headroom), _time_limit(time_limit):
            result = case.call()
    except _Timeout:
        return "hang", f"no answer within {time_limit} s"
    except case.errors as exc:
        message = str(exc)
        detail = f"{type(exc).__name__}: {message}"
        if any(name in message for name in case.names):
            return "clear", detail
        return "unclear", detail
    except BaseException as exc:  # every other failure is a crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "crash", f"{type(exc).__name__}: {exc}"
    text = repr(result)
    return "wrong", "returned " + (text if len(text) <= 200 else text[:197] + "...")


@dataclass
class BatteryReport:
    """Outcome counts of a battery and the calls that were not clear errors."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        head = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        lines = [
            head,
            *(f"  [{outcome}] {cid}: {detail}" for cid, outcome, detail in self.failures),
        ]
        return "\n".join(lines)


def tally(
    cases: Iterable[BadCall],
    *,
    time_limit: float | None = 30.0,
    memory_headroom: int | None = None,
) -> BatteryReport:
    """Run every call; count ``tried`` and each outcome, and list the non-clear ones."""
    report = BatteryReport(counts={"tried": 0, **dict.fromkeys(OUTCOMES, 0)})
    for case in cases:
        outcome, detail = classify(case, time_limit=time_limit, memory_headroom=memory_headroom)
        report.counts["tried"] += 1
        report.counts[outcome] += 1
        if outcome != "clear":
            report.failures.append((case.id, outcome, detail))
    return report


def assert_clear(
    case: BadCall, *, time_limit: float | None = 30.0, memory_headroom: int | None = 2 * 2**30
) -> str:
    """Fail (``AssertionError``) unless ``case`` raises a clear error; return its message."""
    outcome, detail = classify(case, time_limit=time_limit, memory_headroom=memory_headroom)
    if outcome != "clear":
        names = " or ".join(repr(n) for n in case.names)
        raise AssertionError(
            f"{case.id}: expected a clear error naming {names}, got {outcome}: {detail}"
        )
    return detail


# ----------------------------------------------------------------------- mutations


def _with_first(value: torch.Tensor, fill: float) -> torch.Tensor:
    out = value.clone()
    out.view(-1)[0] = fill
    return out


def mutations(kind: str, good: torch.Tensor) -> list[tuple[str, Any]]:
    """Standard malformed variants of a good tensor argument.

    Args:
        kind: what the argument holds:

            * ``"labels"``: integer class indices (any shape): a fractional float
              copy, an extra dimension, empty, a negative label, a huge label
              (`HUGE_LABEL`), the meta device, a string;
            * ``"binary"``: 0/1 targets: as ``"labels"`` plus the value 2;
            * ``"scores"``: floating values: an integer copy, an extra dimension,
              empty, NaN, +inf, -inf, the meta device, a string;
            * ``"probs"``: probabilities: as ``"scores"`` plus the value 5.0;
            * ``"counts"``: non-negative counts or weights: as ``"scores"`` without
              the integer copy, plus -1;
            * ``"features"``: a 2-D feature matrix: as ``"scores"`` but the shape
              variants are 1-D and zero rows.
        good: a valid value of the argument.

    Returns:
        ``[(label, bad value), ...]``.

    Examples:
        >>> [label for label, _ in mutations("labels", torch.tensor([0, 1, 1]))]
        ['str', 'float', 'ndim+1', 'empty', 'negative', 'huge', 'meta']
    """
    out: list[tuple[str, Any]] = [("str", "abc")]
    if kind in ("labels", "binary"):
        out += [
            ("float", good.double() + 0.5),
            ("ndim+1", good.unsqueeze(-1)),
            ("empty", good.reshape(-1)[:0]),
            ("negative", _with_first(good, -1)),
            ("huge", _with_first(good.long(), HUGE_LABEL)),
        ]
        if kind == "binary":
            out.append(("two", _with_first(good, 2)))
    elif kind in ("scores", "probs", "counts", "features"):
        if kind == "features":
            out += [("1d", good.reshape(-1)), ("no rows", good[:0])]
        else:
            out += [("ndim+1", good.unsqueeze(-1)), ("empty", good.reshape(-1)[:0])]
        if kind != "counts":  # integer counts and weights are valid
            out.append(("int", good.round().long()))
        out += [
            ("nan", _with_first(good, math.nan)),
            ("inf", _with_first(good, math.inf)),
            ("-inf", _with_first(good, -math.inf)),
        ]
        if kind == "probs":
            out.append(("five", _with_first(good, 5.0)))
        if kind == "counts":
            out.append(("negative", _with_first(good, -1.0)))
    else:
        raise ValueError(
            "kind must be one of 'labels', 'binary', 'scores', 'probs', 'counts', "
            f"'features', got {kind!r}"
        )
    out.append(("meta", good.to("meta")))
    return out


def battery(
    prefix: str,
    make_call: Callable[..., Any],
    good: dict[str, Any],
    kinds: dict[str, str],
    *,
    skip: Sequence[str] = (),
    names: dict[str, tuple[str, ...]] | None = None,
) -> list[BadCall]:
    """Bad calls from one good call: each tensor argument replaced by each of its mutations.

    Args:
        prefix: id prefix (the function's name).
        make_call: called as ``make_call(**arguments)``.
        good: the good arguments.
        kinds: ``{argument: kind}`` for the tensor arguments to mutate (see `mutations`).
        skip: mutation ids ``"argument/label"`` to leave out (documented results).
        names: names the error may mention per argument (default: the argument's own).

    Examples:
        >>> import torch
        >>> def total(x):
        ...     return x.sum()
        >>> cases = battery("total", total, {"x": torch.ones(3)}, {"x": "scores"})
        >>> len(cases), cases[0].id
        (8, 'total/x/str')
    """
    cases = []
    for arg, kind in kinds.items():
        for label, bad in mutations(kind, good[arg]):
            cid = f"{arg}/{label}"
            if cid in skip:
                continue
            arguments = {**good, arg: bad}
            accepted = (names or {}).get(arg, (arg,))
            cases.append(
                BadCall(f"{prefix}/{cid}", (lambda a=arguments: make_call(**a)), tuple(accepted))
            )
    return cases
