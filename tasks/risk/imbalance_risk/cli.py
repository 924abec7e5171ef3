"""The ``imbalance-risk`` command.

Sub-commands::

    imbalance-risk simulate --out rollouts.npz [--episodes N] [--horizon T] [--links N] [--seed S]
    imbalance-risk prepare ROLLOUTS... --out DIR [--k 15] [--include-all-failure-steps]
                           [--risk-decay 0.9] [--attribution-weights 0.4 0.3 0.2 0.1]
                           [--ttf-horizon 50] [--val-fraction 0.15] [--test-fraction 0.15]
                           [--seed 0] [--allow-pickle]
    imbalance-risk train --data DIR --out RUN [--config default] [--baseline mse] [--resume]
                         [--set section.key=value ...]
    imbalance-risk evaluate --run RUN [--data DIR] [--split test] [--mc-samples N]
    imbalance-risk demo [--quick] --out DIR [--config FILE|NAME] [--set ...]
    imbalance-risk study --out DIR [--seeds 0 1 2] [--episodes 600]   (alias: ablation)

``--config`` takes a YAML file or the name of a config the package ships (``default``,
``quick``, ``baseline_mse``, ``ddp_cpu``). Bad input (a missing file, an unknown config key, a
pickle without ``--allow-pickle``, ...) prints one line ``imbalance-risk: error: ...`` on
standard error and exits with status 2 (set ``IMBALANCE_RISK_TRACEBACK=1`` to see the
traceback instead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from imbalance_kit.app import UsageError, add_command, add_common_options, make_parser, run_cli
from imbalance_risk._version import __version__

__all__ = ["UsageError", "build_parser", "main"]

PROG = "imbalance-risk"
_VERBOSE_HELP = "show Lightning's own output (model summary, banners, info lines)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``imbalance-risk``.

    Examples:
        >>> args = build_parser().parse_args(["prepare", "r.npz", "--out", "prepared", "--k", "30"])
        >>> args.command, args.k, args.include_all_failure_steps
        ('prepare', 30, False)
        >>> build_parser().parse_args(["ablation", "--out", "o"]).command
        'study'
    """
    parser, sub = make_parser(
        PROG, "Failure-risk prediction from sparse rollout labels.", __version__
    )

    p = add_command(
        sub, "simulate", _simulate, help="simulate rollouts of a noisy policy on a planar arm"
    )
    p.add_argument("--out", required=True, help="output file (.npz or .parquet)")
    p.add_argument("--episodes", type=int, default=400, help="number of episodes")
    p.add_argument("--horizon", type=int, default=120, help="steps per episode at most")
    p.add_argument("--links", type=int, default=3, help="joints = action dimensions (2 to 6)")
    p.add_argument("--hidden-dim", type=int, default=64, help="width of the hidden states")
    p.add_argument("--scene-dim", type=int, default=8, help="per-episode nuisance inputs")
    p.add_argument("--glitch-rate", type=float, default=0.015, help="policy glitches per step")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")

    p = add_command(
        sub,
        "convert-gym",
        _convert_gym,
        help="real rollouts: a noisy controller on gymnasium's CartPole-v1, as rollouts.npz",
    )
    p.add_argument("--out", required=True, help="output file (.npz or .parquet)")
    p.add_argument("--episodes", type=int, default=600, help="number of episodes")
    p.add_argument(
        "--max-steps", type=int, default=400, help="episode length that counts as success"
    )
    p.add_argument(
        "--eps-low", type=float, default=0.25, help="lowest per-episode random-push rate"
    )
    p.add_argument(
        "--eps-high", type=float, default=0.85, help="highest per-episode random-push rate"
    )
    p.add_argument(
        "--action-encoding",
        choices=["signed", "onehot"],
        default="signed",
        help="actions as one -1/+1 column (with the cart velocity) or one-hot (no velocities)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the resets and the noise")

    p = add_command(
        sub, "prepare", _prepare, help="label steps, split by episode, write prepared.npz"
    )
    p.add_argument(
        "rollouts", nargs="+", help="rollout files (.npz, .parquet; .pkl with --allow-pickle)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--k",
        "--k-before-failure",
        dest="k",
        type=int,
        default=15,
        help="steps before (and including) the failure labelled positive",
    )
    p.add_argument(
        "--include-all-failure-steps",
        action="store_true",
        help="label every step of a failed episode positive",
    )
    p.add_argument(
        "--risk-decay", type=float, default=0.9, help="risk decay per step from the failure"
    )
    p.add_argument(
        "--attribution-weights",
        type=float,
        nargs=4,
        default=[0.4, 0.3, 0.2, 0.1],
        metavar=("ACTION", "ALIGNMENT", "VELOCITY", "FLOOR"),
        help="weights of the per-dimension risk attribution",
    )
    p.add_argument(
        "--ttf-horizon", type=int, default=50, help="steps at which time to failure is capped"
    )
    p.add_argument(
        "--val-fraction", type=float, default=0.15, help="share of episodes in validation"
    )
    p.add_argument("--test-fraction", type=float, default=0.15, help="share of episodes in test")
    p.add_argument("--seed", type=int, default=0, help="split seed")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read legacy .pkl rollouts (unpickling runs code from the file: trusted files only)",
    )

    p = add_command(sub, "train", _train, help="train the risk model (or the MSE baseline)")
    p.add_argument("--data", help="prepared data folder or prepared.npz (overrides data.path)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--baseline", choices=["mse"], help="train the MSE baseline instead")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epoch limit (the same as --set train.max_epochs=N)",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "gpu", "cuda", "mps", "auto"],
        default=None,
        help="where to train (the same as --set train.accelerator=...; cuda means gpu)",
    )
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.ckpt")
    p.add_argument(
        "--restart",
        action="store_true",
        help="delete the run's checkpoints and train from the first epoch",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar (hidden anyway when the output is not a terminal)",
    )
    p.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    add_common_options(p)

    p = add_command(sub, "evaluate", _evaluate, help="metrics, predictions and plots of a run")
    p.add_argument("--run", required=True, help="run folder (with model.pt)")
    p.add_argument("--data", help="prepared data (default: the run config's data.path)")
    p.add_argument(
        "--split", choices=["test", "val", "train"], default="test", help="split to evaluate"
    )
    p.add_argument(
        "--mc-samples", type=int, default=None, help="MC-dropout passes (default: the run config's)"
    )
    p.add_argument("--no-plots", action="store_true", help="write no PNG figures")
    add_common_options(p, config=False, overrides=False)

    p = add_command(sub, "demo", _demo, help="simulate -> prepare -> train -> evaluate")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quick", action="store_true", help="small preset (under a minute on a CPU)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (hidden anyway when the output is not a terminal)",
    )
    p.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    add_common_options(p)

    p = add_command(
        sub,
        "study",
        _study,
        help="the variant x seed comparison (simulated data, or --rollouts FILE)",
        aliases=["ablation"],
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--episodes", type=int, default=600, help="simulated episodes")
    p.add_argument("--data-seed", type=int, default=0, help="simulation seed")
    p.add_argument(
        "--rollouts",
        default=None,
        metavar="FILE",
        help="study these rollouts (NPZ / Parquet) instead of simulated ones",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read --rollouts that need unpickling (trusted files only)",
    )
    p.add_argument("--variants", nargs="+", default=None, help="variants to run (default: all)")
    p.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    add_common_options(p)
    return parser


def _simulate(args: argparse.Namespace) -> int:
    from imbalance_risk.rollouts import save_rollouts
    from imbalance_risk.simulate import simulate_rollouts

    rollouts = simulate_rollouts(
        n_episodes=args.episodes,
        horizon=args.horizon,
        n_links=args.links,
        hidden_dim=args.hidden_dim,
        scene_dim=args.scene_dim,
        glitch_rate=args.glitch_rate,
        seed=args.seed,
    )
    path = save_rollouts(rollouts, args.out)
    failed = int((~rollouts.success).sum())
    print(f"{rollouts.n_episodes} episodes ({failed} failed), {rollouts.n_steps} steps -> {path}")
    return 0


def _convert_gym(args: argparse.Namespace) -> int:
    from imbalance_risk.gym import cartpole_rollouts
    from imbalance_risk.rollouts import save_rollouts

    rollouts = cartpole_rollouts(
        args.episodes,
        seed=args.seed,
        max_steps=args.max_steps,
        eps_low=args.eps_low,
        eps_high=args.eps_high,
        action_encoding=args.action_encoding,
    )
    path = save_rollouts(rollouts, args.out)
    failed = int((~rollouts.success).sum())
    print(
        f"CartPole-v1: {rollouts.n_episodes} episodes ({failed} failed), "
        f"{rollouts.n_steps} steps -> {path}"
    )
    return 0


def _prepare(args: argparse.Namespace) -> int:
    import numpy as np

    from imbalance_risk.labels import LabelConfig
    from imbalance_risk.prepare import prepare_rollouts, settings_record, write_prepared
    from imbalance_risk.rollouts import Rollouts, load_rollouts

    def note(message: str) -> None:
        print(f"{PROG}: note: {message}", file=sys.stderr)

    parts = [load_rollouts(p, allow_pickle=args.allow_pickle, note=note) for p in args.rollouts]
    if len(parts) == 1:
        rollouts = parts[0]
    else:  # concatenate files (e.g. separate success / failure rollouts), renumbering episodes
        fields = ("velocities", "failure_direction")
        for name in fields:
            present = [getattr(r, name) is not None for r in parts]
            if any(present) and not all(present):
                raise UsageError(f"{name} must be in every rollout file or in none")
        rollouts = Rollouts(
            hidden_states=np.concatenate([r.hidden_states for r in parts]),
            actions=np.concatenate([r.actions for r in parts]),
            episode_lengths=np.concatenate([r.episode_lengths for r in parts]),
            success=np.concatenate([r.success for r in parts]),
            failure_step=np.concatenate([r.failure_step for r in parts]),
            **{
                name: np.concatenate([getattr(r, name) for r in parts])
                if getattr(parts[0], name) is not None
                else None
                for name in fields
            },
        )
    labels = LabelConfig(
        k=args.k,
        include_all_failure_steps=args.include_all_failure_steps,
        risk_decay=args.risk_decay,
        attribution_weights=tuple(args.attribution_weights),
        ttf_horizon=args.ttf_horizon,
    )
    data = prepare_rollouts(
        rollouts,
        labels,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    settings = settings_record(
        labels,
        sources=[str(p) for p in args.rollouts],
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    summary = write_prepared(data, args.out, settings)
    splits = summary["splits"]
    print(
        f"{summary['n_steps']} steps from {summary['n_episodes']} episodes "
        f"({summary['n_failed_episodes']} failed); positive rate {summary['positive_rate']:.4f}"
    )
    for name in ("train", "val", "test"):
        s = splits[name]
        print(
            f"  {name:5} {s['n_episodes']:5} episodes {s['n_steps']:7} steps "
            f"positive rate {s['positive_rate']:.4f}"
        )
    for dim in summary["per_dim_risk"]:
        print(
            f"  risk dim {dim['dim']}: mean {dim['mean']:.4f} max {dim['max']:.3f} "
            f"non-zero {dim['nonzero']:.4f} mean on positives {dim['mean_on_positive']:.3f}"
        )
    print(f"-> {Path(args.out) / 'prepared.npz'}, {Path(args.out) / 'summary.json'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from imbalance_risk.config import load_config
    from imbalance_risk.train import train

    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.max_epochs={args.epochs}")
    if args.device is not None:
        overrides.append(f"train.accelerator={_accelerator(args.device)}")
    config = load_config(args.config, overrides)
    if args.baseline == "mse":
        config = config.as_baseline()
    result = train(
        config,
        args.data,
        args.out,
        resume=args.resume,
        restart=args.restart,
        progress_bar=_progress(args),
        verbose=args.verbose,
    )
    if result.global_rank != 0:  # under DDP only rank 0 reports
        return 0
    score = "n/a" if result.best_score is None else f"{result.best_score:.4f}"
    print(f"{result.epochs} epochs in {result.seconds:.1f}s; best {config.train.monitor} {score}")
    print(f"-> {result.model_path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from imbalance_risk.evaluate import evaluate_run

    m = evaluate_run(
        args.run, args.data, split=args.split, mc_samples=args.mc_samples, plots=not args.no_plots
    )

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    print(
        f"{m['model']} on {m['split']} ({m['n_steps']} steps, "
        f"positive rate {m['positive_rate']:.4f})"
    )
    print(
        f"  AUC {f(m['auc'])}  AP {f(m['ap'])}  balanced accuracy {f(m['balanced_accuracy'])}"
        f"  F1 {f(m['f1'])} @ threshold {m['threshold']:.3f}"
    )
    print(f"  ECE {f(m['ece'])}  Brier {f(m['brier'])}")
    print("  per-dim AUC " + ", ".join(f(v) for v in m["per_dim_auc"]))
    print(
        "  uncertainty AUROC for errors: "
        + ", ".join(f"{k} {f(v)}" for k, v in m["uncertainty_auroc"].items())
    )
    print(f"-> {Path(args.run)}/metrics{'' if args.split == 'test' else '_' + args.split}.json")
    return 0


def _accelerator(device: str) -> str:
    """Lightning's accelerator for ``--device``; a GPU that is not there is a usage error."""
    if device in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {device} needs a CUDA GPU and a CUDA build of torch; "
                f"torch {torch.__version__} sees none (use --device cpu)"
            )
        return "gpu"
    return device


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar unless ``--no-progress`` or standard output is not a terminal (a log)."""
    return not args.no_progress and sys.stdout.isatty()


def _demo(args: argparse.Namespace) -> int:
    from imbalance_risk.demo import run_demo

    run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        overrides=args.overrides,
        config=args.config,
        progress_bar=_progress(args),
        verbose=args.verbose,
    )
    return 0


def _study(args: argparse.Namespace) -> int:
    from imbalance_risk.study import STUDY_VARIANTS, run_study

    unknown = [v for v in args.variants or [] if v not in STUDY_VARIANTS]
    if unknown:
        raise UsageError(f"--variants must be among {list(STUDY_VARIANTS)}, got {unknown}")
    run_study(
        args.out,
        seeds=args.seeds,
        n_episodes=args.episodes,
        data_seed=args.data_seed,
        variants=args.variants,
        overrides=args.overrides,
        config=args.config,
        rollouts=args.rollouts,
        allow_pickle=args.allow_pickle,
        verbose=args.verbose,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imbalance-risk`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Returns:
        0 on success, 2 on bad input (one line on standard error, no traceback).

    Examples:
        >>> main(["prepare", "missing.npz", "--out", "/tmp/nowhere"])
        2
    """
    return run_cli(build_parser(), argv, traceback_env="IMBALANCE_RISK_TRACEBACK")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
