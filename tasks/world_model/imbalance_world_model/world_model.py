r"""The latent world model: a GRU over ``(z_t, a_t)`` with a residual head, and its rollouts.

```math
h_0 = \tanh(W_0 z_0),\quad h_{t+1} = \mathrm{GRU}([z_t, a_t], h_t),\quad
\hat z_{t+1} = z_t + \mathrm{clip}_c\big(f(h_{t+1})\big) + \sigma \odot \varepsilon_t ,
```

where $\mathrm{clip}_c$ clamps every residual component to $[-c, c]$ (``residual_clip``,
off by default) and the noise term is used only in sampled rollouts. $\sigma$ (the
``log_std`` buffer) is set from the one-step residuals of teacher-forced predictions
on real data (:func:`imbalance_world_model.wm_train.calibrate_noise`). A reward head
$r(z_t, a_t)$ (an MLP, trained on real transitions) labels synthetic steps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from imbalance_kit.app import check_positive, check_positive_int
from imbalance_world_model.episodes import Episodes

__all__ = ["LatentWorldModel", "generate_episodes"]


class LatentWorldModel(nn.Module):
    """GRU latent dynamics with a (clipped) residual head, a noise scale and a reward head.

    Args:
        latent_dim: ``D``.
        action_dim: ``A``.
        hidden_dim: GRU width.
        residual_clip: bound ``c`` of every residual component (``None``: no clipping).

    Examples:
        >>> wm = LatentWorldModel(4, 2, hidden_dim=8, residual_clip=0.1)
        >>> traj = wm.rollout(torch.zeros(3, 4), torch.zeros(3, 5, 2))
        >>> traj.shape, bool((traj[:, 1:] - traj[:, :-1]).abs().max() <= 0.1 + 1e-6)
        (torch.Size([3, 6, 4]), True)
    """

    def __init__(
        self,
        latent_dim: int,
        action_dim: int,
        hidden_dim: int = 64,
        residual_clip: float | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("action_dim", action_dim)
        check_positive_int("hidden_dim", hidden_dim)
        if residual_clip is not None:
            check_positive("residual_clip", residual_clip)
        self.latent_dim, self.action_dim, self.hidden_dim = latent_dim, action_dim, hidden_dim
        self.residual_clip = residual_clip
        self.init = nn.Linear(latent_dim, hidden_dim)
        self.cell = nn.GRUCell(latent_dim + action_dim, hidden_dim)
        self.head = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, latent_dim)
        )
        self.reward_head = nn.Sequential(
            nn.Linear(latent_dim + action_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1)
        )
        self.register_buffer("log_std", torch.full((latent_dim,), -4.0))

    def initial_state(self, z0: torch.Tensor) -> torch.Tensor:
        """``h_0`` from the first latent state."""
        return torch.tanh(self.init(z0))

    def step(
        self, z: torch.Tensor, a: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: the mean next state and the next hidden state."""
        h = self.cell(torch.cat([z, a], dim=-1), h)
        delta = self.head(h)
        if self.residual_clip is not None:
            delta = delta.clamp(-self.residual_clip, self.residual_clip)
        return z + delta, h

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Predicted reward of ``(z, a)`` (last dimension dropped)."""
        return self.reward_head(torch.cat([z, a], dim=-1)).squeeze(-1)

    def rollout(
        self,
        z0: torch.Tensor,
        actions: torch.Tensor,
        *,
        teacher: torch.Tensor | None = None,
        teacher_prob: float = 0.0,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Roll the model out from ``z0`` ``(B, D)`` under ``actions`` ``(B, H, A)``.

        Args:
            z0: first states.
            actions: actions of the ``H`` steps.
            teacher: true states ``(B, H + 1, D)``; with probability ``teacher_prob`` (drawn
                per episode and step) the model's input at step ``t`` is ``teacher[:, t]``
                instead of its own prediction (1: teacher forcing, 0: free running).
            teacher_prob: see ``teacher``.
            sample: add the noise $\\sigma \\odot \\varepsilon$ at every step ($\\sigma$
                detached: gradients flow through the mean dynamics only).
            generator: random generator of the teacher coin flips and the noise.

        Returns:
            The trajectory ``(B, H + 1, D)``, starting with ``z0``.
        """
        b, horizon = actions.shape[0], actions.shape[1]
        h = self.initial_state(z0)
        z = z0
        out = [z0]
        std = self.log_std.detach().exp()
        for t in range(horizon):
            if teacher is not None and teacher_prob > 0:
                if teacher_prob >= 1:
                    z = teacher[:, t]
                else:
                    coin = torch.rand(b, 1, generator=generator, device=z0.device)
                    z = torch.where(coin < teacher_prob, teacher[:, t], z)
            z, h = self.step(z, actions[:, t], h)
            if sample:
                eps = torch.randn(z.shape, generator=generator, device=z0.device)
                z = z + std * eps
            out.append(z)
        return torch.stack(out, dim=1)


@torch.no_grad()
def generate_episodes(
    model: LatentWorldModel,
    source: Episodes,
    n_episodes: int,
    horizon: int | None = None,
    *,
    sample: bool = True,
    seed: int = 0,
) -> Episodes:
    """Synthetic episodes: rollouts from real first states under real action sequences.

    Each synthetic episode copies the first state and the (open-loop) action sequence of a
    source episode drawn with replacement, rolls the model out for ``horizon`` steps
    (default: the source length) and labels the steps with the reward head. The index of
    the source episode is kept in ``meta["source_episode"]``.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=5, horizon=12, seed=0)
        >>> syn = generate_episodes(LatentWorldModel(4, 2, hidden_dim=8), real, 3)
        >>> syn.z.shape, syn.source.tolist()
        ((3, 12, 4), ['synthetic', 'synthetic', 'synthetic'])
    """
    check_positive_int("n_episodes", n_episodes)
    horizon = source.horizon if horizon is None else horizon
    check_positive_int("horizon", horizon, minimum=2)
    if horizon > source.horizon:
        raise ValueError(
            f"horizon must be <= the source episode length ({source.horizon}), got {horizon}"
        )
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, source.n_episodes, n_episodes)
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    z0 = torch.as_tensor(source.z[idx, 0])
    actions = torch.as_tensor(source.actions[idx, :horizon])
    traj = model.rollout(z0, actions[:, : horizon - 1], sample=sample, generator=gen)
    rewards = model.reward(traj, actions)
    return Episodes(
        traj.numpy(),
        actions.numpy(),
        rewards.numpy(),
        np.array(["synthetic"] * n_episodes),
        {"source_episode": idx.astype(np.int64)},
    )
