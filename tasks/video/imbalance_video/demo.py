"""End-to-end demo: simulate -> split (group / intra-video / boosted) -> train -> evaluate.

Every stage skips itself when its outputs exist and training resumes from
``last.ckpt``, so an interrupted demo continues where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import check_choice, error, merge_mappings
from imbalance_video.config import VideoConfig
from imbalance_video.manifest import read_manifest
from imbalance_video.simulate import SimulationSpec, simulate_dataset
from imbalance_video.split import SPLIT_METHODS, split_manifest

__all__ = ["DEMO_PRESETS", "comparison_table", "demo_config", "run_demo"]

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
) -> VideoConfig:
    """The training configuration of a demo run on the manifests in ``split_dir``.

    Examples:
        >>> config = demo_config("quick", Path("splits/intravideo_s0"), seed=2)
        >>> config.training.seed, Path(config.data.train).name
        (2, 'train.csv')
    """
    check_choice("preset", preset, tuple(DEMO_PRESETS))
    raw = merge_mappings(
        DEMO_PRESETS[preset]["config"],
        {
            "data": {
                "train": str(split_dir / "train.csv"),
                "val": str(split_dir / "val.csv"),
                "test": str(split_dir / "test.csv"),
            },
            "training": {"seed": seed, **({"epochs": epochs} if epochs else {})},
        },
    )
    if multi_task:
        raw = merge_mappings(raw, MULTITASK_SETTINGS)
    return VideoConfig.from_dict(raw)


COLUMNS = (
    ("val_tail_recall", "val tail recall"),
    ("val_roc_auc", "val ROC AUC"),
    ("test_tail_recall", "test tail recall"),
    ("test_tail_f1", "test tail F1"),
    ("test_roc_auc", "test ROC AUC"),
    ("test_ece", "test ECE"),
    ("test_clusters", "test clusters (3+)"),
    ("test_video_share", "test video share"),
    ("test_probe_accuracy", "test probe acc."),
)


def _fmt(values: list[float | None], digits: int = 2) -> str:
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not clean:
        return "n/a"
    if len(clean) == 1:
        return f"{clean[0]:.{digits}f}" if isinstance(clean[0], float) else str(clean[0])
    return f"{np.mean(clean):.{digits}f} ± {np.std(clean):.{digits}f}"


def comparison_table(results: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown table: one row per split method, mean ± std over seeds of the summaries.

    Examples:
        >>> print(comparison_table({"group": [{"val_tail_recall": 0.5, "test_tail_recall": 0.25}]}))
        | split | val tail recall | val ROC AUC | test tail recall | ...
        |---|---|---|---|...
        | group | 0.50 | n/a | 0.25 | ...
    """
    header = "| split | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 1)]
    for method, summaries in results.items():
        cells = [_fmt([s.get(key) for s in summaries]) for key, _ in COLUMNS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    methods: Sequence[str] = SPLIT_METHODS,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    multi_task: bool = False,
    progress: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Simulate confounded videos, split them each way, train, evaluate and compare.

    Args:
        out_dir: the demo folder (``data/``, ``splits/<method>_s<seed>/``,
            ``runs/<method>_s<seed>/``, ``comparison.json``, ``comparison.md``).
        quick: tiny videos and 3 epochs (a smoke run, well under a minute of CPU).
        methods: split methods to compare.
        seeds: split and training seeds (one run per method and seed).
        epochs: override the preset's number of epochs.
        multi_task: train the three heads ``action_class`` (ce), ``severity`` (focal)
            and ``offence`` (ce) with adaptive ``inverse_f1`` task weighting.
        progress: show Lightning progress bars.
        log: called with progress messages (``print`` by default).

    Returns:
        The content of ``comparison.json``: per method the list of per-seed summaries,
        the table and the timings.
    """
    from imbalance_video.evaluate import evaluate_run
    from imbalance_video.training import train

    for method in methods:
        check_choice("method", method, SPLIT_METHODS)
    if not seeds:
        raise error("seeds", "at least one seed", list(seeds))
    preset = "quick" if quick else "full"
    root = Path(out_dir)
    data = root / "data"
    spec = SimulationSpec(**DEMO_PRESETS[preset]["simulation"])
    started = time.perf_counter()
    timings: dict[str, float] = {}
    info_path = data / "simulation.json"
    if info_path.is_file():
        stored = json.loads(info_path.read_text())["spec"]
        if stored != asdict(spec):
            raise error(
                f"{data}",
                f"a simulation with the {preset} preset (use another --out)",
                "a different one",
                raw=True,
            )
        log(f"[simulate] reusing {data}")
    else:
        log(f"[simulate] {spec.n_videos} + {spec.n_test_videos} videos of {spec.size}px -> {data}")
        simulate_dataset(data, spec)
    timings["simulate"] = time.perf_counter() - started
    dev = read_manifest(data / "manifest.csv")
    test = read_manifest(data / "test_manifest.csv")
    results: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        results[method] = []
        for seed in seeds:
            name = f"{method}_s{seed}"
            split_dir, run_dir = root / "splits" / name, root / "runs" / name
            t0 = time.perf_counter()
            if not (split_dir / "split_summary.json").is_file():
                split_manifest(dev, method, test_manifest=test, seed=seed).write(split_dir)
            overlap = json.loads((split_dir / "split_summary.json").read_text())["overlap"]
            log(f"[split] {name}: {overlap['train_val_videos']} videos in both train and val")
            config = demo_config(preset, split_dir, seed=seed, epochs=epochs, multi_task=multi_task)
            if not (run_dir / "train_done.json").is_file():
                log(f"[train] {name}: {config.training.epochs} epochs of {config.model.name}")
                train(config, run_dir, resume=True, progress=progress)
            metrics_path = run_dir / "metrics.json"
            if (
                metrics_path.is_file()
                and metrics_path.stat().st_mtime >= (run_dir / "best.ckpt").stat().st_mtime
            ):
                summary = json.loads(metrics_path.read_text())["summary"]
            else:
                summary = evaluate_run(run_dir)["summary"]
            timings[name] = time.perf_counter() - t0
            log(
                f"[evaluate] {name}: test tail recall {_fmt([summary.get('test_tail_recall')])}, "
                f"test ROC AUC {_fmt([summary.get('test_roc_auc')])}"
            )
            results[method].append(summary)
    table = comparison_table(results)
    timings["total"] = time.perf_counter() - started
    out = {
        "preset": preset,
        "seeds": list(seeds),
        "multi_task": multi_task,
        "simulation": asdict(spec),
        "results": results,
        "table": table,
        "seconds": timings,
    }
    (root / "comparison.json").write_text(json.dumps(out, indent=2))
    (root / "comparison.md").write_text(table + "\n")
    return out
