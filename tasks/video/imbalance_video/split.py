"""Train / validation / test splits of an event manifest, and what they share.

* ``"group"``: whole videos go to one side (videos disjoint). The validation
  score then measures generalisation to other cameras, *if* those cameras
  resemble the test ones; a camera-specific shortcut passes it when the
  validation cameras share it.
* ``"intravideo"``: every video's events are split between train and
  validation, stratified by label within each video, so the model is selected on
  how well it separates the behaviour *inside the same scene*. A video with two
  or more events of a class has at least one on each side.
* ``"boosted"``: the intra-video split with the tail events of the training
  side repeated (random over-sampling from :mod:`imbalance_kit.augment`) until
  they make up ``target_tail_share`` of it. Copies keep their ``event_id`` and
  get ``copy`` > 0.

The test side is a separate manifest of unseen videos, or a share of the
videos held out group-wise before the split.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.model_selection import StratifiedGroupKFold

from imbalance_kit.app import (
    DamagedFileError,
    check_choice,
    check_in_range,
    error,
    load_json,
    write_json,
)
from imbalance_kit.augment import random_oversample
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, VideoDataWarning

__all__ = ["SPLIT_METHODS", "SplitResult", "split_is_complete", "split_manifest", "split_summary"]

SplitMethod = Literal["group", "intravideo", "boosted"]
SPLIT_METHODS = ("group", "intravideo", "boosted")


@dataclass
class SplitResult:
    """The three manifests of a split and its summary (see :func:`split_summary`)."""

    train: Manifest
    val: Manifest
    test: Manifest | None
    summary: dict[str, Any]

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, str]:
        """Write ``train.csv``, ``val.csv``, ``test.csv`` (if any) and ``split_summary.json``.

        Every file is written atomically; ``split_summary.json`` comes last and records the
        SHA-256 of the manifests under ``files``, so :func:`split_is_complete` can tell a
        finished split from an interrupted or damaged one.

        Returns:
            Split name -> path written.
        """
        root = Path(out_dir)
        paths = {"train": str(self.train.write(root / "train.csv"))}
        paths["val"] = str(self.val.write(root / "val.csv"))
        if self.test is not None:
            paths["test"] = str(self.test.write(root / "test.csv"))
        files = {Path(p).name: _sha256(Path(p)) for p in paths.values()}
        write_json(root / "split_summary.json", {**self.summary, "files": files})
        paths["summary"] = str(root / "split_summary.json")
        return paths


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_is_complete(out_dir: str | os.PathLike[str]) -> bool:
    """Whether ``out_dir`` holds a finished split: its summary loads and names the manifests
    with their checksums, and every manifest is there unchanged.

    Examples:
        >>> split_is_complete("no/such/folder")
        False
    """
    root = Path(out_dir)
    try:
        summary = load_json(root / "split_summary.json")
    except (FileNotFoundError, DamagedFileError):
        return False
    files = summary.get("files") if isinstance(summary, dict) else None
    if not isinstance(files, dict) or "train.csv" not in files or "val.csv" not in files:
        return False
    return all((root / n).is_file() and _sha256(root / n) == h for n, h in files.items())


def _group_fold(groups: Sequence[str], is_tail: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Boolean mask of one fold of a stratified group k-fold with ``k ~ 1 / share``."""
    n_groups = len(set(groups))
    if n_groups < 2:
        raise error(
            "manifest", "at least two videos for a group split", f"{n_groups} video", raw=True
        )
    k = min(n_groups, max(2, round(1.0 / share)))
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    y = is_tail.astype(int) if len(set(is_tail.tolist())) > 1 else np.zeros(len(groups), int)
    _, held = next(folds.split(np.zeros(len(groups)), y, groups=np.asarray(groups)))
    mask = np.zeros(len(groups), dtype=bool)
    mask[held] = True
    return mask


def _intravideo_mask(
    videos: Sequence[str], labels: Sequence[str], share: float, seed: int
) -> np.ndarray:
    """Validation mask stratified by label inside every video.

    For each class the number of validation events is ``round(share * n_c)``; each
    (video, class) group gets ``floor(share * n)`` of them, at least one (and at most
    ``n - 1``) when it has two or more events, and the remainder goes to the groups
    with the largest fractional parts (random tie-break).
    """
    rng = np.random.default_rng(seed)
    cells: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (video, label) in enumerate(zip(videos, labels)):
        cells[label][video].append(i)
    mask = np.zeros(len(videos), dtype=bool)
    for label in sorted(cells):
        groups = cells[label]
        total = sum(len(m) for m in groups.values())
        want = round(share * total)
        names = sorted(groups)
        sizes = np.array([len(groups[v]) for v in names])
        low = np.where(sizes >= 2, 1, 0)
        high = np.where(sizes >= 2, sizes - 1, sizes)
        take = np.clip(np.floor(share * sizes).astype(int), low, high)
        frac = share * sizes - np.floor(share * sizes) + rng.uniform(0, 1e-6, len(sizes))
        order = np.argsort(-frac, kind="stable")
        for j in order:  # add where the rounding left the most out
            if take.sum() >= want:
                break
            if take[j] < high[j]:
                take[j] += 1
        for j in order[::-1]:  # remove where it put the most in
            if take.sum() <= want:
                break
            if take[j] > low[j]:
                take[j] -= 1
        for j, video in enumerate(names):
            members = rng.permutation(groups[video])[: take[j]]
            mask[members] = True
    return mask


def _boost(
    train: Manifest, is_tail: np.ndarray, target_share: float, seed: int
) -> tuple[Manifest, int]:
    """Repeat tail rows until they are ``target_share`` of the training side."""
    n_tail, n_rest = int(is_tail.sum()), int((~is_tail).sum())
    if n_tail == 0:
        raise error("train split", "at least one tail event to boost", "none", raw=True)
    want = math.ceil(target_share * n_rest / (1.0 - target_share))
    rows = [dict(r, copy=r.get("copy") or "0") for r in train.rows]
    if want <= n_tail:
        return train.with_rows(rows), 0
    index = torch.arange(len(rows), dtype=torch.float64)[:, None]
    generator = torch.Generator().manual_seed(seed)
    picked, _ = random_oversample(
        index,
        torch.from_numpy(is_tail.astype(np.int64)),
        sampling_strategy={1: want},
        generator=generator,
    )
    copies: dict[int, int] = defaultdict(int)
    for value in picked[len(rows) :, 0].tolist():
        source = int(value)
        copies[source] += 1
        rows.append(dict(rows[source], copy=str(copies[source])))
    return train.with_rows(rows), len(picked) - len(train)


def split_summary(
    train: Manifest, val: Manifest, test: Manifest | None, task: TaskLabels
) -> dict[str, Any]:
    """Events, videos and tail share of each side, and the videos the sides share.

    Keys: ``splits`` -> ``{train, val, test}`` -> ``events``, ``unique_events``,
    ``videos``, ``tail_events``, ``tail_share``, ``videos_with_tail``; ``overlap`` ->
    ``train_val_videos``, ``train_test_videos``, ``val_test_videos`` (videos on both
    sides) and ``tail_videos_train_and_val`` (videos with tail events on both sides).
    """
    sides = {"train": train, "val": val, **({"test": test} if test is not None else {})}
    splits: dict[str, Any] = {}
    tail_videos: dict[str, set[str]] = {}
    videos: dict[str, set[str]] = {}
    for name, manifest in sides.items():
        tail = task.is_tail(task.encode(manifest.column(task.name)))
        ids = manifest.video_ids()
        videos[name] = set(ids)
        tail_videos[name] = {v for v, t in zip(ids, tail) if t}
        splits[name] = {
            "events": len(manifest),
            "unique_events": len({r["event_id"] for r in manifest.rows}),
            "videos": len(videos[name]),
            "tail_events": int(tail.sum()),
            "tail_share": float(tail.mean()),
            "videos_with_tail": len(tail_videos[name]),
        }
    empty: set[str] = set()
    return {
        "label_column": task.name,
        "tail_classes": [task.classes[i] for i in task.tail],
        "splits": splits,
        "overlap": {
            "train_val_videos": len(videos["train"] & videos["val"]),
            "train_test_videos": len(videos["train"] & videos.get("test", empty)),
            "val_test_videos": len(videos["val"] & videos.get("test", empty)),
            "tail_videos_train_and_val": len(tail_videos["train"] & tail_videos["val"]),
        },
    }


def split_manifest(
    manifest: Manifest,
    method: SplitMethod = "intravideo",
    *,
    label_column: str = "label",
    tail_classes: Sequence[str | int] | None = None,
    val_share: float = 0.3,
    test_manifest: Manifest | None = None,
    test_share: float = 0.0,
    target_tail_share: float = 0.3,
    seed: int = 0,
) -> SplitResult:
    """Split events into train / validation (/ test) sides.

    Args:
        manifest: the development events.
        method: ``"group"``, ``"intravideo"`` or ``"boosted"`` (see the module text).
        label_column: the label that stratifies the split and defines the tail.
        tail_classes: tail classes of ``label_column``; default: its rarest class.
        val_share: share of events for validation (for ``"group"`` the share of
            videos, in whole folds: ``1 / round(1 / val_share)``).
        test_manifest: events of unseen videos used as the test side.
        test_share: instead, hold out this share of ``manifest``'s videos (group-wise,
            before the split) as the test side; 0 for none.
        target_tail_share: tail share of the boosted training side, in ``(0, 1)``.
        seed: random seed.

    Returns:
        A :class:`SplitResult`.

    Raises:
        ValueError: an unknown method, shares out of range, both ``test_manifest`` and
            ``test_share``, fewer than two videos for a group split, a side left empty.

    Warns:
        VideoDataWarning: the validation side holds no tail event (a group split of few
            videos): :func:`imbalance_video.train.train` refuses such a validation set.

    Examples:
        >>> rows = [{"video_path": f"{v}.mp4", "video_id": v, "event_id": f"{v}{i}",
        ...          "start_frame": "0", "end_frame": "8", "label": str(int(i < 2))}
        ...         for v in "abcd" for i in range(6)]
        >>> result = split_manifest(Manifest(rows), "intravideo", val_share=0.5)
        >>> result.summary["overlap"]["train_val_videos"], len(result.val)
        (4, 12)
        >>> boosted = split_manifest(Manifest(rows), "boosted", val_share=0.5)
        >>> round(boosted.summary["splits"]["train"]["tail_share"], 2)
        0.33
    """
    check_choice("method", method, SPLIT_METHODS)
    check_in_range("val_share", val_share, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_in_range("test_share", test_share, 0.0, 1.0, high_inclusive=False)
    check_in_range(
        "target_tail_share", target_tail_share, 0.0, 1.0, low_inclusive=False, high_inclusive=False
    )
    if test_manifest is not None and test_share > 0:
        raise error("test_share", "0 when test_manifest is given", test_share)
    if label_column not in manifest.columns:
        raise error("label_column", f"a manifest column {manifest.columns}", label_column)
    task = TaskLabels.from_values(label_column, manifest.column(label_column), tail_classes)
    is_tail = task.is_tail(task.encode(manifest.column(label_column)))
    dev, test = manifest, test_manifest
    if test_share > 0:
        held = _group_fold(manifest.video_ids(), is_tail, test_share, seed + 1)
        dev = manifest.subset(np.flatnonzero(~held))
        test = manifest.subset(np.flatnonzero(held))
        is_tail = is_tail[~held]
    if method == "group":
        val_mask = _group_fold(dev.video_ids(), is_tail, val_share, seed)
    else:
        val_mask = _intravideo_mask(dev.video_ids(), dev.column(label_column), val_share, seed)
    if val_mask.all() or not val_mask.any():
        side = "validation" if not val_mask.any() else "training"
        raise error(
            "val_share",
            f"a share that leaves events on both sides ({len(dev)} events)",
            f"{val_share} (no {side} events)",
            raw=True,
        )
    train = dev.subset(np.flatnonzero(~val_mask))
    val = dev.subset(np.flatnonzero(val_mask))
    added = 0
    if method == "boosted":
        train, added = _boost(train, is_tail[~val_mask], target_tail_share, seed)
    summary = split_summary(train, val, test, task)
    if summary["splits"]["val"]["tail_events"] == 0:
        n_videos = summary["splits"]["val"]["videos"]
        fix = "--method intravideo, " if method == "group" else ""
        warnings.warn(
            VideoDataWarning(
                f"the validation side of this {method} split has no tail events "
                f"({len(val)} events of {n_videos} video{'s' if n_videos != 1 else ''}): model "
                f"selection would be arbitrary and train refuses it; use {fix}a larger "
                "--val-share or another --seed"
            ),
            stacklevel=2,
        )
    summary.update(
        method=method,
        seed=seed,
        val_share=val_share,
        test_share=test_share,
        boosted_copies=added,
        target_tail_share=target_tail_share if method == "boosted" else None,
    )
    return SplitResult(train, val, test, summary)
