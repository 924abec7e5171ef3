"""Class-balanced sampling: a class by ``n_c ** power``, then a member uniformly."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from imbalance_kit._validation import check_non_negative, error
from imbalance_kit.sampling._common import (
    CHUNK,
    AliasTable,
    ShardedSampler,
    exponential_race,
    group_members,
    sampler_class_counts,
)
from imbalance_kit.weights import _as_labels

__all__ = ["ClassBalancedSampler"]


def _label_chunks(labels: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, labels.numel(), CHUNK):
        chunk = labels[start : start + CHUNK].to(device="cpu", dtype=torch.int64)
        yield chunk, torch.arange(start, start + chunk.numel())


class ClassBalancedSampler(ShardedSampler):
    r"""Draw a class with probability proportional to ``n_c ** power``, then a member uniformly.

    $$
    P(\text{class } c) = \frac{n_c^{\,q}}{\sum_{j:\, n_j > 0} n_j^{\,q}}, \qquad
    P(\text{sample } i) = \frac{P(\text{class } y_i)}{n_{y_i}}
    $$

    ``power=0`` gives every class the same share (class-balanced), ``0.5``
    square-root sampling, ``1`` the natural distribution (instance-balanced).
    Empty classes are never drawn.

    With ``replacement=True`` the draws are independent; the sampler keeps
    one int32 index per sample (4 bytes per sample) plus per-class tables,
    and streams an epoch of any length in fixed-size chunks. With
    ``replacement=False`` every index appears at most once: the draws follow
    the same per-sample probabilities one after another (exponential race,
    Efraimidis & Spirakis 2006) and ``num_samples`` may not exceed the number
    of samples.

    Under DDP each rank yields ``ceil(num_samples / num_replicas)`` indices;
    the ranks' shards together are the single-process draw for the same
    ``seed`` and epoch, padded as ``DistributedSampler`` pads.

    Reference: Kang et al., "Decoupling Representation and Classifier for
    Long-Tailed Recognition", ICLR 2020 (``q`` = 0, 1/2, 1).

    Args:
        labels: 1-D integer class labels (tensor on any device, numpy array or list).
        num_samples: indices per epoch over all ranks (default ``len(labels)``).
        power: exponent ``q >= 0`` on the class counts.
        replacement: draw with replacement.
        seed: base seed, shared by all ranks.
        num_replicas: number of DDP processes (default: the world size when
            ``torch.distributed`` is initialised, else 1).
        rank: this process's rank (default: from ``torch.distributed``, else 0).

    Attributes:
        class_counts: ``(C,)`` int64 samples per class.
        class_probabilities: ``(C,)`` float64 probability of drawing each class.
        balances_classes: ``True`` when ``power < 1`` (read by
            [`imbalance_kit.weights.warn_if_double_correction`][imbalance_kit.weights.warn_if_double_correction]).

    Raises:
        ValueError: empty labels, negative ``power``, ``num_samples`` not a
            positive integer (or larger than ``len(labels)`` without
            replacement), bad ``seed``/``rank``.

    Examples:
        >>> labels = torch.tensor([0] * 90 + [1] * 10)
        >>> sampler = ClassBalancedSampler(labels, num_samples=8, seed=0)
        >>> len(sampler), sampler.class_probabilities.tolist()
        (8, [0.5, 0.5])
        >>> sampler.set_epoch(3)
        >>> list(sampler) == list(sampler)  # same (seed, epoch), same draw
        True
        >>> loader = torch.utils.data.DataLoader(range(100), batch_size=4, sampler=sampler)
    """

    def __init__(
        self,
        labels: Any,
        num_samples: int | None = None,
        power: float = 0.0,
        replacement: bool = True,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        check_non_negative("power", power)
        tensor = _as_labels("labels", labels)
        n = tensor.numel()
        if n == 0:
            raise error("labels", "non-empty", "no labels", raw=True)
        super().__init__(n if num_samples is None else num_samples, seed, num_replicas, rank)
        if not replacement and self.num_samples > n:
            raise error(
                "num_samples", f"<= the number of samples ({n}) without replacement", num_samples
            )
        self.power = float(power)
        self.replacement = bool(replacement)
        counts = sampler_class_counts(tensor)
        self.class_counts = counts
        # n_c ** power normalised over the non-empty classes, in log space (no overflow)
        log_mass = torch.where(
            counts > 0,
            self.power * counts.to(torch.float64).clamp(min=1).log(),
            torch.tensor(-math.inf, dtype=torch.float64),
        )
        self.class_probabilities = torch.softmax(log_mass, 0)
        if not replacement:
            reachable = int(counts[self.class_probabilities > 0].sum())
            if self.num_samples > reachable:
                raise error(
                    "num_samples",
                    f"<= the number of samples of drawable classes ({reachable}) "
                    "without replacement",
                    self.num_samples,
                )
        self._offsets, self._members = group_members(_label_chunks(tensor), counts, n)
        self._class_table = AliasTable(self.class_probabilities)
        self._counts_f64 = counts.to(torch.float64)

    @property
    def balances_classes(self) -> bool:
        return self.power < 1.0 and int((self.class_counts > 0).sum()) > 1

    def _draw(self, generator: torch.Generator, length: int, keep: slice) -> torch.Tensor:
        cls = self._class_table.sample(generator, length, keep)
        # a uniform member: 62 random bits modulo the class size (bias < 2**-31)
        bits = torch.randint(0, 2**62, (length,), generator=generator)[keep]
        within = torch.remainder(bits, self.class_counts.index_select(0, cls))
        return self._members.index_select(0, self._offsets.index_select(0, cls) + within)

    def _position_weights(self, start: int, stop: int) -> torch.Tensor:
        # weight of the members stored at positions start..stop-1 of the class-sorted layout
        positions = torch.arange(start, stop)
        cls = torch.searchsorted(self._offsets[1:], positions, right=True)
        return self.class_probabilities.index_select(0, cls) / self._counts_f64.index_select(0, cls)

    def __iter__(self) -> Iterator[int]:
        epoch = self._start_epoch()
        if self.replacement:
            return self._iter_streamed(epoch, self._draw)
        n = self._members.numel()
        picked = exponential_race(self._position_weights, n, self.num_samples, self.seed, epoch)
        return self._iter_materialised(self._members.index_select(0, picked))
