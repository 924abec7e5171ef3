"""Samplers for imbalanced data: class-balanced, weighted, P x K batches, multi-label.

All are ``torch.utils.data`` samplers with a ``seed``, ``set_epoch(epoch)`` and
DDP sharding through ``num_replicas`` / ``rank`` (read from
``torch.distributed`` when it is initialised). ``num_samples`` is the epoch
size over all ranks; each rank yields ``ceil(num_samples / num_replicas)``
indices, and the ranks' shards together are the single-process draw for the
same seed and epoch, padded as ``DistributedSampler`` pads, with no
communication. None has a limit on the number of samples or weights.
"""

from imbalance_kit.sampling.batch import BalancedBatchSampler
from imbalance_kit.sampling.class_balanced import ClassBalancedSampler
from imbalance_kit.sampling.multilabel import MultiLabelBalancedSampler
from imbalance_kit.sampling.weighted import WeightedSampler

__all__ = [
    "BalancedBatchSampler",
    "ClassBalancedSampler",
    "MultiLabelBalancedSampler",
    "WeightedSampler",
]
