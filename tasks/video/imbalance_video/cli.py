"""The ``imbalance-video`` command: simulate, convert, split, train, evaluate, study.

Built on :mod:`imbalance_kit.app`: bad input prints one line ``imbalance-video: error: ...``
and exits with status 2 (set ``IMBALANCE_VIDEO_TRACEBACK=1`` to see the traceback);
``--version`` prints the version; the commands with a config take ``--config`` (a file or
a shipped config name), ``--set KEY=VALUE`` and ``--threads``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imbalance_kit.app import (
    add_command,
    add_common_options,
    make_parser,
    read_yaml_mapping,
    resolve_config_path,
    run_cli,
)
from imbalance_kit.app import apply_overrides as apply_set_overrides
from imbalance_video._version import __version__
from imbalance_video.cli_tools import add_tool_commands, print_summary, split_paths
from imbalance_video.manifest import VideoDataWarning
from imbalance_video.split import SPLIT_METHODS

__all__ = ["apply_train_flags", "build_parser", "main"]

PROG = "imbalance-video"
PACKAGE = "imbalance_video"
DEFAULT_MULTITASK = {"action_class": "ce", "severity": "focal", "offence": "ce"}
WEIGHTINGS = ("uniform", "uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty")


def _add_simulate(sub: Any) -> None:
    sim = add_command(
        sub, "simulate", _simulate, help="write small confounded mp4 videos and manifests"
    )
    sim.add_argument("--out", required=True, help="output folder")
    sim.add_argument("--videos", type=int, default=12, help="development videos (train + val)")
    sim.add_argument("--test-videos", type=int, default=6, help="videos of other cameras (test)")
    sim.add_argument("--events", type=int, default=12, help="events per video")
    sim.add_argument("--event-frames", type=int, default=16, help="frames per event")
    sim.add_argument("--gap-frames", type=int, default=4, help="resting frames between events")
    sim.add_argument("--size", type=int, default=48, help="frame side in pixels (even)")
    sim.add_argument("--fps", type=int, default=8, help="frame rate of the written files")
    sim.add_argument("--tail-share", type=float, default=0.14, help="share of tail events")
    sim.add_argument(
        "--confound",
        type=float,
        default=0.75,
        help="share of development videos whose scene predicts the tail share",
    )
    sim.add_argument(
        "--rich-tail-share", type=float, default=0.4, help="tail share of a tail-rich camera"
    )
    sim.add_argument(
        "--test-confound",
        choices=("none", "reversed"),
        default="none",
        help="test cameras' look: unrelated to the label, or the reverse of development",
    )
    sim.add_argument("--noise", type=float, default=1.0, help="scale of the sensor noise")
    sim.add_argument("--seed", type=int, default=0, help="random seed")


def _add_split(sub: Any) -> None:
    spl = add_command(
        sub, "split", _split, help="group / intra-video / boosted train-val(-test) split"
    )
    spl.add_argument("--manifest", required=True, help="development events (CSV)")
    spl.add_argument(
        "--out", required=True, help="folder for train.csv, val.csv, test.csv, split_summary.json"
    )
    spl.add_argument(
        "--method", choices=SPLIT_METHODS, default="intravideo", help="how events are split"
    )
    spl.add_argument("--test-manifest", help="events of unseen videos to use as the test side")
    spl.add_argument(
        "--test-share",
        type=float,
        default=0.0,
        help="instead, hold out this share of the videos as the test side",
    )
    spl.add_argument("--val-share", type=float, default=0.3, help="share of events for validation")
    spl.add_argument("--label-column", default="label", help="the label that defines the tail")
    spl.add_argument(
        "--tail", nargs="+", help="tail classes of the label column (default: the rarest)"
    )
    spl.add_argument(
        "--target-tail-share", type=float, default=0.3, help="boosted: tail share of train"
    )
    spl.add_argument("--seed", type=int, default=0, help="random seed")


def _add_train(sub: Any) -> None:
    tr = add_command(
        sub, "train", _train, help="train a video model (Lightning) from a YAML config"
    )
    add_common_options(tr)
    tr.add_argument("--out", required=True, help="run folder")
    tr.add_argument("--train", help="training manifest (overrides data.train)")
    tr.add_argument("--val", help="validation manifest (overrides data.val)")
    tr.add_argument("--test", help="test manifest (overrides data.test)")
    tr.add_argument("--epochs", type=int, help="epochs (overrides training.epochs)")
    tr.add_argument("--seed", type=int, help="random seed (overrides training.seed)")
    tr.add_argument("--model", help="backbone registry name (overrides model.name)")
    tr.add_argument(
        "--multi-task",
        action="store_true",
        help="heads action_class (ce), severity (focal), offence (ce), or those of --loss-types",
    )
    tr.add_argument(
        "--loss-types",
        nargs="+",
        metavar="TASK LOSS",
        help="pairs, e.g. action_class ce severity focal offence bce",
    )
    tr.add_argument(
        "--weighting-strategy", choices=WEIGHTINGS, help="task weighting of the multi-task loss"
    )
    tr.add_argument(
        "--adaptive-weights",
        action="store_true",
        help="re-compute the task weights every evaluation epoch",
    )
    tr.add_argument(
        "--effective-class-weights",
        action="store_true",
        help="effective-number class weights (same as --class-weights effective)",
    )
    tr.add_argument(
        "--class-weights",
        choices=("none", "balanced", "effective"),
        help="per-class loss weights (overrides training.class_weights)",
    )
    balanced = tr.add_mutually_exclusive_group()
    balanced.add_argument(
        "--balanced-sampling",
        dest="balanced",
        action="store_true",
        default=None,
        help="class-balanced batches (training.balanced_sampling: true)",
    )
    balanced.add_argument(
        "--no-balanced-sampling",
        dest="balanced",
        action="store_false",
        help="natural class frequencies in batches",
    )
    tr.add_argument("--accelerator", help="Lightning accelerator (cpu, gpu, auto)")
    tr.add_argument("--devices", type=int, help="devices (processes under DDP)")
    tr.add_argument("--strategy", help="Lightning strategy (auto, ddp, ddp_spawn)")
    resume = tr.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue from RUN/last.ckpt")
    resume.add_argument(
        "--restart",
        action="store_true",
        help="delete the run's checkpoints and results and train from the first epoch",
    )
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.add_argument("--verbose", action="store_true", help="show Lightning's own messages")


def _add_evaluate(sub: Any) -> None:
    ev = add_command(
        sub, "evaluate", _evaluate, help="TTA metrics, diagnostics, predictions and plots of a run"
    )
    add_common_options(ev, config=False, overrides=False)
    ev.add_argument("--run", required=True, help="run folder written by train")
    ev.add_argument("--checkpoint", default="best", help="best, last or a checkpoint path")
    ev.add_argument(
        "--manifest",
        action="append",
        metavar="SPLIT=PATH",
        help="evaluate these manifests instead of the config's val and test (repeatable)",
    )
    ev.add_argument("--clips-per-event", type=int, help="TTA clips per event")
    ev.add_argument(
        "--aggregation", choices=("mean", "max"), help="how the clips' probabilities combine"
    )
    ev.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of the checkpoint (only for files you trust)",
    )
    ev.add_argument("--no-plots", action="store_true", help="write no PNG files")


def _add_study(sub: Any) -> None:
    st = add_command(
        sub,
        "study",
        _study,
        help="split methods x seeds: split -> train -> evaluate -> table",
        aliases=["demo"],
    )
    add_common_options(st)
    st.add_argument("--out", required=True, help="study folder")
    st.add_argument("--quick", action="store_true", help="tiny videos, 3 epochs (a smoke run)")
    st.add_argument(
        "--methods",
        nargs="+",
        choices=SPLIT_METHODS,
        default=list(SPLIT_METHODS),
        help="split methods to compare",
    )
    st.add_argument("--seeds", nargs="+", type=int, default=[0], help="split and training seeds")
    st.add_argument("--epochs", type=int, help="epochs of every training")
    st.add_argument(
        "--multi-task", action="store_true", help="three heads with adaptive inverse_f1 weights"
    )
    st.add_argument("--manifest", help="development events of your own (default: simulated videos)")
    st.add_argument("--test-manifest", help="events of unseen videos (with --manifest)")
    st.add_argument(
        "--test-share",
        type=float,
        default=0.0,
        help="hold out this share of --manifest's videos as the test side (per seed)",
    )
    st.add_argument(
        "--val-share", type=float, default=0.3, help="share of the events for validation"
    )
    st.add_argument("--progress", action="store_true", help="one progress bar per training")
    st.add_argument("--verbose", action="store_true", help="show Lightning's own messages")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``imbalance-video`` (one sub-parser per command).

    Examples:
        >>> build_parser().parse_args(["split", "--manifest", "m.csv", "--out", "s"]).method
        'intravideo'
        >>> build_parser().parse_args(["demo", "--out", "d"]).command
        'study'
    """
    parser, sub = make_parser(
        PROG,
        "Rare-behaviour detection in fixed-camera videos, without learning the camera.",
        __version__,
    )
    for add in (_add_simulate, _add_split, _add_train, _add_evaluate, _add_study):
        add(sub)
    add_tool_commands(sub)
    return parser


def _loss_pairs(values: Sequence[str]) -> dict[str, str]:
    if len(values) % 2:
        raise ValueError(f"--loss-types must be TASK LOSS pairs, got {' '.join(values)!r}")
    return dict(zip(values[0::2], values[1::2]))


def apply_train_flags(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Apply the ``train`` command's flags to a config mapping (returns a new mapping).

    Examples:
        >>> args = build_parser().parse_args(
        ...     ["train", "--out", "r", "--loss-types", "action_class", "ce", "severity", "focal",
        ...      "--weighting-strategy", "inverse_f1", "--adaptive-weights"])
        >>> raw = apply_train_flags({}, args)
        >>> raw["tasks"]
        {'action_class': {'loss': 'ce'}, 'severity': {'loss': 'focal'}}
        >>> raw["multitask"]
        {'weighting': 'inverse_f1', 'adaptive_weights': True}
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}

    def section(name: str) -> dict[str, Any]:
        out.setdefault(name, {})
        return out[name]

    for key in ("train", "val", "test"):
        if getattr(args, key) is not None:
            section("data")[key] = getattr(args, key)
    for flag, key in (
        ("epochs", "epochs"),
        ("seed", "seed"),
        ("accelerator", "accelerator"),
        ("devices", "devices"),
        ("strategy", "strategy"),
        ("threads", "num_threads"),
    ):
        if getattr(args, flag) is not None:
            section("training")[key] = getattr(args, flag)
    if args.model is not None:
        section("model")["name"] = args.model
    if args.balanced is not None:
        section("training")["balanced_sampling"] = args.balanced
    if args.class_weights is not None:
        section("training")["class_weights"] = args.class_weights
    if args.effective_class_weights:
        if args.class_weights not in (None, "effective"):
            raise ValueError(
                "--effective-class-weights must not be combined with "
                f"--class-weights {args.class_weights}"
            )
        section("training")["class_weights"] = "effective"
    tasks = {k: dict(v or {}) for k, v in (out.get("tasks") or {}).items()}
    pairs = _loss_pairs(args.loss_types) if args.loss_types else {}
    if args.multi_task and len(tasks) <= 1:
        tasks = {} if pairs else {t: {"loss": loss} for t, loss in DEFAULT_MULTITASK.items()}
    elif pairs and len(tasks) <= 1 and any(t not in tasks for t in pairs):
        tasks = {}
    for task, loss in pairs.items():
        tasks.setdefault(task, {})["loss"] = loss
    if tasks:
        out["tasks"] = tasks
    if args.weighting_strategy is not None:
        section("multitask")["weighting"] = args.weighting_strategy
    if args.adaptive_weights:
        section("multitask")["adaptive_weights"] = True
    return out


def _simulate(args: argparse.Namespace) -> int:
    from imbalance_video.simulate import SimulationSpec, simulate_dataset

    spec = SimulationSpec(
        n_videos=args.videos,
        n_test_videos=args.test_videos,
        events_per_video=args.events,
        event_frames=args.event_frames,
        gap_frames=args.gap_frames,
        size=args.size,
        fps=args.fps,
        tail_share=args.tail_share,
        confound=args.confound,
        rich_tail_share=args.rich_tail_share,
        test_confound=args.test_confound,
        noise=args.noise,
        seed=args.seed,
    )
    info = simulate_dataset(args.out, spec)
    tails = sum(v["tail_events"] for v in info["videos"])
    events = sum(v["events"] for v in info["videos"])
    print(f"wrote {len(info['videos'])} videos, {events} events ({tails} tail) to {args.out}")
    print(f"  manifest:      {info['manifest']}\n  test manifest: {info['test_manifest']}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from imbalance_video.manifest import read_manifest
    from imbalance_video.split import split_manifest

    manifest = read_manifest(args.manifest, label_columns=[args.label_column])
    test = read_manifest(args.test_manifest) if args.test_manifest else None
    result = split_manifest(
        manifest,
        args.method,
        label_column=args.label_column,
        tail_classes=args.tail,
        val_share=args.val_share,
        test_manifest=test,
        test_share=args.test_share,
        target_tail_share=args.target_tail_share,
        seed=args.seed,
    )
    result.write(args.out)
    print(f"{args.method} split -> {args.out}")
    for name, side in result.summary["splits"].items():
        print(
            f"  {name:<5} {side['events']:>5} events  {side['videos']:>3} videos  "
            f"tail share {side['tail_share']:.3f}  videos with tail {side['videos_with_tail']}"
        )
    overlap = result.summary["overlap"]
    print(
        f"  videos in train and val: {overlap['train_val_videos']}, with tail events on both "
        f"sides: {overlap['tail_videos_train_and_val']}, "
        f"train and test: {overlap['train_test_videos']}"
    )
    return 0


def _config_mapping(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--config`` file (or shipped config) with the ``--set`` overrides applied."""
    raw = read_yaml_mapping(resolve_config_path(args.config, PACKAGE))
    return apply_set_overrides(raw, list(args.overrides), example="training.lr")


def _train(args: argparse.Namespace) -> int:
    from imbalance_video.config import VideoConfig
    from imbalance_video.train import train

    config = VideoConfig.from_dict(apply_train_flags(_config_mapping(args), args))
    done = train(
        config,
        args.out,
        resume=args.resume,
        restart=args.restart,
        progress=False if args.no_progress else None,  # on a terminal only
        verbose=args.verbose,
    )
    score = done["best_score"]
    shown = "n/a" if score is None else f"{score:.4f}"
    print(f"best {done['monitor']} = {shown} ({done['best_checkpoint']}) in {args.out}")
    if done.get("best_epoch_degenerate"):
        print(
            f"{PROG}: warning: the best epoch ({done['best_epoch']}) gave degenerate validation "
            "outputs (near-constant or one class): its score says little about the model",
            file=sys.stderr,
        )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from imbalance_video.evaluate import evaluate_run

    result = evaluate_run(
        args.run,
        checkpoint=args.checkpoint,
        manifests=split_paths(args.manifest),
        clips=args.clips_per_event,
        aggregate=args.aggregation,
        trust_checkpoint=args.trust_checkpoint,
        plots=not args.no_plots,
    )
    written = "metrics.json and predictions.csv" + ("" if args.no_plots else " and plots")
    print(f"{written} written to {args.run}")
    print_summary(result["summary"])
    return 0


def _study(args: argparse.Namespace) -> int:
    from imbalance_video.config import VideoConfig
    from imbalance_video.study import run_study

    base = _config_mapping(args)
    if args.threads is not None:
        base.setdefault("training", {})["num_threads"] = args.threads
    VideoConfig.from_dict(base)  # a bad key or value fails here, before any work
    started = time.perf_counter()
    out = run_study(
        args.out,
        quick=args.quick,
        methods=args.methods,
        seeds=args.seeds,
        epochs=args.epochs,
        multi_task=args.multi_task,
        manifest=args.manifest,
        test_manifest=args.test_manifest,
        test_share=args.test_share,
        val_share=args.val_share,
        config=base,
        progress=args.progress,
        verbose=args.verbose,
    )
    print()
    print(out["table"])
    if out["notes"]:
        print(f"\n{out['notes']}")
    print(
        f"\n{len(args.methods) * len(args.seeds)} runs in {time.perf_counter() - started:.1f} s; "
        f"results in {Path(args.out) / 'comparison.json'}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imbalance-video``; returns the exit status.

    Errors in the input (a missing file, a bad value, an unwritable folder) print one line,
    ``imbalance-video: error: ...``, and return 2; what the pipeline works around in the
    events (:class:`imbalance_video.manifest.VideoDataWarning`) prints
    ``imbalance-video: warning: ...``.

    Examples:
        >>> main(["split", "--manifest", "no-such.csv", "--out", "s"])
        2
    """
    with warnings.catch_warnings():  # restores the previous warning display on return
        shown_before = warnings.showwarning

        def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
            if issubclass(category, VideoDataWarning):
                print(f"{PROG}: warning: {message}", file=sys.stderr)
            else:
                shown_before(message, category, *args, **kwargs)

        warnings.showwarning = show
        return run_cli(build_parser(), argv, traceback_env="IMBALANCE_VIDEO_TRACEBACK")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
