"""Decode video files with PyAV, resize the frames on the fly, cache them as ``.npy``."""

from __future__ import annotations

import hashlib
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from imbalance_kit.app import atomic_open, check_positive_int, error, file_sha256, write_json

__all__ = ["DecodedVideo", "VideoCache", "VideoDecodeError", "decode_video"]


class VideoDecodeError(ValueError):
    """A video file FFmpeg cannot read (corrupt, truncated or not a video)."""


class DecodedVideo(NamedTuple):
    """Frames of one video, ``(F, H, W, 3)`` ``uint8`` RGB, and its frame rate."""

    frames: np.ndarray
    fps: float


def _size_pair(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2:
        raise error("size", "an int or a (height, width) pair", size)
    for value in pair:
        check_positive_int("size", value)
    return int(pair[0]), int(pair[1])


def decode_video(
    path: str | os.PathLike[str], size: int | tuple[int, int] | None = None
) -> DecodedVideo:
    """Decode every frame of a video file to RGB, resized to ``size`` while decoding.

    Resizing is done by FFmpeg's scaler (``VideoFrame.reformat``, bilinear), frame by
    frame, so the full-resolution video is never held in memory.

    Args:
        path: a video file PyAV (FFmpeg) can read (mp4, avi, mkv, ...).
        size: output ``(height, width)``, one int for a square, ``None`` for the native size.

    Returns:
        :class:`DecodedVideo` with ``frames`` of shape ``(F, H, W, 3)`` (``uint8``) and ``fps``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        VideoDecodeError: FFmpeg cannot read the file (corrupt, truncated, not a video).
        ValueError: the file has no video stream or no frame.

    Examples:
        >>> import tempfile
        >>> from imbalance_video.simulate import write_video
        >>> path = Path(tempfile.mkdtemp()) / "clip.mp4"
        >>> write_video(path, np.zeros((5, 32, 32, 3), np.uint8), fps=8)
        >>> video = decode_video(path, size=16)
        >>> video.frames.shape, video.fps
        ((5, 16, 16, 3), 8.0)
    """
    import av

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"video must be an existing file, got {str(source)!r}")
    pair = _size_pair(size)
    frames: list[np.ndarray] = []
    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise error(f"video {source}", "a file with a video stream", "none", raw=True)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            for frame in container.decode(stream):
                if pair is None:
                    frames.append(frame.to_ndarray(format="rgb24"))
                else:
                    frames.append(
                        frame.reformat(width=pair[1], height=pair[0], format="rgb24").to_ndarray()
                    )
    except av.FFmpegError as exc:  # FFmpeg's "[Errno 1094995529] Invalid data found ..."
        reason = getattr(exc, "strerror", None) or str(exc)
        raise VideoDecodeError(f"video {source} cannot be decoded by FFmpeg ({reason})") from None
    if not frames:
        raise error(f"video {source}", "a file with at least one frame", "none", raw=True)
    return DecodedVideo(np.stack(frames), float(rate))


class VideoCache:
    """Decoded, resized videos kept in memory and (optionally) as ``.npy`` files on disk.

    The disk key is a hash of the resolved path, the file's size and modification time
    and the frame size, so an edited video is decoded again. Files are written
    atomically (a temporary file renamed into place), so an interrupted run leaves no
    half-written cache entry. Each entry's ``.json`` records the frame count and the
    SHA-256 of its ``.npy`` file; an entry that does not load, or whose bytes or frame
    count do not match the record (a flipped byte on disk, a truncated copy), is decoded
    again from the video, so a damaged cache never feeds altered frames to a model.

    Args:
        size: frame ``(height, width)`` or one int for a square.
        cache_dir: folder for the ``.npy`` files; ``None`` keeps them in memory only.

    Examples:
        >>> import tempfile
        >>> from imbalance_video.simulate import write_video
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_video(folder / "v.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=8)
        >>> cache = VideoCache(size=16, cache_dir=folder / "cache")
        >>> cache.get(folder / "v.mp4").frames.shape
        (4, 16, 16, 3)
        >>> len(list((folder / "cache").glob("*.npy")))
        1
    """

    def __init__(
        self, size: int | tuple[int, int], cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.size = _size_pair(size)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._memory: dict[str, DecodedVideo] = {}

    def _key(self, path: Path) -> str:
        stat = path.stat()
        text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.size}"
        return hashlib.sha1(text.encode()).hexdigest()[:20]

    def get(self, path: str | os.PathLike[str]) -> DecodedVideo:
        """The decoded frames of ``path`` (decoding at most once per process and file)."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"video must be an existing file, got {str(source)!r}")
        key = self._key(source)
        if key in self._memory:
            return self._memory[key]
        video = self._load(key)
        if video is None:
            video = decode_video(source, self.size)
            self._store(key, video)
        self._memory[key] = video
        return video

    def _load(self, key: str) -> DecodedVideo | None:
        if self.cache_dir is None:
            return None
        array, meta = self.cache_dir / f"{key}.npy", self.cache_dir / f"{key}.json"
        if not (array.is_file() and meta.is_file()):
            return None
        try:  # a damaged entry (a full disk, a killed copy, a flipped byte) is decoded again
            info = json.loads(meta.read_text())
            if not isinstance(info, dict) or info.get("sha256") != file_sha256(array):
                return None
            frames = np.load(array, allow_pickle=False)
            fps = float(info["fps"])
        except (ValueError, OSError, KeyError, TypeError, EOFError):
            return None
        if frames.ndim != 4 or frames.shape[0] != info.get("frames") or frames.dtype != np.uint8:
            return None
        return DecodedVideo(frames, fps)

    def _store(self, key: str, video: DecodedVideo) -> None:
        if self.cache_dir is None:
            return
        with atomic_open(self.cache_dir / f"{key}.npy", "wb") as fh:  # whole or absent
            np.save(fh, video.frames, allow_pickle=False)
        record = {"fps": video.fps, "frames": len(video.frames)}
        record["sha256"] = file_sha256(self.cache_dir / f"{key}.npy")
        write_json(self.cache_dir / f"{key}.json", record)
