"""Shared fixtures of the imbalance-video tests: one tiny simulated data set per worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from imbalance_video.simulate import SimulationSpec, simulate_dataset

TINY_SPEC = SimulationSpec(
    n_videos=6,
    n_test_videos=2,
    events_per_video=6,
    event_frames=8,
    gap_frames=2,
    size=16,
    confound=0.5,
    rich_tail_share=0.5,
    tail_share=0.25,
    seed=3,
)


@pytest.fixture(scope="session")
def tiny_spec() -> SimulationSpec:
    """The spec of :func:`tiny_data`."""
    return TINY_SPEC


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated data set: 6 development + 2 test videos of 16x16 pixels, 6 events each."""
    root = tmp_path_factory.mktemp("video_data")
    simulate_dataset(root, TINY_SPEC)
    return root
