"""Clips sampled inside events, samplers and the Lightning data module."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from imbalance_kit.app import check_positive_int, error
from imbalance_kit.sampling import ClassBalancedSampler
from imbalance_kit.weights import warn_if_double_correction
from imbalance_video.decode import DecodedVideo, VideoCache
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, VideoDataWarning
from imbalance_video.transforms import ClipAugment, clip_to_tensor, normalize_clip

__all__ = [
    "EventClipDataset",
    "ShardSampler",
    "VideoDataModule",
    "build_train_sampler",
    "check_events",
    "clip_starts",
    "load_event_video",
]


def clip_starts(
    start: int, end: int, clip_len: int, stride: int, count: int, n_frames: int
) -> list[int]:
    """``count`` evenly spaced clip start frames inside the event ``[start, end)``.

    A clip covers ``(clip_len - 1) * stride + 1`` frames. When the event is shorter,
    every clip starts at ``start`` (its frame indices are clamped to the event's
    last frame, repeating it).

    Examples:
        >>> clip_starts(10, 30, clip_len=8, stride=1, count=3, n_frames=100)
        [10, 16, 22]
        >>> clip_starts(10, 14, clip_len=8, stride=1, count=2, n_frames=100)
        [10, 10]
    """
    last = min(end, n_frames) - ((clip_len - 1) * stride + 1)
    if last <= start or count == 1:
        first = start if last <= start else start + (last - start) // 2
        return [first] * count
    return [int(round(v)) for v in np.linspace(start, last, count)]


def load_event_video(manifest: Manifest, index: int, cache: VideoCache) -> DecodedVideo:
    """The decoded video of row ``index``; a file that cannot be read names the manifest
    line and event (``ValueError``), a missing one too (``FileNotFoundError``)."""
    path = manifest.video_file(index)
    try:
        return cache.get(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{manifest.describe(index)}: video {str(path)!r} does not exist"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{manifest.describe(index)}: {exc}") from None


def check_events(
    manifest: Manifest, cache: VideoCache, clip_len: int, frame_stride: int = 1
) -> dict[str, list[str]]:
    """Decode every video of ``manifest`` once and check each event against its video.

    An event that starts past its video's last frame, or a video that cannot be decoded,
    is an error naming the manifest line. Two things the clips work around are warned
    about (one :class:`imbalance_video.manifest.VideoDataWarning` each, with the count and
    the first lines): an ``end_frame`` past the end of the video (the event is cut at the
    video's last frame) and an event shorter than a clip (``(clip_len - 1) * frame_stride
    + 1`` frames: its last frame is repeated to fill the clip).

    Returns:
        ``{"clamped": [...], "padded": [...]}``: the events concerned (as
        :meth:`Manifest.describe` names them).

    Raises:
        ValueError: an event outside its video, or a video FFmpeg cannot decode.
        FileNotFoundError: a video file that does not exist.
    """
    span = (clip_len - 1) * frame_stride + 1
    found: dict[str, list[str]] = {"clamped": [], "padded": []}
    for index in range(len(manifest)):
        video = load_event_video(manifest, index, cache)
        start, end = manifest.frame_range(index, video.fps)
        n = int(video.frames.shape[0])
        if start >= n:
            raise error(
                manifest.describe(index),
                f"an event inside its video ({n} frames)",
                f"start frame {start}",
                raw=True,
            )
        if end > n:
            found["clamped"].append(f"{manifest.describe(index)}: end {end} > {n} frames")
        if min(end, n) - start < span:
            found["padded"].append(f"{manifest.describe(index)}: {min(end, n) - start} frames")
    what = {
        "clamped": "end past the last frame of their video; they are cut at the video's end",
        "padded": (
            f"are shorter than a clip ({span} frames: clip_len {clip_len} x frame_stride "
            f"{frame_stride}); their last frame is repeated to fill the clip"
        ),
    }
    for kind, items in found.items():
        if items:
            shown = "; ".join(items[:3]) + ("; ..." if len(items) > 3 else "")
            warnings.warn(
                VideoDataWarning(f"{len(items)} of {len(manifest)} events {what[kind]} ({shown})"),
                stacklevel=2,
            )
    return found


class EventClipDataset(Dataset):
    """Clips of ``clip_len`` frames taken inside each event of a manifest.

    Training (``clips_per_event=None``): one clip per item at a uniformly random
    position inside the event, augmented with ``augment``; shape ``(3, T, H, W)``.
    An event that ends past its video is cut at the video's last frame; an event shorter
    than a clip repeats its last frame (:func:`check_events` warns about both).
    Evaluation (``clips_per_event=k``): ``k`` evenly spaced clips (the TTA clips),
    shape ``(k, 3, T, H, W)``; with ``flip_tta`` every other clip is mirrored.

    Items are dicts: ``clip`` (normalised float tensor), ``targets`` (task -> class
    index) and ``index`` (row of the manifest). Training draws use torch's global
    random stream, which ``lightning.seed_everything`` seeds and the ``DataLoader``
    seeds per worker and epoch, so runs repeat and epochs differ.

    Args:
        manifest: the events.
        cache: decoded videos (frame size and ``.npy`` cache).
        tasks: the label columns to return as targets (may be empty).
        clip_len: frames per clip.
        frame_stride: step between the clip's frames.
        clips_per_event: ``None`` for training mode, else the number of TTA clips.
        augment: clip augmentation (training mode only).
        flip_tta: mirror every other TTA clip.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from imbalance_video import SimulationSpec, simulate_dataset, read_manifest
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = simulate_dataset(root, SimulationSpec(n_videos=2, n_test_videos=0,
        ...     events_per_video=3, event_frames=6, gap_frames=1, size=16))
        >>> events = read_manifest(root / "manifest.csv")
        >>> task = TaskLabels("label", ("0", "1"), (1,))
        >>> train = EventClipDataset(events, VideoCache(16), [task], clip_len=4)
        >>> train[0]["clip"].shape, sorted(train[0]["targets"])
        (torch.Size([3, 4, 16, 16]), ['label'])
        >>> tta = EventClipDataset(events, VideoCache(16), [task], clip_len=4, clips_per_event=3)
        >>> tta[0]["clip"].shape
        torch.Size([3, 3, 4, 16, 16])
    """

    def __init__(
        self,
        manifest: Manifest,
        cache: VideoCache,
        tasks: Sequence[TaskLabels],
        *,
        clip_len: int = 8,
        frame_stride: int = 1,
        clips_per_event: int | None = None,
        augment: ClipAugment | None = None,
        flip_tta: bool = False,
    ) -> None:
        check_positive_int("clip_len", clip_len)
        check_positive_int("frame_stride", frame_stride)
        if clips_per_event is not None:
            check_positive_int("clips_per_event", clips_per_event)
            if augment is not None:
                raise error("augment", "None in evaluation mode (clips_per_event set)", augment)
        self.manifest = manifest
        self.cache = cache
        self.tasks = list(tasks)
        self.clip_len = clip_len
        self.frame_stride = frame_stride
        self.clips_per_event = clips_per_event
        self.augment = augment
        self.flip_tta = flip_tta
        self.targets = {t.name: t.encode(manifest.column(t.name)) for t in self.tasks}

    def __len__(self) -> int:
        return len(self.manifest)

    def _frames(self, index: int) -> tuple[np.ndarray, int, int]:
        video = load_event_video(self.manifest, index, self.cache)
        start, end = self.manifest.frame_range(index, video.fps)
        n = video.frames.shape[0]
        if start >= n:
            raise error(
                self.manifest.describe(index),
                f"an event inside its video ({n} frames)",
                f"start frame {start}",
                raw=True,
            )
        return video.frames, start, min(end, n)

    def _take(self, frames: np.ndarray, first: int, end: int) -> torch.Tensor:
        idx = np.minimum(first + self.frame_stride * np.arange(self.clip_len), end - 1)
        return clip_to_tensor(frames[idx])

    def __getitem__(self, index: int) -> dict[str, Any]:
        frames, start, end = self._frames(index)
        n = frames.shape[0]
        if self.clips_per_event is None:
            span = (self.clip_len - 1) * self.frame_stride + 1
            last = max(start, end - span)
            first = int(torch.randint(start, last + 1, ()))
            clip = self._take(frames, first, end)
            if self.augment is not None:
                clip = self.augment(clip)
            clip = normalize_clip(clip)
        else:
            starts = clip_starts(
                start, end, self.clip_len, self.frame_stride, self.clips_per_event, n
            )
            clips = [self._take(frames, s, end) for s in starts]
            if self.flip_tta:
                clips = [c.flip(-1) if i % 2 else c for i, c in enumerate(clips)]
            clip = normalize_clip(torch.stack(clips))
        targets = {name: torch.tensor(int(values[index])) for name, values in self.targets.items()}
        return {"clip": clip, "targets": targets, "index": torch.tensor(index)}


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` of ``range(n)``: an unpadded evaluation shard.

    Examples:
        >>> list(ShardSampler(5, rank=1, num_replicas=2))
        [1, 3]
    """

    def __init__(self, n: int, rank: int = 0, num_replicas: int = 1) -> None:
        self.n, self.rank, self.num_replicas = n, rank, num_replicas

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.num_replicas))


def build_train_sampler(
    labels: np.ndarray,
    *,
    balanced: bool,
    power: float = 0.0,
    seed: int = 0,
    rank: int = 0,
    num_replicas: int = 1,
) -> Sampler[int]:
    """The training sampler: class-balanced draws, or a shuffled (DDP-sharded) pass.

    ``balanced=True`` gives :class:`imbalance_kit.sampling.ClassBalancedSampler` over
    ``labels`` (an epoch has ``len(labels)`` draws over all ranks); otherwise
    ``torch.utils.data.DistributedSampler`` with shuffling.

    Examples:
        >>> labels = np.array([0] * 9 + [1])
        >>> sampler = build_train_sampler(labels, balanced=True, seed=0)
        >>> sampler.class_probabilities.tolist(), len(sampler)
        ([0.5, 0.5], 10)
        >>> len(build_train_sampler(labels, balanced=False, rank=1, num_replicas=2))
        5
    """
    if balanced:
        return ClassBalancedSampler(
            torch.from_numpy(labels), power=power, seed=seed, num_replicas=num_replicas, rank=rank
        )
    return DistributedSampler(
        range(len(labels)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed
    )  # type: ignore[arg-type]


try:
    import lightning as L

    _DataModuleBase: Any = L.LightningDataModule
except ImportError:  # pragma: no cover - lightning is a dependency of the package
    _DataModuleBase = object


class VideoDataModule(_DataModuleBase):
    """Training and validation loaders for a run (Lightning data module).

    The training loader uses :func:`build_train_sampler` over the labels of
    ``sample_by`` (sharded by rank under DDP; run the trainer with
    ``use_distributed_sampler=False``), the validation loader yields TTA clip stacks
    in unpadded rank shards (:class:`ShardSampler`). When the sampler balances the
    classes and ``class_weights[sample_by]`` is also set,
    :func:`imbalance_kit.weights.warn_if_double_correction` warns.

    Args:
        train: training events.
        val: validation events.
        tasks: the task label spaces.
        cache: decoded-video cache.
        config: the run's :class:`imbalance_video.config.VideoConfig`.
        class_weights: task -> per-class loss weights (or ``None``).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from imbalance_video import SimulationSpec, VideoConfig, simulate_dataset
        >>> from imbalance_video import read_manifest
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = simulate_dataset(root, SimulationSpec(n_videos=2, n_test_videos=0,
        ...     events_per_video=4, event_frames=6, gap_frames=1, size=16))
        >>> events = read_manifest(root / "manifest.csv")
        >>> config = VideoConfig.from_dict({"data": {"frame_size": 16, "clip_len": 4,
        ...                                          "batch_size": 4}})
        >>> task = TaskLabels("label", ("0", "1"), (1,))
        >>> dm = VideoDataModule(events, events, [task], VideoCache(16), config)
        >>> next(iter(dm.train_dataloader()))["clip"].shape
        torch.Size([4, 3, 4, 16, 16])
    """

    def __init__(
        self,
        train: Manifest,
        val: Manifest,
        tasks: Sequence[TaskLabels],
        cache: VideoCache,
        config: Any,
        class_weights: Mapping[str, torch.Tensor | None] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.tasks = list(tasks)
        self.class_weights = dict(class_weights or {})
        data = config.data
        augment = (
            ClipAugment(**config.augment.transform_kwargs()) if config.augment.enabled else None
        )
        common = {"clip_len": data.clip_len, "frame_stride": data.frame_stride}
        self.train_set = EventClipDataset(train, cache, self.tasks, augment=augment, **common)
        self.val_set = EventClipDataset(
            val,
            cache,
            self.tasks,
            clips_per_event=config.tta.clips,
            flip_tta=config.tta.flip,
            **common,
        )
        self.sample_by = config.multitask.sample_by or self.tasks[0].name

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._world()
        training = self.config.training
        sampler = build_train_sampler(
            self.train_set.targets[self.sample_by],
            balanced=training.balanced_sampling,
            power=training.sampler_power,
            seed=training.seed,
            rank=rank,
            num_replicas=world,
        )
        if rank == 0:
            warn_if_double_correction(
                sampler, loss_weight=self.class_weights.get(self.sample_by), stacklevel=3
            )
        return DataLoader(
            self.train_set,
            batch_size=self.config.data.batch_size,
            sampler=sampler,
            num_workers=self.config.data.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        rank, world = self._world()
        batch = max(1, math.ceil(self.config.data.batch_size / max(1, self.config.tta.clips)))
        return DataLoader(
            self.val_set,
            batch_size=batch,
            sampler=ShardSampler(len(self.val_set), rank, world),
            num_workers=self.config.data.num_workers,
        )
