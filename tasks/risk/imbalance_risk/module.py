"""The LightningModule: the network, the multi-task objective, validation AUC / AP.

Checkpoints hold only tensors and plain Python values (the config as a nested
dict), so they load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from imbalance_kit.app import error
from imbalance_risk.config import RiskConfig
from imbalance_risk.model import RiskNet
from imbalance_risk.objective import build_objective, task_outputs, task_targets

__all__ = ["RiskModule"]


class RiskModule(L.LightningModule):
    """Risk network + ``MultiTaskLoss`` objective, trained with AdamW.

    Args:
        config: the training config as a nested dict (:meth:`RiskConfig.to_dict`).
        input_dim: width of the hidden states.
        action_dim: number of action dimensions.
        pos_weight: ``pos_weight`` of the binary focal loss, or ``None``.

    Examples:
        >>> module = RiskModule(RiskConfig().to_dict(), input_dim=8, action_dim=2)
        >>> batch = {"features": torch.randn(16, 8), "binary": (torch.arange(16) % 4 == 0).float(),
        ...          "risk": torch.rand(16, 2) * 0.2, "ttf": torch.rand(16),
        ...          "episode_failed": (torch.arange(16) % 2).float()}
        >>> loss = module.training_step(batch, 0)
        >>> loss.ndim, sorted(module.objective.task_names)
        (0, ['binary', 'contrastive', 'risk', 'ttf', 'uncertainty'])
    """

    def __init__(
        self,
        config: dict[str, Any],
        input_dim: int,
        action_dim: int,
        pos_weight: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.risk_config = RiskConfig.from_dict(config)
        tasks = tuple(self.risk_config.active_tasks())
        heads = list(tasks)
        if self.risk_config.baseline is None and "binary" not in heads and "risk" not in heads:
            raise error(
                "loss.binary.weight or loss.risk.weight",
                "> 0 (one of the two tasks gives the failure score)",
                "0 for both",
                raw=True,
            )
        self.net = RiskNet(input_dim, action_dim, self.risk_config.model, heads)
        self.objective = build_objective(self.risk_config, pos_weight)
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []
        self._val_losses: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)

    def _loss(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        out = self.net(batch["features"])
        names = self.objective.task_names
        label = self.risk_config.loss.contrastive.label
        total, per_task = self.objective(
            task_outputs(out, names), task_targets(batch, names, label)
        )
        return total, per_task, out

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        total, per_task, _ = self._loss(batch)
        n = batch["features"].shape[0]
        if hasattr(self, "_epoch_sums"):
            self._epoch_sums += torch.stack([v.detach() for v in per_task.values()])
            self._epoch_steps += 1
        if self._trainer is not None:
            self.log(
                "train_loss", total, on_step=False, on_epoch=True, sync_dist=True, batch_size=n
            )
            for name, value in per_task.items():
                self.log(
                    f"train_{name}", value.detach(), on_epoch=True, sync_dist=True, batch_size=n
                )
        return total

    def on_train_epoch_start(self) -> None:
        self._epoch_sums = torch.zeros(len(self.objective.task_names), device=self.device)
        self._epoch_steps = torch.zeros((), device=self.device)

    def on_train_epoch_end(self) -> None:
        if self.objective.weighting != "dwa" or not hasattr(self, "_epoch_sums"):
            return
        # DWA reads epoch-mean task losses: average them over every rank's steps so
        # that all ranks keep the same task weights.
        sums = self.trainer.strategy.reduce(self._epoch_sums, reduce_op="sum")
        steps = self.trainer.strategy.reduce(self._epoch_steps, reduce_op="sum")
        if float(steps) > 0:
            means = (sums / steps).tolist()
            self.objective.step_epoch(dict(zip(self.objective.task_names, means)))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        total, _, out = self._loss(batch)
        self._val_scores.append(self.net.score(out).detach().float().cpu())
        self._val_labels.append(batch["binary"].detach().cpu())
        self._val_losses.append(total.detach().float().cpu() * batch["features"].shape[0])

    def on_validation_epoch_end(self) -> None:
        if not self._val_scores:
            return
        scores = torch.cat(self._val_scores).numpy().astype(np.float64)
        labels = torch.cat(self._val_labels).numpy() > 0.5
        loss = float(torch.stack(self._val_losses).sum()) / max(1, labels.shape[0])
        self._val_scores.clear()
        self._val_labels.clear()
        self._val_losses.clear()
        if labels.all() or not labels.any():
            auc = ap = float("nan")
        else:
            auc = float(roc_auc_score(labels, scores))
            ap = float(average_precision_score(labels, scores))
        # Every rank sees the whole validation split, so the values already agree; the
        # (cheap) sync only keeps Lightning's bookkeeping uniform under DDP.
        self.log("val_loss", loss, sync_dist=True)
        self.log("val_auc", auc, sync_dist=True, prog_bar=True)
        self.log("val_ap", ap, sync_dist=True, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        cfg = self.risk_config.train
        return torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
