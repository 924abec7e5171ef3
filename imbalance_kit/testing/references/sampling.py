"""Reference samplers the tests and ``benchmarks/bench_sampling.py`` compare against.

``ImbalancedDatasetSampler`` reproduces the widely copied pattern of the
``torchsampler`` package (ufoym/imbalanced-dataset-sampler): each sample gets
the weight ``1 / count(label)`` in a float64 tensor and an epoch is one
``torch.multinomial(weights, num_samples, replacement=True)`` call, iterated
element by element. Like ``WeightedRandomSampler`` it inherits
``torch.multinomial``'s limit of ``2**24`` categories.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["ImbalancedDatasetSampler", "class_probabilities", "distributed_positions"]


class ImbalancedDatasetSampler(Sampler[int]):
    """The ``torchsampler.ImbalancedDatasetSampler`` pattern on a label array."""

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        num_samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        labels = torch.as_tensor(np.asarray(labels)).long()
        self.indices = list(range(len(labels)))
        self.num_samples = len(self.indices) if num_samples is None else num_samples
        counts = torch.bincount(labels)
        self.weights = (1.0 / counts[labels]).to(torch.float64)
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        drawn = torch.multinomial(
            self.weights, self.num_samples, replacement=True, generator=self.generator
        )
        return (self.indices[i] for i in drawn)

    def __len__(self) -> int:
        return self.num_samples


def class_probabilities(counts: Sequence[int], power: float) -> np.ndarray:
    """Kang et al. (2020): class c is drawn with probability n_c**q / sum_j n_j**q (n_j > 0)."""
    n = np.asarray(counts, dtype=np.float64)
    mass = np.where(n > 0, n**power, 0.0)
    return mass / mass.sum()


def distributed_positions(n: int, num_replicas: int, rank: int) -> list[int]:
    """Positions ``torch.utils.data.DistributedSampler(shuffle=False)`` gives ``rank``.

    The padding and striding of the samplers must match these for a global
    draw of length ``n``.
    """
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        range(n), num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False
    )
    return list(sampler)
