"""The ``imbalance-video`` commands around a run: convert, score, confound, ensemble.

``convert`` turns real fixed-camera clips into an event manifest
(:mod:`imbalance_video.convert`); ``score`` computes the metrics of a predictions CSV
(:mod:`imbalance_video.predictions`); ``confound`` checks a split and its predictions for a
camera confound (:mod:`imbalance_video.confound`); ``ensemble`` averages several runs
(:mod:`imbalance_video.ensemble`). :mod:`imbalance_video.cli` registers them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imbalance_kit.app import UsageError, add_command, add_common_options
from imbalance_video.convert import SOURCES

__all__ = ["add_tool_commands", "print_summary", "split_paths"]

PROG = "imbalance-video"


def print_summary(summary: dict[str, Any]) -> None:
    """Print ``key value`` lines; warn on standard error about degenerate splits."""
    for key, value in summary.items():
        if key.endswith("_degenerate"):
            shown = "no" if value is None else f"YES: {value}"
        else:
            shown = (
                "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else value
            )
        print(f"  {key:<28} {shown}")
    for key, value in summary.items():
        if key.endswith("_degenerate") and value is not None:
            split = key[: -len("_degenerate")]
            print(
                f"{PROG}: warning: the {split} predictions are degenerate ({value}); "
                f"their tail recall and F1 say nothing about the model",
                file=sys.stderr,
            )


def split_paths(items: Sequence[str] | None) -> dict[str, str] | None:
    """``SPLIT=PATH`` options as a mapping (``None`` when there are none).

    Examples:
        >>> split_paths(["val=v.csv", "test=t.csv"])
        {'val': 'v.csv', 'test': 't.csv'}
    """
    if not items:
        return None
    manifests = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--manifest must be SPLIT=PATH, got {item!r}")
        split, path = item.split("=", 1)
        manifests[split] = path
    return manifests


def _add_convert(sub: Any) -> None:
    co = add_command(
        sub, "convert", _convert, help="real fixed-camera clips -> views, motion events, manifest"
    )
    source = co.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--source", choices=SOURCES, help="an installed package that ships the clips"
    )
    source.add_argument("--videos", nargs="+", help="your own fixed-camera video files instead")
    co.add_argument("--source-dir", help="where the source is (e.g. a dpkg -x folder)")
    co.add_argument("--out", required=True, help="folder for views/, manifest.csv, conversion.json")
    co.add_argument("--event-frames", type=int, default=12, help="frames per event")
    co.add_argument("--view-size", type=int, default=64, help="width of every written view")
    co.add_argument(
        "--pixel-threshold", type=int, default=25, help="grey-level change that counts (0-255)"
    )
    co.add_argument(
        "--motion-threshold",
        type=float,
        default=0.03,
        help="share of changed pixels above which an event is a motion (tail) event",
    )
    co.add_argument("--max-frames", type=int, help="read at most this many frames per video")
    co.add_argument("--grid", type=int, help="views per side for every video (default: per source)")


def _add_score(sub: Any) -> None:
    sc = add_command(
        sub, "score", _score, help="metrics of a predictions CSV (this or another tool's)"
    )
    sc.add_argument("--predictions", required=True, help="the predictions CSV")
    sc.add_argument("--out", help="write the metrics to this JSON file")
    sc.add_argument("--task", default="label", help="task of a predictions.csv of this package")
    sc.add_argument("--label-column", help="another tool's file: the true class column")
    sc.add_argument("--score-column", help="with --label-column: the tail probability column")
    sc.add_argument("--prob-prefix", help="with --label-column: prefix of per-class columns")
    sc.add_argument("--tail", nargs="+", help="tail classes (default: 1, or the rarest class)")


def _add_confound(sub: Any) -> None:
    cf = add_command(
        sub, "confound", _confound, help="camera-confound check of a split and its predictions"
    )
    cf.add_argument("--train", required=True, help="training manifest")
    cf.add_argument("--val", required=True, help="validation manifest")
    cf.add_argument("--predictions", help="a predictions CSV of the validation events")
    cf.add_argument("--split", default="val", help="the predictions' split to check")
    cf.add_argument("--task", default="label", help="the label column")
    cf.add_argument("--label-column", help="another tool's predictions: the true class column")
    cf.add_argument("--score-column", help="with --label-column: the tail probability column")
    cf.add_argument("--prob-prefix", help="with --label-column: prefix of per-class columns")
    cf.add_argument("--tail", nargs="+", help="tail classes (default: the rarest class)")
    cf.add_argument("--out", help="write the report to this JSON file")


def _add_ensemble(sub: Any) -> None:
    en = add_command(
        sub, "ensemble", _ensemble, help="average several runs' probabilities, evaluate them"
    )
    add_common_options(en, config=False, overrides=False)
    en.add_argument("--runs", nargs="+", required=True, help="two or more run folders")
    en.add_argument("--out", required=True, help="folder for the ensemble's report")
    en.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="checkpoint of each run"
    )
    en.add_argument(
        "--manifest",
        action="append",
        metavar="SPLIT=PATH",
        help="evaluate these manifests (default: the first run's val and test; repeatable)",
    )
    en.add_argument("--clips-per-event", type=int, help="TTA clips per event for every run")
    en.add_argument("--aggregation", choices=("mean", "max"), help="how each run's clips combine")
    en.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of the checkpoints (only for files you trust)",
    )
    en.add_argument("--no-plots", action="store_true", help="write no PNG files")


def _convert(args: argparse.Namespace) -> int:
    from imbalance_video.convert import ConvertSpec, SourceVideo, convert_source, convert_videos

    spec = ConvertSpec(
        event_frames=args.event_frames,
        view_size=args.view_size,
        pixel_threshold=args.pixel_threshold,
        motion_threshold=args.motion_threshold,
        max_frames=args.max_frames,
        grid=args.grid,
    )
    if args.source:
        info = convert_source(args.source, args.out, spec, source_dir=args.source_dir)
    else:
        videos = [SourceVideo(Path(v).stem, Path(v), 1) for v in args.videos]
        info = convert_videos(videos, args.out, spec)
    print(
        f"{info['events']} events ({info['tail_events']} with motion, "
        f"{info['tail_share']:.1%}) in {sum(len(r['views']) for r in info['recordings'])} views "
        f"-> {info['manifest']}"
    )
    for rec in info["recordings"]:
        tails = [v["tail_events"] for v in rec["views"]]
        print(
            f"  {rec['camera']:<10} {rec['frames_used']:>4} frames at {rec['fps']:.2f} fps, "
            f"{rec['grid']}x{rec['grid']} views, motion events per view {tails}"
        )
    return 0


def _read_predictions_args(args: argparse.Namespace) -> Any:
    from imbalance_video.predictions import read_predictions

    return read_predictions(
        args.predictions,
        task=args.task,
        label_column=args.label_column,
        score_column=args.score_column,
        prob_prefix=args.prob_prefix,
        tail=args.tail,
    )


def _score(args: argparse.Namespace) -> int:
    from imbalance_video.predictions import score_predictions

    result = score_predictions(_read_predictions_args(args), args.out)
    for split, m in result["splits"].items():
        print(f"{split} ({m['n_events']} events, {m['tail_events']} tail):")
        keys = ("tail_recall", "tail_f1", "macro_f1", "roc_auc", "pr_auc", "ece", "brier")
        print_summary({k: m[k] for k in keys})
        share = (m.get("video_spread") or {}).get("video_share")
        print_summary(
            {
                "clustered_fraction": m["clustering"]["clustered_fraction"],
                **({"video_share": share} if "video_spread" in m else {}),
                f"{split}_degenerate": m["degenerate"],
            }
        )
    if args.out:
        print(f"metrics written to {args.out}")
    return 0


def _confound(args: argparse.Namespace) -> int:
    from imbalance_video.confound import check_confound, format_confound
    from imbalance_video.manifest import read_manifest

    train = read_manifest(args.train, label_columns=[args.task])
    val = read_manifest(args.val, label_columns=[args.task])
    predictions = _read_predictions_args(args) if args.predictions else None
    report = check_confound(
        train, val, predictions, task=args.task, tail=args.tail, split=args.split, out=args.out
    )
    print(format_confound(report))
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from imbalance_video.ensemble import ensemble_runs

    result = ensemble_runs(
        args.runs,
        args.out,
        checkpoint=args.checkpoint,
        manifests=split_paths(args.manifest),
        clips=args.clips_per_event,
        aggregate=args.aggregation,
        trust_checkpoint=args.trust_checkpoint,
        plots=not args.no_plots,
    )
    print(f"ensemble of {len(args.runs)} runs: metrics.json and predictions.csv in {args.out}")
    print_summary(result["summary"])
    return 0


def add_tool_commands(sub: Any) -> None:
    """Add ``convert``, ``score``, ``confound`` and ``ensemble`` to the command's sub-parsers."""
    for add in (_add_convert, _add_score, _add_confound, _add_ensemble):
        add(sub)
