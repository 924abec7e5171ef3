"""Fixtures of the imbalance_text tests: a tiny random-init BERT folder and a small corpus."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from imbalance_text._vocabulary import BENIGN, DISTRACTORS, FILLERS, TEMPLATES, WORDS
from imbalance_text.config import TextConfig, apply_overrides
from imbalance_text.data import Corpus, write_corpus
from imbalance_text.schema import DEFAULT_SCHEMA
from imbalance_text.simulate import SimulationSpec, simulate_corpus


def _vocabulary() -> list[str]:
    text = " ".join(
        [*(w for pool in WORDS.values() for w in pool), *BENIGN, *DISTRACTORS, *FILLERS]
        + [t for pool in TEMPLATES.values() for t in pool]
    )
    words = sorted(set(re.findall(r"[a-z']+", text.lower())))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", ":", *words]


def make_tiny_bert(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with random weights and a word-level vocabulary, saved locally."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(_vocabulary()) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(_vocabulary()), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    BertTokenizer(str(vocab), do_lower_case=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def small_corpus() -> Corpus:
    """600 simulated texts: every secondary label has positives in train, val and test."""
    return simulate_corpus(SimulationSpec(n=600, seed=11))


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory, small_corpus: Corpus) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    write_corpus(small_corpus, folder / "corpus.csv")
    DEFAULT_SCHEMA.save(folder / "schema.yaml")
    return {"corpus": folder / "corpus.csv", "schema": folder / "schema.yaml"}


def _text_config(files: dict[str, Path], tiny_bert: Path, *extra: str) -> TextConfig:
    return apply_overrides(
        TextConfig(),
        [
            f"data.train={files['corpus']}",
            f"data.schema={files['schema']}",
            f"model.path={tiny_bert}",
            "model.max_length=32",
            "model.head_hidden=32",
            "training.epochs=3",
            "training.batch_size=32",
            "training.threads=1",
            *extra,
        ],
    )


@pytest.fixture(scope="session")
def make_config(files: dict[str, Path], tiny_bert: Path) -> Callable[..., TextConfig]:
    """``make_config(*overrides)``: a 3-epoch config on the small corpus and the tiny BERT."""
    return lambda *extra: _text_config(files, tiny_bert, *extra)
