"""Schema validation, corpus reading/writing, the rare-aware split and the simulator."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imbalance_text.data import Corpus, read_corpus, split_corpus, write_corpus
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema, load_schema
from imbalance_text.simulate import DEFAULT_RATES, SimulationSpec, simulate_corpus

SCHEMA = LabelSchema(["hate", "violence"], {"slur": "hate", "praising violence": ["violence"]})


# ----------------------------------------------------------------- schema
def test_schema_columns_and_pairs() -> None:
    assert SCHEMA.names == ["hate", "violence", "slur", "praising violence"]
    assert SCHEMA.implications == [("slur", "hate"), ("praising violence", "violence")]
    assert SCHEMA.implication_indices == [(2, 0), (3, 1)]
    assert SCHEMA.index("slur") == 2


def test_schema_chain_and_several_parents() -> None:
    s = LabelSchema(["a", "b"], {"c": ["a", "b"], "d": "c"})
    assert s.implication_indices == [(2, 0), (2, 1), (3, 2)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"primary": []}, "primary must be at least one label name"),
        ({"primary": ["a", "a"]}, "primary must be unique label names, got 'a' twice"),
        ({"primary": "a"}, "primary must be a list of label names"),
        ({"primary": ["a"], "secondary": {"b": "zzz"}}, "a label of the schema, got 'zzz'"),
        ({"primary": ["a"], "secondary": {"a": "a"}}, "unique label names"),
        ({"primary": ["a"], "secondary": {"b": "c", "c": "b"}}, "free of cycles"),
        ({"primary": ["a"], "custom_weights": {"x": 2.0}}, "a label of the schema, got 'x'"),
        ({"primary": ["a"], "custom_weights": {"a": -1.0}}, "a finite number >= 0, got -1.0"),
        ({"primary": ["a"], "custom_weights": {"a": float("nan")}}, "a finite number >= 0"),
        ({"primary": ["a"], "rare": ["q"]}, "rare must be labels of the schema, got 'q'"),
    ],
)
def test_schema_errors(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(")):
        LabelSchema(**kwargs)


def test_schema_self_implication_of_secondary() -> None:
    with pytest.raises(ValueError, match="another label"):
        LabelSchema(["a"], {"b": ["a", "b"]})


def test_schema_yaml_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    DEFAULT_SCHEMA.save(file)
    loaded = load_schema(file)
    assert loaded == DEFAULT_SCHEMA
    (tmp_path / "bad.yaml").write_text("primary: [a]\nsecondry: {b: a}\n")
    with pytest.raises(ValueError, match=r"schema keys must be among .*'secondry'"):
        load_schema(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError):
        load_schema(tmp_path / "missing.yaml")


def test_default_schema_matches_field_notes() -> None:
    w = DEFAULT_SCHEMA.custom_weights
    assert w["anti-democratic rhetoric"] == w["praising extremist acts"] == 10.0
    assert w["praising violence"] == w["ideologically motivated threats"] == 5.0
    assert w["sexual harassment"] == 5.0
    assert all(child in DEFAULT_SCHEMA.secondary for child in w)


# ----------------------------------------------------------------- reading
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["you people", "nice day", "they deserved the beating"],
            "hate": [1, 0, 0],
            "violence": ["false", "0", "true"],
            "slur": [1, 0, 0],
            "praising violence": [0, 0, 1],
        }
    )


EXPECTED = [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]]


def test_read_label_columns_csv_tsv_jsonl(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    for name in ("d.csv", "d.tsv", "d.jsonl"):
        corpus = read_corpus(tmp_path / name, SCHEMA)
        assert corpus.targets.tolist() == EXPECTED, name
        assert corpus.texts[2] == "they deserved the beating"


def test_read_list_column(tmp_path: Path) -> None:
    rows = [
        {"body": "you people", "tags": ["hate", "slur"]},
        {"body": "nice day", "tags": []},
        {"body": "they deserved the beating", "tags": ["violence", "praising violence"]},
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    corpus = read_corpus(tmp_path / "d.jsonl", SCHEMA, text_column="body", labels_column="tags")
    assert corpus.targets.tolist() == EXPECTED
    pd.DataFrame(
        {
            "text": [r["body"] for r in rows],
            "tags": ["hate|slur", "", '["violence", "praising violence"]'],
        }
    ).to_csv(tmp_path / "d.csv", index=False)
    assert (
        read_corpus(tmp_path / "d.csv", SCHEMA, labels_column="tags").targets.tolist() == EXPECTED
    )


def test_read_errors(tmp_path: Path) -> None:
    frame = _frame()
    frame.drop(columns=["slur"]).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(ValueError, match=r"missing \['slur'\]"):
        read_corpus(tmp_path / "missing.csv", SCHEMA)
    bad = frame.copy()
    bad["hate"] = [1, 2, 0]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="label column 'hate' row 1 must be 0/1"):
        read_corpus(tmp_path / "bad.csv", SCHEMA)
    pd.DataFrame({"text": ["a"], "tags": ["hate|nope"]}).to_csv(tmp_path / "u.csv", index=False)
    with pytest.raises(ValueError, match="'nope'"):
        read_corpus(tmp_path / "u.csv", SCHEMA, labels_column="tags")
    with pytest.raises(ValueError, match="text_column must be a column"):
        read_corpus(tmp_path / "missing.csv", SCHEMA, text_column="body")
    empty = frame.copy()
    empty.loc[1, "text"] = "  "
    empty.to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(ValueError, match=r"empty rows \[1\]"):
        read_corpus(tmp_path / "empty.csv", SCHEMA)
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(ValueError, match="data path must be a .csv"):
        read_corpus(tmp_path / "x.xlsx", SCHEMA)
    with pytest.raises(FileNotFoundError):
        read_corpus(tmp_path / "nothing.csv", SCHEMA)


def test_pickle_refused_unless_allowed(tmp_path: Path) -> None:
    file = tmp_path / "d.pkl"
    with open(file, "wb") as fh:
        pickle.dump(_frame(), fh)
    with pytest.raises(ValueError, match="pickle"):
        read_corpus(file, SCHEMA)
    assert read_corpus(file, SCHEMA, allow_pickle=True).targets.tolist() == EXPECTED


def test_write_read_round_trip(tmp_path: Path) -> None:
    corpus = simulate_corpus(SimulationSpec(n=80, seed=2))
    for suffix in (".csv", ".jsonl"):
        write_corpus(corpus, tmp_path / f"c{suffix}")
        back = read_corpus(tmp_path / f"c{suffix}", DEFAULT_SCHEMA, id_column="id")
        assert back.texts == corpus.texts
        assert back.ids == corpus.ids
        np.testing.assert_array_equal(back.targets, corpus.targets)


# ----------------------------------------------------------------- split
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(30, 300),
    seed=st.integers(0, 10_000),
    rare=st.integers(3, 8),
    fractions=st.sampled_from([(0.15, 0.15), (0.2, 0.1), (0.3, 0.0)]),
)
def test_split_is_a_partition_and_keeps_rare_labels(
    n: int, seed: int, rare: int, fractions: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < [0.4, 0.1, 0.0]).astype(np.float32)
    y[:, 2] = 0
    y[rng.choice(n, rare, replace=False), 2] = 1
    corpus = Corpus([f"t{i}" for i in range(n)], y, LabelSchema(["a", "b", "r"]))
    parts = split_corpus(corpus, *fractions, seed=seed)
    ids = [i for p in parts for i in p.ids]
    assert sorted(ids, key=int) == corpus.ids  # disjoint and complete
    for part, fraction in zip(parts[1:], fractions):
        if fraction > 0:
            assert part.targets[:, 2].sum() >= 1  # the rare label reaches val and test
    assert parts[0].targets[:, 2].sum() >= 1


def test_split_fraction_errors() -> None:
    corpus = Corpus(["a", "b"], np.zeros((2, 1)), LabelSchema(["a"]))
    with pytest.raises(ValueError, match=r"val_fraction \+ test_fraction must be < 1"):
        split_corpus(corpus, 0.5, 0.5)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_corpus(corpus, -0.1, 0.1)


# ----------------------------------------------------------------- simulator
def test_simulation_ratios_and_hierarchy() -> None:
    n = 20_000
    corpus = simulate_corpus(SimulationSpec(n=n, seed=5, label_noise=0.0))
    counts = corpus.label_counts()
    for label in DEFAULT_SCHEMA.secondary:
        p = DEFAULT_RATES[label]
        # positives ~ Binomial(n, p); 5 standard deviations
        assert abs(counts[label] - n * p) < 5 * np.sqrt(n * p * (1 - p)), label
    ratio_rare = (n - counts["praising extremist acts"]) / counts["praising extremist acts"]
    ratio_ten = (n - counts["sexual harassment"]) / counts["sexual harassment"]
    assert 70 < ratio_rare < 140 and 8 < ratio_ten < 12.5
    y = corpus.targets > 0
    for child, parent in DEFAULT_SCHEMA.implication_indices:
        assert not np.any(y[:, child] & ~y[:, parent])  # a secondary always has its primary


def test_simulation_is_reproducible_and_noise_drops_secondaries() -> None:
    a = simulate_corpus(SimulationSpec(n=3000, seed=9, label_noise=0.0))
    b = simulate_corpus(SimulationSpec(n=3000, seed=9, label_noise=0.0))
    assert a.texts == b.texts
    noisy = simulate_corpus(SimulationSpec(n=3000, seed=9, label_noise=0.5))
    assert noisy.texts == a.texts  # same draws, only annotations differ
    sec = [DEFAULT_SCHEMA.index(n) for n in DEFAULT_SCHEMA.secondary]
    prim = [DEFAULT_SCHEMA.index(n) for n in DEFAULT_SCHEMA.primary]
    assert noisy.targets[:, sec].sum() < 0.7 * a.targets[:, sec].sum()
    np.testing.assert_array_equal(noisy.targets[:, prim], a.targets[:, prim])
    assert len(set(a.texts)) > 0.6 * len(a.texts)  # varied vocabulary, few duplicates


def test_simulation_spec_errors() -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        simulate_corpus(SimulationSpec(n=0))
    with pytest.raises(ValueError, match="label_noise must be in"):
        simulate_corpus(SimulationSpec(label_noise=1.5))
    with pytest.raises(ValueError, match="rates key must be one of"):
        simulate_corpus(SimulationSpec(rates={"spam": 0.1}))
