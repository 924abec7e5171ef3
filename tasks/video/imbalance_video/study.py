"""The split-method study: group / intra-video / boosted splits x seeds, trained and compared.

On simulated videos (:mod:`imbalance_video.demo` presets) or on a manifest of the user's
own events (``manifest=``, e.g. the real clips of :mod:`imbalance_video.convert`). Every
stage checks what it would reuse: a split whose ``split_summary.json`` loads, a training
whose ``train_done.json`` and ``best.ckpt`` load, an evaluation whose ``metrics.json``
loads and is newer than the checkpoint. Anything else is redone (a damaged ``last.ckpt``
restarts that training), so an interrupted or damaged study continues where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imbalance_kit.app import (
    DamagedFileError,
    check_choice,
    check_in_range,
    error,
    format_mean_std,
    load_json,
    load_torch,
    markdown_table,
    study_table,
    summarise_study,
    write_json,
    write_text,
)
from imbalance_video.demo import DEMO_PRESETS, demo_config, simulate_demo_data
from imbalance_video.manifest import read_manifest
from imbalance_video.simulate import SimulationSpec
from imbalance_video.split import SPLIT_METHODS, split_is_complete, split_manifest

__all__ = ["STUDY_COLUMNS", "degenerate_note", "run_study", "study_markdown"]

#: Summary key -> column title of the study table.
STUDY_COLUMNS: dict[str, str] = {
    "val_tail_recall": "val tail recall",
    "val_roc_auc": "val ROC AUC",
    "test_tail_recall": "test tail recall",
    "test_tail_f1": "test tail F1",
    "test_roc_auc": "test ROC AUC",
    "test_ece": "test ECE",
    "test_clusters": "test clusters (3+)",
    "test_video_share": "test video share",
    "test_probe_accuracy": "test probe acc.",
}


def study_markdown(
    rows: Sequence[Mapping[str, Any]],
    methods: Sequence[str] | None = None,
    columns: Mapping[str, str] = STUDY_COLUMNS,
) -> str:
    """Markdown table: one row per split method, mean ± standard deviation over the seeds.

    Args:
        rows: one evaluation summary per run, each with its ``split`` method.
        methods: the rows' order (default: as they first appear).
        columns: summary key -> column title.

    Examples:
        >>> print(study_markdown([{"split": "group", "val_tail_recall": 0.5},
        ...                       {"split": "group", "val_tail_recall": 0.7}],
        ...                      columns={"val_tail_recall": "val tail recall"}))
        | split | val tail recall |
        |:--|--:|
        | group | 0.60 ± 0.14 |
    """
    summary = summarise_study(rows, list(columns), by="split", order=methods)
    head, cells = study_table(summary, columns, by="split", digits=2)
    return markdown_table(head, cells)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(
    manifest: Path | None, test_manifest: Path | None, test_share: float, val_share: float
) -> dict[str, Any]:
    described: dict[str, Any] = {"test_share": test_share, "val_share": val_share}
    for key, path in (("manifest", manifest), ("test_manifest", test_manifest)):
        if path is not None:
            described[key] = {"path": str(path.resolve()), "sha256": _sha256(path)}
    return described


def _training_state(run_dir: Path) -> str:
    """``"done"``, ``"resume"`` (interrupted, or its summary is damaged) or ``"restart"``
    (it finished, but its best checkpoint is damaged: only a new training rewrites it)."""
    try:
        load_json(run_dir / "train_done.json")
    except (FileNotFoundError, DamagedFileError):
        return "resume"
    try:
        load_torch(run_dir / "best.ckpt", what="checkpoint")
    except (FileNotFoundError, DamagedFileError):
        return "restart"
    return "done"


def _stored_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "metrics.json"
    if not path.is_file() or path.stat().st_mtime < (run_dir / "best.ckpt").stat().st_mtime:
        return None
    try:
        return load_json(path)["summary"]
    except (DamagedFileError, KeyError, TypeError):
        return None


def run_study(
    out_dir: str | os.PathLike[str],
    *,
    quick: bool = False,
    methods: Sequence[str] = SPLIT_METHODS,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    multi_task: bool = False,
    manifest: str | os.PathLike[str] | None = None,
    test_manifest: str | os.PathLike[str] | None = None,
    test_share: float = 0.0,
    val_share: float = 0.3,
    config: Mapping[str, Any] | None = None,
    progress: bool = False,
    verbose: bool = False,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Split the events each way, train and evaluate every method x seed, and compare.

    Args:
        out_dir: the study folder (``data/`` for simulated videos,
            ``splits/<method>_s<seed>/``, ``runs/<method>_s<seed>/``, ``comparison.json``,
            ``comparison.md``).
        quick: the ``quick`` preset (tiny videos, 3 epochs: a smoke run) instead of ``full``.
        methods: split methods to compare.
        seeds: split and training seeds (one run per method and seed).
        epochs: override the number of epochs.
        multi_task: train the three heads ``action_class`` (ce), ``severity`` (focal)
            and ``offence`` (ce) with adaptive ``inverse_f1`` task weighting (simulated
            videos carry those labels).
        manifest: development events of your own (default: simulated videos).
        test_manifest: events of unseen videos for the test side (with ``manifest``).
        test_share: instead, hold out this share of ``manifest``'s videos as the test
            side (group-wise, a different draw for every seed).
        val_share: share of the development events for validation.
        config: a training config mapping merged onto the preset's (``--config``, ``--set``).
        progress: show one progress bar per training.
        verbose: show Lightning's own messages.
        log: called with progress messages (``print`` by default).

    Returns:
        The content of ``comparison.json``: per method the list of per-seed summaries,
        the table and the timings.

    Raises:
        ValueError: an unknown method, no seed, a test side given twice or missing, or
            ``out_dir`` holding a study of other data.
    """
    from imbalance_video.evaluate import evaluate_run
    from imbalance_video.train import train

    for method in methods:
        check_choice("method", method, SPLIT_METHODS)
    if not seeds:
        raise error("seeds", "at least one seed", list(seeds))
    check_in_range("test_share", test_share, 0.0, 1.0, high_inclusive=False)
    preset = "quick" if quick else "full"
    root = Path(out_dir)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    simulation: dict[str, Any] | None = None
    if manifest is None:
        if test_manifest is not None or test_share > 0:
            raise error("test_manifest and test_share", "used with manifest", "no manifest")
        dev_path, test_path = simulate_demo_data(root / "data", preset, log)
        simulation = asdict(SimulationSpec(**DEMO_PRESETS[preset]["simulation"]))
        inputs: dict[str, Any] = {"simulation": simulation, "val_share": val_share}
    else:
        dev_path = Path(manifest)
        test_path = None if test_manifest is None else Path(test_manifest)
        if test_path is None and test_share == 0:
            raise error("test_manifest or test_share", "given with manifest", "neither")
        inputs = _inputs(dev_path, test_path, test_share, val_share)
    stored_inputs = root / "study_inputs.json"
    if stored_inputs.is_file():
        try:
            previous = load_json(stored_inputs)
        except DamagedFileError:
            previous = inputs
        if previous != inputs:
            raise error(
                str(root), "a study of the same events (use another --out)", "other data", raw=True
            )
    write_json(stored_inputs, inputs)
    timings["data"] = time.perf_counter() - started
    dev = read_manifest(dev_path)
    test = read_manifest(test_path) if test_path is not None else None
    rows: list[dict[str, Any]] = []
    results: dict[str, list[dict[str, Any]]] = {}
    for method in methods:
        results[method] = []
        for seed in seeds:
            name = f"{method}_s{seed}"
            split_dir, run_dir = root / "splits" / name, root / "runs" / name
            t0 = time.perf_counter()
            if not split_is_complete(split_dir):
                split_manifest(
                    dev,
                    method,
                    test_manifest=test,
                    test_share=test_share,
                    val_share=val_share,
                    seed=seed,
                ).write(split_dir)
            overlap = load_json(split_dir / "split_summary.json")["overlap"]
            log(f"[split] {name}: {overlap['train_val_videos']} videos in both train and val")
            run_config = demo_config(
                preset, split_dir, seed=seed, epochs=epochs, multi_task=multi_task, base=config
            )
            state = _training_state(run_dir)
            if state != "done":
                what = f"{run_config.training.epochs} epochs of {run_config.model.name}"
                log(f"[train] {name}: {what}")
                options = {"progress": progress, "verbose": verbose}
                try:
                    train(run_config, run_dir, resume=True, restart=state == "restart", **options)
                except DamagedFileError as exc:
                    log(f"[train] {name}: {str(exc).split(';')[0]}; training from the first epoch")
                    train(run_config, run_dir, restart=True, **options)
            summary = _stored_summary(run_dir)
            if summary is None:
                summary = evaluate_run(run_dir)["summary"]
            timings[name] = time.perf_counter() - t0
            flat = [k[: -len("_degenerate")] for k, v in summary.items()
                    if k.endswith("_degenerate") and v]  # fmt: skip
            log(
                f"[evaluate] {name}: test tail recall "
                f"{format_mean_std(_stat(summary.get('test_tail_recall')), 2)}, "
                f"test ROC AUC {format_mean_std(_stat(summary.get('test_roc_auc')), 2)}"
                + (f" (degenerate outputs on {', '.join(flat)})" if flat else "")
            )
            results[method].append(summary)
            rows.append({"split": method, "seed": seed, **summary})
    table = study_markdown(rows, methods)
    notes = degenerate_note(rows)
    timings["total"] = time.perf_counter() - started
    out = {
        "preset": preset,
        "seeds": list(seeds),
        "multi_task": multi_task,
        "inputs": inputs,
        "simulation": simulation,
        "results": results,
        "table": table,
        "notes": notes,
        "seconds": timings,
    }
    write_json(root / "comparison.json", out)
    write_text(root / "comparison.md", table + ("\n\n" + notes if notes else "") + "\n")
    return out


def degenerate_note(rows: Sequence[Mapping[str, Any]]) -> str:
    """A line naming the runs whose outputs were degenerate on a split ("" when none).

    Examples:
        >>> degenerate_note([{"split": "group", "seed": 0, "val_degenerate": None,
        ...                   "test_degenerate": "one predicted class ('1') for every event"}])
        'Degenerate outputs (near-constant or one predicted class: their tail recall says \
nothing): group seed 0 (test).'
    """
    found = []
    for row in rows:
        splits = [k[: -len("_degenerate")] for k, v in row.items()
                  if k.endswith("_degenerate") and v]  # fmt: skip
        if splits:
            found.append(f"{row['split']} seed {row['seed']} ({', '.join(splits)})")
    if not found:
        return ""
    return (
        "Degenerate outputs (near-constant or one predicted class: their tail recall says "
        f"nothing): {'; '.join(found)}."
    )


def _stat(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"mean": float(value), "std": 0.0, "n": 1}
