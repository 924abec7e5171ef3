"""The LightningModules: world model, trust net and offline policy.

* :class:`WorldModelModule` trains :class:`~imbalance_world_model.model.LatentWorldModel` with
  the loss of :mod:`imbalance_world_model.objective` (reconstruction, reward, and the optional
  variance, feature-matching and trust-aware terms).
* :class:`TrustModule` trains a trust net (real = 1 vs synthetic = 0) with
  ``BCEWithLogitsLoss``.
* :class:`PolicyModule` trains weighted behaviour cloning or TD3+BC on replay batches.

:mod:`imbalance_world_model.train` builds the data loaders and runs them under Lightning.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from imbalance_world_model.config import PolicyConfig, WMTrainConfig
from imbalance_world_model.model import LatentWorldModel, calibrate_noise, mlp
from imbalance_world_model.objective import (
    bc_loss,
    episode_mse,
    feature_matching_loss,
    td3_target,
    td3bc_actor_loss,
    teacher_probability,
    variance_penalty,
    weighted_mean,
)

__all__ = ["PolicyModule", "TrustModule", "WorldModelModule"]


class WorldModelModule(L.LightningModule):
    """Lightning wrapper of :class:`LatentWorldModel` with the loss above.

    Batches are ``(z, actions, rewards, lengths, index)`` (``lengths`` and ``index`` may be
    left out: full-length episodes, numbered by their place in the batch). Every random
    number a sample needs in an epoch (its window start, the teacher coin flips, the noise of
    sampled rollouts) is drawn from a generator seeded by ``(seed, epoch)`` and picked by the
    sample's ``index``: the draws do not depend on which batch or which DDP process the
    sample lands in, nor on a resume.

    Args:
        model: the world model.
        config: training settings.
        trust_net: frozen trust net for the trust-aware term (needed when its weight > 0).
        calibration: ``(z, actions, lengths)`` real training episodes for
            :func:`calibrate_noise`.
        seed: seed of the per-sample draws.
        n_samples: size of the training set (``index`` values are below it).
        max_length: ``T`` of the training set.

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
        calibration: tuple[torch.Tensor, ...] | None = None,
        seed: int = 0,
        n_samples: int | None = None,
        max_length: int | None = None,
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
        self.seed = seed
        self.n_samples, self.max_length = n_samples, max_length
        self._draws: tuple[int, dict[str, torch.Tensor]] | None = None

    def on_train_epoch_start(self) -> None:
        if self.calibration is not None:
            calibrate_noise(self.model, *(c.to(self.device) for c in self.calibration))

    def _epoch(self) -> int:
        return self.current_epoch if self._trainer is not None else 0

    def _epoch_draws(self, n: int, t: int, d: int) -> dict[str, torch.Tensor]:
        """The epoch's per-sample random numbers (drawn once per epoch, on the CPU)."""
        epoch = self._epoch()
        if self._draws is None or self._draws[0] != epoch:
            n = self.n_samples or n
            steps = (self.max_length or t) - 1
            g = torch.Generator().manual_seed((self.seed + 1) * 1_000_003 + epoch)
            draws = {
                "start": torch.rand(n, generator=g),
                "coins": torch.rand(n, steps, generator=g),
            }
            cfg = self.config
            if cfg.var_reg_weight > 0 or cfg.feature_match_weight > 0 or cfg.trust_aware_weight > 0:
                draws["noise"] = torch.randn(n, steps, d, generator=g)
            self._draws = (epoch, draws)
        return self._draws[1]

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        z, a, r = batch[:3]
        cfg = self.config
        b, t, device = z.shape[0], z.shape[1], z.device
        lengths = batch[3] if len(batch) > 3 else torch.full((b,), t, device=device)
        index = batch[4] if len(batch) > 4 else torch.arange(b, device=device)
        draws = self._epoch_draws(b, t, z.shape[2])
        idx = index.cpu()
        # windows of h + 1 states inside each episode: h_i = min(h, L_i - 1) valid steps
        h = t - 1 if cfg.horizon is None else min(cfg.horizon, t - 1)
        h_i = torch.clamp(lengths - 1, max=h)
        span = (lengths - h_i).to(torch.float64)  # window starts 0 .. L_i - 1 - h_i
        start = (draws["start"][idx].to(device) * span).floor().long()
        start = torch.minimum(start, (lengths - 1 - h_i).long())
        offsets = torch.arange(h + 1, device=device)
        steps = (start[:, None] + offsets).clamp(max=t - 1)
        window = offsets[None, :] <= h_i[:, None]  # (b, h + 1) valid states of the window
        rows = torch.arange(b, device=device)[:, None]
        zw, aw = z[rows, steps], a[rows, steps[:, :-1]]
        p = teacher_probability(cfg, self._epoch())
        coins = draws["coins"][idx, :h].to(device)
        traj = self.model.rollout(zw[:, 0], aw, teacher=zw, teacher_prob=p, coins=coins)
        transitions = torch.arange(t, device=device)[None, :] < (lengths - 1)[:, None]
        norm = self.model.normalise  # losses in units of the training states' std
        terms = {
            "recon": episode_mse(norm(traj[:, 1:]), norm(zw[:, 1:]), window[:, 1:]),
            "reward": episode_mse(self.model.reward(z, a), r, transitions),
        }
        loss = terms["recon"] + terms["reward"]
        if cfg.var_reg_weight > 0 or cfg.feature_match_weight > 0 or cfg.trust_aware_weight > 0:
            noise = draws["noise"][idx, :h].to(device)
            free = self.model.rollout(zw[:, 0], aw, sample=True, noise=noise)
            n_states = h_i + 1
            if cfg.var_reg_weight > 0:
                terms["var_reg"] = variance_penalty(
                    norm(free), norm(zw), cfg.var_reg_ratio, mask=window
                )
                loss = loss + cfg.var_reg_weight * terms["var_reg"]
            if cfg.feature_match_weight > 0:
                terms["feature_match"] = feature_matching_loss(norm(free), norm(zw), n_states)
                loss = loss + cfg.feature_match_weight * terms["feature_match"]
            if cfg.trust_aware_weight > 0:
                logits = self.trust_net(free, n_states)
                terms["trust"] = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                loss = loss + cfg.trust_aware_weight * terms["trust"]
        if self._trainer is not None:
            log = {"on_epoch": True, "on_step": False, "batch_size": b, "sync_dist": True}
            self.log("loss", loss, prog_bar=True, **log)
            for name, value in terms.items():
                self.log(name, value, **log)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.config.lr)

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)


class TrustModule(L.LightningModule):
    """Lightning wrapper: BCE with logits (label 1 = real) and Adam.

    Batches are ``(z, label)`` or ``(z, label, lengths)`` for episodes of several lengths.

    Examples:
        >>> from imbalance_world_model.trust import TrustMLP
        >>> module = TrustModule(TrustMLP(2, 4), pos_weight=0.5, lr=1e-3)
        >>> module.training_step((torch.randn(3, 6, 2), torch.tensor([1.0, 0.0, 1.0])), 0).ndim
        0
    """

    def __init__(self, net: nn.Module, pos_weight: float = 1.0, lr: float = 3e-3) -> None:
        super().__init__()
        self.net = net
        self.lr = lr
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(pos_weight)))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        z, y = batch[:2]
        lengths = batch[2] if len(batch) > 2 else None
        loss = self.loss_fn(self.net(z, lengths), y)
        if self._trainer is not None:
            self.log(
                "trust_loss", loss, on_epoch=True, on_step=False, prog_bar=True, sync_dist=True
            )
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


class PolicyModule(L.LightningModule):
    """Weighted BC or TD3+BC on batches ``(z, a, r, z', done, w)``.

    Examples:
        >>> module = PolicyModule(4, 2, PolicyConfig(hidden_dim=8))
        >>> batch = (torch.randn(5, 4), torch.randn(5, 2), torch.randn(5), torch.randn(5, 4),
        ...          torch.zeros(5), torch.ones(5))
        >>> module.training_step(batch, 0).ndim
        0
    """

    def __init__(
        self,
        latent_dim: int,
        action_dim: int,
        config: PolicyConfig,
        mean_weight: float | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.mean_weight = mean_weight
        self.actor = mlp(latent_dim, action_dim, config.hidden_dim)
        if config.algo == "td3bc":
            self.automatic_optimization = False
            self.q1 = mlp(latent_dim + action_dim, 1, config.hidden_dim)
            self.q2 = mlp(latent_dim + action_dim, 1, config.hidden_dim)
            self.actor_t = copy.deepcopy(self.actor).requires_grad_(False)
            self.q1_t = copy.deepcopy(self.q1).requires_grad_(False)
            self.q2_t = copy.deepcopy(self.q2).requires_grad_(False)
        self._steps = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.actor(z)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["policy_steps"] = self._steps  # TD3+BC's delayed actor updates count on it

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._steps = int(checkpoint.get("policy_steps", 0))

    def _log(self, name: str, value: torch.Tensor) -> None:
        if self._trainer is not None:
            self.log(name, value, on_epoch=True, on_step=False, prog_bar=True, sync_dist=True)

    def training_step(self, batch: tuple[torch.Tensor, ...], _: int) -> torch.Tensor:
        z, a, r, z_next, done, w = batch
        weights = w if self.config.weighting == "loss" else None
        if self.config.algo == "bc":
            loss = bc_loss(self.actor(z), a, weights, self.mean_weight)
            self._log("bc_loss", loss)
            return loss
        return self._td3bc_step(z, a, r, z_next, done, weights)

    def _td3bc_step(self, z, a, r, z_next, done, weights) -> torch.Tensor:
        cfg = self.config
        opt_actor, opt_critic = self.optimizers() if self._trainer is not None else self._opts()
        with torch.no_grad():
            noise = (torch.randn_like(a) * cfg.policy_noise).clamp(-cfg.noise_clip, cfg.noise_clip)
            a_next = self.actor_t(z_next) + noise
            za = torch.cat([z_next, a_next], -1)
            y = td3_target(r, done, self.q1_t(za).squeeze(-1), self.q2_t(za).squeeze(-1), cfg.gamma)
        zq = torch.cat([z, a], -1)
        mw = self.mean_weight
        critic = weighted_mean((self.q1(zq).squeeze(-1) - y).pow(2), weights, mw)
        critic = critic + weighted_mean((self.q2(zq).squeeze(-1) - y).pow(2), weights, mw)
        opt_critic.zero_grad()
        critic.backward()
        opt_critic.step()
        self._log("critic_loss", critic.detach())
        self._steps += 1
        if self._steps % cfg.policy_delay == 0:
            pred = self.actor(z)
            q = self.q1(torch.cat([z, pred], -1)).squeeze(-1)
            actor = td3bc_actor_loss(q, pred, a, cfg.td3_alpha, weights, self.mean_weight)
            opt_actor.zero_grad()
            actor.backward()
            opt_actor.step()
            self._log("actor_loss", actor.detach())
            with torch.no_grad():
                for net, tgt in (
                    (self.actor, self.actor_t),
                    (self.q1, self.q1_t),
                    (self.q2, self.q2_t),
                ):
                    for p, pt in zip(net.parameters(), tgt.parameters()):
                        pt.lerp_(p, cfg.tau)
        return critic.detach()

    def _opts(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        if not hasattr(self, "_standalone_opts"):
            self._standalone_opts = self.configure_optimizers()
        return self._standalone_opts

    def configure_optimizers(self) -> Any:
        actor = torch.optim.Adam(self.actor.parameters(), lr=self.config.lr)
        if self.config.algo == "bc":
            return actor
        critic = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=self.config.lr)
        return actor, critic
