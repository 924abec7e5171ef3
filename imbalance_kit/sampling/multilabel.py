"""Label-balanced sampling for multi-label data: a label first, then a sample that has it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from imbalance_kit._validation import (
    check_ndim,
    check_non_negative,
    check_non_negative_tensor,
    error,
)
from imbalance_kit.sampling._common import (
    CHUNK,
    AliasTable,
    ShardedSampler,
    exponential_race,
    group_members,
)
from imbalance_kit.weights import _as_tensor

__all__ = ["MultiLabelBalancedSampler"]


class MultiLabelBalancedSampler(ShardedSampler):
    r"""Balance rare labels in multi-label data: draw a label, then a sample carrying it.

    Each draw picks a group ``g`` (a label, or the group of samples with no
    positive label) with probability proportional to ``n_g ** power`` and then
    one of its ``n_g`` samples uniformly, so a sample's probability is

    $$
    P(i) = \sum_{g \ni i} \frac{n_g^{\,q}}{\sum_{h:\, n_h > 0} n_h^{\,q}} \cdot \frac{1}{n_g}.
    $$

    With ``power=0`` every label (and the no-label group) is drawn equally
    often, however rare; samples with several labels are reachable through
    each of them. A sample has label ``l`` when ``targets[i, l] > 0.5``.

    ``replacement=False`` draws each index at most once, one after another
    with the probabilities above (exponential race). Sharding, seeding and
    padding under DDP are those of the other samplers.

    Reference: Shen et al., "Relay Backpropagation for Effective Learning of
    Deep Convolutional Neural Networks", ECCV 2016 (class-aware sampling); Wu
    et al., "Distribution-Balanced Loss for Multi-Label Classification in
    Long-Tailed Datasets", ECCV 2020 (its multi-label use).

    Args:
        targets: ``(N, L)`` multi-label targets in ``[0, 1]`` (bool, integer or
            float; soft targets count as positive above 0.5; any device).
        num_samples: indices per epoch over all ranks (default ``N``).
        power: exponent ``q >= 0`` on the group sizes.
        replacement: draw with replacement.
        include_negatives: treat samples without any positive label as one
            more group (otherwise they are never drawn).
        seed: base seed, shared by all ranks.
        num_replicas: number of DDP processes (default from ``torch.distributed``, else 1).
        rank: this process's rank (default from ``torch.distributed``, else 0).

    Attributes:
        label_counts: ``(L,)`` int64 positives per label.
        negative_count: number of samples without a positive label.
        group_probabilities: ``(L + 1,)`` float64 probability of drawing each
            label, the last entry being the no-label group.
        balances_classes: ``True`` when ``power < 1``.

    Raises:
        ValueError: ``targets`` not 2-D, empty, NaN/inf or outside ``[0, 1]``; no sample
            can be drawn;
            negative ``power``; ``num_samples`` too large without replacement.

    Examples:
        >>> y = torch.zeros(100, 3)
        >>> y[:5, 0] = 1; y[5:30, 1] = 1; y[:2, 2] = 1
        >>> sampler = MultiLabelBalancedSampler(y, num_samples=10, seed=0)
        >>> sampler.group_probabilities.tolist()
        [0.25, 0.25, 0.25, 0.25]
        >>> len(list(sampler))
        10
    """

    def __init__(
        self,
        targets: Any,
        num_samples: int | None = None,
        power: float = 0.0,
        replacement: bool = True,
        *,
        include_negatives: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        check_non_negative("power", power)
        y = _as_tensor("targets", targets)
        check_ndim("targets", y, 2)
        n, num_labels = y.shape
        if n == 0 or num_labels == 0:
            raise error("targets", "non-empty", f"shape {tuple(y.shape)}", raw=True)
        if y.dtype != torch.bool:
            if y.is_complex():
                raise error("targets", "real-valued", f"dtype {y.dtype}", TypeError, raw=True)
            check_non_negative_tensor("targets", y)  # NaN, inf and negatives
            if bool((y > 1).any()):
                raise error(
                    "targets", "0/1 targets (or soft targets in [0, 1])",
                    f"maximum {y.max().item()!r}", raw=True,
                )  # fmt: skip
        super().__init__(n if num_samples is None else num_samples, seed, num_replicas, rank)
        self.power = float(power)
        self.replacement = bool(replacement)
        self.include_negatives = bool(include_negatives)

        step = max(1, CHUNK // num_labels)

        def positive_rows(start: int) -> torch.Tensor:
            chunk = y[start : start + step]
            return (chunk > 0.5) if chunk.dtype != torch.bool else chunk

        group_counts = torch.zeros(num_labels + 1, dtype=torch.int64)
        for start in range(0, n, step):
            pos = positive_rows(start)
            group_counts[:num_labels] += pos.sum(0).cpu()
            group_counts[num_labels] += int((~pos.any(1)).sum())
        if not self.include_negatives:
            group_counts[num_labels] = 0
        self.label_counts = group_counts[:num_labels].clone()
        self.negative_count = int(group_counts[num_labels]) if self.include_negatives else 0
        if int(group_counts.sum()) == 0:
            raise ValueError(
                "targets must have a positive label somewhere (or include_negatives=True), got none"
            )

        def pairs() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for start in range(0, n, step):
                pos = positive_rows(start).cpu()
                rows, labels = torch.nonzero(pos, as_tuple=True)
                keys, values = [labels], [rows + start]
                if self.include_negatives:
                    neg = torch.nonzero(~pos.any(1)).reshape(-1)
                    keys.append(torch.full_like(neg, num_labels))
                    values.append(neg + start)
                yield torch.cat(keys), torch.cat(values)

        self._offsets, self._members = group_members(pairs(), group_counts, n)
        log_mass = torch.where(
            group_counts > 0,
            self.power * group_counts.to(torch.float64).clamp(min=1).log(),
            torch.tensor(-math.inf, dtype=torch.float64),
        )
        self.group_probabilities = torch.softmax(log_mass, 0)
        self._group_counts = group_counts
        self._group_table = AliasTable(self.group_probabilities)
        self._sample_probabilities: torch.Tensor | None = None
        if not self.replacement:
            per_member = self.group_probabilities / group_counts.clamp(min=1)
            probs = torch.zeros(n, dtype=torch.float64)
            probs.index_add_(
                0,
                self._members.long(),
                torch.repeat_interleave(per_member, group_counts),
            )
            reachable = int((probs > 0).sum())
            if self.num_samples > reachable:
                raise error(
                    "num_samples",
                    f"<= the number of drawable samples ({reachable}) without replacement",
                    self.num_samples,
                )
            self._sample_probabilities = probs.to(torch.float32)

    @property
    def balances_classes(self) -> bool:
        return self.power < 1.0 and int((self._group_counts > 0).sum()) > 1

    def _draw(self, generator: torch.Generator, length: int, keep: slice) -> torch.Tensor:
        group = self._group_table.sample(generator, length, keep)
        bits = torch.randint(0, 2**62, (length,), generator=generator)[keep]
        within = torch.remainder(bits, self._group_counts.index_select(0, group))
        return self._members.index_select(0, self._offsets.index_select(0, group) + within)

    def __iter__(self) -> Iterator[int]:
        epoch = self._start_epoch()
        if self._sample_probabilities is None:
            return self._iter_streamed(epoch, self._draw)
        probs = self._sample_probabilities
        picked = exponential_race(
            lambda a, b: probs[a:b],
            probs.numel(),
            self.num_samples,
            self.seed,
            epoch,
        )
        return self._iter_materialised(picked)
