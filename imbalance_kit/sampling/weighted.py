"""Weighted sampling at any size: a drop-in for ``WeightedRandomSampler``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import torch

from imbalance_kit._validation import check_ndim, check_non_negative_tensor, error
from imbalance_kit.sampling._common import AliasTable, ShardedSampler, exponential_race
from imbalance_kit.weights import _as_tensor

__all__ = ["WeightedSampler"]


class WeightedSampler(ShardedSampler):
    r"""Sample index ``i`` with probability proportional to ``weights[i]``, at any size.

    $$
    P(i) = \frac{w_i}{\sum_j w_j}
    $$

    A drop-in for ``torch.utils.data.WeightedRandomSampler(weights,
    num_samples, replacement)`` without its limit of ``2**24`` weights (which
    comes from ``torch.multinomial``), with a ``seed`` instead of a
    ``generator``, and DDP sharding.

    With replacement, draws come from a Walker alias table (two random
    numbers and one table read per index; 8 bytes per weight below ``2**31``
    weights) built in linear time; an epoch streams in fixed-size chunks. The
    table holds probabilities in float32 relative to the mean weight, so an
    item's probability is exact to about ``1e-7`` of the mean item
    probability. Without replacement each index appears at most once; the
    order is that of successive weighted draws (exponential race,
    Efraimidis & Spirakis 2006), like ``torch.multinomial(...,
    replacement=False)``.

    Under DDP each rank yields ``ceil(num_samples / num_replicas)`` indices;
    the ranks' shards together are the single-process draw for the same
    ``seed`` and epoch, padded as ``DistributedSampler`` pads.

    Reference: Walker, "An efficient method for generating discrete random
    variables with general distributions", ACM TOMS 1977; Efraimidis &
    Spirakis, "Weighted random sampling with a reservoir", IPL 2006.

    Args:
        weights: 1-D non-negative finite weights, not all zero (any device).
        num_samples: indices per epoch over all ranks.
        replacement: draw with replacement.
        seed: base seed, shared by all ranks.
        num_replicas: number of DDP processes (default from ``torch.distributed``, else 1).
        rank: this process's rank (default from ``torch.distributed``, else 0).

    Attributes:
        balances_classes: ``True`` when the weights are not all equal (read by
            [`imbalance_kit.weights.warn_if_double_correction`][imbalance_kit.weights.warn_if_double_correction]).

    Raises:
        ValueError: weights not 1-D, negative, NaN/inf or all zero;
            ``num_samples`` not a positive integer, or larger than the number of
            non-zero weights without replacement.

    Examples:
        >>> sampler = WeightedSampler(torch.tensor([0.1, 0.0, 0.9]), num_samples=5, seed=0)
        >>> idx = list(sampler)
        >>> len(idx), 1 in idx
        (5, False)
    """

    def __init__(
        self,
        weights: Any,
        num_samples: int,
        replacement: bool = True,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        super().__init__(num_samples, seed, num_replicas, rank)
        tensor = _as_tensor("weights", weights)
        check_ndim("weights", tensor, 1)
        if tensor.numel() == 0:
            raise error("weights", "non-empty", "an empty sequence", raw=True)
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float64)
        check_non_negative_tensor("weights", tensor)
        if not bool((tensor > 0).any()):
            raise error("weights", "not all zero", "all zeros", raw=True)
        self.replacement = bool(replacement)
        self._balances = bool(tensor.min() != tensor.max())
        if self.replacement:
            self._table: AliasTable | None = AliasTable(tensor)
            self._weights: torch.Tensor | None = None
        else:
            positive = int((tensor > 0).sum())
            if num_samples > positive:
                raise error(
                    "num_samples",
                    f"<= the number of non-zero weights ({positive}) without replacement",
                    num_samples,
                )
            self._table = None
            self._weights = tensor.detach().cpu()

    @property
    def balances_classes(self) -> bool:
        return self._balances

    def __iter__(self) -> Iterator[int]:
        epoch = self._start_epoch()
        if self._table is not None:
            return self._iter_streamed(epoch, self._table.sample)
        weights = cast(torch.Tensor, self._weights)  # kept when replacement is False
        picked = exponential_race(
            lambda a, b: weights[a:b],
            weights.numel(),
            self.num_samples,
            self.seed,
            epoch,
        )
        return self._iter_materialised(picked)
