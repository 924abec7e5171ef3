"""The multi-task objective: per-task losses from ``imbalance_kit`` combined by ``MultiTaskLoss``.

```math
\\mathcal{L} = w_b\\,\\mathrm{FL}(\\text{binary heads}, y)
  + w_r\\,\\mathrm{FL}(\\text{risk}, r)
  + w_t\\,\\mathrm{MSE}(\\sigma(\\text{ttf}), \\tau)
  + w_u\\,\\bigl(\\mathrm{NLL}_{\\mathcal N}(\\max_j r_j \\mid \\mu, \\sigma^2) + 3.5\\bigr)
  + w_c\\,\\mathrm{SupCon}(z, c)
```

with the sigmoid focal loss FL
(:func:`imbalance_kit.losses.sigmoid_focal_loss`, soft targets for the risk
labels), SupCon (:func:`imbalance_kit.losses.supervised_contrastive_loss`,
gathered over DDP ranks) on the episode outcome or the binary label, and the
weights of the config. The constant 3.5 (minus half the lowest log-variance the
head can output) keeps the NLL task non-negative (see :class:`GaussianNLLTask`).
With ``loss.weighting="uniform"`` the tasks are summed as written;
``"uncertainty"`` / ``"dwa"`` let :class:`~imbalance_kit.losses.MultiTaskLoss`
re-weight them. Each task is a small picklable ``nn.Module`` (``ddp_spawn``
pickles the model).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit.losses import MultiTaskLoss, sigmoid_focal_loss, supervised_contrastive_loss
from imbalance_risk.config import RiskConfig
from imbalance_risk.model import LOGVAR_RANGE

__all__ = [
    "ContrastiveTask",
    "EnsembleFocalTask",
    "GaussianNLLTask",
    "RiskFocalTask",
    "RiskMSETask",
    "TTFTask",
    "build_objective",
    "task_outputs",
    "task_targets",
]


class EnsembleFocalTask(nn.Module):
    """Sigmoid focal loss of every binary head against the same label, averaged.

    Examples:
        >>> task = EnsembleFocalTask(1.0, alpha=None, gamma=0.0)
        >>> logits, y = torch.zeros(4, 3), torch.tensor([0.0, 1.0, 0.0, 1.0])
        >>> round(float(task(logits, y)), 4)  # BCE at p = 0.5
        0.6931
    """

    def __init__(
        self,
        weight: float,
        alpha: float | None,
        gamma: float,
        pos_weight: float | None = None,
    ) -> None:
        super().__init__()
        self.weight, self.alpha, self.gamma = float(weight), alpha, float(gamma)
        if pos_weight is None:
            self.pos_weight: torch.Tensor | None = None
        else:
            self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        targets = target.to(logits.dtype)[:, None].expand_as(logits)
        loss = sigmoid_focal_loss(
            logits, targets, self.alpha, self.gamma, pos_weight=self.pos_weight
        )
        return self.weight * loss


class RiskFocalTask(nn.Module):
    """Sigmoid focal loss of the risk logits against the soft per-dimension risk labels.

    Examples:
        >>> task = RiskFocalTask(1.0, alpha=0.25, gamma=2.0)
        >>> float(task(torch.zeros(2, 3), torch.zeros(2, 3))) > 0
        True
    """

    def __init__(self, weight: float, alpha: float | None, gamma: float) -> None:
        super().__init__()
        self.weight, self.alpha, self.gamma = float(weight), alpha, float(gamma)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * sigmoid_focal_loss(
            logits, target.to(logits.dtype), self.alpha, self.gamma
        )


class TTFTask(nn.Module):
    """Mean squared error of ``sigmoid(logit)`` against the normalised time to failure.

    Examples:
        >>> float(TTFTask(2.0)(torch.zeros(2), torch.tensor([0.5, 1.0])))  # 2 * mean(0, 0.25)
        0.25
    """

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * F.mse_loss(torch.sigmoid(logit), target.to(logit.dtype))


class GaussianNLLTask(nn.Module):
    r"""Gaussian NLL of the step's risk level under ``N(sigmoid(mean), exp(logvar))``, made >= 0.

    The NLL $\tfrac12(\log\sigma^2 + (y - \mu)^2 / \sigma^2)$ is negative for small
    variances; the head bounds $\log\sigma^2 \ge$ ``LOGVAR_RANGE[0]``, so adding
    $-\tfrac12$ ``LOGVAR_RANGE[0]`` makes the task loss non-negative without changing its
    gradient. Task weightings that divide losses (``dwa``) or take their logarithm need that.

    Examples:
        >>> loss = GaussianNLLTask(1.0)((torch.zeros(2), torch.zeros(2)), torch.tensor([0.5, 0.5]))
        >>> float(loss)  # log(1) / 2 + 0, plus the shift 3.5
        3.5
    """

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)
        self.shift = -0.5 * LOGVAR_RANGE[0]

    def forward(
        self, output: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        mean_logit, logvar = output
        mean = torch.sigmoid(mean_logit)
        nll = F.gaussian_nll_loss(mean, target.to(mean.dtype), torch.exp(logvar))
        return self.weight * (nll + self.shift)


class ContrastiveTask(nn.Module):
    """Supervised contrastive loss of the projections (gathered over the ranks under DDP).

    Examples:
        >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
        >>> tight = ContrastiveTask(1.0, 0.1)(z, torch.tensor([0, 0, 1, 1]))
        >>> mixed = ContrastiveTask(1.0, 0.1)(z, torch.tensor([0, 1, 0, 1]))
        >>> bool(tight < mixed)
        True
    """

    def __init__(self, weight: float, temperature: float) -> None:
        super().__init__()
        self.weight, self.temperature = float(weight), float(temperature)

    def forward(self, projection: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = supervised_contrastive_loss(
            projection, labels.long(), self.temperature, gather_distributed=True
        )
        return self.weight * loss


class RiskMSETask(nn.Module):
    """The baseline: mean squared error of the raw risk outputs against the risk labels.

    Examples:
        >>> float(RiskMSETask()(torch.zeros(2, 2), torch.full((2, 2), 0.5)))
        0.25
    """

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output, target.to(output.dtype))


def build_objective(config: RiskConfig, pos_weight: float | None = None) -> MultiTaskLoss:
    """The :class:`~imbalance_kit.losses.MultiTaskLoss` over the config's active tasks.

    Args:
        config: the training config.
        pos_weight: the binary heads' ``pos_weight`` (resolved from ``"auto"`` by the caller).

    Examples:
        >>> objective = build_objective(RiskConfig())
        >>> objective.task_names
        ('binary', 'risk', 'ttf', 'uncertainty', 'contrastive')
        >>> build_objective(RiskConfig().as_baseline()).task_names
        ('risk_mse',)
    """
    loss = config.loss
    tasks: dict[str, nn.Module] = {}
    for name in config.active_tasks():
        if name == "binary":
            tasks[name] = EnsembleFocalTask(
                loss.binary.weight, loss.binary.alpha, loss.binary.gamma, pos_weight
            )
        elif name == "risk":
            tasks[name] = RiskFocalTask(loss.risk.weight, loss.risk.alpha, loss.risk.gamma)
        elif name == "ttf":
            tasks[name] = TTFTask(loss.ttf.weight)
        elif name == "uncertainty":
            tasks[name] = GaussianNLLTask(loss.uncertainty.weight)
        elif name == "contrastive":
            tasks[name] = ContrastiveTask(loss.contrastive.weight, loss.contrastive.temperature)
        else:
            tasks[name] = RiskMSETask()
    return MultiTaskLoss(tasks, weighting=loss.weighting)


def task_outputs(out: dict[str, torch.Tensor], tasks: tuple[str, ...]) -> dict[str, Any]:
    """Map the network's outputs onto the task names of the objective.

    Examples:
        >>> out = {"binary": torch.zeros(2, 3), "mean": torch.zeros(2), "logvar": torch.zeros(2)}
        >>> sorted(task_outputs(out, ("binary", "uncertainty")))
        ['binary', 'uncertainty']
    """
    mapped: dict[str, Any] = {}
    for name in tasks:
        if name == "uncertainty":
            mapped[name] = (out["mean"], out["logvar"])
        elif name == "contrastive":
            mapped[name] = out["projection"]
        else:
            mapped[name] = out[name]
    return mapped


def task_targets(
    batch: dict[str, torch.Tensor], tasks: tuple[str, ...], contrastive_label: str
) -> dict[str, torch.Tensor]:
    """Map a batch's labels onto the task names of the objective.

    Examples:
        >>> batch = {"binary": torch.tensor([0.0, 1.0]),
        ...          "risk": torch.tensor([[0.0, 0.0], [0.2, 0.6]]),
        ...          "ttf": torch.tensor([1.0, 0.1]), "episode_failed": torch.tensor([1.0, 1.0])}
        >>> task_targets(batch, ("uncertainty", "contrastive"), "binary")
        {'uncertainty': tensor([0.0000, 0.6000]), 'contrastive': tensor([0, 1])}
    """
    source = {
        "binary": batch["binary"],
        "risk": batch["risk"],
        "risk_mse": batch["risk"],
        "ttf": batch["ttf"],
        "uncertainty": batch["risk"].amax(dim=1),
        "contrastive": (
            batch["episode_failed"] if contrastive_label == "episode" else batch["binary"]
        ).long(),
    }
    return {name: source[name] for name in tasks}
