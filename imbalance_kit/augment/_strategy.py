"""Resolution of ``sampling_strategy`` for over-sampling.

The semantics are those of imbalanced-learn's ``check_sampling_strategy`` with
``sampling_type="over-sampling"``: every form is turned into an ordered dict
``{class: number of synthetic samples to generate}`` sorted by class.

* ``"auto"`` / ``"not majority"``: every class but the majority is raised to
  the majority count; ``"not minority"``: every class but the minority;
  ``"minority"``: the minority class only; ``"all"``: every class (the majority
  gets 0 new samples).
* a float ``r`` in ``(0, 1]`` (binary targets only): each non-majority class is
  raised to ``int(r * n_majority)`` samples.
* a dict ``{class: target count}``: the listed classes are raised to the
  given counts (a count below the current one is an error).
* a callable ``f(y) -> dict``: as the dict form.

Ties for the majority (minority) class go to the smallest (first sorted) class
label, as in imbalanced-learn.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

import torch

from imbalance_kit._validation import check_choice, describe, error

__all__ = ["SAMPLING_STRATEGIES", "SamplingStrategy", "class_counts", "resolve_sampling_strategy"]

SAMPLING_STRATEGIES = ("auto", "minority", "not minority", "not majority", "all")

SamplingStrategy = (
    float
    | Literal["auto", "minority", "not minority", "not majority", "all"]
    | Mapping[Any, int]
    | Callable[..., Mapping[Any, int]]
)


def class_counts(y: torch.Tensor) -> dict[int, int]:
    """Sorted ``{class: count}`` of an integer label tensor (one host sync).

    Examples:
        >>> class_counts(torch.tensor([2, 0, 2, 2]))
        {0: 1, 2: 3}
    """
    if y.numel() == 0:
        return {}
    low, high = int(y.min()), int(y.max())
    if high - low <= 4 * y.numel() + 1024:  # counting is much faster than unique's sort
        counts = torch.bincount(y.long() - low, minlength=1)
        present = torch.nonzero(counts).squeeze(1)
        return dict(zip((present + low).tolist(), counts[present].tolist()))
    classes, counts = torch.unique(y, return_counts=True)
    return dict(zip(classes.tolist(), counts.tolist()))


def _from_targets(
    targets: Mapping[Any, Any], counts: Mapping[Hashable, int], name: str
) -> dict[Hashable, int]:
    if not isinstance(targets, Mapping):
        raise error(name, "a dict {class: target count}", targets)
    unknown = [key for key in targets if key not in counts]
    if unknown:
        present = ", ".join(repr(c) for c in counts)
        raise error(
            name,
            f"a dict whose keys are classes present in y ({present})",
            f"unknown class(es) {', '.join(repr(k) for k in unknown)}",
            raw=True,
        )
    out: dict[Hashable, int] = {}
    for key, target in targets.items():
        if isinstance(target, bool) or not isinstance(target, numbers.Integral):
            raise error(f"{name}[{key!r}]", "an integer target count", target)
        current = counts[key]
        if int(target) < current:
            raise error(
                f"{name}[{key!r}]",
                f">= {current}, the current count of class {key!r} "
                "(over-sampling never removes samples)",
                int(target),
            )
        out[key] = int(target) - current
    return out


def resolve_sampling_strategy(
    sampling_strategy: SamplingStrategy,
    counts: Mapping[Hashable, int],
    y: Any = None,
    *,
    name: str = "sampling_strategy",
    target_name: str = "y",
) -> dict[Hashable, int]:
    """Turn ``sampling_strategy`` into ``{class: number of samples to generate}``.

    Args:
        sampling_strategy: a string, float, dict or callable (see the module doc).
        counts: current ``{class: count}`` of every class present, sorted by class.
        y: the target handed to a callable strategy.
        name: the argument name used in error messages.
        target_name: the target's name used in error messages.

    Returns:
        An ordered dict ``{class: n_new}`` sorted by class. String forms list every
        targeted class, even at 0; dict, float and callable forms list the classes
        they name (float: every non-majority class).

    Raises:
        ValueError: fewer than 2 classes, an unknown string, a float outside
            ``(0, 1]`` or on a non-binary target, a float that would remove samples,
            a dict naming an absent class or asking for fewer samples than present.
        TypeError: a strategy of another type.

    Examples:
        >>> resolve_sampling_strategy("auto", {0: 90, 1: 10, 2: 40})
        {1: 80, 2: 50}
        >>> resolve_sampling_strategy(0.5, {0: 90, 1: 10})
        {1: 35}
        >>> resolve_sampling_strategy({1: 30}, {0: 90, 1: 10})
        {1: 20}
    """
    counts = dict(sorted(counts.items()))
    if len(counts) < 2:
        raise error(
            target_name,
            "a target with at least 2 classes to balance",
            f"{len(counts)} class {list(counts)}",
            raw=True,
        )
    majority = max(counts, key=counts.__getitem__)
    minority = min(counts, key=counts.__getitem__)
    n_majority = counts[majority]

    if isinstance(sampling_strategy, str):
        check_choice(name, sampling_strategy, SAMPLING_STRATEGIES)
        if sampling_strategy in ("auto", "not majority"):
            keep = [c for c in counts if c != majority]
        elif sampling_strategy == "not minority":
            keep = [c for c in counts if c != minority]
        elif sampling_strategy == "minority":
            keep = [minority]
        else:  # "all"
            keep = list(counts)
        return {c: n_majority - counts[c] for c in keep}

    if isinstance(sampling_strategy, numbers.Real) and not isinstance(sampling_strategy, bool):
        ratio = float(sampling_strategy)
        if not 0.0 < ratio <= 1.0:
            raise error(name, "in (0, 1] when a float", sampling_strategy)
        if len(counts) != 2:
            raise error(
                name,
                "a string, dict or callable when the target has more than 2 classes "
                "(a float ratio is for binary targets)",
                sampling_strategy,
            )
        out = {c: int(n_majority * ratio - n) for c, n in counts.items() if c != majority}
        if any(v <= 0 for v in out.values()):
            current = counts[minority] / n_majority
            raise error(
                name,
                f"> {current:.6g}, the current minority/majority ratio (a float is the ratio "
                "after over-sampling)",
                sampling_strategy,
            )
        return out

    if isinstance(sampling_strategy, Mapping):
        return dict(sorted(_from_targets(sampling_strategy, counts, name).items()))

    if callable(sampling_strategy):
        targets = sampling_strategy(y)
        if not isinstance(targets, Mapping):
            raise error(
                name,
                "a callable returning a dict {class: target count}",
                f"a callable returning {describe(targets)}",
                TypeError,
                raw=True,
            )
        return dict(sorted(_from_targets(targets, counts, name).items()))

    listed = ", ".join(repr(s) for s in SAMPLING_STRATEGIES)
    raise error(
        name,
        f"one of {listed}, a float in (0, 1], a dict or a callable",
        sampling_strategy,
        TypeError,
    )
