"""Encoders: the packaged MiniLM against sentence-transformers, pooling, the embedding cache."""

from __future__ import annotations

from pathlib import Path

import imbalance_text.model as encoder_module
import numpy as np
import pytest
import torch
from imbalance_text.model import (
    TextEncoder,
    cached_embeddings,
    default_model_path,
    encode_texts,
    resolve_model_path,
)

TEXTS = [
    "elections are a sham, parliament must be abolished",
    "polls are open until eight, go vote",
    "the bombing in the capital was a tragedy",
    "the bombing in the capital made me proud",
    "nice jacket, where did you get it?",
    "send me pics or else I tell everyone",
]


def test_packaged_minilm_matches_sentence_transformers() -> None:
    """The wheel's model, loaded offline by us, gives sentence-transformers' embeddings."""
    from sentence_transformers import SentenceTransformer

    ours = encode_texts(TEXTS, TextEncoder(None), batch_size=4)
    reference = SentenceTransformer(str(default_model_path()), device="cpu").encode(
        TEXTS, convert_to_tensor=True
    )
    assert ours.shape == (6, 384)
    torch.testing.assert_close(ours, reference.cpu().float(), atol=2e-5, rtol=1e-4)
    # meaning, not words: the two "bombing" sentences differ in stance yet stay close
    sims = ours @ ours.T
    assert sims[2, 3] > sims[2, 4]


def test_mean_pooling_ignores_padding(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert, normalize=False, max_length=32)
    batched = encode_texts(TEXTS, enc, batch_size=6)
    alone = torch.cat([encode_texts([t], enc, batch_size=1) for t in TEXTS])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    # reference: mean of the last hidden states over the real tokens
    ids = enc.tokenize(TEXTS[:1])
    with torch.no_grad():
        hidden = enc.transformer(**ids).last_hidden_state[0]
    torch.testing.assert_close(batched[0], hidden.mean(dim=0), atol=1e-5, rtol=1e-5)


def test_cls_pooling_and_normalisation(tiny_bert: Path) -> None:
    enc = TextEncoder(tiny_bert, pooling="cls", normalize=True, max_length=32)
    out = encode_texts(TEXTS[:2], enc)
    batch = enc.tokenize(TEXTS[:2])
    with torch.no_grad():
        first = enc.transformer(**batch).last_hidden_state[:, 0]
    torch.testing.assert_close(out, torch.nn.functional.normalize(first, dim=-1), atol=1e-5, rtol=0)


def test_encoder_errors(tmp_path: Path, tiny_bert: Path) -> None:
    with pytest.raises(ValueError, match="model path must be a local Hugging Face model folder"):
        resolve_model_path(tmp_path)
    with pytest.raises(ValueError, match="pooling must be one of 'mean', 'cls'"):
        TextEncoder(tiny_bert, pooling="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_length must be an integer >= 2"):
        TextEncoder(tiny_bert, max_length=1)


def test_cache_reuses_and_dedupes(
    tmp_path: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = TextEncoder(tiny_bert, max_length=32)
    calls: list[int] = []
    real = encoder_module.encode_texts

    def counting(texts, encoder, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return real(texts, encoder, **kw)

    monkeypatch.setattr(encoder_module, "encode_texts", counting)
    texts = [*TEXTS, TEXTS[0], TEXTS[1]]
    first = cached_embeddings(texts, enc, tmp_path)
    second = cached_embeddings(texts, enc, tmp_path)
    assert calls == [6]  # duplicates embedded once, second call read from disk
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first[6], first[0])
    assert len(list(tmp_path.glob("emb-*.npy"))) == 1
    arr = np.load(next(tmp_path.glob("emb-*.npy")), allow_pickle=False)
    assert arr.shape == (6, 32)
    cached_embeddings([*TEXTS[:-1], "a new text"], enc, tmp_path)
    assert calls == [6, 6] and len(list(tmp_path.glob("emb-*.npy"))) == 2
    cached_embeddings(TEXTS, TextEncoder(tiny_bert, pooling="cls", max_length=32), tmp_path)
    assert len(calls) == 3  # another pooling is another cache entry


def test_roberta_style_model_folder(tmp_path: Path) -> None:
    """A RoBERTa folder (byte-level BPE tokenizer, position offset) loads and encodes offline."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS * 5, vocab_size=300, min_frequency=1, special_tokens=specials)
    bpe.save_model(str(tmp_path))
    tokenizer = RobertaTokenizerFast(
        vocab_file=str(tmp_path / "vocab.json"), merges_file=str(tmp_path / "merges.txt")
    )
    tokenizer.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=40, pad_token_id=1,
    )  # fmt: skip
    RobertaModel(config).save_pretrained(tmp_path)
    enc = TextEncoder(tmp_path, pooling="cls", normalize=False, max_length=32)
    out = encode_texts([*TEXTS, "a much longer text " * 20], enc, batch_size=3)
    assert out.shape == (7, 32) and torch.isfinite(out).all()
    ids = enc.tokenize(TEXTS[:1])
    assert int(ids["input_ids"][0, 0]) == tokenizer.convert_tokens_to_ids("<s>")
