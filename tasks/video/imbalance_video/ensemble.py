"""An ensemble of trained runs: averaged class probabilities, evaluated like one run.

``imbalance-video ensemble --runs A B C --out ENS`` scores every event with each run's
checkpoint (each with its own clip geometry, TTA and frame cache), averages the runs'
TTA-aggregated class probabilities event by event, and writes the report of a run
(:func:`imbalance_video.report.score_outputs`: ``metrics.json``, ``predictions.csv``,
plots) plus the members under ``members`` in ``metrics.json``. The linear probe reads the
members' embeddings side by side; "seen" videos are those of any member's training
manifest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imbalance_kit.app import check_choice, check_positive_int, error
from imbalance_video.decode import VideoCache
from imbalance_video.evaluate import (
    load_module,
    predict_checked,
    read_split_manifests,
    training_videos,
)
from imbalance_video.report import score_outputs

__all__ = ["ensemble_runs"]


def ensemble_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    checkpoint: str = "best",
    manifests: Mapping[str, str | os.PathLike[str]] | None = None,
    clips: int | None = None,
    aggregate: str | None = None,
    trust_checkpoint: bool = False,
    plots: bool = True,
) -> dict[str, Any]:
    """Average the class probabilities of several runs and evaluate the average.

    Args:
        run_dirs: two or more run folders of :func:`imbalance_video.train.train`, with the
            same tasks, classes and tails.
        out_dir: the ensemble's folder (created).
        checkpoint: ``"best"`` or ``"last"`` of every run.
        manifests: split name -> manifest; default: the first run's ``val`` and ``test``.
        clips: TTA clips per event for every run (default: each run's ``tta.clips``).
        aggregate: ``"mean"`` or ``"max"`` over the clips (default: each run's).
        trust_checkpoint: allow full unpickling of the checkpoints.
        plots: write the PNG files.

    Returns:
        The content of the ensemble's ``metrics.json``.

    Raises:
        ValueError: fewer than two runs, runs whose tasks differ, a bad checkpoint name.
    """
    check_choice("checkpoint", checkpoint, ("best", "last"))
    if clips is not None:
        check_positive_int("clips", clips)
    if aggregate is not None:
        check_choice("aggregate", aggregate, ("mean", "max"))
    runs = [Path(r) for r in run_dirs]
    if len(runs) < 2:
        raise error("runs", "two or more run folders", [str(r) for r in runs])
    modules = [
        load_module(r / f"{checkpoint}.ckpt", trust_checkpoint=trust_checkpoint) for r in runs
    ]
    tasks = modules[0].task_labels
    for run, module in zip(runs[1:], modules[1:]):
        if [t.to_dict() for t in module.task_labels] != [t.to_dict() for t in tasks]:
            raise error(
                f"run {run}",
                f"the tasks of {runs[0]} ({[t.to_dict() for t in tasks]})",
                [t.to_dict() for t in module.task_labels],
                raw=True,
            )
    first = modules[0].config
    events = read_split_manifests(first, manifests, tasks)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_member: list[dict[str, dict[str, np.ndarray]]] = []
    threads = torch.get_num_threads()
    try:
        for run, module in zip(runs, modules):
            cfg = module.config
            if cfg.training.num_threads is not None:
                torch.set_num_threads(cfg.training.num_threads)
            cache = VideoCache(cfg.data.frame_size, cfg.data.cache_dir or run / "cache")
            per_member.append(
                {
                    split: predict_checked(
                        module,
                        manifest,
                        cache,
                        clips=cfg.tta.clips if clips is None else clips,
                        aggregate=cfg.tta.aggregate if aggregate is None else aggregate,
                    )
                    for split, manifest in events.items()
                }
            )
    finally:
        torch.set_num_threads(threads)
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for split in events:
        members = [m[split] for m in per_member]
        merged: dict[str, np.ndarray] = {
            "embedding": np.concatenate([m["embedding"] for m in members], axis=1)
        }
        for task in tasks:
            merged[f"y_{task.name}"] = members[0][f"y_{task.name}"]
            merged[f"p_{task.name}"] = np.mean([m[f"p_{task.name}"] for m in members], axis=0)
        outputs[split] = merged
    header = {
        "members": [{"run": str(r), "checkpoint": checkpoint} for r in runs],
        "averaged": "class probabilities (each run's TTA aggregate), equal weights",
        "tta": {
            "clips": clips if clips is not None else [m.config.tta.clips for m in modules],
            "aggregate": aggregate or [m.config.tta.aggregate for m in modules],
        },
    }
    return score_outputs(
        out,
        tasks,
        events,
        outputs,
        train_videos=training_videos([m.config for m in modules]),
        diagnostics=first.diagnostics,
        header=header,
        plots=plots,
        plot_note=f"ensemble of {len(runs)}",
    )
