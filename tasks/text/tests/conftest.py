"""Fixtures of the imbalance_text tests: a tiny random-init BERT folder and a small corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from imbalance_text._vocabulary import BENIGN, DISTRACTORS, FILLERS, TEMPLATES, WORDS
from imbalance_text.data import Corpus
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
