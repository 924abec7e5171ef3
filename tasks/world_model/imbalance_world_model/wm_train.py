r"""World-model training: teacher forcing, scheduled sampling or BPTT, plus distribution terms.

Every batch is a set of windows of ``H + 1`` real states (random starts; the whole episode
when ``horizon`` is ``None``). The model rolls out over the window, taking the true state as
its input with probability $p$ (1 for teacher forcing, 0 for BPTT, falling linearly from 1
to ``ss_min_teacher`` over the epochs for scheduled sampling). The loss is

```math
\mathcal L = \underbrace{\tfrac{1}{H}\textstyle\sum_t
  \lVert \hat z_t - z_t\rVert^2 / D}_{\text{recon}}
 + \mathcal L_r
 + \lambda_{\text{var}}\,\mathcal L_{\text{var}}
 + \lambda_{\text{feat}}\,\lVert \bar\phi(\tilde z) - \bar\phi(z)\rVert^2
 + \lambda_{\text{trust}}\,\mathrm{BCE}(\text{trust}(\tilde z), 1),
```

where $\mathcal L_r$ is the reward head's MSE on real transitions, $\tilde z$ a sampled
free-running rollout over the same window (noise from the current $\sigma$), $\phi$ the
trust features and

```math
\mathcal L_{\text{var}} = \frac{1}{H}\sum_{t=1}^{H}
\mathrm{ReLU}\Big(\frac{\hat v_t}{v_t + \epsilon} - \rho\Big),\qquad
\hat v_t = \frac1D\sum_d \mathrm{Var}_b\,\tilde z_{btd},\quad
v_t = \frac1D\sum_d \mathrm{Var}_b\, z_{btd},
```

which penalises per-step variance growth beyond the ratio $\rho$ (``var_reg_ratio``).
$\sigma$ is re-estimated from teacher-forced one-step residuals at the start of every
epoch and after training (:func:`calibrate_noise`).

Reference: Bengio et al., "Scheduled sampling for sequence prediction with recurrent neural
networks", NeurIPS 2015.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from imbalance_kit.app import check_ndim, check_positive, check_same_shape
from imbalance_world_model._fit import fit
from imbalance_world_model.config import WMTrainConfig, WorldModelConfig
from imbalance_world_model.episodes import Episodes
from imbalance_world_model.features import episode_features
from imbalance_world_model.world_model import LatentWorldModel

__all__ = [
    "WorldModelModule",
    "calibrate_noise",
    "feature_matching_loss",
    "teacher_probability",
    "train_world_model",
    "variance_penalty",
]


def variance_penalty(
    synthetic: torch.Tensor, real: torch.Tensor, ratio: float = 1.2, eps: float = 1e-8
) -> torch.Tensor:
    """The variance penalty above for ``(B, H + 1, D)`` rollouts (step 0 skipped).

    Examples:
        >>> real = torch.tensor([[[0.0], [1.0]], [[0.0], [-1.0]]])   # step-1 variance 1
        >>> variance_penalty(2 * real, real, ratio=1.5)              # 4 / 1 - 1.5
        tensor(2.5000)
    """
    check_ndim("synthetic", synthetic, 3)
    check_same_shape("synthetic", synthetic, "real", real)
    check_positive("ratio", ratio)
    v_syn = synthetic[:, 1:].var(0, unbiased=False).mean(-1)
    v_real = real[:, 1:].var(0, unbiased=False).mean(-1)
    return F.relu(v_syn / (v_real + eps) - ratio).mean()


def feature_matching_loss(synthetic: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Squared distance of the batch means of the trust features.

    Examples:
        >>> z = torch.randn(4, 6, 2)
        >>> feature_matching_loss(z, z).item()
        0.0
    """
    return (episode_features(synthetic).mean(0) - episode_features(real).mean(0)).pow(2).sum()


def teacher_probability(config: WMTrainConfig, epoch: int) -> float:
    """Teacher-input probability of ``epoch`` (0-based) under ``config.mode``.

    Examples:
        >>> cfg = WMTrainConfig(mode="scheduled_sampling", epochs=5)
        >>> [teacher_probability(cfg, e) for e in range(5)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if config.mode == "teacher_forcing":
        return 1.0
    if config.mode == "bptt":
        return 0.0
    frac = epoch / max(config.epochs - 1, 1)
    return float(1.0 - (1.0 - config.ss_min_teacher) * min(frac, 1.0))


@torch.no_grad()
def calibrate_noise(
    model: LatentWorldModel, z: torch.Tensor, actions: torch.Tensor
) -> torch.Tensor:
    """Set ``model.log_std`` to the log RMS of teacher-forced one-step residuals; return $\\sigma$.

    Examples:
        >>> wm = LatentWorldModel(2, 1, hidden_dim=4)
        >>> calibrate_noise(wm, torch.randn(3, 5, 2), torch.randn(3, 5, 1)).shape
        torch.Size([2])
    """
    was_training = model.training
    model.eval()
    pred = model.rollout(z[:, 0], actions[:, :-1], teacher=z, teacher_prob=1.0)
    resid = (z[:, 1:] - pred[:, 1:]).reshape(-1, z.shape[-1])
    std = resid.pow(2).mean(0).sqrt().clamp_min(1e-6)
    model.log_std.copy_(std.log())
    model.train(was_training)
    return std


class WorldModelModule(L.LightningModule):
    """Lightning wrapper of :class:`LatentWorldModel` with the loss above.

    Args:
        model: the world model.
        config: training settings.
        trust_net: frozen trust net for the trust-aware term (needed when its weight > 0).
        calibration: ``(z, actions)`` real training episodes for :func:`calibrate_noise`.

    Examples:
        >>> wm = LatentWorldModel(2, 1, hidden_dim=4)
        >>> module = WorldModelModule(wm, WMTrainConfig(var_reg_weight=1.0))
        >>> batch = (torch.randn(4, 6, 2), torch.randn(4, 6, 1), torch.randn(4, 6))
        >>> module.training_step(batch, 0).ndim
        0
    """

    def __init__(
        self,
        model: LatentWorldModel,
        config: WMTrainConfig,
        trust_net: nn.Module | None = None,
        calibration: tuple[torch.Tensor, torch.Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if config.trust_aware_weight > 0 and trust_net is None:
            raise ValueError("wm_train.trust_aware_weight > 0 needs a trust net (--trust-net)")
        self.model = model
        self.config = config
        self.trust_net = trust_net
        if trust_net is not None:
            trust_net.eval()
            trust_net.requires_grad_(False)
        self.calibration = calibration
        self.gen = torch.Generator().manual_seed(seed)

    def on_train_epoch_start(self) -> None:
        if self.calibration is not None:
            calibrate_noise(self.model, *self.calibration)

    def _epoch(self) -> int:
        return self.current_epoch if self._trainer is not None else 0

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        z, a, r = batch
        cfg = self.config
        b, t = z.shape[0], z.shape[1]
        h = t - 1 if cfg.horizon is None else min(cfg.horizon, t - 1)
        start = torch.randint(0, t - h, (b,), generator=self.gen)
        steps = start[:, None] + torch.arange(h + 1)
        rows = torch.arange(b)[:, None]
        zw, aw = z[rows, steps], a[rows, steps[:, :-1]]
        p = teacher_probability(cfg, self._epoch())
        traj = self.model.rollout(zw[:, 0], aw, teacher=zw, teacher_prob=p, generator=self.gen)
        terms = {
            "recon": F.mse_loss(traj[:, 1:], zw[:, 1:]),
            "reward": F.mse_loss(self.model.reward(z, a), r),
        }
        loss = terms["recon"] + terms["reward"]
        if cfg.var_reg_weight > 0 or cfg.feature_match_weight > 0 or cfg.trust_aware_weight > 0:
            free = self.model.rollout(zw[:, 0], aw, sample=True, generator=self.gen)
            if cfg.var_reg_weight > 0:
                terms["var_reg"] = variance_penalty(free, zw, cfg.var_reg_ratio)
                loss = loss + cfg.var_reg_weight * terms["var_reg"]
            if cfg.feature_match_weight > 0:
                terms["feature_match"] = feature_matching_loss(free, zw)
                loss = loss + cfg.feature_match_weight * terms["feature_match"]
            if cfg.trust_aware_weight > 0:
                logits = self.trust_net(free)
                terms["trust"] = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                loss = loss + cfg.trust_aware_weight * terms["trust"]
        if self._trainer is not None:
            self.log("loss", loss, on_epoch=True, on_step=False, prog_bar=True)
            for name, value in terms.items():
                self.log(name, value, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.config.lr)

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)


def train_world_model(
    episodes: Episodes,
    model_config: WorldModelConfig,
    config: WMTrainConfig,
    *,
    trust_net: nn.Module | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    log_dir: str | Path | None = None,
) -> tuple[LatentWorldModel, dict[str, Any]]:
    """Train a world model on real ``episodes``; return it (noise calibrated) and a summary.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=16, horizon=12, seed=0)
        >>> wm, summary = train_world_model(real, WorldModelConfig(hidden_dim=8),
        ...                                 WMTrainConfig(epochs=2, batch_size=8))
        >>> sorted(summary)
        ['final_recon_mse', 'initial_recon_mse', 'seconds', 'sigma']
    """
    if episodes.horizon < 2:
        raise ValueError(f"episodes must be >= 2 steps long, got {episodes.horizon}")
    torch.manual_seed(seed)
    model = LatentWorldModel(
        episodes.latent_dim,
        episodes.action_dim,
        model_config.hidden_dim,
        model_config.residual_clip,
    )
    z = torch.as_tensor(episodes.z)
    a = torch.as_tensor(episodes.actions)
    r = torch.as_tensor(episodes.rewards)
    module = WorldModelModule(model, config, trust_net, calibration=(z, a), seed=seed)
    before = _free_running_mse(model, z, a)
    loader = DataLoader(
        TensorDataset(z, a, r),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    seconds = fit(module, loader, config.epochs, progress_bar=progress_bar, log_dir=log_dir)
    sigma = calibrate_noise(model, z, a)
    model.eval()
    return model, {
        "initial_recon_mse": before,
        "final_recon_mse": _free_running_mse(model, z, a),
        "sigma": [round(float(s), 6) for s in sigma],
        "seconds": round(seconds, 2),
    }


@torch.no_grad()
def _free_running_mse(model: LatentWorldModel, z: torch.Tensor, a: torch.Tensor) -> float:
    traj = model.rollout(z[:, 0], a[:, :-1])
    return float(np.round(F.mse_loss(traj, z).item(), 6))
