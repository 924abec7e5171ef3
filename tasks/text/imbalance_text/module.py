"""The Lightning module: a multi-label head on a frozen or fine-tuned encoder.

In ``frozen`` mode the batches hold cached embeddings and only the head
trains (fast on a CPU); in ``finetune`` mode they hold token ids and the
encoder (:class:`~imbalance_text.model.TextEncoder`) trains with its own,
smaller learning rate. The loss is :class:`~imbalance_text.objective.TextObjective`.
Validation logs ``val_loss``, ``val_pr_auc_macro`` (threshold-free, the default
checkpoint monitor), ``val_secondary_f1`` and ``val_rare_recall`` (at 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from sklearn.metrics import average_precision_score, f1_score, recall_score
from torch import nn
from torch.utils.data import DataLoader, Dataset

from imbalance_text.model import MultiLabelHead

__all__ = [
    "EmbeddingDataset",
    "MultiLabelHead",
    "TextDataset",
    "TextModule",
    "loader",
    "predict_probs",
]


class EmbeddingDataset(Dataset):
    """Rows of cached embeddings with their targets (frozen mode)."""

    def __init__(self, embeddings: torch.Tensor, targets: Any) -> None:
        self.embeddings = embeddings.float()
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.embeddings)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"embeddings": self.embeddings[i], "targets": self.targets[i]}


class TextDataset(Dataset):
    """Texts with their targets (fine-tune mode); :meth:`collate` tokenises a batch."""

    def __init__(self, texts: Sequence[str], targets: Any, tokenize: Any) -> None:
        self.texts = list(texts)
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        self.tokenize = tokenize

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor]:
        return self.texts[i], self.targets[i]

    def collate(self, rows: list[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        batch = self.tokenize([r[0] for r in rows])
        batch["targets"] = torch.stack([r[1] for r in rows])
        return batch


class TextModule(L.LightningModule):
    """Head (and, in fine-tune mode, encoder) trained with the weighted focal objective.

    All arguments are plain values, saved as hyper-parameters, so a checkpoint
    rebuilds the module with ``TextModule(**hparams)``.

    Args:
        labels: label names in column order.
        implications: ``(child, parent)`` column pairs.
        model: the ``model`` config section (``mode``, ``head_hidden``, ...).
        loss: the ``loss`` config section.
        training: the ``training`` config section.
        in_dim: embedding size (frozen mode).
        pos_weight: per-label ``pos_weight`` or ``None``.
        prior: per-label training prevalence (bias initialisation).
        rare: column indices of the rare labels (for ``val_rare_recall``).

    Examples:
        >>> from imbalance_text.config import TextConfig
        >>> cfg = TextConfig()
        >>> m = TextModule(["a", "b"], [(1, 0)], model=vars(cfg.model), loss=vars(cfg.loss),
        ...                training=vars(cfg.training), in_dim=8, pos_weight=[1.0, 5.0])
        >>> m({"embeddings": torch.randn(4, 8)}).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        labels: Sequence[str],
        implications: Sequence[tuple[int, int]],
        *,
        model: dict[str, Any],
        loss: dict[str, Any],
        training: dict[str, Any],
        in_dim: int | None = None,
        pos_weight: Sequence[float] | None = None,
        prior: Sequence[float] | None = None,
        rare: Sequence[int] = (),
    ) -> None:
        super().__init__()
        from imbalance_text.objective import TextObjective

        self.save_hyperparameters()
        self.labels = list(labels)
        self.encoder: nn.Module | None = None
        if model["mode"] == "finetune":
            from imbalance_text.model import TextEncoder

            self.encoder = TextEncoder(
                model["path"],
                pooling=model["pooling"],
                normalize=model["normalize"],
                max_length=model["max_length"],
            )
            self.encoder.train()  # from_pretrained returns eval mode: dropout on for fine-tuning
            in_dim = self.encoder.dim
        if in_dim is None:
            raise ValueError("in_dim must be given in frozen mode, got None")
        self.head = MultiLabelHead(
            in_dim,
            len(self.labels),
            model["head_hidden"],
            model["dropout"],
            prior if model.get("prior_init", True) else None,
        )
        self.objective = TextObjective(
            [tuple(p) for p in implications],
            pos_weight=None if pos_weight is None else torch.tensor(list(pos_weight)),
            gamma=loss["focal_gamma"],
            alpha=loss["alpha"],
            constraint_lambda=loss["constraint_lambda"],
        )
        self.rare = list(rare)
        self.secondary = sorted({int(c) for c, _ in implications})
        self._val: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of a batch of embeddings or token ids."""
        if "embeddings" in batch:
            emb = batch["embeddings"]
        else:
            if self.encoder is None:
                raise ValueError("batch must hold 'embeddings' in frozen mode, got token ids")
            emb = self.encoder(batch["input_ids"], batch["attention_mask"])
        return self.head(emb.float())

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.objective(self(batch), batch["targets"])
        size = batch["targets"].shape[0]
        for key in ("loss", "penalty"):
            self.log(f"train_{key}", out[key], on_step=False, on_epoch=True, batch_size=size,
                     sync_dist=True)  # fmt: skip
        return out["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch)
        out = self.objective(logits, batch["targets"])
        size = batch["targets"].shape[0]
        self.log("val_loss", out["loss"], on_epoch=True, batch_size=size, sync_dist=True)
        self._val.append((torch.sigmoid(logits.float()).detach(), batch["targets"].detach()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        probs = torch.cat([p for p, _ in self._val])
        targets = torch.cat([t for _, t in self._val])
        self._val = []
        if self.trainer.world_size > 1:
            probs = self.all_gather(probs).reshape(-1, probs.shape[-1])
            targets = self.all_gather(targets).reshape(-1, targets.shape[-1])
        p, y = probs.cpu().numpy(), targets.cpu().numpy() > 0.5
        present = y.any(axis=0)
        ap = [average_precision_score(y[:, j], p[:, j]) for j in np.flatnonzero(present)]
        pred = p >= 0.5
        secondary = self.secondary
        sec_f1 = (
            f1_score(y[:, secondary], pred[:, secondary], average="macro", zero_division=0)
            if secondary
            else math.nan
        )
        rare = [j for j in self.rare if present[j]]
        rare_recall = (
            float(np.mean([recall_score(y[:, j], pred[:, j], zero_division=0) for j in rare]))
            if rare
            else math.nan
        )
        values = {
            "val_pr_auc_macro": float(np.mean(ap)) if ap else 0.0,
            "val_secondary_f1": float(sec_f1),
            "val_rare_recall": rare_recall,
        }
        for key, value in values.items():  # computed on the gathered set: equal on every rank
            self.log(key, value, sync_dist=False, rank_zero_only=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        t = self.hparams["training"]
        groups = [{"params": self.head.parameters(), "lr": t["lr"]}]
        if self.encoder is not None:
            groups.append({"params": self.encoder.parameters(), "lr": t["encoder_lr"]})
        return torch.optim.AdamW(groups, weight_decay=t["weight_decay"])


@torch.inference_mode()
def predict_probs(
    module: TextModule, loader: Any, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Sigmoid probabilities ``(N, L)`` of every batch of ``loader`` (no Trainer needed).

    Examples:
        >>> from imbalance_text.config import TextConfig
        >>> cfg = TextConfig()
        >>> m = TextModule(["a"], [], model=vars(cfg.model), loss=vars(cfg.loss),
        ...                training=vars(cfg.training), in_dim=4)
        >>> data = EmbeddingDataset(torch.randn(5, 4), np.zeros((5, 1)))
        >>> loader = torch.utils.data.DataLoader(data, batch_size=2)
        >>> predict_probs(m, loader).shape
        (5, 1)
    """
    module = module.to(device).eval()
    chunks = []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items() if k != "targets"}
        chunks.append(torch.sigmoid(module(batch).float()).cpu())
    return torch.cat(chunks).numpy()


def loader(dataset: Any, batch_size: int, shuffle: bool = False, workers: int = 0) -> DataLoader:
    """A ``DataLoader`` over a dataset of this module (its ``collate`` when it has one)."""
    collate = getattr(dataset, "collate", None)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers, collate_fn=collate
    )
