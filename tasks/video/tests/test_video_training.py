"""Lightning training, resume, evaluation outputs and multi-task weighting on tiny videos."""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from imbalance_video.config import VideoConfig
from imbalance_video.evaluate import evaluate_run, load_module
from imbalance_video.manifest import read_manifest
from imbalance_video.module import aggregate_clips
from imbalance_video.split import split_manifest
from imbalance_video.train import train

from imbalance_kit.losses import MultiTaskLoss
from imbalance_kit.weights import DoubleCorrectionWarning

TINY = {
    "data": {"frame_size": 16, "clip_len": 4, "batch_size": 8},
    "model": {"name": "c3d", "width": 4, "embed_dim": 8, "dropout": 0.1},
    "training": {"epochs": 2, "lr": 3e-3, "num_threads": 1},
    "tta": {"clips": 2},
    "diagnostics": {"probe_folds": 2},
}


@pytest.fixture(scope="module")
def splits(tiny_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video_splits")
    dev = read_manifest(tiny_data / "manifest.csv")
    test = read_manifest(tiny_data / "test_manifest.csv")
    split_manifest(dev, "intravideo", test_manifest=test, val_share=0.34, seed=0).write(out)
    return out


def _config(splits: Path, **sections) -> VideoConfig:
    raw = {k: dict(v) for k, v in TINY.items()}
    raw["data"].update(
        train=str(splits / "train.csv"), val=str(splits / "val.csv"), test=str(splits / "test.csv")
    )
    for name, values in sections.items():
        if name == "tasks":
            raw["tasks"] = values
        else:
            raw.setdefault(name, {}).update(values)
    return VideoConfig.from_dict(raw)


def _strict_json(path: Path):
    def refuse(value):
        raise ValueError(f"non-standard JSON constant {value}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_train_resume_evaluate(splits, tmp_path):
    run = tmp_path / "run"
    first = _config(splits, training={"epochs": 1, "class_weights": "effective"})
    with pytest.warns(DoubleCorrectionWarning):
        done = train(first, run, progress=False)
    assert done["epochs"] == 1
    for name in (
        "best.ckpt",
        "last.ckpt",
        "config.yaml",
        "label_map.json",
        "manifests_used.txt",
        "training_history.json",
        "train_done.json",
        "logs/metrics.csv",
    ):
        assert (run / name).is_file(), name
    weights = done["class_weights"]["label"]
    assert weights[1] > weights[0]  # the rare class weighs more

    # resume: the second epoch continues from last.ckpt
    second = _config(splits, training={"epochs": 2, "class_weights": "effective"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoubleCorrectionWarning)
        done = train(second, run, resume=True, progress=False)
    assert done["epochs"] == 2
    history = _strict_json(run / "training_history.json")
    assert [r["epoch"] for r in history] == [0, 1]
    for key in (
        "train_loss",
        "val_loss",
        "val_tail_recall",
        "val_tail_f1",
        "val_macro_f1",
        "val_roc_auc",
        "val_ece",
        "lr",
        "task_weights",
    ):
        assert key in history[1], key
    state = torch.load(run / "best.ckpt", map_location="cpu", weights_only=True)
    assert state["hyper_parameters"]["class_weights"]["label"] == pytest.approx(weights)

    result = evaluate_run(run)
    metrics = _strict_json(run / "metrics.json")
    assert metrics["summary"] == pytest.approx(result["summary"], nan_ok=True)
    # evaluation repeats the validation of the selected checkpoint: same TTA clips, same number
    assert metrics["summary"]["val_tail_f1"] == pytest.approx(done["best_score"], abs=1e-6)
    val, test = read_manifest(splits / "val.csv"), read_manifest(splits / "test.csv")
    with (run / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(val) + len(test)
    for split in ("val", "test"):
        part = [r for r in rows if r["split"] == split]
        truth = np.array([r["label_true"] == "1" for r in part])
        pred = np.array([r["label_pred"] == "1" for r in part])
        recall = (truth & pred).sum() / truth.sum()
        assert metrics["splits"][split]["tasks"]["label"]["tail_recall"] == pytest.approx(recall)
        p0 = np.array([float(r["label_p_0"]) for r in part])
        p1 = np.array([float(r["label_p_1"]) for r in part])
        np.testing.assert_allclose(p0 + p1, 1.0, atol=2e-6)
        assert pred.tolist() == (p1 > p0).tolist()
    seen = metrics["seen_vs_unseen"]["label"]
    assert seen["seen"]["n_events"] == len(val)  # intra-video: validation videos are trained on
    assert seen["unseen"]["n_events"] == len(test)
    assert {r["seen_video"] for r in rows if r["split"] == "test"} == {"0"}
    spread = metrics["splits"]["test"]["tasks"]["label"]["video_spread"]
    assert set(spread["per_video"]) == set(test.video_ids())
    assert 0.0 <= spread["video_share"] <= 1.0
    probe = metrics["splits"]["val"]["linear_probe"]
    assert probe["n_videos"] >= 2 and 0.0 <= probe["accuracy"] <= 1.0
    assert "val_best_f1_threshold" in metrics["threshold"]["label"]
    for png in (
        "reliability_val.png",
        "reliability_test.png",
        "video_spread_test.png",
        "training_curves.png",
    ):
        assert (run / png).stat().st_size > 1000, png

    # other TTA settings and an explicit manifest
    again = evaluate_run(
        run,
        checkpoint="last",
        manifests={"test": splits / "test.csv"},
        clips=3,
        aggregate="max",
        plots=False,
    )
    assert set(again["splits"]) == {"test"} and again["tta"] == {
        "clips": 3,
        "aggregate": "max",
        "flip": False,
    }


def test_checkpoints_load_without_unpickling(splits, tmp_path):
    run = tmp_path / "run"
    train(_config(splits, training={"epochs": 1}), run, progress=False)
    module = load_module(run / "best.ckpt")
    assert not module.training and module.task_labels[0].name == "label"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": object()}}, tmp_path / "evil.ckpt")
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        load_module(tmp_path / "evil.ckpt")
    with pytest.raises(FileNotFoundError, match="checkpoint must be an existing file"):
        load_module(tmp_path / "none.ckpt")


def test_multi_task_adaptive_weights_follow_validation_f1(splits, tmp_path):
    tasks = {
        "action_class": {"loss": "ce"},
        "severity": {"loss": "focal"},
        "offence": {"loss": "ce"},
    }
    config = _config(
        splits,
        tasks=tasks,
        training={"epochs": 2},
        multitask={"weighting": "inverse_f1", "adaptive_weights": True, "max_weight": 5.0},
    )
    train(config, tmp_path / "mt", progress=False)
    history = _strict_json(tmp_path / "mt" / "training_history.json")
    assert history[0]["task_weights"] == {"action_class": 1.0, "severity": 1.0, "offence": 1.0}
    reference = MultiTaskLoss({t: "cross_entropy" for t in tasks}, "inverse_f1", max_weight=5.0)
    reference.update_metrics({t: history[0][f"val_{t}_macro_f1"] for t in tasks})
    assert history[1]["task_weights"] == pytest.approx(reference.task_weights(), rel=1e-5)
    mean_tail_f1 = np.mean([history[1][f"val_{t}_tail_f1"] for t in tasks])
    assert history[1]["val_tail_f1"] == pytest.approx(mean_tail_f1, rel=1e-5)
    state = torch.load(tmp_path / "mt" / "last.ckpt", weights_only=True, map_location="cpu")
    heads = {
        k.split(".")[2]: v.shape[0]
        for k, v in state["state_dict"].items()
        if k.startswith("model.heads.") and k.endswith(".weight")
    }
    assert heads == {"action_class": 4, "severity": 3, "offence": 2}


def test_uncertainty_weighting_learns_its_log_variances(splits, tmp_path):
    tasks = {"label": {"loss": "focal"}, "severity": {"loss": "ce"}}
    config = _config(
        splits, tasks=tasks, training={"epochs": 1}, multitask={"weighting": "uncertainty"}
    )
    train(config, tmp_path / "unc", progress=False)
    state = torch.load(tmp_path / "unc" / "last.ckpt", weights_only=True, map_location="cpu")
    log_vars = state["state_dict"]["criterion.log_vars"]
    assert log_vars.shape == (2,) and bool((log_vars != 0).all())


def test_aggregate_clips_mean_and_max():
    p = torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]])
    torch.testing.assert_close(aggregate_clips(p, "mean"), p.mean(dim=1))
    top = torch.tensor([[0.7, 0.3, 0.6], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(aggregate_clips(p, "max"), top / top.sum(dim=1, keepdim=True))
    assert math.isclose(float(aggregate_clips(p, "max").sum()), 2.0, rel_tol=1e-6)


def test_demo_runs_every_stage_once_and_resumes(tmp_path, monkeypatch):
    from imbalance_video import demo

    tiny = {
        "simulation": {"n_videos": 4, "n_test_videos": 2, "events_per_video": 6, "event_frames": 6,
                       "gap_frames": 1, "size": 16, "tail_share": 0.25, "rich_tail_share": 0.5},
        "config": {**TINY, "training": {"epochs": 1, "num_threads": 1}},
    }  # fmt: skip
    monkeypatch.setitem(demo.DEMO_PRESETS, "quick", tiny)
    messages: list[str] = []
    out = demo.run_demo(tmp_path, quick=True, methods=["group", "intravideo"], log=messages.append)
    assert set(out["results"]) == {"group", "intravideo"}
    assert out["table"].count("\n") == 3  # header, rule, two rows
    stored = _strict_json(tmp_path / "comparison.json")
    assert (
        stored["results"]["group"][0]["test_roc_auc"] == out["results"]["group"][0]["test_roc_auc"]
    )
    split = _strict_json(tmp_path / "splits" / "group_s0" / "split_summary.json")
    assert split["overlap"]["train_val_videos"] == 0
    best = tmp_path / "runs" / "intravideo_s0" / "best.ckpt"
    stamp = best.stat().st_mtime_ns
    again = demo.run_demo(tmp_path, quick=True, methods=["intravideo"], log=messages.append)
    assert best.stat().st_mtime_ns == stamp  # nothing retrained
    assert again["results"]["intravideo"] == out["results"]["intravideo"]
    assert any("reusing" in m for m in messages)
    with pytest.raises(ValueError, match="a simulation with the full preset"):
        demo.run_demo(tmp_path, quick=False, methods=["group"])


def test_study_command_and_its_demo_alias(tmp_path, monkeypatch, capsys):
    from imbalance_video import demo
    from imbalance_video.cli import main

    tiny = {
        "simulation": {"n_videos": 4, "n_test_videos": 2, "events_per_video": 6, "event_frames": 6,
                       "gap_frames": 1, "size": 16, "tail_share": 0.25, "rich_tail_share": 0.5},
        "config": {**TINY, "training": {"epochs": 1, "num_threads": 1}},
    }  # fmt: skip
    monkeypatch.setitem(demo.DEMO_PRESETS, "quick", tiny)
    args = ["--quick", "--methods", "intravideo", "--out", str(tmp_path)]
    assert main(["demo", *args]) == 0  # the earlier spelling
    first = capsys.readouterr().out
    assert "[train] intravideo_s0" in first and "| intravideo |" in first
    stored = _strict_json(tmp_path / "comparison.json")
    assert main(["study", *args]) == 0  # the same study: every stage is reused
    again = capsys.readouterr().out
    assert "[train]" not in again and "reusing" in again
    assert _strict_json(tmp_path / "comparison.json")["results"] == stored["results"]
