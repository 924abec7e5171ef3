"""Gathering evaluation rows across ranks (2 gloo processes) and TTA aggregation.

Kept apart from the other tests: the spawned workers import this module, which
must stay light (no Lightning import).
"""

from __future__ import annotations

import numpy as np
import pytest
from imbalance_video.distributed import gather_rows

from imbalance_kit.testing import run_distributed


def test_gather_rows_single_process_sorts_and_deduplicates():
    rows = gather_rows({"index": np.array([3, 1, 3]), "p": np.array([[0.3], [0.1], [0.3]])})
    assert rows["index"].tolist() == [1, 3]
    assert rows["p"].ravel().tolist() == [0.1, 0.3]


def _gather_worker(rank: int, world_size: int) -> dict[str, list]:
    # rank 0 holds rows 0, 2, 4; rank 1 holds 1, 3 and a padded repeat of 0
    index = np.array([0, 2, 4]) if rank == 0 else np.array([1, 3, 0])
    out = gather_rows({"index": index, "y": index * 10, "p": np.stack([index, -index], axis=1)})
    return {k: v.tolist() for k, v in out.items()}


@pytest.mark.distributed
def test_gather_rows_across_two_gloo_processes():
    results = run_distributed(_gather_worker, world_size=2)
    expected = {
        "index": [0, 1, 2, 3, 4],
        "y": [0, 10, 20, 30, 40],
        "p": [[i, -i] for i in range(5)],
    }
    assert results == [expected, expected]
