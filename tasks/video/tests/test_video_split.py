"""Manifests and the group / intra-video / boosted splits."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.split import split_manifest


def _manifest(layout: dict[str, list[int]]) -> Manifest:
    """video -> labels of its events (one row each)."""
    rows = []
    for video, labels in layout.items():
        for i, label in enumerate(labels):
            rows.append(
                {
                    "video_path": f"videos/{video}.mp4",
                    "video_id": video,
                    "event_id": f"{video}_{i}",
                    "start_frame": str(10 * i),
                    "end_frame": str(10 * i + 8),
                    "label": str(label),
                }
            )
    return Manifest(rows, root=Path("/data"))


LAYOUT = {
    "a": [0] * 8 + [1] * 2,
    "b": [0] * 9 + [1] * 1,
    "c": [0] * 10,
    "d": [0] * 6 + [1] * 4,
    "e": [0] * 10,
    "f": [0] * 7 + [1] * 3,
}


def _ids(manifest: Manifest) -> list[str]:
    return [r["event_id"] for r in manifest.rows]


# ------------------------------------------------------------------ manifests


def test_read_manifest_frames_and_times(tmp_path):
    (tmp_path / "m.csv").write_text(
        "video_path,video_id,event_id,start_time,end_time,label\n"
        "v.mp4,v,e1,0.5,1.25,1\n/abs/w.mp4,w,e2,0,0.1,0\n"
    )
    m = read_manifest(tmp_path / "m.csv", label_columns=["label"])
    assert m.uses_time
    assert m.frame_range(0, fps=8.0) == (4, 10)  # floor(0.5 * 8), ceil(1.25 * 8)
    assert m.frame_range(1, fps=8.0) == (0, 1)  # ceil(0.8) = 1
    assert m.video_file(0) == tmp_path.resolve() / "v.mp4"
    assert m.video_file(1) == Path("/abs/w.mp4")
    with pytest.raises(ValueError, match="fps must be a positive frame rate"):
        m.frame_range(0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("video_path,video_id,start_frame,end_frame,label\nv,v,0,4,1\n", "event_id"),
        ("video_path,video_id,event_id,label\nv,v,e,1\n", "start_frame/end_frame or start_time"),
        ("video_path,video_id,event_id,start_frame,end_frame\nv,v,e,0,4\n", "label"),
        ("video_path,video_id,event_id,start_frame,end_frame,label\n", "at least one event row"),
        (
            "video_path,video_id,event_id,start_frame,end_frame,label\nv,v,e,5,5,1\n",
            "0 <= start < end",
        ),
        ("video_path,video_id,event_id,start_frame,end_frame,label\nv,v,e,a,5,1\n", "integers"),
        (
            "video_path,video_id,event_id,start_frame,end_frame,label\nv,,e,0,5,1\n",
            "video_id must be non-empty",
        ),
    ],
)
def test_read_manifest_errors(tmp_path, text, match):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_manifest(tmp_path / "m.csv", label_columns=["label"])


def test_read_manifest_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest must be an existing CSV file"):
        read_manifest(tmp_path / "none.csv")


def test_write_rewrites_relative_paths(tmp_path):
    (tmp_path / "data" / "videos").mkdir(parents=True)
    (tmp_path / "data" / "videos" / "a.mp4").write_bytes(b"x")
    m = Manifest(
        [
            {
                "video_path": "videos/a.mp4",
                "video_id": "a",
                "event_id": "e",
                "start_frame": "0",
                "end_frame": "4",
                "label": "1",
            }
        ],
        root=tmp_path / "data",
    )
    out = m.write(tmp_path / "splits" / "deep" / "train.csv")
    back = read_manifest(out)
    assert back.rows[0]["video_path"] == "../../data/videos/a.mp4"
    assert back.video_file(0).resolve() == (tmp_path / "data" / "videos" / "a.mp4").resolve()


# ---------------------------------------------------------------------- splits


def test_group_split_keeps_videos_disjoint():
    m = _manifest(LAYOUT)
    result = split_manifest(m, "group", val_share=0.34, seed=1)
    train_v = set(result.train.video_ids())
    val_v = set(result.val.video_ids())
    assert not train_v & val_v
    assert sorted(_ids(result.train) + _ids(result.val)) == sorted(_ids(m))
    assert len(val_v) == 2  # 6 videos in 3 folds
    assert result.summary["overlap"]["train_val_videos"] == 0
    assert result.test is None


def test_intravideo_split_is_stratified_inside_every_video():
    m = _manifest(LAYOUT)
    result = split_manifest(m, "intravideo", val_share=0.3, seed=0)
    assert sorted(_ids(result.train) + _ids(result.val)) == sorted(_ids(m))
    assert not set(_ids(result.train)) & set(_ids(result.val))
    val_counts = Counter(r["label"] for r in result.val.rows)
    assert val_counts["1"] == round(0.3 * 10)  # 10 tail events overall
    assert val_counts["0"] == round(0.3 * 50)
    for video, labels in LAYOUT.items():
        for label in set(labels):
            n = labels.count(label)
            in_val = sum(
                r["video_id"] == video and r["label"] == str(label) for r in result.val.rows
            )
            if n >= 2:
                assert 1 <= in_val <= n - 1, (video, label)
            assert abs(in_val - 0.3 * n) < 1.0 + 1e-9 or n < 4
    summary = result.summary
    assert summary["overlap"]["train_val_videos"] == 6
    assert summary["overlap"]["tail_videos_train_and_val"] == 3  # a, d, f have >= 2 tail events
    assert summary["splits"]["val"]["tail_events"] == 3


@pytest.mark.filterwarnings("ignore::imbalance_video.manifest.VideoDataWarning")
@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(list("abcdefgh")),
        st.lists(st.integers(0, 2), min_size=1, max_size=12),
        min_size=2,
        max_size=8,
    ),
    st.floats(0.1, 0.6),
    st.integers(0, 5),
)
def test_intravideo_split_properties(layout, share, seed):
    classes = {label for labels in layout.values() for label in labels}
    assume(len(classes) >= 2)
    m = _manifest(layout)
    try:
        result = split_manifest(m, "intravideo", val_share=share, seed=seed)
    except ValueError as exc:  # too few events to fill both sides
        assert "no validation events" in str(exc) or "no training events" in str(exc)
        return
    assert sorted(_ids(result.train) + _ids(result.val)) == sorted(_ids(m))
    labels = Counter(r["label"] for r in m.rows)
    val = Counter(r["label"] for r in result.val.rows)
    for label, n in labels.items():
        cells = [(v, ls.count(int(label))) for v, ls in layout.items() if int(label) in ls]
        low = sum(1 for _, c in cells if c >= 2)
        high = sum(c - 1 if c >= 2 else c for _, c in cells)
        # the per-class target, unless the per-video bounds make it impossible
        assert val[label] == min(max(round(share * n), low), high)


def test_boosted_split_reaches_target_share_with_copies_of_training_tail_events():
    m = _manifest(LAYOUT)
    plain = split_manifest(m, "intravideo", val_share=0.3, seed=0)
    boosted = split_manifest(m, "boosted", val_share=0.3, seed=0, target_tail_share=0.3)
    n_tail = sum(r["label"] == "1" for r in plain.train.rows)
    n_rest = len(plain.train) - n_tail
    want = math.ceil(0.3 * n_rest / 0.7)
    rows = boosted.train.rows
    assert len(rows) == n_rest + want
    assert sum(r["label"] == "1" for r in rows) == want
    assert boosted.summary["splits"]["train"]["tail_share"] >= 0.3
    assert boosted.summary["boosted_copies"] == want - n_tail
    originals = [r for r in rows if r["copy"] == "0"]
    assert sorted(_ids(Manifest(originals))) == sorted(_ids(plain.train))
    copies = [r for r in rows if r["copy"] != "0"]
    train_tail_ids = {r["event_id"] for r in plain.train.rows if r["label"] == "1"}
    assert {r["event_id"] for r in copies} <= train_tail_ids
    assert _ids(boosted.val) == _ids(plain.val)  # validation is not boosted


def test_test_share_holds_out_whole_videos():
    m = _manifest(LAYOUT)
    result = split_manifest(m, "intravideo", test_share=0.34, seed=2)
    test_v = set(result.test.video_ids())
    assert test_v and not test_v & (set(result.train.video_ids()) | set(result.val.video_ids()))
    everything = _ids(result.train) + _ids(result.val) + _ids(result.test)
    assert sorted(everything) == sorted(_ids(m))
    assert result.summary["overlap"]["train_test_videos"] == 0


def test_external_test_manifest_and_summary_counts():
    m = _manifest(LAYOUT)
    test = _manifest({"x": [0, 1, 1], "y": [0, 0]})
    result = split_manifest(m, "group", test_manifest=test, seed=0)
    side = result.summary["splits"]["test"]
    assert (side["events"], side["videos"], side["tail_events"], side["videos_with_tail"]) == (
        5,
        2,
        2,
        1,
    )
    assert side["tail_share"] == pytest.approx(0.4)


def test_split_writes_files(tmp_path):
    result = split_manifest(_manifest(LAYOUT), "boosted", test_manifest=_manifest({"x": [0, 1]}))
    paths = result.write(tmp_path)
    assert sorted(Path(p).name for p in paths.values()) == [
        "split_summary.json",
        "test.csv",
        "train.csv",
        "val.csv",
    ]
    assert len(read_manifest(paths["train"])) == len(result.train)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "random"}, "method must be one of"),
        ({"val_share": 1.0}, "val_share must be in"),
        ({"test_share": 0.2, "test_manifest": _manifest({"x": [0, 1]})}, "test_share must be 0"),
        ({"target_tail_share": 0.0}, "target_tail_share must be in"),
        ({"tail_classes": ["7"]}, "tail of task 'label' must be classes among"),
    ],
)
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_manifest(_manifest(LAYOUT), **kwargs)


def test_split_leaving_a_side_empty_is_an_error():
    with pytest.raises(ValueError, match="no validation events"):
        split_manifest(_manifest({"a": [0, 1], "b": [0]}), "intravideo", val_share=0.1)


def test_group_split_needs_two_videos():
    with pytest.raises(ValueError, match="at least two videos"):
        split_manifest(_manifest({"a": [0, 1, 0]}), "group")


def test_split_with_named_labels_and_explicit_tail():
    layout = {v: ["calm"] * 6 + ["suck"] * 2 + ["fight"] for v in "abc"}
    rows = [
        {
            "video_path": f"{v}.mp4",
            "video_id": v,
            "event_id": f"{v}{i}",
            "start_frame": "0",
            "end_frame": "4",
            "label": lab,
        }
        for v, labs in layout.items()
        for i, lab in enumerate(labs)
    ]
    result = split_manifest(Manifest(rows), "intravideo", tail_classes=["suck", "fight"], seed=0)
    assert result.summary["tail_classes"] == ["fight", "suck"]
    assert (
        result.summary["splits"]["val"]["tail_events"]
        + result.summary["splits"]["train"]["tail_events"]
        == 9
    )
    assert np.isclose(
        result.summary["splits"]["train"]["tail_share"] * len(result.train),
        result.summary["splits"]["train"]["tail_events"],
    )
