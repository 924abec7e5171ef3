"""P x K batches: ``classes_per_batch`` classes, ``samples_per_class`` samples of each."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

from imbalance_kit._validation import check_positive_int, error
from imbalance_kit.sampling._common import (
    _STREAM_BATCHES,
    CHUNK,
    EpochShards,
    chunk_generator,
    group_members,
    index_dtype,
    sampler_class_counts,
)
from imbalance_kit.weights import _as_labels

__all__ = ["BalancedBatchSampler"]


class BalancedBatchSampler(EpochShards, Sampler[list[int]]):
    """A batch sampler whose every batch holds ``P`` classes with ``K`` samples each.

    Classes are visited in random order without repetition: each epoch walks
    through random permutations of the non-empty classes, ``P`` at a time (a
    permutation's last ``C mod P`` classes are skipped so that a batch never
    repeats a class; which ones is random), so every class appears equally
    often in expectation, however rare. Within a class, samples are taken in
    a fresh random order each epoch and cycled through ``K`` at a time, so a
    class's members are all used before any repeats. A class with fewer than
    ``K`` members repeats members inside the batch.

    Batches are lists of ``P * K`` indices, class by class. Pass the sampler
    as ``DataLoader(dataset, batch_sampler=...)``. Under DDP, ``num_batches``
    counts the batches of all ranks: rank ``r`` yields global batches
    ``r, r + R, ...`` (``ceil(num_batches / R)`` of them, padded by repeating
    the first ones as ``DistributedSampler`` pads), and the ranks' batches
    together are the single-process epoch.

    Cost: each epoch shuffles all ``len(labels)`` indices once (a random
    permutation, grouped by class), then gathers the batches; memory is a
    compact copy of the labels plus an epoch's worth of int32 indices.

    Reference: Hermans et al., "In Defense of the Triplet Loss for Person
    Re-Identification", 2017 (P x K batches).

    Args:
        labels: 1-D integer class labels (tensor on any device, numpy array or list).
        classes_per_batch: ``P``, at most the number of non-empty classes.
        samples_per_class: ``K``.
        num_batches: batches per epoch over all ranks (default
            ``max(1, len(labels) // (P * K))``).
        seed: base seed, shared by all ranks.
        num_replicas: number of DDP processes (default from ``torch.distributed``, else 1).
        rank: this process's rank (default from ``torch.distributed``, else 0).

    Raises:
        ValueError: ``P`` larger than the number of non-empty classes; non-positive
            ``P``, ``K`` or ``num_batches``; empty labels.

    Examples:
        >>> labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 20)
        >>> sampler = BalancedBatchSampler(labels, classes_per_batch=2, samples_per_class=3, seed=0)
        >>> batches = list(sampler)
        >>> len(batches), len(batches[0])
        (12, 6)
        >>> sorted(set(labels[batches[0]].tolist())) in ([0, 1], [0, 2], [1, 2])
        True
    """

    balances_classes = True

    def __init__(
        self,
        labels: Any,
        classes_per_batch: int,
        samples_per_class: int,
        num_batches: int | None = None,
        *,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        check_positive_int("classes_per_batch", classes_per_batch)
        check_positive_int("samples_per_class", samples_per_class)
        tensor = _as_labels("labels", labels)
        n = tensor.numel()
        if n == 0:
            raise error("labels", "non-empty", "no labels", raw=True)
        batch_size = classes_per_batch * samples_per_class
        default = max(1, n // batch_size)
        Sampler.__init__(self)
        self._init_shards(
            default if num_batches is None else num_batches,
            seed,
            num_replicas,
            rank,
            name="num_batches",
        )
        counts = sampler_class_counts(tensor)
        self.class_counts = counts
        self.classes = torch.nonzero(counts).reshape(-1)
        if classes_per_batch > self.classes.numel():
            raise error(
                "classes_per_batch",
                f"<= the number of non-empty classes ({self.classes.numel()})",
                classes_per_batch,
            )
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        label_dtype = torch.int16 if counts.numel() <= 2**15 else torch.int32
        self._labels = tensor.to(device="cpu", dtype=label_dtype)
        offsets = torch.zeros(counts.numel() + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=offsets[1:])
        self._offsets = offsets

    @property
    def num_batches(self) -> int:
        """Batches per epoch over all ranks."""
        return self.num_samples

    def _shuffled_pairs(self, perm: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, perm.numel(), CHUNK):
            idx = perm[start : start + CHUNK]
            yield self._labels.index_select(0, idx), idx

    def _epoch_batches(self, epoch: int) -> torch.Tensor:
        """The global ``(num_batches, P * K)`` batches of an epoch (int32 below 2**31 samples)."""
        gen = chunk_generator(self.seed, epoch, _STREAM_BATCHES, 0)
        n = self._labels.numel()
        p, k, nb = self.classes_per_batch, self.samples_per_class, self.num_batches
        # members of every class in a fresh random order: shuffle, then group stably by class
        perm = torch.randperm(n, generator=gen, dtype=index_dtype(n))
        _, members = group_members(self._shuffled_pairs(perm), self.class_counts, n)
        del perm
        # class sequence: permutations of the classes, P at a time
        num_present = self.classes.numel()
        per_cycle = num_present // p
        cycles = -(-nb // per_cycle)
        keys = torch.rand(cycles, num_present, generator=gen)
        order = keys.argsort(dim=1)[:, : per_cycle * p].reshape(-1)[: nb * p]
        slots = self.classes.index_select(0, order)  # (nb * P,) class of each slot
        # occurrence number of each slot's class up to that slot
        sorted_cls, sort_idx = torch.sort(slots, stable=True)
        _, run = torch.unique_consecutive(sorted_cls, return_counts=True)
        run_start = torch.repeat_interleave(torch.cumsum(run, 0) - run, run)
        occurrence = torch.empty_like(slots)
        occurrence.index_copy_(0, sort_idx, torch.arange(slots.numel()) - run_start)
        # the t-th visit of class c takes members t*K .. t*K + K - 1 (mod n_c) of its order
        batches = torch.empty(nb * p * k, dtype=members.dtype)
        step = max(1, CHUNK // k)
        for start in range(0, slots.numel(), step):
            cls = slots[start : start + step]
            size = self.class_counts.index_select(0, cls).unsqueeze(1)
            within = (occurrence[start : start + step].unsqueeze(1) * k + torch.arange(k)) % size
            positions = self._offsets.index_select(0, cls).unsqueeze(1) + within
            batches[start * k : (start + cls.numel()) * k] = members.index_select(
                0, positions.reshape(-1)
            )
        return batches.reshape(nb, p * k)

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self._start_epoch()
        batches = self._epoch_batches(epoch)
        rows = self._rank_positions()
        step = max(1, CHUNK // batches.shape[1])
        return itertools.chain.from_iterable(
            batches.index_select(0, rows[start : start + step]).tolist()
            for start in range(0, rows.numel(), step)
        )
