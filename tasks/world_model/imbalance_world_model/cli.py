"""The ``imbalance-world-model`` command.

Sub-commands::

    imbalance-world-model simulate --out real.npz
    imbalance-world-model train-world-model --real real.npz --out DIR [--trust-net model.pt]
    imbalance-world-model generate --model DIR/model.pt --real real.npz --out synthetic.npz
    imbalance-world-model train-trust --real real.npz --synthetic synthetic.npz --out DIR
    imbalance-world-model gate --trust DIR/model.pt --real real.npz --synthetic synthetic.npz
                               --out scores.npz
    imbalance-world-model train-policy --mix {real_only,fixed_share,trust_weighted}
                                       --real real.npz [--synthetic S.npz] [--scores scores.npz]
                                       --out DIR
    imbalance-world-model evaluate --run DIR
    imbalance-world-model demo [--quick] [--real FILE] --out DIR [--seed S]
    imbalance-world-model study [--kind policy|horizon] [--real FILE] --out DIR [--seeds 0 1 2]
    imbalance-world-model rollouts --env pendulum|acrobot --out real.npz
    (aliases: policy-study = study --kind policy, horizon-study = study --kind horizon)

Every command with a config takes ``--config`` (a YAML file or a shipped config name such as
``default`` or ``quick``), ``--set section.key=value`` and ``--threads``. Bad input prints one
line ``imbalance-world-model: error: ...`` and exits with status 2 (set
``IMBALANCE_WORLD_MODEL_TRACEBACK=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from imbalance_kit.app import (
    UsageError,
    add_command,
    add_common_options,
    make_parser,
    run_cli,
)
from imbalance_world_model._version import __version__

__all__ = ["PROG", "UsageError", "build_parser", "main"]

PROG = "imbalance-world-model"

#: The old study verbs and the ``study --kind`` each stands for.
STUDY_ALIASES = {"policy-study": "policy", "horizon-study": "horizon"}


def _options(p: argparse.ArgumentParser, *, config: bool = True, training: bool = True) -> None:
    """``--config``, ``--set``, ``--threads`` (default 1 here); ``--no-progress``, ``--verbose``."""
    add_common_options(p, config=config, overrides=config)
    p.set_defaults(threads=1)
    for action in p._actions:
        if action.dest == "threads":
            action.help = "torch CPU threads (default 1: the fastest for these small networks)"
    if training:
        p.add_argument(
            "--no-progress",
            dest="progress",
            action="store_false",
            default=None,
            help="no progress bars (default: one per training when the output is a terminal)",
        )
        p.add_argument(
            "--verbose",
            action="store_true",
            help="show Lightning's own output (model summaries, info lines, warnings)",
        )


def _fit_options(args: argparse.Namespace) -> dict[str, bool]:
    """``progress_bar`` and ``verbose`` of the trainings a command runs."""
    bar = sys.stdout.isatty() if args.progress is None else args.progress
    return {"progress_bar": bar, "verbose": args.verbose}


def _config(args: argparse.Namespace):
    from imbalance_world_model.config import load_config

    return load_config(args.config, args.overrides)


def _say(stage: str, result, where: str) -> None:
    from imbalance_world_model.demo import headline

    print(f"{headline(stage, result)} -> {where}")


def _simulate(args: argparse.Namespace) -> None:
    from imbalance_world_model.simulate import stage_simulate

    real = stage_simulate(_config(args), args.out)
    n_test = int(real.meta["split_test"].sum())
    _say("simulate", (real, {"n_test": n_test}), args.out)


def _rollouts(args: argparse.Namespace) -> None:
    from imbalance_world_model.rollouts import stage_rollouts

    ep = stage_rollouts(args.env, args.out, args.episodes, max_steps=args.max_steps, seed=args.seed)
    print(
        f"{ep.n_episodes} real episodes of {ep.lengths.min()}-{ep.lengths.max()} states "
        f"({ep.meta['terminated'].mean():.0%} terminated, mean return "
        f"{ep.meta['episode_return'].mean():.1f}) -> {args.out}"
    )


def _train_world_model(args: argparse.Namespace) -> None:
    from imbalance_world_model.train import stage_train_world_model

    s = stage_train_world_model(
        _config(args),
        args.real,
        args.out,
        trust_net_path=args.trust_net,
        **_fit_options(args),
    )
    _say("train-world-model", s, f"{args.out}/model.pt")


def _generate(args: argparse.Namespace) -> None:
    from imbalance_world_model.generate import stage_generate

    _say("generate", stage_generate(_config(args), args.model, args.real, args.out), args.out)


def _train_trust(args: argparse.Namespace) -> None:
    from imbalance_world_model.train import stage_train_trust

    metrics = stage_train_trust(
        _config(args), args.real, args.synthetic, args.out, **_fit_options(args)
    )
    _say("train-trust", metrics, f"{args.out}/model.pt")


def _gate(args: argparse.Namespace) -> None:
    from imbalance_world_model.gates import stage_gate

    s = stage_gate(_config(args), args.trust, args.real, args.synthetic, args.out)
    _say("gate", s, args.out)


def _train_policy(args: argparse.Namespace) -> None:
    from imbalance_world_model.train import stage_train_policy

    s = stage_train_policy(
        _config(args),
        args.mix,
        args.real,
        args.synthetic,
        args.scores,
        args.out,
        **_fit_options(args),
    )
    print(f"{args.mix}: {_headline_policy(s)} -> {args.out}/model.pt")


def _headline_policy(summary: dict) -> str:
    from imbalance_world_model.demo import headline

    return headline("train-policy", summary)


def _evaluate(args: argparse.Namespace) -> None:
    from imbalance_world_model.evaluate import evaluate_run, print_report

    print_report(evaluate_run(args.run, plots=not args.no_plots))


def _demo(args: argparse.Namespace) -> None:
    from imbalance_world_model.demo import demo_config, run_demo

    cfg = demo_config(args.quick, args.seed, args.overrides, args.config)
    run_demo(args.out, config=cfg, real=args.real, **_fit_options(args))


def _study(args: argparse.Namespace) -> None:
    from imbalance_world_model.study import run_study

    implied = STUDY_ALIASES.get(args.command_used)
    if args.kind is not None and implied is not None and args.kind != implied:
        raise UsageError(f"{args.command_used} is study --kind {implied}, got --kind {args.kind}")
    kind = args.kind or implied or "policy"
    run_study(
        kind,
        args.out,
        seeds=args.seeds,
        variants=args.variants,
        quick=args.quick,
        config=args.config,
        overrides=args.overrides,
        real=args.real,
        modes=args.modes,
        **_fit_options(args),
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``imbalance-world-model``.

    Examples:
        >>> args = build_parser().parse_args(["demo", "--quick", "--out", "runs/x"])
        >>> args.command, args.quick, args.seed
        ('demo', True, None)
        >>> build_parser().parse_args(["horizon-study", "--out", "o"]).command
        'study'
    """
    parser, sub = make_parser(PROG, "Trust-gated synthetic data for offline RL.", __version__)

    p = add_command(sub, "simulate", _simulate, help="real episodes of controlled oscillators")
    p.add_argument("--out", required=True, help="output .npz (bricks.json is written beside it)")
    _options(p, training=False)

    p = add_command(
        sub, "rollouts", _rollouts, help="real episodes from a gymnasium environment (needs [real])"
    )
    p.add_argument(
        "--env",
        required=True,
        choices=["pendulum", "acrobot"],
        help="Pendulum-v1 (fixed length) or Acrobot-v1 (episodes terminate: variable length)",
    )
    p.add_argument("--out", required=True, help="output episodes .npz")
    p.add_argument("--episodes", type=int, default=200, help="number of episodes (default 200)")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="time limit in steps (default: the environment's, 200 / 500)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of resets and policy noise")
    _options(p, config=False, training=False)

    p = add_command(
        sub, "train-world-model", _train_world_model, help="train the GRU latent world model"
    )
    p.add_argument("--real", required=True, help="real episodes .npz (its training split)")
    p.add_argument("--out", required=True, help="output folder (model.pt, summary.json)")
    p.add_argument("--trust-net", help="frozen trust net model.pt (wm_train.trust_aware_weight)")
    _options(p)

    p = add_command(sub, "generate", _generate, help="synthetic episodes from the world model")
    p.add_argument("--model", required=True, help="world model model.pt")
    p.add_argument("--real", required=True, help="real episodes (first states and actions)")
    p.add_argument("--out", required=True, help="output synthetic episodes .npz")
    _options(p, training=False)

    p = add_command(sub, "train-trust", _train_trust, help="train the trust net, real vs synthetic")
    p.add_argument("--real", required=True, help="real episodes .npz (its training split)")
    p.add_argument("--synthetic", required=True, help="synthetic episodes .npz")
    p.add_argument("--out", required=True, help="output folder (model.pt, metrics.json)")
    _options(p)

    p = add_command(sub, "gate", _gate, help="trust scores and bounds filter of every episode")
    p.add_argument("--trust", required=True, help="trust net model.pt")
    p.add_argument("--real", required=True, help="real episodes .npz (its training split)")
    p.add_argument("--synthetic", required=True, help="synthetic episodes .npz")
    p.add_argument("--out", required=True, help="scores .npz (summary.json beside it)")
    _options(p, training=False)

    p = add_command(sub, "train-policy", _train_policy, help="offline policy on a data mix")
    p.add_argument(
        "--mix",
        required=True,
        choices=["real_only", "fixed_share", "trust_weighted"],
        help="real episodes only, a fixed synthetic share (policy.fixed_share), or trust weights",
    )
    p.add_argument("--real", required=True, help="real episodes .npz (training and held-out)")
    p.add_argument("--synthetic", help="synthetic episodes .npz (fixed_share, trust_weighted)")
    p.add_argument("--scores", help="gate scores .npz (trust_weighted)")
    p.add_argument("--out", required=True, help="output folder (model.pt, summary.json)")
    _options(p)

    p = add_command(sub, "evaluate", _evaluate, help="metrics.json and plots of a run folder")
    p.add_argument("--run", required=True, help="run folder (demo's, or the stages' layout)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _options(p, config=False, training=False)

    p = add_command(sub, "demo", _demo, help="the whole loop; resumes an interrupted run")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--quick", action="store_true", help="small preset (well under a minute)")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: config's)")
    p.add_argument(
        "--real",
        default=None,
        metavar="FILE",
        help="run on these real episodes (.npz, the package's format) instead of simulating",
    )
    _options(p)

    p = add_command(
        sub,
        "study",
        _study,
        help="variant x seed comparison: policy mixes or world-model training schemes",
        aliases=list(STUDY_ALIASES),
    )
    p.add_argument(
        "--kind",
        choices=["policy", "horizon"],
        default=None,
        help="policy: demo per seed, the policy table (default); horizon: std ratio per "
        "world-model training scheme (the aliases policy-study and horizon-study choose it)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="data and training seeds"
    )
    p.add_argument("--variants", nargs="+", default=None, help="horizon study: variants to run")
    p.add_argument("--quick", action="store_true", help="policy study: the quick preset")
    p.add_argument(
        "--real",
        default=None,
        metavar="FILE",
        help="real episodes (.npz) to study instead of simulated ones (each seed makes its own "
        "held-out split when the file has none)",
    )
    p.add_argument(
        "--modes",
        nargs="+",
        choices=["episodes", "segments"],
        default=["episodes", "segments"],
        help="policy study: synthetic data as whole episodes, short segments, or both",
    )
    _options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imbalance-world-model`` with ``argv``; return the exit status.

    Returns:
        0 on success, 2 on bad input (one line on standard error).

    Examples:
        >>> main(["train-world-model", "--real", "missing.npz", "--out", "/tmp/nowhere"])
        2
    """
    return run_cli(build_parser(), argv, traceback_env="IMBALANCE_WORLD_MODEL_TRACEBACK")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
