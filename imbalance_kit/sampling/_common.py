"""Shared machinery of the samplers: seeding, DDP sharding, alias tables, grouping.

Every sampler defines one *global draw* per ``(seed, epoch)``: a sequence of
``num_samples`` indices that does not depend on the number of processes. Rank
``r`` of ``R`` yields positions ``r, r + R, r + 2R, ...`` of that sequence,
padded to ``ceil(num_samples / R) * R`` by repeating it from the start, exactly
as ``torch.utils.data.DistributedSampler`` pads. No rank talks to another.

Draws with replacement are generated in fixed chunks of `CHUNK`
positions, each from its own ``torch.Generator`` seeded by
``(seed, epoch, stream, chunk)``: an epoch of any length streams in
``O(CHUNK)`` extra memory, and a rank only looks up the table entries of its
own positions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import cast

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from imbalance_kit._validation import check_positive_int, error
from imbalance_kit.weights import _count_labels

CHUNK = 1 << 20
"""Positions per generator chunk. Part of the draw's definition: changing it changes the draws."""

Draw = Callable[[torch.Generator, int, slice], torch.Tensor]

_STREAM_WITH_REPLACEMENT = 0
_STREAM_KEYS = 1
_STREAM_BATCHES = 2


def resolve_replicas(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(num_replicas, rank)``, defaulting to ``torch.distributed`` when it is initialised."""
    initialised = dist.is_available() and dist.is_initialized()
    if num_replicas is None:
        num_replicas = dist.get_world_size() if initialised else 1
    if rank is None:
        rank = dist.get_rank() if initialised else 0
    check_positive_int("num_replicas", num_replicas)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
        raise error("rank", f"an integer in [0, {num_replicas})", rank)
    return num_replicas, rank


def chunk_generator(seed: int, epoch: int, stream: int, chunk: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch, stream, chunk)`` through numpy's SeedSequence."""
    state = np.random.SeedSequence([seed, epoch, stream, chunk]).generate_state(2, np.uint32)
    value = (int(state[0]) << 31) ^ int(state[1])
    return torch.Generator().manual_seed(value & ((1 << 63) - 1))


#: What a sampler's error says when its labels hold an implausibly large class id.
REMAP_HINT = (
    "remap sparse class ids to 0..C-1 first, e.g. torch.unique(labels, return_inverse=True)[1]"
)


def sampler_class_counts(labels: torch.Tensor) -> torch.Tensor:
    """Per-class counts of validated labels (CPU int64), refusing implausible class ids."""
    return _count_labels("labels", labels, None, hint=REMAP_HINT).cpu()


def index_dtype(n: int) -> torch.dtype:
    """The smallest signed integer dtype able to hold indices ``< n`` (int32 or int64)."""
    return torch.int32 if n < 2**31 else torch.int64


class EpochShards:
    """Seed, epoch and replica bookkeeping shared by the index and batch samplers.

    ``num_samples`` counts the units of one epoch over all ranks (indices for
    the index samplers, batches for the batch sampler).
    """

    num_samples: int

    def _init_shards(
        self,
        num_samples: int,
        seed: int,
        num_replicas: int | None,
        rank: int | None,
        *,
        name: str = "num_samples",
    ) -> None:
        check_positive_int(name, num_samples)
        check_positive_int("seed", seed, minimum=0)
        self.num_replicas, self.rank = resolve_replicas(num_replicas, rank)
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        self._epoch_fixed = False

    @property
    def total_size(self) -> int:
        """Length of the padded global draw: ``ceil(num_samples / num_replicas) * num_replicas``."""
        return math.ceil(self.num_samples / self.num_replicas) * self.num_replicas

    def __len__(self) -> int:
        return self.total_size // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Fix the epoch of the next passes (draws differ between epochs, repeat within one).

        Without any call, each pass draws the next epoch (0, 1, 2, ...), so
        iterating again never repeats a draw; after a call, every pass draws the
        epoch that was set, as with ``DistributedSampler``.
        """
        check_positive_int("epoch", epoch, minimum=0)
        self.epoch = epoch
        self._epoch_fixed = True

    def _start_epoch(self) -> int:
        epoch = self.epoch
        if not self._epoch_fixed:
            self.epoch += 1
        return epoch

    def _rank_positions(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Positions ``start..stop-1`` of this rank's share of the padded global draw.

        Position ``i`` of rank ``r`` is ``r + i * num_replicas``, wrapped into
        ``[0, num_samples)`` (the padding repeats the draw from its start).
        """
        stop = len(self) if stop is None else min(stop, len(self))
        first = self.rank + start * self.num_replicas
        last = self.rank + stop * self.num_replicas
        return torch.arange(first, last, self.num_replicas) % self.num_samples


class ShardedSampler(EpochShards, Sampler[int]):
    """Base of the index samplers: the rank's share of a streamed or materialised draw."""

    def __init__(
        self, num_samples: int, seed: int, num_replicas: int | None, rank: int | None
    ) -> None:
        Sampler.__init__(self)
        self._init_shards(num_samples, seed, num_replicas, rank)

    # ------------------------------------------------------------ streamed draws

    def _iter_streamed(self, epoch: int, draw: Draw) -> Iterator[int]:
        """This rank's share of a chunked draw with replacement.

        ``draw(generator, length, keep)`` makes every random number of the
        ``length`` positions of a chunk (always the same generator calls), keeps
        the positions selected by ``keep`` and returns their indices.
        """
        return itertools.chain.from_iterable(self._streamed_chunks(epoch, draw))

    def _streamed_chunks(self, epoch: int, draw: Draw) -> Iterator[list[int]]:
        n, size, rank = self.num_samples, self.num_replicas, self.rank
        for k, start in enumerate(range(0, n, CHUNK)):
            length = min(CHUNK, n - start)
            first = (rank - start) % size
            if first < length:
                gen = chunk_generator(self.seed, epoch, _STREAM_WITH_REPLACEMENT, k)
                yield draw(gen, length, slice(first, None, size)).tolist()
        # padding: positions n, n + 1, ... repeat the draw from its start
        first_pad = n + (rank - n) % size
        wrapped = [p % n for p in range(first_pad, self.total_size, size)]
        chunks: dict[int, list[int]] = {}
        for p in wrapped:
            k = p // CHUNK
            if k not in chunks:
                gen = chunk_generator(self.seed, epoch, _STREAM_WITH_REPLACEMENT, k)
                chunks[k] = draw(gen, min(CHUNK, n - k * CHUNK), slice(None)).tolist()
        if wrapped:
            yield [chunks[p // CHUNK][p % CHUNK] for p in wrapped]

    def _iter_materialised(self, indices: torch.Tensor) -> Iterator[int]:
        """This rank's share of a global draw held in memory, gathered chunk by chunk."""
        return itertools.chain.from_iterable(
            indices.index_select(0, self._rank_positions(start, start + CHUNK)).tolist()
            for start in range(0, len(self), CHUNK)
        )


# --------------------------------------------------------------------------- alias tables


class AliasTable:
    """Walker's alias table: O(1) weighted draws with replacement over any number of items.

    Built without a Python loop by the sweeping construction: light items
    (``p < 1`` after scaling the mean to 1) take their alias from the heavy item
    whose cumulative surplus covers their cumulative deficit, found with
    ``searchsorted``; a heavy item whose surplus runs out takes the next heavy
    item as its own alias. Probabilities and aliases are packed in one
    ``(n, 2)`` integer tensor (float32 probability bits and int32 alias below
    ``2**31`` items, float64 and int64 above), so a draw reads one cache line.

    Reference: Walker, "An efficient method for generating discrete random
    variables with general distributions", ACM TOMS 1977; Hübschle-Schneider &
    Sanders, "Parallel Weighted Random Sampling", ACM TOMS 2022 (sweeping).
    """

    def __init__(self, weights: torch.Tensor) -> None:
        n = weights.numel()
        w = weights.detach().reshape(-1)
        step = CHUNK
        int_dtype = index_dtype(n)
        float_dtype = torch.float32 if int_dtype == torch.int32 else torch.float64
        self.n = n
        self._float_dtype = float_dtype

        def scaled(start: int) -> torch.Tensor:
            return w[start : start + step].to(device="cpu", dtype=torch.float64) * scale

        # p_i = n * w_i / sum(w) has mean 1; "light" items have p < 1, "heavy" ones p >= 1
        total = sum(float(w[s : s + step].sum(dtype=torch.float64)) for s in range(0, n, step))
        scale = n / total
        num_light = sum(int((scaled(s) < 1.0).sum()) for s in range(0, n, step))
        if int_dtype == torch.int32:
            # one int64 per item: low half the float32 probability bits, high half the alias
            table = torch.empty((n, 2), dtype=torch.int32)
            prob, alias = table[:, 0].view(torch.float32), table[:, 1]
            self._packed: torch.Tensor | None = table.view(torch.int64).reshape(-1)
            self._prob: torch.Tensor | None = None
            self._alias: torch.Tensor | None = None
        else:
            prob = torch.empty(n, dtype=torch.float64)
            alias = torch.empty(n, dtype=torch.int64)
            self._packed, self._prob, self._alias = None, prob, alias
        # light[t], heavy[j]: their indices in order; deficit[t]: total deficit 1 - p of the
        # lights before light t (exclusive prefix sum); surplus[j]: total surplus p - 1 of
        # heavies 0..j (inclusive); both float64
        light = torch.empty(num_light, dtype=int_dtype)
        heavy = torch.empty(n - num_light, dtype=int_dtype)
        deficit = torch.zeros(num_light + 1, dtype=torch.float64)
        surplus = torch.empty(n - num_light, dtype=torch.float64)
        nl = nh = 0
        for s in range(0, n, step):
            p = scaled(s)
            stop = s + p.numel()
            prob[s:stop] = p.to(float_dtype)
            is_light = p < 1.0
            li = torch.nonzero(is_light).reshape(-1)
            hi = torch.nonzero(~is_light).reshape(-1)
            light[nl : nl + li.numel()] = li + s
            heavy[nh : nh + hi.numel()] = hi + s
            carry = float(deficit[nl])
            deficit[nl + 1 : nl + 1 + li.numel()] = torch.cumsum(1.0 - p[is_light], 0) + carry
            carry = float(surplus[nh - 1]) if nh else 0.0
            surplus[nh : nh + hi.numel()] = torch.cumsum(p[~is_light] - 1.0, 0) + carry
            nl += li.numel()
            nh += hi.numel()
        if num_light and nh:
            # Light t takes the first heavy whose cumulative surplus reaches its cumulative
            # deficit; heavy j keeps what is left once the lights it covered are filled and
            # takes heavy j + 1 as its alias.
            last = nh - 1
            for s in range(0, num_light, step):
                stop = min(s + step, num_light)
                j = torch.searchsorted(surplus, deficit[s:stop].contiguous()).clamp_(max=last)
                alias.index_copy_(0, light[s:stop].long(), heavy.index_select(0, j))
            for s in range(0, nh, step):
                stop = min(s + step, nh)
                e = surplus[s:stop]
                i = torch.searchsorted(deficit[:-1], e, right=True)
                residual = (1.0 + e - deficit.index_select(0, i)).clamp_(0.0, 1.0)
                idx = heavy[s:stop].long()
                prob.index_copy_(0, idx, residual.to(float_dtype))
                successor = heavy.index_select(0, torch.arange(s + 1, stop + 1).clamp_(max=last))
                alias.index_copy_(0, idx, successor)
        else:  # all items light or all heavy (equal weights up to rounding): no aliases
            alias.copy_(torch.arange(n, dtype=int_dtype))
        if nh:
            prob[int(heavy[-1])] = 1.0  # the last heavy item absorbs rounding drift

    def _lookup(self, column: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._packed is not None:
            halves = self._packed.index_select(0, column).view(torch.int32)
            return halves[0::2].view(torch.float32), halves[1::2]
        prob, alias = cast(torch.Tensor, self._prob), cast(torch.Tensor, self._alias)
        return prob.index_select(0, column), alias.index_select(0, column)

    def probabilities(self) -> torch.Tensor:
        """The float64 probability of each item implied by the table (for checks)."""
        prob, alias = self._lookup(torch.arange(self.n))
        prob = prob.to(torch.float64)
        implied = prob.clone()
        implied.index_add_(0, alias.long(), 1.0 - prob)
        return implied / self.n

    def sample(self, generator: torch.Generator, length: int, keep: slice) -> torch.Tensor:
        """Make ``length`` draws, return those selected by ``keep`` (int64)."""
        column = torch.randint(0, self.n, (length,), generator=generator)[keep]
        coin = torch.rand(length, generator=generator, dtype=self._float_dtype)[keep]
        prob, alias = self._lookup(column)
        return torch.where(coin < prob, column, alias.long())


# --------------------------------------------------------------------------- grouping


def group_members(
    keys_and_values: Iterable[tuple[torch.Tensor, torch.Tensor]],
    counts: torch.Tensor,
    value_bound: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable counting sort of ``(group, value)`` pairs into a CSR layout.

    Args:
        keys_and_values: chunks ``(group ids, values)`` on the CPU, read once.
        counts: ``(G,)`` int64 number of pairs per group.
        value_bound: values are ``< value_bound`` (chooses int32 or int64 storage).

    Returns:
        ``(offsets, members)``: ``members[offsets[g]:offsets[g + 1]]`` are the
        values of group ``g`` in input order.
    """
    offsets = torch.zeros(counts.numel() + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=offsets[1:])
    fill = offsets[:-1].clone()
    members = torch.empty(int(offsets[-1]), dtype=index_dtype(value_bound))
    key_dtype = torch.int16 if counts.numel() <= 2**15 else index_dtype(counts.numel())
    for keys, values in keys_and_values:
        if keys.numel() == 0:
            continue
        sorted_keys, perm = torch.sort(keys.to(key_dtype), stable=True)
        groups, sizes = torch.unique_consecutive(sorted_keys, return_counts=True)
        groups = groups.long()
        run_start = torch.cumsum(sizes, 0) - sizes
        within = torch.arange(keys.numel()) - torch.repeat_interleave(run_start, sizes)
        dest = torch.repeat_interleave(fill.index_select(0, groups), sizes) + within
        members.index_copy_(0, dest, values.index_select(0, perm).to(members.dtype))
        fill.index_add_(0, groups, sizes)
    return offsets, members


def exponential_race(
    weight_chunk: Callable[[int, int], torch.Tensor], n: int, k: int, seed: int, epoch: int
) -> torch.Tensor:
    """``k`` distinct items drawn one after another with probability proportional to weight.

    Each item gets the key ``E_i / w_i`` with ``E_i ~ Exp(1)``; the ``k``
    smallest keys in increasing order are distributed as ``k`` successive
    weighted draws without replacement (Efraimidis & Spirakis 2006). Items of
    weight 0 get an infinite key; callers make sure that ``k`` does not exceed
    the number of items with a positive weight.

    Args:
        weight_chunk: ``weight_chunk(start, stop)`` returns the float weights of
            items ``start..stop-1``.
        n: number of items.
        k: number of draws.
        seed: the draw's seed.
        epoch: the draw's epoch.

    Returns:
        int64 tensor of ``k`` item indices in draw order.
    """
    keys = torch.empty(n, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    for chunk, start in enumerate(range(0, n, CHUNK)):
        stop = min(n, start + CHUNK)
        gen = chunk_generator(seed, epoch, _STREAM_KEYS, chunk)
        e = torch.empty(stop - start, dtype=torch.float32).exponential_(generator=gen)
        # E > 0, so a zero weight gives +inf; divided in the weights' precision
        torch.div(e.clamp_(min=tiny), weight_chunk(start, stop), out=keys[start:stop])
    # keys are >= 0 (or +inf), so their float32 bit patterns sort in the same order as
    # integers; a stable integer sort is several times faster than a float sort
    order = torch.sort(keys.view(torch.int32), stable=True).indices
    return order if k == n else order[:k]
