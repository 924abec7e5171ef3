"""The tools around a run: score a predictions CSV, the confound check, an ensemble of runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from imbalance_video.cli import main
from imbalance_video.config import VideoConfig
from imbalance_video.confound import check_confound
from imbalance_video.manifest import Manifest, read_manifest
from imbalance_video.predictions import read_predictions, score_predictions
from imbalance_video.split import split_manifest
from imbalance_video.train import train

TINY = {
    "data": {"frame_size": 16, "clip_len": 4, "batch_size": 8},
    "model": {"name": "c3d", "width": 4, "embed_dim": 8, "dropout": 0.1},
    "training": {"epochs": 1, "lr": 3e-3, "num_threads": 1},
    "tta": {"clips": 2},
    "diagnostics": {"probe_folds": 2},
}


@pytest.fixture(scope="module")
def two_runs(tiny_data, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("video_tools")
    dev = read_manifest(tiny_data / "manifest.csv")
    test = read_manifest(tiny_data / "test_manifest.csv")
    paths = split_manifest(dev, "intravideo", test_manifest=test, val_share=0.34).write(root)
    runs = []
    for seed in (0, 1):
        raw = {k: dict(v) for k, v in TINY.items()}
        raw["data"].update(train=paths["train"], val=paths["val"], test=paths["test"])
        raw["training"]["seed"] = seed
        train(VideoConfig.from_dict(raw), root / f"run{seed}", progress=False)
        assert main(["evaluate", "--run", str(root / f"run{seed}"), "--no-plots"]) == 0
        runs.append(root / f"run{seed}")
    return runs[0], runs[1]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_score_reproduces_the_run_metrics_from_its_predictions(two_runs, tmp_path, capsys):
    run = two_runs[0]
    capsys.readouterr()
    code = main(["score", "--predictions", str(run / "predictions.csv"),
                 "--out", str(tmp_path / "m.json")])  # fmt: skip
    assert code == 0 and "val (" in capsys.readouterr().out
    scored = json.loads((tmp_path / "m.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):
        ours, theirs = scored["splits"][split], metrics["splits"][split]["tasks"]["label"]
        for key in (
            "n_events",
            "tail_events",
            "tail_recall",
            "tail_f1",
            "macro_f1",
            "predicted_classes",
        ):
            assert ours[key] == theirs[key], (split, key)
        for key in ("roc_auc", "pr_auc", "ece", "brier"):  # probabilities were rounded to 1e-6
            assert ours[key] == pytest.approx(theirs[key], abs=1e-4, nan_ok=True), (split, key)
        spread = theirs["video_spread"]["video_share"]
        assert ours["video_spread"]["video_share"] == pytest.approx(spread, abs=1e-4, nan_ok=True)
    # the same predictions in another tool's layout: a label and a tail-probability column
    rows = [{"truth": r["label_true"], "prob": r["label_p_1"], "split": r["split"]}
            for r in _csv(run / "predictions.csv")]  # fmt: skip
    external = score_predictions(
        read_predictions(_write(tmp_path / "ext.csv", rows), label_column="truth",
                         score_column="prob")
    )  # fmt: skip
    for split in ("val", "test"):
        for key in ("tail_recall", "tail_f1", "roc_auc"):
            assert external["splits"][split][key] == pytest.approx(
                scored["splits"][split][key], nan_ok=True
            )


def test_score_names_bad_rows_and_flags_degenerate_files(tmp_path, capsys):
    bad = _write(tmp_path / "bad.csv", [{"y": "0", "p": "0.2"}, {"y": "1", "p": "1.7"}])
    assert main(["score", "--predictions", str(bad), "--label-column", "y",
                 "--score-column", "p"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "imbalance-video: error: predictions bad.csv line 3 must be probabilities"
    )
    missing = _write(tmp_path / "m.csv", [{"y": "0", "q": "0.2"}])
    with pytest.raises(ValueError, match=r"predictions m.csv must be a column 'p'"):
        read_predictions(missing, label_column="y", score_column="p")
    with pytest.raises(ValueError, match=r"must be a column 'label_true' \(or give --label-column"):
        read_predictions(missing)
    flat = _write(tmp_path / "flat.csv", [{"y": str(int(i < 2)), "p": "0.5003"} for i in range(10)])
    assert main(["score", "--predictions", str(flat), "--label-column", "y",
                 "--score-column", "p"]) == 0  # fmt: skip
    out = capsys.readouterr()
    assert "tail_recall                  1.0000" in out.out
    assert "YES: near-constant predictions" in out.out
    assert "warning: the all predictions are degenerate" in out.err


def _layout_manifest(layout: dict[str, list[int]]) -> Manifest:
    rows = [
        {"video_path": f"{v}.mp4", "video_id": v, "event_id": f"{v}_{i}", "start_frame": "0",
         "end_frame": "8", "label": str(label)}
        for v, labels in layout.items() for i, label in enumerate(labels)
    ]  # fmt: skip
    return Manifest(rows)


def test_confound_flags_predictions_that_follow_the_camera(tmp_path):
    # five cameras with very different tail rates; validation holds the same cameras
    rates = {"a": 0.8, "b": 0.6, "c": 0.2, "d": 0.0, "e": 0.0}
    layout = {v: [int(i < round(10 * r)) for i in range(10)] for v, r in rates.items()}
    events = _layout_manifest(layout)
    train_m = events.subset([i for i in range(len(events)) if i % 2 == 0])
    val_m = events.subset([i for i in range(len(events)) if i % 2 == 1])
    train_rates = {
        v: np.mean([int(r["label"]) for r in train_m.rows if r["video_id"] == v]) for v in rates
    }
    camera = [{"split": "val", "video_id": r["video_id"], "label_true": r["label"],
               "label_p_0": f"{1 - train_rates[r['video_id']]:.6f}",
               "label_p_1": f"{train_rates[r['video_id']]:.6f}"} for r in val_m.rows]  # fmt: skip
    report = check_confound(
        train_m, val_m, read_predictions(_write(tmp_path / "camera.csv", camera))
    )
    assert report["manifests"]["video_prior_auc"] >= 0.75
    assert {"video_prior", "follows_video", "ranks_videos"} <= set(report["flags"])
    assert report["predictions"]["within_video"]["auc"] == 0.5
    assert report["verdict"].startswith("camera confound suspected")
    assert report["predictions"]["video_spread"]["video_share"] == pytest.approx(1.0)
    # a model of the behaviour: its scores follow each event's label, not the camera
    rng = np.random.default_rng(0)
    behaviour = []
    for r in val_m.rows:
        p = float(np.clip(0.8 * int(r["label"]) + 0.1 + rng.normal(0, 0.05), 0.01, 0.99))
        behaviour.append({"split": "val", "video_id": r["video_id"], "label_true": r["label"],
                          "label_p_0": f"{1 - p:.6f}", "label_p_1": f"{p:.6f}"})  # fmt: skip
    clean = check_confound(train_m, val_m, read_predictions(_write(tmp_path / "b.csv", behaviour)))
    assert set(clean["flags"]) == {"video_prior"}
    assert clean["verdict"] == (
        "no sign that the predictions follow the camera (a camera shortcut is available in "
        "this split)"
    )
    # the behaviour ranked inside every video, but still events sit at a per-camera level
    offset = {"a": 0.2, "b": 0.25, "c": 0.3, "d": 0.35, "e": 0.4}
    levels = []
    for r in val_m.rows:
        p = offset[r["video_id"]] + 0.5 * int(r["label"])
        levels.append({"split": "val", "video_id": r["video_id"], "label_true": r["label"],
                       "label_p_0": f"{1 - p:.6f}", "label_p_1": f"{p:.6f}"})  # fmt: skip
    offsets = check_confound(train_m, val_m, read_predictions(_write(tmp_path / "o.csv", levels)))
    assert set(offsets["flags"]) == {"video_prior", "clustering"}
    assert offsets["predictions"]["within_video"]["auc"] == 1.0
    assert offsets["verdict"].startswith("the scores repeat per video (a per-camera offset)")


def test_confound_command_on_a_run(two_runs, tmp_path, capsys):
    run = two_runs[0]
    split = run.parent
    code = main(["confound", "--train", str(split / "train.csv"), "--val", str(split / "val.csv"),
                 "--predictions", str(run / "predictions.csv"),
                 "--out", str(tmp_path / "c.json")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("videos: ")
    assert "verdict: " in printed
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["predictions"]["split"] == "val"
    assert report["predictions"]["events"] == len(read_manifest(split / "val.csv"))


def test_ensemble_averages_the_runs_probabilities(two_runs, tmp_path, capsys):
    out = tmp_path / "ens"
    argv = ["ensemble", "--runs", *map(str, two_runs), "--out", str(out), "--no-plots"]
    assert main(argv) == 0
    assert "ensemble of 2 runs" in capsys.readouterr().out
    ours = _csv(out / "predictions.csv")
    members = [_csv(run / "predictions.csv") for run in two_runs]
    assert [r["event_id"] for r in ours] == [r["event_id"] for r in members[0]]
    for row, a, b in zip(ours, *members):
        expected = (float(a["label_p_1"]) + float(b["label_p_1"])) / 2
        assert float(row["label_p_1"]) == pytest.approx(expected, abs=2e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["run"] for m in metrics["members"]] == [str(r) for r in two_runs]
    assert set(metrics["splits"]) == {"val", "test"}
    assert main(["ensemble", "--runs", str(two_runs[0]), "--out", str(out)]) == 2
    assert "runs must be two or more run folders" in capsys.readouterr().err
