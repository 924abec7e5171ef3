"""Small, real video files of a fixed-camera scene with rare behaviour events.

Every video shows one animal (a blob) in a pen filmed by a fixed camera. Each
camera has its own *scene nuisance*: brightness, colour cast, a background
pattern at its own angle (the pen's bars), a camera offset and sensor noise. The
animal's *behaviour* during an event is a motion pattern:

====  ============  ========================================================
id    action        motion over the event
====  ============  ========================================================
0     ``walk``      steady translation, bouncing off the pen's walls
1     ``tail``      fast back-and-forth oscillation: the rare behaviour
2     ``circle``    slow circular path
3     ``rest``      still, with a small tremor
====  ============  ========================================================

A single frame never tells the behaviour apart (the blob looks the same); only
the motion does. The binary ``label`` is 1 for the ``tail`` action (about
``tail_share`` of the events). For multi-task use, ``severity`` (0-2) sets the
blob's contrast and the motion amplitude, and ``offence`` (0/1) adds a second,
smaller animal touching the first during the event.

**Confounding.** In a share ``confound`` of the development videos the scene
predicts the label: a few "tail-rich" cameras (warm, bright, bars at about 45
degrees) hold most tail events and the other confounded cameras (cool, dark,
bars at about 135 degrees) almost none. A model can then score well by
recognising the camera. The test videos come from other cameras whose scene says
nothing about the label (``test_confound="none"``), or the opposite of the
development cameras (``"reversed"``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imbalance_kit.app import (
    check_choice,
    check_in_range,
    check_positive_int,
    error,
    is_marked_complete,
    write_marker,
)
from imbalance_video.manifest import Manifest

__all__ = [
    "ACTIONS",
    "SimulationSpec",
    "simulate_dataset",
    "simulation_is_complete",
    "write_video",
]

ACTIONS = ("walk", "tail", "circle", "rest")
TAIL_ACTION = 1
_OTHER_SHARES = {0: 0.5, 2: 0.2, 3: 0.3}  # walk, circle, rest among the non-tail events
_SEVERITY_P = (0.6, 0.3, 0.1)
_OFFENCE_P = 0.2


@dataclass
class SimulationSpec:
    """Size and confounding of a simulated data set.

    Args:
        n_videos: development videos (later split into train and validation).
        n_test_videos: videos from other cameras, written to ``test_manifest.csv``.
        events_per_video: events in each video.
        event_frames: frames per event.
        gap_frames: resting frames between events.
        size: frame side in pixels (even, >= 16).
        fps: frame rate written in the files.
        tail_share: share of tail events, overall and in every unconfounded video.
        confound: share of development videos whose scene predicts the tail share.
        rich_tail_share: tail share of a "tail-rich" confounded camera.
        test_confound: ``"none"`` (test scenes independent of the label) or
            ``"reversed"`` (tail-rich test cameras look like the tail-poor ones).
        noise: scale of the per-camera sensor noise (0 for none).
        seed: random seed; the same spec and seed give the same frames.
        crf: x264 constant rate factor (lower is closer to lossless).
    """

    n_videos: int = 12
    n_test_videos: int = 6
    events_per_video: int = 12
    event_frames: int = 16
    gap_frames: int = 4
    size: int = 48
    fps: int = 8
    tail_share: float = 0.14
    confound: float = 0.75
    rich_tail_share: float = 0.4
    test_confound: Literal["none", "reversed"] = "none"
    noise: float = 1.0
    seed: int = 0
    crf: int = 18

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first out-of-range field."""
        check_positive_int("n_videos", self.n_videos, minimum=2)
        check_positive_int("n_test_videos", self.n_test_videos, minimum=0)
        check_positive_int("events_per_video", self.events_per_video)
        check_positive_int("event_frames", self.event_frames, minimum=2)
        check_positive_int("gap_frames", self.gap_frames, minimum=0)
        check_positive_int("size", self.size, minimum=16)
        if self.size % 2:
            raise error("size", "even (the video encoder needs even sides)", self.size)
        check_positive_int("fps", self.fps)
        check_in_range("tail_share", self.tail_share, 0.0, 1.0, low_inclusive=False)
        check_in_range("confound", self.confound, 0.0, 1.0)
        check_in_range("rich_tail_share", self.rich_tail_share, self.tail_share, 1.0)
        check_choice("test_confound", self.test_confound, ("none", "reversed"))
        check_in_range("noise", self.noise, 0.0, 10.0)
        check_positive_int("seed", self.seed, minimum=0)
        check_in_range("crf", self.crf, 0, 51)


def write_video(
    path: str | os.PathLike[str], frames: np.ndarray, fps: float | Fraction = 8, crf: int = 18
) -> None:
    """Encode ``(F, H, W, 3)`` ``uint8`` RGB frames as an H.264 mp4 with PyAV.

    ``fps`` may be a fraction (``Fraction(30000, 1001)`` for 29.97 frames per second).

    Falls back to MPEG-4 part 2 when the FFmpeg build has no ``libx264``. The same frames
    give the same file, byte for byte (a re-simulated data set equals the first).

    Raises:
        ValueError: frames not ``(F, H, W, 3)`` ``uint8`` with even ``H`` and ``W``.

    Examples:
        >>> import tempfile
        >>> write_video(Path(tempfile.mkdtemp()) / "a.mp4", np.zeros((3, 16, 16, 3), np.uint8))
    """
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise error("frames", "a (F, H, W, 3) uint8 array", frames)
    if frames.shape[1] % 2 or frames.shape[2] % 2 or frames.shape[0] == 0:
        raise error("frames", "non-empty with even height and width", frames)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        rate = Fraction(fps).limit_denominator(1_000_000)
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # No macroblock tree: with it, x264 gave different bytes from the same small
            # frames now and then (44 of 150 encodes of 32 x 32 frames, 14 of 150 at the
            # default 48 x 48), so a re-simulated video differed from the first one.
            # Without it: 150 of 150 identical at 16, 32, 48 and 96 pixels.
            stream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}
        else:
            stream.bit_rate = 2_000_000
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ----------------------------------------------------------------- scenes


def _scene(rng: np.random.Generator, kind: str, size: int, noise: float) -> dict[str, Any]:
    """Per-camera nuisance: brightness, colour gains, bar angle, offset, noise, texture seed."""
    if kind == "rich":
        brightness = rng.uniform(20, 40)
        gains = np.array([1.22, 1.0, 0.78]) + rng.uniform(-0.05, 0.05, 3)
        angle = rng.uniform(30, 60)
    elif kind == "poor":
        brightness = rng.uniform(-40, -20)
        gains = np.array([0.78, 1.0, 1.22]) + rng.uniform(-0.05, 0.05, 3)
        angle = rng.uniform(120, 150)
    else:
        brightness = rng.uniform(-40, 40)
        gains = rng.uniform(0.78, 1.22, 3)
        angle = rng.uniform(0, 180)
    shift = size // 8
    return {
        "kind": kind,
        "brightness": float(brightness),
        "gains": [float(g) for g in gains],
        "bar_angle": float(angle),
        "bar_period": float(rng.uniform(size / 6, size / 3)),
        "offset": [int(rng.integers(-shift, shift + 1)), int(rng.integers(-shift, shift + 1))],
        "noise_sigma": float(rng.uniform(1, 5) * noise),
        "texture_seed": int(rng.integers(2**31)),
    }


def _background(scene: dict[str, Any], size: int) -> np.ndarray:
    """Static ``(H, W)`` grey background: bars at the camera's angle plus a texture."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    dy, dx = scene["offset"]
    theta = math.radians(scene["bar_angle"])
    phase = ((xx - dx) * math.cos(theta) + (yy - dy) * math.sin(theta)) / scene["bar_period"]
    bars = 22.0 * np.sin(2 * math.pi * phase)
    tex_rng = np.random.default_rng(scene["texture_seed"])
    coarse = tex_rng.normal(0, 1, (size // 8 + 2, size // 8 + 2))
    texture = np.kron(coarse, np.ones((8, 8)))[:size, :size]
    texture = np.roll(texture, (dy, dx), axis=(0, 1))
    return 105.0 + bars + 10.0 * texture


def _trajectory(
    rng: np.random.Generator, action: int, n: int, start: np.ndarray, amp: float, size: int
) -> np.ndarray:
    """``(n, 2)`` blob centres (y, x) for one event, relative to the pen's origin."""
    low, high = 0.2 * size, 0.8 * size
    t = np.arange(n, dtype=np.float64)
    if action == 0:  # walk: constant velocity, reflected at the walls
        angle = rng.uniform(0, 2 * math.pi)
        step = amp * 0.05 * size * np.array([math.sin(angle), math.cos(angle)])
        raw = start + t[:, None] * step
        span = high - low
        folded = np.mod(raw - low, 2 * span)
        return low + np.where(folded > span, 2 * span - folded, folded)
    if action == 1:  # tail behaviour: fast oscillation along a random axis
        angle = rng.uniform(0, math.pi)
        axis = np.array([math.sin(angle), math.cos(angle)])
        period = rng.uniform(2.2, 3.0)
        swing = amp * 0.07 * size * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        return np.clip(start + swing[:, None] * axis, low, high)
    if action == 2:  # circle: slow rotation around a nearby centre
        radius = amp * 0.12 * size
        omega = rng.choice([-1.0, 1.0]) * 2 * math.pi / rng.uniform(10, 14)
        phi = rng.uniform(0, 2 * math.pi)
        centre = np.clip(start, low + radius, high - radius)
        ring = np.stack([np.sin(omega * t + phi), np.cos(omega * t + phi)], axis=1)
        return centre + radius * ring
    return start + rng.normal(0, 0.005 * size, (n, 2))  # rest


def _render(
    scene: dict[str, Any],
    size: int,
    centres: np.ndarray,
    contrast: np.ndarray,
    partner: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 frames: background, animal(s), colour cast, brightness, noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dy, dx = scene["offset"]
    sigma = size / 11.0
    cy = centres[:, 0, None, None].astype(np.float32) + dy
    cx = centres[:, 1, None, None].astype(np.float32) + dx
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    # the partner animal (offence) sits just beside the main one
    py, px = cy + 0.9 * sigma * 2, cx + 0.9 * sigma
    small = np.exp(-((yy - py) ** 2 + (xx - px) ** 2) / (2 * (0.7 * sigma) ** 2))
    animal = 95.0 * contrast[:, None, None] * blob + 70.0 * partner[:, None, None] * small
    grey = _background(scene, size).astype(np.float32)[None] + animal
    tint = np.array([1.1, 0.95, 0.8], dtype=np.float32)  # the animal is brownish
    rgb = grey[..., None] * np.where(animal[..., None] > 1.0, tint, 1.0)
    rgb = rgb * np.asarray(scene["gains"], dtype=np.float32) + scene["brightness"]
    rgb = rgb + rng.normal(0, scene["noise_sigma"], rgb.shape).astype(np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _event_labels(
    rng: np.random.Generator, n_events: int, n_tail: int
) -> list[tuple[int, int, int]]:
    """``(action, severity, offence)`` per event with exactly ``n_tail`` tail events."""
    others = list(_OTHER_SHARES)
    p_other = np.array([_OTHER_SHARES[a] for a in others])
    actions = [TAIL_ACTION] * n_tail + [
        int(a) for a in rng.choice(others, size=n_events - n_tail, p=p_other)
    ]
    rng.shuffle(actions)
    severity = rng.choice(3, size=n_events, p=_SEVERITY_P)
    offence = rng.random(n_events) < _OFFENCE_P
    return [(int(a), int(s), int(o)) for a, s, o in zip(actions, severity, offence)]


def _video(
    spec: SimulationSpec, scene: dict[str, Any], n_tail: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict[str, int]]]:
    size, length, gap = spec.size, spec.event_frames, spec.gap_frames
    labels = _event_labels(rng, spec.events_per_video, n_tail)
    total = gap + spec.events_per_video * (length + gap)
    centres = np.zeros((total, 2))
    contrast = np.full(total, 0.8)
    partner = np.zeros(total)
    position = rng.uniform(0.3 * size, 0.7 * size, 2)
    events: list[dict[str, int]] = []
    cursor = 0
    for action, severity, offence in labels:
        centres[cursor : cursor + gap] = position + rng.normal(0, 0.005 * size, (gap, 2))
        cursor += gap
        amp = (0.7, 1.0, 1.3)[severity]
        path = _trajectory(rng, action, length, position, amp, size)
        centres[cursor : cursor + length] = path
        contrast[cursor : cursor + length] = (0.55, 0.8, 1.05)[severity]
        partner[cursor : cursor + length] = float(offence)
        events.append(
            {
                "start_frame": cursor,
                "end_frame": cursor + length,
                "action_class": action,
                "severity": severity,
                "offence": offence,
            }
        )
        cursor += length
        position = path[-1]
    centres[cursor:] = position
    return _render(scene, size, centres, contrast, partner, rng), events


def _tail_counts(n_events: int, kinds: list[str], spec: SimulationSpec) -> list[int]:
    """Tail events per video.

    An unconfounded camera gets ``round(tail_share * n_events)``; the confounded ones
    share what is left of ``round(tail_share * all events)``: the rich cameras first
    (``rich_tail_share`` each), the poor cameras the remainder.
    """
    per_neutral = round(spec.tail_share * n_events)
    n_neutral = sum(k == "neutral" for k in kinds)
    target_conf = max(0, round(spec.tail_share * n_events * len(kinds)) - n_neutral * per_neutral)
    rich = [i for i, k in enumerate(kinds) if k == "rich"]
    poor = [i for i, k in enumerate(kinds) if k == "poor"]
    counts = [per_neutral] * len(kinds)
    per_rich = min(n_events, round(spec.rich_tail_share * n_events))
    rich_total = min(target_conf, per_rich * len(rich))
    for j, i in enumerate(rich):  # the rich cameras share their part evenly
        counts[i] = rich_total // len(rich) + (j < rich_total % len(rich))
    left = target_conf - rich_total
    for j, i in enumerate(poor):  # the poor cameras share what is left
        counts[i] = min(n_events, left // len(poor) + (j < left % len(poor)))
    return counts


def _kinds(n: int, share: float, spec: SimulationSpec, rng: np.random.Generator) -> list[str]:
    n_conf = round(share * n)
    n_rich = min(n_conf, max(1, round(n_conf * spec.tail_share / spec.rich_tail_share)))
    kinds = ["rich"] * n_rich + ["poor"] * (n_conf - n_rich) if n_conf else []
    kinds += ["neutral"] * (n - len(kinds))
    return [kinds[i] for i in rng.permutation(n)]


def simulate_dataset(out_dir: str | os.PathLike[str], spec: SimulationSpec | None = None) -> dict:
    """Write videos, a development manifest, a test manifest and a description.

    Files written under ``out_dir``: ``videos/dev_XXX.mp4`` and ``videos/test_XXX.mp4``,
    ``manifest.csv`` (development events), ``test_manifest.csv`` (test events, from
    other cameras; absent when ``n_test_videos=0``) and ``simulation.json`` (the spec
    and every camera's nuisance and tail count). Manifest columns: ``video_path``,
    ``video_id``, ``event_id``, ``start_frame``, ``end_frame``, ``label`` (1 = tail
    behaviour), ``action_class``, ``severity``, ``offence`` and ``scene``
    (``rich``/``poor``/``neutral``: how the camera was drawn).

    Args:
        out_dir: output folder (created).
        spec: sizes and confounding; defaults to :class:`SimulationSpec` ``()``.

    Returns:
        The content of ``simulation.json`` as a dict (with ``manifest`` and
        ``test_manifest`` paths).

    Raises:
        ValueError: a field of ``spec`` is out of range.

    Examples:
        >>> import tempfile
        >>> spec = SimulationSpec(n_videos=2, n_test_videos=1, events_per_video=3,
        ...                       event_frames=4, gap_frames=1, size=16)
        >>> info = simulate_dataset(tempfile.mkdtemp(), spec)
        >>> len(info["videos"]), Path(info["manifest"]).name
        (3, 'manifest.csv')
    """
    spec = SimulationSpec() if spec is None else spec
    spec.validate()
    root = Path(out_dir)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    dev_kinds = _kinds(spec.n_videos, spec.confound, spec, rng)
    test_kinds = ["neutral"] * spec.n_test_videos
    if spec.test_confound == "reversed":
        test_kinds = _kinds(spec.n_test_videos, 1.0, spec, rng) if spec.n_test_videos else []
    videos: list[dict[str, Any]] = []
    written: dict[str, str | None] = {"manifest": None, "test_manifest": None}
    for prefix, kinds, name in (
        ("dev", dev_kinds, "manifest"),
        ("test", test_kinds, "test_manifest"),
    ):
        if not kinds:
            continue
        counts = _tail_counts(spec.events_per_video, kinds, spec)
        rows: list[dict[str, str]] = []
        for index, (kind, n_tail) in enumerate(zip(kinds, counts)):
            video_id = f"{prefix}_{index:03d}"
            look = {"rich": "poor", "poor": "rich"}.get(kind, kind) if prefix == "test" else kind
            scene = _scene(rng, look, spec.size, spec.noise)
            frames, events = _video(spec, scene, n_tail, rng)
            rel = f"videos/{video_id}.mp4"
            write_video(root / rel, frames, spec.fps, spec.crf)
            for e, event in enumerate(events):
                rows.append(
                    {
                        "video_path": rel,
                        "video_id": video_id,
                        "event_id": f"{video_id}_e{e:02d}",
                        "start_frame": str(event["start_frame"]),
                        "end_frame": str(event["end_frame"]),
                        "label": str(int(event["action_class"] == TAIL_ACTION)),
                        "action_class": str(event["action_class"]),
                        "severity": str(event["severity"]),
                        "offence": str(event["offence"]),
                        "scene": kind,
                    }
                )
            videos.append(
                {
                    "video_id": video_id,
                    "scene": scene,
                    "tail_events": n_tail,
                    "events": len(events),
                    "frames": int(frames.shape[0]),
                }
            )
        path = Manifest(rows, root=root).write(root / f"{name}.csv")
        written[name] = str(path)
    files = sorted(
        [
            *(f"videos/{v['video_id']}.mp4" for v in videos),
            *(Path(p).name for p in written.values() if p),
        ]
    )
    info = {"spec": asdict(spec), "actions": list(ACTIONS), "videos": videos, **written}
    return write_marker(root / "simulation.json", files, extra=info)  # last: the set is complete


def simulation_is_complete(out_dir: str | os.PathLike[str]) -> bool:
    """Whether ``out_dir`` holds a finished simulation: ``simulation.json`` loads and every
    file it lists (videos and manifests) is there with its recorded SHA-256.

    Examples:
        >>> simulation_is_complete("no/such/folder")
        False
    """
    return is_marked_complete(Path(out_dir) / "simulation.json")
