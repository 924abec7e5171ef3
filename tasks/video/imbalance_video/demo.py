"""The simulated demo: data presets, the demo's training configs and its one-call entry point.

``imbalance-video study`` (also spelt ``imbalance-video demo``) simulates confounded
videos with a preset of this module (``quick``: a smoke run; ``full``: the README's
table), splits them each way, trains and evaluates (:mod:`imbalance_video.study`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imbalance_kit.app import DamagedFileError, check_choice, error, load_json, merge_mappings
from imbalance_video.config import VideoConfig
from imbalance_video.simulate import SimulationSpec, simulate_dataset, simulation_is_complete
from imbalance_video.split import SPLIT_METHODS

__all__ = [
    "DEMO_PRESETS",
    "MULTITASK_SETTINGS",
    "demo_config",
    "run_demo",
    "simulate_demo_data",
]

DEMO_PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "simulation": {
            "n_videos": 8,
            "n_test_videos": 4,
            "events_per_video": 8,
            "event_frames": 10,
            "gap_frames": 2,
            "size": 24,
        },
        "config": {
            "data": {"frame_size": 24, "clip_len": 8, "batch_size": 16},
            "model": {"name": "r2plus1d", "width": 8, "embed_dim": 32, "dropout": 0.3},
            "training": {"epochs": 3, "lr": 3.0e-3, "num_threads": 1},
            "tta": {"clips": 2},
        },
    },
    "full": {
        "simulation": {
            "n_videos": 16,
            "n_test_videos": 8,
            "events_per_video": 16,
            "event_frames": 16,
            "gap_frames": 4,
            "size": 48,
        },
        "config": {
            "data": {"frame_size": 32, "clip_len": 8, "batch_size": 16},
            "model": {"name": "r2plus1d", "width": 16, "embed_dim": 64, "dropout": 0.5},
            "training": {"epochs": 20, "lr": 2.0e-3, "num_threads": 1},
            "tta": {"clips": 5},
        },
    },
}

MULTITASK_SETTINGS: dict[str, Any] = {
    "tasks": {
        "action_class": {"loss": "ce", "tail": ["1"]},
        "severity": {"loss": "focal"},
        "offence": {"loss": "ce"},
    },
    "multitask": {"weighting": "inverse_f1", "adaptive_weights": True, "sample_by": "action_class"},
}


def demo_config(
    preset: str,
    split_dir: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    multi_task: bool = False,
    base: Mapping[str, Any] | None = None,
) -> VideoConfig:
    """The training configuration of a study run on the manifests in ``split_dir``.

    The preset's config, then ``base`` (a user's ``--config`` and ``--set``), then the
    split's manifests, the seed and ``epochs``.

    Examples:
        >>> config = demo_config("quick", Path("splits/intravideo_s0"), seed=2)
        >>> config.training.seed, Path(config.data.train).name
        (2, 'train.csv')
    """
    check_choice("preset", preset, tuple(DEMO_PRESETS))
    raw = merge_mappings(DEMO_PRESETS[preset]["config"], base or {})
    if multi_task:
        raw = merge_mappings(raw, MULTITASK_SETTINGS)
    raw = merge_mappings(
        raw,
        {
            "data": {
                "train": str(split_dir / "train.csv"),
                "val": str(split_dir / "val.csv"),
                "test": str(split_dir / "test.csv"),
            },
            "training": {"seed": seed, **({"epochs": epochs} if epochs else {})},
        },
    )
    return VideoConfig.from_dict(raw)


def simulate_demo_data(
    data: Path, preset: str, log: Callable[[str], Any] = print
) -> tuple[Path, Path]:
    """Simulate the preset's videos into ``data``, or reuse them; returns both manifests.

    Raises:
        ValueError: ``data`` holds a simulation of another preset.
    """
    check_choice("preset", preset, tuple(DEMO_PRESETS))
    spec = SimulationSpec(**DEMO_PRESETS[preset]["simulation"])
    manifests = (data / "manifest.csv", data / "test_manifest.csv")
    try:
        stored = load_json(data / "simulation.json")["spec"]
    except (FileNotFoundError, DamagedFileError, KeyError, TypeError):
        stored = None
    if stored is not None and stored != asdict(spec):
        raise error(
            f"{data}",
            f"a simulation with the {preset} preset (use another --out)",
            "a different one",
            raw=True,
        )
    if stored is not None and simulation_is_complete(data):
        log(f"[simulate] reusing {data}")
        return manifests
    if (data / "simulation.json").exists():
        log(f"[simulate] {data} is incomplete or damaged: simulating it again")
    log(f"[simulate] {spec.n_videos} + {spec.n_test_videos} videos of {spec.size}px -> {data}")
    simulate_dataset(data, spec)
    return manifests


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    methods: Sequence[str] = SPLIT_METHODS,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    multi_task: bool = False,
    progress: bool = False,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Simulate confounded videos, split them each way, train, evaluate and compare.

    The simulated form of :func:`imbalance_video.study.run_study` (kept under its earlier
    name): see there for the arguments and the result.
    """
    from imbalance_video.study import run_study

    return run_study(
        out_dir,
        quick=quick,
        methods=methods,
        seeds=seeds,
        epochs=epochs,
        multi_task=multi_task,
        progress=progress,
        log=log,
    )
