r"""Offline policy learning on the latent space: weighted behaviour cloning and TD3+BC.

Weighted behaviour cloning minimises the (importance-)weighted squared action error

```math
\mathcal L_{\text{BC}} = \frac{\sum_i w_i \lVert \pi(z_i) - a_i\rVert^2 / A}{\sum_i w_i}.
```

TD3+BC (Fujimoto & Gu, "A minimalist approach to offline reinforcement learning",
NeurIPS 2021) trains twin critics toward
$y = r + \gamma (1 - d) \min_k Q'_k(z', \pi'(z') + \mathrm{clip}(\sigma\varepsilon, -c, c))$
and, every ``policy_delay`` steps, the actor on

```math
\mathcal L_\pi = -\lambda\, \overline{Q_1(z, \pi(z))} + \overline{\lVert \pi(z) - a\rVert^2 / A},
\qquad \lambda = \frac{\alpha}{\overline{|Q_1(z, \pi(z))|}}\ \text{(no gradient)},
```

with every mean weighted as in $\mathcal L_{\text{BC}}$ when ``weighting="loss"``. Policies are
evaluated by their action MSE on held-out real episodes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from imbalance_kit.sampling import WeightedSampler
from imbalance_world_model._fit import fit
from imbalance_world_model.config import PolicyConfig
from imbalance_world_model.episodes import Episodes
from imbalance_world_model.replay import ReplayBuffer, importance_weighted_loss

__all__ = [
    "PolicyModule",
    "action_mse",
    "bc_loss",
    "mlp",
    "td3bc_actor_loss",
    "td3_target",
    "train_policy",
]


def mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    """Two hidden ReLU layers.

    Examples:
        >>> mlp(3, 2, 8)(torch.zeros(4, 3)).shape
        torch.Size([4, 2])
    """
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )


def _weighted_mean(
    per_sample: torch.Tensor, weights: torch.Tensor | None, mean_weight: float | None
) -> torch.Tensor:
    if weights is None:
        return per_sample.mean()
    return importance_weighted_loss(per_sample, weights, mean_weight)


def bc_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    mean_weight: float | None = None,
) -> torch.Tensor:
    """$\\mathcal L_{\\text{BC}}$ (unweighted mean when ``weights`` is ``None``).

    With ``mean_weight`` (the data set's mean weight) the sum is divided by the batch size
    times ``mean_weight`` instead of the batch's weight sum (see
    :func:`~imbalance_world_model.replay.importance_weighted_loss`).

    Examples:
        >>> pred, target = torch.tensor([[1.0, 1.0], [0.0, 0.0]]), torch.zeros(2, 2)
        >>> w = torch.tensor([1.0, 3.0])
        >>> bc_loss(pred, target, w), bc_loss(pred, target, w, mean_weight=2.0)
        (tensor(0.2500), tensor(0.2500))
    """
    return _weighted_mean((pred - target).pow(2).mean(-1), weights, mean_weight)


def td3bc_actor_loss(
    q: torch.Tensor,
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    weights: torch.Tensor | None = None,
    mean_weight: float | None = None,
) -> torch.Tensor:
    """$\\mathcal L_\\pi$ from ``q`` $= Q_1(z, \\pi(z))$ ``(B,)`` and the actions ``(B, A)``.

    Examples:
        >>> q = torch.tensor([2.0, -4.0])
        >>> td3bc_actor_loss(q, torch.ones(2, 1), torch.zeros(2, 1), alpha=3.0)  # -1*(-1)+1
        tensor(2.)
    """
    lam = alpha / q.abs().mean().detach().clamp_min(1e-6)
    return -lam * _weighted_mean(q, weights, mean_weight) + bc_loss(
        pred, target, weights, mean_weight
    )


def td3_target(
    reward: torch.Tensor,
    done: torch.Tensor,
    q1_next: torch.Tensor,
    q2_next: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """$y = r + \\gamma (1 - d) \\min(Q'_1, Q'_2)$.

    Examples:
        >>> td3_target(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]),
        ...            torch.tensor([2.0, 2.0]), torch.tensor([3.0, 0.5]), 0.5)
        tensor([2., 1.])
    """
    return reward + gamma * (1 - done) * torch.minimum(q1_next, q2_next)


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

    def _log(self, name: str, value: torch.Tensor) -> None:
        if self._trainer is not None:
            self.log(name, value, on_epoch=True, on_step=False, prog_bar=True)

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
        critic = _weighted_mean((self.q1(zq).squeeze(-1) - y).pow(2), weights, mw)
        critic = critic + _weighted_mean((self.q2(zq).squeeze(-1) - y).pow(2), weights, mw)
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


@torch.no_grad()
def action_mse(actor: nn.Module, episodes: Episodes) -> float:
    """Mean squared action error of ``actor`` on every step of ``episodes``.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> ep = simulate_episodes(n_episodes=2, horizon=4, seed=0)
        >>> zero = lambda z: torch.zeros(z.shape[0], 2)
        >>> abs(action_mse(zero, ep) - float((ep.actions ** 2).mean())) < 1e-6
        True
    """
    z = torch.as_tensor(episodes.z).reshape(-1, episodes.latent_dim)
    a = torch.as_tensor(episodes.actions).reshape(-1, episodes.action_dim)
    if isinstance(actor, nn.Module):
        actor.eval()
    return float((actor(z) - a).pow(2).mean())


def train_policy(
    buffer: ReplayBuffer,
    config: PolicyConfig,
    *,
    seed: int = 0,
    samples_per_epoch: int | None = None,
    progress_bar: bool = False,
    log_dir: str | Path | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> tuple[PolicyModule, dict[str, Any]]:
    """Train a policy on ``buffer`` (weights as sampling probabilities or loss weights).

    Every epoch draws ``samples_per_epoch`` transitions (default: the number of real
    transitions), so mixes with and without synthetic data get the same number of updates.
    Both weightings draw with :class:`imbalance_kit.sampling.WeightedSampler` (uniform weights
    for ``"loss"``), which shards the draw by rank when ``torch.distributed`` is initialised:
    under Lightning DDP (``trainer_kwargs={"devices": 2, "strategy": ...}`` in a process group
    that exists before the call, e.g. under ``torchrun`` with ``init_process_group``) each
    process trains on its shard with ``batch_size`` per process.

    Returns:
        The module (``module.actor`` is the policy) and ``{"synthetic_share", "seconds", ...}``.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> buf = ReplayBuffer.from_episodes(simulate_episodes(n_episodes=4, horizon=6, seed=0))
        >>> module, summary = train_policy(buf, PolicyConfig(hidden_dim=8, epochs=1))
        >>> summary["synthetic_share"], summary["n_transitions"]
        (0.0, 20)
    """
    if float(buffer.weights.sum()) <= 0:
        raise ValueError("the replay buffer's weights are all zero: nothing to train on")
    torch.manual_seed(seed)
    # with weighting "loss", each batch's loss is sum(w l) / (B * mean weight of the buffer):
    # a plain mean, so DDP shards average to the full batch's loss
    mean_weight = float(buffer.weights.double().mean())
    module = PolicyModule(buffer.states.shape[1], buffer.actions.shape[1], config, mean_weight)
    data = TensorDataset(*buffer.tensors())
    n_real = int((~buffer.synthetic).sum())
    per_epoch = samples_per_epoch or n_real or len(buffer)
    if config.weighting == "sample":
        sampler = buffer.sampler(per_epoch, seed=seed)
    else:  # uniform draws; the weights go into the loss
        sampler = WeightedSampler(torch.ones(len(buffer)), per_epoch, seed=seed)
    loader = DataLoader(data, batch_size=config.batch_size, sampler=sampler)
    seconds = fit(
        module,
        loader,
        config.epochs,
        progress_bar=progress_bar,
        log_dir=log_dir,
        trainer_kwargs={"use_distributed_sampler": False, **(trainer_kwargs or {})},
    )
    module.eval()
    return module, {
        "algo": config.algo,
        "weighting": config.weighting,
        "n_transitions": len(buffer),
        "n_synthetic_transitions": int(buffer.synthetic.sum()),
        "synthetic_share": round(buffer.synthetic_share(), 6),
        "seconds": round(seconds, 2),
        "seed": seed,
        "samples_per_epoch": per_epoch,
        "mean_weight": float(np.round(float(buffer.weights.mean()), 6)),
    }
