"""What the pipeline refuses, warns about or names in the events it is given.

A validation side without tail events, events that end past their video or are shorter
than a clip, a video FFmpeg cannot read, class names in the label column with a config
that names other classes, near-constant predictions.
"""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from imbalance_video.cli import main
from imbalance_video.data import check_events
from imbalance_video.decode import VideoCache
from imbalance_video.labels import TaskLabels
from imbalance_video.manifest import Manifest, VideoDataWarning, read_manifest
from imbalance_video.scoring import degenerate_outputs, task_metrics
from imbalance_video.split import split_manifest

from imbalance_kit.testing import truncate_file

TINY_SET = [
    "--set", "data.frame_size=16", "--set", "data.clip_len=4", "--set", "model.name=c3d",
    "--set", "model.width=4", "--set", "model.embed_dim=8", "--set", "tta.clips=2",
    "--epochs", "1", "--threads", "1", "--no-progress",
]  # fmt: skip


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _copy_data(tiny_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(tiny_data, target)
    return target


def test_validation_without_tail_events_is_refused(tiny_data, tmp_path, capsys):
    rows = _rows(tiny_data / "manifest.csv")
    train = _write(tmp_path / "train.csv", rows)
    val = _write(tmp_path / "val.csv", [dict(r, label="0") for r in rows[:6]])
    for path in (train, val):  # the videos live beside the simulated manifest
        for r in (rows := _rows(path)):
            r["video_path"] = str(tiny_data / r["video_path"])
        _write(path, rows)
    code = main(["train", "--out", str(tmp_path / "run"), "--train", str(train),
                 "--val", str(val), *TINY_SET])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imbalance-video: error: data.val must be a manifest with tail events")
    assert "got none of class '1' of task 'label' in 6 events of 1 video" in err
    assert "--method intravideo" in err and "\n" not in err
    assert not (tmp_path / "run" / "last.ckpt").exists()


@pytest.mark.filterwarnings("ignore:The least populated class in y:UserWarning")
def test_a_group_split_without_validation_tail_events_warns():
    layout = {"a": [0, 0, 1, 1], "b": [0, 0, 0], "c": [0, 0, 0], "d": [0, 0]}
    rows = [
        {"video_path": f"{v}.mp4", "video_id": v, "event_id": f"{v}{i}", "start_frame": "0",
         "end_frame": "8", "label": str(label)}
        for v, labels in layout.items() for i, label in enumerate(labels)
    ]  # fmt: skip
    warned = 0
    for seed in range(6):  # only one video has tail events: it is in validation or not
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            result = split_manifest(Manifest(rows), "group", val_share=0.34, seed=seed)
        no_tail = result.summary["splits"]["val"]["tail_events"] == 0
        messages = [str(w.message) for w in got if issubclass(w.category, VideoDataWarning)]
        assert bool(messages) == no_tail
        warned += no_tail
        if no_tail:
            assert "the validation side of this group split has no tail events" in messages[0]
    assert warned > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoDataWarning)  # events of every video on both sides
        result = split_manifest(Manifest(rows), "intravideo", val_share=0.34)
    assert result.summary["splits"]["val"]["tail_events"] == 1


def test_event_bounds_are_warned_about_and_clamped(tiny_data, tmp_path):
    data = _copy_data(tiny_data, tmp_path)
    rows = _rows(data / "manifest.csv")[:3]
    n_frames = VideoCache(16).get(data / rows[0]["video_path"]).frames.shape[0]
    rows[0]["end_frame"] = str(n_frames + 50)  # past the end of the video
    rows[1]["end_frame"] = str(int(rows[1]["start_frame"]) + 2)  # shorter than a clip
    manifest = read_manifest(_write(data / "m.csv", rows))
    cache = VideoCache(16)
    with pytest.warns(VideoDataWarning) as got:
        found = check_events(manifest, cache, clip_len=4)
    messages = sorted(str(w.message) for w in got)
    assert len(messages) == 2
    assert messages[0].startswith("1 of 3 events are shorter than a clip (4 frames")
    assert "manifest m.csv line 3 (event dev_000_e01, video dev_000): 2 frames" in messages[0]
    assert messages[1].startswith("1 of 3 events end past the last frame of their video")
    assert "manifest m.csv line 2 (event dev_000_e00" in messages[1]
    assert len(found["clamped"]) == 1 and len(found["padded"]) == 1
    # an event that starts after the video ends is an error naming its line
    rows[2]["start_frame"], rows[2]["end_frame"] = "5000", "5010"
    manifest = read_manifest(_write(data / "m.csv", rows))
    with pytest.raises(ValueError, match=r"manifest m.csv line 4 \(event dev_000_e02, video "):
        check_events(manifest, cache, clip_len=4)


def test_a_corrupt_video_names_the_manifest_line_and_event(tiny_data, tmp_path, capsys):
    data = _copy_data(tiny_data, tmp_path)
    victim = data / "videos" / "dev_002.mp4"
    victim.write_bytes(b"\x00" * 64 + victim.read_bytes()[:200])  # not a video any more
    split_manifest(read_manifest(data / "manifest.csv"), "intravideo", val_share=0.34).write(
        data / "split"
    )
    line = 2 + [r["video_id"] for r in _rows(data / "split" / "train.csv")].index("dev_002")
    code = main(["train", "--out", str(tmp_path / "run"), "--train",
                 str(data / "split" / "train.csv"), "--val", str(data / "split" / "val.csv"),
                 *TINY_SET])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"imbalance-video: error: manifest train.csv line {line} (event dev_002_")
    assert "dev_002.mp4 cannot be decoded by FFmpeg" in err and "\n" not in err


def test_a_truncated_video_names_its_row(tiny_data, tmp_path):
    data = _copy_data(tiny_data, tmp_path)
    truncate_file(data / "videos" / "dev_001.mp4", keep=0.5)  # the index (moov) is at the end
    manifest = read_manifest(data / "manifest.csv")
    index = manifest.video_ids().index("dev_001")
    with pytest.raises(ValueError, match=r"row 0 \(event dev_001_e00, video dev_001\): video "):
        check_events(manifest.subset([index]), VideoCache(16), clip_len=4)


def test_class_names_with_a_config_naming_other_classes(tiny_data, tmp_path, capsys):
    data = _copy_data(tiny_data, tmp_path)
    rows = _rows(data / "manifest.csv")
    for row in rows:
        row["label"] = "motion" if row["label"] == "1" else "still"
    paths = split_manifest(
        read_manifest(_write(data / "named.csv", rows)), "intravideo", val_share=0.34
    ).write(data / "split")
    argv = ["train", "--config", "intravideo", "--out", str(tmp_path / "run"),
            "--train", paths["train"], "--val", paths["val"], *TINY_SET]  # fmt: skip
    assert main(argv) == 2  # the shipped config names the tail class "1"
    err = capsys.readouterr().err.strip()
    assert err == (
        "imbalance-video: error: tasks.label.tail must be classes of the label column "
        "['motion', 'still'] (set it, e.g. --set tasks.label.tail=[motion]), got '1'"
    )
    assert main([*argv, "--set", "tasks.label.tail=[motion]"]) == 0


def test_degenerate_outputs_are_flagged_in_metrics_and_summary():
    task = TaskLabels("label", ("0", "1"), (1,))
    y = np.array([0, 0, 0, 0, 1])
    p1 = np.full(5, 0.5003)  # argmax says "tail" for every event: tail recall 1.0
    m = task_metrics(y, np.stack([1 - p1, p1], 1), task)
    assert m["tail_recall"] == 1.0 and m["predicted_classes"] == 1
    assert m["degenerate"] == (
        "near-constant predictions: every tail probability within 0.001 of 0.500"
    )
    assert m["score_range"] == pytest.approx(0.0)
    p1 = np.array([0.2, 0.3, 0.6, 0.1, 0.9])
    assert task_metrics(y, np.stack([1 - p1, p1], 1), task)["degenerate"] is None
    three = TaskLabels("severity", ("0", "1", "2"), (2,))
    probs = np.array([[0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.7, 0.2, 0.1]])
    assert degenerate_outputs(probs, three) == "one predicted class ('0') for every event"
