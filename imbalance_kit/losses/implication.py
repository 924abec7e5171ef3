"""Soft penalty for violated label implications in multi-label outputs.

When a secondary label implies its primary (``"tail_event/fight"`` implies
``"tail_event"``, ``"slur"`` implies ``"hateful"``), a model should never be
more confident in the child than in the parent. This penalty adds the amount
by which it is, per sample and pair.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from imbalance_kit._validation import (
    check_dtype_floating,
    check_ndim,
    check_non_negative_tensor,
    check_positive_int,
    check_tensor,
    describe,
    error,
)
from imbalance_kit.losses._common import (
    Reduction,
    check_logits_device,
    check_module_weight,
    check_reduction,
    check_weight_tensor,
    reduce_loss,
)

__all__ = ["ImplicationPenalty", "implication_penalty"]

LabelRef = int | str
Implications = torch.Tensor | Sequence[Sequence[LabelRef]]
LabelNames = Sequence[str] | Mapping[str, int]


def _label_index(ref: object, num_labels: int, names: dict[str, int] | None) -> int:
    if isinstance(ref, str):
        if names is None:
            raise error(
                "implications",
                "pairs of integer label indices when labels is not given",
                f"label name {ref!r}",
                raw=True,
            )
        if ref not in names:
            raise error("implications", "pairs of names listed in labels", f"{ref!r}", raw=True)
        return names[ref]
    if isinstance(ref, bool) or not isinstance(ref, int):
        try:
            ref = operator.index(ref)  # numpy / 0-D integer tensors
        except TypeError:
            raise error("implications", "pairs of label indices or names", ref) from None
    if not 0 <= ref < num_labels:
        raise error("implications", f"label indices in [0, {num_labels})", f"{ref}", raw=True)
    return int(ref)


def _resolve_implications(
    implications: Implications,
    num_labels: int,
    labels: LabelNames | None,
    device: torch.device | None,
    validate_args: bool = True,
) -> torch.Tensor:
    """Turn the user's pairs into an ``(M, 2)`` int64 tensor of (child, parent) indices."""
    names: dict[str, int] | None = None
    if labels is not None:
        if isinstance(labels, Mapping):
            names = {str(k): int(v) for k, v in labels.items()}
        elif isinstance(labels, str) or not isinstance(labels, Sequence):
            raise error("labels", "a sequence of label names or a name -> index mapping", labels)
        else:
            names = {str(name): i for i, name in enumerate(labels)}
            if len(names) != len(labels):
                raise error("labels", "unique names", labels)
        bad = [n for n, i in names.items() if not 0 <= i < num_labels]
        if bad:
            raise error("labels", f"indices in [0, {num_labels})", f"{bad[0]!r}", raw=True)

    if isinstance(implications, torch.Tensor):
        pairs = implications
        if pairs.is_floating_point() or pairs.is_complex() or pairs.dtype == torch.bool:
            raise error(
                "implications", "an integer tensor", f"dtype {pairs.dtype}", TypeError, raw=True
            )
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise error("implications", "of shape (M, 2)", f"shape {tuple(pairs.shape)}", raw=True)
        pairs = pairs.to(device=device, dtype=torch.long)
        if validate_args and pairs.numel():
            lo, hi = int(pairs.min()), int(pairs.max())
            if lo < 0 or hi >= num_labels:
                bad_index = lo if lo < 0 else hi
                raise error(
                    "implications", f"label indices in [0, {num_labels})", f"{bad_index}", raw=True
                )
    else:
        if isinstance(implications, (str, bytes)) or not isinstance(implications, Sequence):
            raise error(
                "implications",
                "a sequence of (child, parent) pairs or an (M, 2) tensor",
                implications,
            )
        rows = []
        for pair in implications:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise error(
                    "implications", "a sequence of (child, parent) pairs", describe(pair), raw=True
                )
            rows.append([_label_index(r, num_labels, names) for r in pair])
        pairs = torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, 2)

    if pairs.shape[0] == 0:
        raise error("implications", "at least one (child, parent) pair", "none", raw=True)
    if validate_args or not isinstance(implications, torch.Tensor):
        same = pairs[:, 0] == pairs[:, 1]
        if bool(same.any()):
            k = int(same.nonzero()[0, 0])
            raise error(
                "implications",
                "pairs of two different labels",
                f"pair {k} = ({int(pairs[k, 0])}, {int(pairs[k, 1])})",
                raw=True,
            )
    return pairs


def implication_penalty(
    logits: torch.Tensor,
    implications: Implications,
    *,
    weight: torch.Tensor | None = None,
    labels: LabelNames | None = None,
    reduction: Reduction = "mean",
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Soft penalty for a child label predicted more likely than its parent.

    For each (child, parent) pair $k$, where the child label implies the
    parent (a secondary label implies its primary), and each sample $n$:

    ```math
    \ell_{n,k} = w_k \,\max\!\left(0,\; \sigma(z_{n,c_k}) - \sigma(z_{n,p_k})\right).
    ```

    The penalty is zero whenever the parent's probability is at least the
    child's, so it only pushes on violations and leaves consistent outputs
    alone. Add it to a multi-label loss with a coefficient, e.g.
    ``bce + 0.5 * implication_penalty(logits, pairs)``. Chains (a -> b -> c)
    are expressed as one pair per edge.

    Reference: the hierarchy-violation penalty of hierarchical multi-label
    classification, e.g. Giunchiglia and Lukasiewicz, "Coherent Hierarchical
    Multi-Label Classification Networks", NeurIPS 2020 (which enforces the
    same constraint $p_{child} \le p_{parent}$ by construction).

    Args:
        logits: multi-label scores ``(N, L)`` (or ``(..., L)``: the last
            dimension indexes labels); floating point.
        implications: the (child, parent) pairs, either a sequence of pairs
            or an integer tensor of shape ``(M, 2)``. Pair entries are label
            indices, or label names when ``labels`` is given. Self-pairs and
            an empty list are refused.
        weight: optional non-negative per-pair weight of shape ``(M,)``.
        labels: label names, to write ``implications`` by name: either the
            names in column order (``["hateful", "slur"]``: column 0 is
            ``"hateful"``) or a mapping ``{name: column index}``.
        reduction: ``"none"`` gives the ``(..., M)`` per-sample, per-pair
            penalty; ``"mean"`` divides its (weighted) sum by the number of
            elements ``N * M`` (like ``F.binary_cross_entropy``'s ``weight``,
            the weights are not renormalised); ``"sum"`` sums it.
        validate_args: check tensor values (index range and self-pairs of a
            tensor ``implications``, non-negative ``weight``); this reads the
            data and synchronises on CUDA. A list of pairs is always checked.

    Returns:
        The reduced penalty (0-D), or ``(..., M)`` for ``"none"``.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor, or
            ``implications`` is a non-integer tensor.
        ValueError: a label index out of range, an unknown name, a self-pair,
            no pairs, ``weight`` of the wrong shape or negative, a bad
            ``reduction``.

    Examples:
        >>> logits = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])  # columns: hateful, slur
        >>> implication_penalty(logits, [("slur", "hateful")], labels=["hateful", "slur"],
        ...                     reduction="none")
        tensor([[0.0000],
                [0.4621]])
    """
    check_tensor("logits", logits)
    check_dtype_floating("logits", logits)
    check_logits_device(logits)
    check_ndim("logits", logits, min_ndim=1)
    check_reduction(reduction)
    pairs = _resolve_implications(
        implications, logits.shape[-1], labels, logits.device, validate_args=validate_args
    )
    if weight is not None:
        check_weight_tensor("weight", weight, logits)
        if weight.shape != (pairs.shape[0],):
            raise error(
                "weight",
                f"of shape ({pairs.shape[0]},), one per implication",
                f"shape {tuple(weight.shape)}",
                raw=True,
            )
        if validate_args:
            check_non_negative_tensor("weight", weight)

    probs = torch.sigmoid(logits)
    child = probs.index_select(-1, pairs[:, 0])
    parent = probs.index_select(-1, pairs[:, 1])
    loss = torch.relu(child - parent)
    if weight is not None:
        loss = loss * weight.to(device=loss.device, dtype=loss.dtype)
    return reduce_loss(loss, reduction)


class ImplicationPenalty(nn.Module):
    r"""Module twin of [`implication_penalty`][imbalance_kit.losses.implication_penalty];
    ``forward`` only calls it.

    The pairs are resolved (names to indices) once here and kept as an
    ``(M, 2)`` buffer, so they move with ``.to(device)``.

    Args:
        implications: (child, parent) pairs or an ``(M, 2)`` integer tensor.
        num_labels: the number of label columns ``L``, to check the pairs now.
        weight: optional per-pair weight ``(M,)``, kept as a buffer.
        labels: label names (sequence in column order, or name -> index).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        validate_args: check tensor values on every call.

    Examples:
        >>> penalty = ImplicationPenalty([("slur", "hateful")], labels=["hateful", "slur"])
        >>> penalty(torch.tensor([[2.0, 0.0], [-1.0, 1.0]]))
        tensor(0.2311)
    """

    implications: torch.Tensor
    weight: torch.Tensor | None

    def __init__(
        self,
        implications: Implications,
        num_labels: int | None = None,
        *,
        weight: torch.Tensor | None = None,
        labels: LabelNames | None = None,
        reduction: Reduction = "mean",
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        if num_labels is not None:
            check_positive_int("num_labels", num_labels)
        elif labels is not None and not isinstance(labels, Mapping):
            num_labels = len(labels)
        else:
            num_labels = 2**62  # the range is checked against the logits on each call
        pairs = _resolve_implications(implications, num_labels, labels, None)
        if weight is not None:
            check_tensor("weight", weight)
        self.reduction = reduction
        self.validate_args = validate_args
        self.register_buffer("implications", pairs)
        check_module_weight("weight", weight, validate_args=validate_args)
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Compute the penalty; see
        [`implication_penalty`][imbalance_kit.losses.implication_penalty]."""
        return implication_penalty(
            logits,
            self.implications,
            weight=self.weight,
            reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"num_pairs={self.implications.shape[0]}, reduction={self.reduction!r}"
