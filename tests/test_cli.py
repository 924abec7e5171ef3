"""The ``imbalance-kit`` command: analyze, compare, and one-line errors for bad input.

Everything runs in-process through ``main([...])``; numbers are checked against
scikit-learn and hand-written formulas, not against the code under test.
"""

from __future__ import annotations

import csv
import json
import runpy
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
)
from sklearn.utils.class_weight import compute_class_weight

from imbalance_kit.cli import compare as _compare
from imbalance_kit.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def labelled_csv(tmp_path):
    """168 rows: classes cat/dog/bird at 120/40/8, two features, multilabel a (0/1) and b."""
    rng = np.random.default_rng(0)
    rows = []
    for label, n, shift in (("cat", 120, 0.0), ("dog", 40, 2.0), ("bird", 8, -2.0)):
        for _ in range(n):
            rows.append(
                [
                    f"{rng.normal() + shift:.4f}",
                    f"{rng.normal():.4f}",
                    label,
                    int(rng.random() < 0.3),
                    int(rng.random() < 0.05),
                ]
            )
    rng.shuffle(rows)
    return _write_csv(tmp_path / "animals.csv", ["x1", "x2", "label", "a", "b"], rows)


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- analyze


def test_analyze_table_weights_warnings_and_chart(labelled_csv, tmp_path, capsys):
    out = tmp_path / "an"
    assert (
        main(
            [
                "analyze",
                "--csv",
                labelled_csv,
                "--target",
                "label",
                "--out",
                str(out),
                "--max-weight",
                "5",
                "--plain",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "imbalance ratio 15" in text  # 120 / 8
    assert "class 'bird' has 8 samples" in text
    result = json.loads((out / "analysis.json").read_text())["classes"]
    # classes are sorted: bird, cat, dog
    assert result["class_names"] == ["bird", "cat", "dog"]
    assert result["counts"] == [8, 120, 40]
    np.testing.assert_allclose(result["shares"], np.array([8, 120, 40]) / 168)
    labels = np.repeat([0, 1, 2], [8, 120, 40])
    sk = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(result["weights"]["balanced"], sk, rtol=1e-6)
    np.testing.assert_allclose(result["weights"]["capped"], np.minimum(sk, 5.0), rtol=1e-6)
    sqrt = np.array([8, 120, 40]) ** -0.5
    sqrt = sqrt * 168 / np.sum(np.array([8, 120, 40]) * sqrt)  # mean weight per sample is 1
    np.testing.assert_allclose(result["weights"]["sqrt-inverse"], sqrt, rtol=1e-5)
    beta = 0.999
    eff = (1 - beta) / (1 - beta ** np.array([8, 120, 40]))
    np.testing.assert_allclose(result["weights"]["effective"], 3 * eff / eff.sum(), rtol=1e-5)
    assert any("cap 5 changes the weights of bird" in w for w in result["warnings"])
    assert _is_png(out / "distribution.png")


def test_analyze_multilabel_pos_weight(labelled_csv, tmp_path, capsys):
    out = tmp_path / "ml"
    assert main(["analyze", "--csv", labelled_csv, "--multilabel", "a,b", "--out", str(out)]) == 0
    result = json.loads((out / "analysis.json").read_text())["multilabel"]
    data = np.genfromtxt(labelled_csv, delimiter=",", skip_header=1, usecols=(3, 4))
    pos = data.sum(0)
    assert result["positives"] == pos.astype(int).tolist()
    np.testing.assert_allclose(result["pos_weight"], (len(data) - pos) / pos, rtol=1e-6)
    assert _is_png(out / "multilabel.png")
    assert "label 'b' has" in capsys.readouterr().out  # ~8 positives: rare


def test_analyze_extreme_ratio_warning(tmp_path, capsys):
    rows = [[0.0, "big"]] * 300 + [[1.0, "tiny"]] * 2
    path = _write_csv(tmp_path / "x.csv", ["f", "y"], rows)
    assert main(["analyze", "--csv", path, "--target", "y", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "imbalance ratio 150 (>= 100)" in text
    assert "class 'tiny' has 2 samples" in text


# --------------------------------------------------------------------------- compare


def test_compare_quick_digits_writes_everything(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = [
        "compare",
        "--quick",
        "--seeds",
        "1",
        "--strategies",
        "ce,balanced-softmax",
        "--epochs",
        "8",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "cross-entropy" in text and "balanced softmax" in text
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["strategy"] for r in rows] == ["ce", "balanced-softmax"]
    for row in rows:
        for key in ("balanced_accuracy", "macro_f1", "tail_recall", "ece", "ece_ts"):
            assert 0.0 <= float(row[key]) <= 1.0
        assert "pr_auc" not in row  # PR-AUC is reported for binary problems only
        assert float(row["balanced_accuracy"]) > 0.3  # far above chance (0.1)
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["epochs"] == 8 and payload["config"]["seeds"] == [0]
    assert payload["command"].startswith("imbalance-kit compare --quick")
    assert set(payload["summary"]) == {"ce", "balanced-softmax"}
    for name in (
        "metrics.png",
        "reliability_ce.png",
        "reliability_balanced-softmax.png",
    ):
        assert _is_png(out / name), name


def test_compare_csv_binary_reports_pr_auc(tmp_path, capsys):
    # a binary CSV: 30 shifted "yes" rows among 200
    rng = np.random.default_rng(1)
    rows = [
        [f"{rng.normal() + 2 * (i < 30):.3f}", f"{rng.normal():.3f}", "yes" if i < 30 else "no"]
        for i in range(200)
    ]
    path = _write_csv(tmp_path / "bin.csv", ["f1", "f2", "event"], rows)
    out = tmp_path / "o"
    argv = [
        "compare",
        "--csv",
        path,
        "--target",
        "event",
        "--strategies",
        "weighted-ce",
        "--model",
        "linear",
        "--seeds",
        "2",
        "--epochs",
        "5",
        "--no-plots",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 2 and all(0 < r["pr_auc"] <= 1 for r in runs)
    assert "PR-AUC" in capsys.readouterr().out


def test_run_strategy_is_reproducible():
    from imbalance_kit.cli.datasets import make_digits_lt

    split = make_digits_lt(20, seed=3)
    config = _compare.TrainConfig(epochs=3)
    a = _compare.run_strategy(_compare.STRATEGIES["logit-adjustment"], split, config, seed=3)
    b = _compare.run_strategy(_compare.STRATEGIES["logit-adjustment"], split, config, seed=3)
    c = _compare.run_strategy(_compare.STRATEGIES["logit-adjustment"], split, config, seed=4)
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics


# --------------------------------------------------------------------------- evaluation


def _numpy_ece(probs, labels, n_bins=15):
    conf = probs.max(1)
    hit = probs.argmax(1) == labels
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        members = (conf > lo) & (conf <= hi)
        if members.any():
            total += members.mean() * abs(hit[members].mean() - conf[members].mean())
    return total


def test_evaluate_matches_sklearn_and_hand_formulas():
    g = torch.Generator().manual_seed(0)
    n, classes = 300, 4
    labels = torch.randint(0, classes, (n,), generator=g)
    logits = torch.randn(
        n, classes, generator=g, dtype=torch.float64
    ) + 2 * torch.nn.functional.one_hot(labels, classes)
    val_labels = torch.randint(0, classes, (100,), generator=g)
    val_logits = 3 * torch.nn.functional.one_hot(val_labels, classes).double() + torch.randn(
        100, classes, generator=g, dtype=torch.float64
    )
    train_counts = np.array([50, 5, 20, 4])  # rarest third: ceil(4/3) = 2 classes -> 3 and 1
    metrics, probs, probs_ts = _compare.evaluate(
        logits, labels.numpy(), val_logits, val_labels.numpy(), train_counts
    )
    y, pred = labels.numpy(), logits.argmax(1).numpy()
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    recalls = recall_score(y, pred, average=None, labels=range(classes))
    assert metrics["tail_recall"] == pytest.approx(recalls[[1, 3]].mean())
    p = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(probs, p, rtol=1e-10)
    assert metrics["ece"] == pytest.approx(_numpy_ece(p, y), abs=1e-9)
    t = metrics["temperature"]
    p_ts = torch.softmax(logits / t, 1).numpy()
    assert metrics["ece_ts"] == pytest.approx(_numpy_ece(p_ts, y), abs=1e-9)

    # the fitted temperature minimises the validation NLL (hand-written NLL, grid check)
    def nll(temp):
        return torch.nn.functional.cross_entropy(val_logits / temp, val_labels).item()

    assert nll(t) <= min(nll(t * 1.05), nll(t / 1.05)) + 1e-12
    assert "pr_auc" not in metrics


def test_evaluate_binary_positive_is_rarer_training_class():
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 2, (200,), generator=g)
    logits = torch.randn(200, 2, generator=g, dtype=torch.float64)
    logits[:, 0] += 1.5 * (labels == 0)
    metrics, probs, _ = _compare.evaluate(
        logits, labels.numpy(), logits, labels.numpy(), np.array([10, 90])
    )
    y = labels.numpy()
    # class 0 is the rarer training class: it is the positive one
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y == 0, probs[:, 0]))
    pred = logits.argmax(1).numpy()
    assert metrics["tail_recall"] == pytest.approx(recall_score(y == 0, pred == 0))


def test_validation_carve_keeps_small_classes_in_training():
    y = np.repeat(np.arange(4), [100, 9, 5, 4])
    train, val = _compare.carve_validation(y, 0.2, seed=0)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))
    assert np.bincount(y[val], minlength=4).tolist() == [20, 1, 1, 0]


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_files(tmp_path):
    one = _write_csv(tmp_path / "one.csv", ["x", "y"], [[1, "a"], [2, "a"], [3, "a"]])
    text = _write_csv(
        tmp_path / "text.csv", ["x", "color", "y"], [[1, "red", "a"], [2, "blue", "b"]] * 5
    )
    good = _write_csv(tmp_path / "good.csv", ["x", "y"], [[i, "ab"[i % 2]] for i in range(20)])
    lonely = _write_csv(
        tmp_path / "lonely.csv", ["x", "y"], [[i, "a"] for i in range(9)] + [[9, "b"]]
    )
    pair = _write_csv(tmp_path / "pair.csv", ["x", "y"], [[i, "ab"[i >= 38]] for i in range(40)])
    return {
        "one": one,
        "text": text,
        "good": good,
        "lonely": lonely,
        "pair": pair,
        "dir": str(tmp_path),
    }


BAD = {
    "missing file": (["analyze", "--csv", "{dir}/nope.csv", "--target", "y"], "nope.csv"),
    "missing column": (["analyze", "--csv", "{good}", "--target", "z"], "target must be a column"),
    "one class (analyze)": (["analyze", "--csv", "{one}", "--target", "y"], "at least 2 classes"),
    "no target": (["analyze", "--csv", "{good}"], "--target"),
    "not 0/1 multilabel": (["analyze", "--csv", "{good}", "--multilabel", "x"], "0 or 1"),
    "one class (compare)": (["compare", "--csv", "{one}", "--target", "y"], "at least 2 classes"),
    "non-numeric feature": (
        ["compare", "--csv", "{text}", "--target", "y"],
        "'color' must be numeric",
    ),
    "missing compare column": (["compare", "--csv", "{good}", "--target", "q"], "target must be"),
    "missing compare file": (["compare", "--csv", "{dir}/none.csv", "--target", "y"], "none.csv"),
    "class of one row": (["compare", "--csv", "{lonely}", "--target", "y"], "at least 2 rows"),
    "test split takes a whole class": (
        ["compare", "--csv", "{pair}", "--target", "y", "--test-size", "0.9"],
        "test_size must be small enough to leave training rows of class 'b'",
    ),
    "test size out of range": (
        ["compare", "--csv", "{good}", "--target", "y", "--test-size", "1.5"],
        "--test-size must be in (0, 1)",
    ),
    "unknown strategy": (["compare", "--strategies", "ce", "magic"], "got 'magic'"),
    "unknown dataset": (["compare", "--dataset", "mnist"], "'digits-lt' or 'keel:NAME'"),
    "unknown keel set": (["compare", "--dataset", "keel:nope"], "got 'nope'"),
    "csv without target": (["compare", "--csv", "{good}"], "--target"),
    "ratio with csv": (
        ["compare", "--csv", "{good}", "--target", "y", "--imbalance-ratio", "5"],
        "digits-lt only",
    ),
    "bad model": (["compare", "--model", "cnn"], "invalid choice"),
    "zero seeds": (["compare", "--seeds", "0"], "--seeds"),
    "negative lr": (["compare", "--lr", "-1"], "--lr"),
    "out is a file": (["compare", "--out", "{good}"], "--out must be a folder"),
    "unknown command": (["train"], "invalid choice"),
    "no command": ([], "required"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_exits_2_with_one_line(case, bad_files, capsys):
    argv, needle = BAD[case]
    argv = [a.format(**bad_files) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("imbalance-kit: error: ")
    assert needle in lines[0]
    assert "Traceback" not in captured.err


def test_cuda_request_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(["compare", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_help_and_module_entry(monkeypatch, capsys):
    assert main(["--help"]) == 0
    assert "analyze" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["imbalance-kit", "compare", "--strategies", "nope"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("imbalance_kit", run_name="__main__")
    assert info.value.code == 2


def test_summary_mean_std_and_best_marks():
    from imbalance_kit.cli.compare import RunResult
    from imbalance_kit.cli.compare_report import markdown_table, summarise, summary_table

    values = {"ce": [0.70, 0.74, 0.72], "focal": [0.80, 0.78, 0.79]}
    runs = [
        RunResult(name, seed, {"balanced_accuracy": v, "ece": 1 - v}, seconds=1.0)
        for name, vs in values.items()
        for seed, v in enumerate(vs)
    ]
    summary = summarise(runs)
    for name, vs in values.items():
        assert summary[name]["balanced_accuracy"]["mean"] == pytest.approx(np.mean(vs))
        assert summary[name]["balanced_accuracy"]["std"] == pytest.approx(np.std(vs, ddof=1))
    columns, rows = summary_table(summary, timing=False)
    assert columns == ["strategy", "bal. acc", "ECE"]
    # focal has the higher balanced accuracy and the lower ECE: both cells get the star
    assert rows[1][1] == "0.790 ± 0.010*" and rows[1][2].endswith("*")
    assert not rows[0][1].endswith("*") and not rows[0][2].endswith("*")
    table = markdown_table(columns, rows).splitlines()
    assert table[0] == "| strategy | bal. acc | ECE |" and len(table) == 4


def _summary(n_seeds):
    from imbalance_kit.cli.compare import STRATEGIES, RunResult
    from imbalance_kit.cli.compare_report import METRICS, summarise

    rng = np.random.default_rng(0)
    runs = [
        RunResult(name, seed, {k: float(rng.random()) for k in METRICS}, seconds=1.0)
        for name in STRATEGIES
        for seed in range(n_seeds)
    ]
    return summarise(runs)


@pytest.mark.parametrize("plain", [True, False])
def test_terminal_table_reads_at_80_columns(plain):
    import io

    from imbalance_kit.app import print_table
    from imbalance_kit.cli.compare_report import summary_table

    columns, rows = summary_table(_summary(3), stacked=True, timing=False)
    stream = io.StringIO()
    print_table(columns, rows, stream=stream, plain=plain, width=80)
    lines = stream.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in stream.getvalue()  # no header or cell cut short
    # every strategy name whole on its line, each mean with its spread on the next line
    for name in (r[0] for r in rows):
        (i,) = [k for k, line in enumerate(lines) if line.startswith(name + " ")]
        assert all(c.rstrip("*").count(".") == 1 for c in lines[i].split()[-6:])
        spreads = lines[i + 1].split()
        assert len(spreads) == 6 and all(c.startswith("±") for c in spreads)


def test_one_seed_shows_no_spread():
    from imbalance_kit.cli.compare_report import summary_table

    for stacked in (True, False):
        _, rows = summary_table(_summary(1), stacked=stacked)
        assert not any("±" in cell for row in rows for cell in row)
