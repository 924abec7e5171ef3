"""The ``imbalance-world-model`` command.

Sub-commands::

    imbalance-world-model simulate --out real.npz [--config C.yaml] [--set key=value ...]
    imbalance-world-model train-world-model --real real.npz --out DIR [--trust-net model.pt]
    imbalance-world-model generate --model DIR/model.pt --real real.npz --out synthetic.npz
    imbalance-world-model train-trust --real real.npz --synthetic synthetic.npz --out DIR
    imbalance-world-model gate --trust DIR/model.pt --real real.npz --synthetic synthetic.npz
                               --out scores.npz
    imbalance-world-model train-policy --mix {real_only,fixed_share,trust_weighted}
                                       --real real.npz [--synthetic S.npz] [--scores scores.npz]
                                       --out DIR
    imbalance-world-model evaluate --run DIR
    imbalance-world-model demo [--quick] --out DIR [--seed S]
    imbalance-world-model horizon-study --out DIR [--seeds 0 1 2] [--variants ...]
    imbalance-world-model policy-study --out DIR [--seeds 0 1 2] [--quick]

Every training command takes ``--config`` and ``--set section.key=value``. Bad input prints
one line ``imbalance-world-model: error: ...`` and exits with status 2 (set
``IMBALANCE_WORLD_MODEL_TRACEBACK=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from imbalance_kit.app import Parser as _Parser
from imbalance_kit.app import UsageError
from imbalance_world_model._version import __version__

__all__ = ["UsageError", "build_parser", "main"]

PROG = "imbalance-world-model"


def _common(p: argparse.ArgumentParser, config: bool = True) -> None:
    if config:
        p.add_argument("--config", help="YAML config (default: built-in defaults)")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            dest="overrides",
            help="config override, e.g. wm_train.epochs=10",
        )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the fastest for these small networks)",
    )
    p.add_argument("--progress", action="store_true", help="show Lightning progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``imbalance-world-model``.

    Examples:
        >>> args = build_parser().parse_args(["demo", "--quick", "--out", "runs/x"])
        >>> args.command, args.quick, args.seed
        ('demo', True, None)
    """
    parser = _Parser(prog=PROG, description="Trust-gated synthetic data for offline RL.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="real episodes of controlled coupled oscillators")
    p.add_argument("--out", required=True, help="output .npz (bricks.json is written beside it)")
    _common(p)

    p = sub.add_parser("train-world-model", help="train the GRU latent world model")
    p.add_argument("--real", required=True)
    p.add_argument("--out", required=True, help="output folder (model.pt, summary.json)")
    p.add_argument("--trust-net", help="frozen trust net for wm_train.trust_aware_weight")
    _common(p)

    p = sub.add_parser("generate", help="synthetic episodes from the world model")
    p.add_argument("--model", required=True, help="world model model.pt")
    p.add_argument("--real", required=True, help="real episodes (first states and actions)")
    p.add_argument("--out", required=True)
    _common(p)

    p = sub.add_parser("train-trust", help="train the trust net, real vs synthetic")
    p.add_argument("--real", required=True)
    p.add_argument("--synthetic", required=True)
    p.add_argument("--out", required=True)
    _common(p)

    p = sub.add_parser("gate", help="trust scores and bounds filter of every episode")
    p.add_argument("--trust", required=True, help="trust net model.pt")
    p.add_argument("--real", required=True)
    p.add_argument("--synthetic", required=True)
    p.add_argument("--out", required=True, help="scores .npz (summary.json beside it)")
    _common(p)

    p = sub.add_parser("train-policy", help="offline policy on a real/synthetic mix")
    p.add_argument("--mix", required=True, choices=["real_only", "fixed_share", "trust_weighted"])
    p.add_argument("--real", required=True)
    p.add_argument("--synthetic")
    p.add_argument("--scores", help="gate scores .npz (trust_weighted)")
    p.add_argument("--out", required=True)
    _common(p)

    p = sub.add_parser("evaluate", help="metrics.json and plots of a demo run folder")
    p.add_argument("--run", required=True)
    p.add_argument("--no-plots", action="store_true")
    _common(p, config=False)

    p = sub.add_parser("demo", help="the whole loop; resumes an interrupted run")
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="small preset (well under a minute)")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: config's)")
    _common(p)

    p = sub.add_parser("horizon-study", help="std ratio of world-model training schemes")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=None)
    _common(p)

    p = sub.add_parser("policy-study", help="demo over seeds: the policy table")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true")
    _common(p)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace):
    from imbalance_world_model.config import load_config

    return load_config(args.config, args.overrides)


def _run(args: argparse.Namespace) -> int:
    from imbalance_world_model import evaluate as ev
    from imbalance_world_model import pipeline as pl
    from imbalance_world_model import stages as st

    cmd, bar = args.command, args.progress
    if cmd == "simulate":
        real = st.stage_simulate(_config(args), args.out)
        print(
            f"{real.n_episodes} real episodes of {real.horizon} states "
            f"({int(real.meta['split_test'].sum())} held out) -> {args.out}"
        )
    elif cmd == "train-world-model":
        s = st.stage_train_world_model(
            _config(args), args.real, args.out, trust_net_path=args.trust_net, progress_bar=bar
        )
        print(
            f"free-running MSE {s['initial_recon_mse']:.4f} -> {s['final_recon_mse']:.4f} "
            f"({s['seconds']:.1f}s) -> {args.out}/model.pt"
        )
    elif cmd == "generate":
        syn = st.stage_generate(_config(args), args.model, args.real, args.out)
        print(f"{syn.n_episodes} synthetic episodes -> {args.out}")
    elif cmd == "train-trust":
        m = (
            st.stage_train_trust(
                _config(args), args.real, args.synthetic, args.out, progress_bar=bar
            )["val"]
            or {}
        )
        print(
            f"validation: accuracy {_f(m.get('accuracy'))}, ROC AUC {_f(m.get('roc_auc'))}, "
            f"trust gap {_f(m.get('trust_gap'))} -> {args.out}/model.pt"
        )
    elif cmd == "gate":
        s = st.stage_gate(_config(args), args.trust, args.real, args.synthetic, args.out)
        print(
            f"synthetic passing: bounds {s['synthetic']['bounds']:.1%}, "
            f"trust {s['synthetic']['trust']:.1%} -> {args.out}"
        )
    elif cmd == "train-policy":
        s = st.stage_train_policy(
            _config(args),
            args.mix,
            args.real,
            args.synthetic,
            args.scores,
            args.out,
            progress_bar=bar,
        )
        print(
            f"{args.mix}: held-out action MSE {s['action_mse_test']:.4f}, synthetic share "
            f"{s['synthetic_share']:.2%} -> {args.out}/model.pt"
        )
    elif cmd == "evaluate":
        m = ev.evaluate_run(args.run, plots=not args.no_plots)
        ev.print_report(m)
    elif cmd == "demo":
        cfg = pl.demo_config(args.quick, args.seed, args.overrides, args.config)
        pl.run_demo(args.out, config=cfg, progress_bar=bar)
    elif cmd == "horizon-study":
        from imbalance_world_model.studies import horizon_study

        horizon_study(
            args.out, seeds=args.seeds, variants=args.variants, overrides=_overrides_from(args)
        )
    elif cmd == "policy-study":
        from imbalance_world_model.studies import policy_study

        policy_study(args.out, seeds=args.seeds, quick=args.quick, overrides=_overrides_from(args))
    return 0


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _overrides_from(args: argparse.Namespace) -> list[str]:
    if args.config:
        raise UsageError("--config is not read by the studies; pass --set key=value instead")
    _config(args)  # validate the overrides early
    return list(args.overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imbalance-world-model`` with ``argv``; return the exit status.

    Returns:
        0 on success, 2 on bad input (one line on standard error).

    Examples:
        >>> main(["train-world-model", "--real", "missing.npz", "--out", "/tmp/nowhere"])
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except UsageError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise UsageError(f"--threads must be >= 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        return _run(args)
    except UsageError as exc:
        return _fail(str(exc))
    except (FileNotFoundError, PermissionError, ValueError, TypeError, RuntimeError) as exc:
        if os.environ.get("IMBALANCE_WORLD_MODEL_TRACEBACK"):
            raise
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
