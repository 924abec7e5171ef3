r"""The latent world model: a GRU over ``(z_t, a_t)`` with a residual head, and its rollouts.

```math
x_t = (z_t - \mu) / s,\quad
h_0 = \tanh(W_0 x_0),\quad h_{t+1} = \mathrm{GRU}([x_t, a_t], h_t),\quad
\hat z_{t+1} = z_t + s \odot \mathrm{clip}_c\big(f(h_{t+1})\big) + \sigma \odot \varepsilon_t ,
```

where $\mu, s$ are the per-dimension mean and standard deviation of the training states
(:meth:`LatentWorldModel.fit_scale`; observations such as angles and angular velocities
differ in scale by an order of magnitude), $\mathrm{clip}_c$ clamps every residual
component to $[-c, c]$ standard deviations (``residual_clip``, off by default) and the noise
term is used only in sampled rollouts. $\sigma$ (the
``log_std`` buffer) is set from the one-step residuals of teacher-forced predictions
on real data (:func:`calibrate_noise`). A reward head $r(z_t, a_t)$ (an MLP, trained on
real transitions) labels synthetic steps.

The policy network (:func:`mlp`) and the ``model.pt`` files of every network of the package
(world model, trust net, policy) live here too: each file is
``{"kind": ..., "settings": {...}, "state_dict": {...}}``, written atomically
(:func:`imbalance_kit.app.save_torch`) and read with ``weights_only=True``
(:func:`imbalance_kit.app.load_torch`), so no file is unpickled as code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from imbalance_kit.app import check_positive, check_positive_int, load_torch, save_torch
from imbalance_world_model.data import Episodes
from imbalance_world_model.features import length_mask
from imbalance_world_model.trust import build_trust_net

__all__ = [
    "LatentWorldModel",
    "action_mse",
    "calibrate_noise",
    "load_checkpoint",
    "load_policy",
    "load_trust_net",
    "load_world_model",
    "mlp",
    "save_checkpoint",
]


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
        self.register_buffer("z_mean", torch.zeros(latent_dim))
        self.register_buffer("z_scale", torch.ones(latent_dim))

    @torch.no_grad()
    def fit_scale(self, z: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        """Set $\\mu, s$ from the valid states of training episodes ``z`` ``(N, T, D)``."""
        values = z[length_mask(lengths, z.shape[0], z.shape[1], z.device)]
        self.z_mean.copy_(values.mean(0))
        self.z_scale.copy_(values.std(0).clamp_min(1e-6))

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        """$(z - \\mu) / s$: states in units of the training states' standard deviation."""
        return (z - self.z_mean) / self.z_scale

    def initial_state(self, z0: torch.Tensor) -> torch.Tensor:
        """``h_0`` from the first latent state."""
        return torch.tanh(self.init(self.normalise(z0)))

    def step(
        self, z: torch.Tensor, a: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: the mean next state and the next hidden state."""
        h = self.cell(torch.cat([self.normalise(z), a], dim=-1), h)
        delta = self.head(h)
        if self.residual_clip is not None:
            delta = delta.clamp(-self.residual_clip, self.residual_clip)
        return z + self.z_scale * delta, h

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Predicted reward of ``(z, a)`` (last dimension dropped)."""
        return self.reward_head(torch.cat([self.normalise(z), a], dim=-1)).squeeze(-1)

    def rollout(
        self,
        z0: torch.Tensor,
        actions: torch.Tensor,
        *,
        teacher: torch.Tensor | None = None,
        teacher_prob: float = 0.0,
        sample: bool = False,
        generator: torch.Generator | None = None,
        coins: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        h0: torch.Tensor | None = None,
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
            coins: ``(B, H)`` uniform numbers for the teacher coin flips, instead of drawing
                them from ``generator``.
            noise: ``(B, H, D)`` standard normal numbers for ``sample``, instead of drawing
                them from ``generator``.
            h0: the GRU state to start from (default: from ``z0``; see :meth:`hidden_states`).

        Returns:
            The trajectory ``(B, H + 1, D)``, starting with ``z0``.
        """
        b, horizon = actions.shape[0], actions.shape[1]
        h = self.initial_state(z0) if h0 is None else h0
        z = z0
        out = [z0]
        std = self.log_std.detach().exp()
        for t in range(horizon):
            if teacher is not None and teacher_prob > 0:
                if teacher_prob >= 1:
                    z = teacher[:, t]
                else:
                    if coins is not None:
                        coin = coins[:, t : t + 1]
                    else:
                        coin = torch.rand(b, 1, generator=generator, device=z0.device)
                    z = torch.where(coin < teacher_prob, teacher[:, t], z)
            z, h = self.step(z, actions[:, t], h)
            if sample:
                if noise is not None:
                    eps = noise[:, t]
                else:
                    eps = torch.randn(z.shape, generator=generator, device=z0.device)
                z = z + std * eps
            out.append(z)
        return torch.stack(out, dim=1)

    def hidden_states(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """GRU states ``(B, T, hidden)`` of a teacher-forced pass over true states ``z``.

        ``[:, t]`` is the state the model predicts ``z[:, t + 1]`` from: a rollout that starts
        at a real state ``z[:, t]`` with ``h0=hidden_states(...)[:, t]`` continues as if
        the model had read the episode up to ``t`` (the warm start of augmentation segments).

        Examples:
            >>> wm = LatentWorldModel(2, 1, hidden_dim=4)
            >>> z, a = torch.randn(3, 6, 2), torch.randn(3, 6, 1)
            >>> h = wm.hidden_states(z, a)
            >>> tf = wm.rollout(z[:, 0], a[:, :5], teacher=z, teacher_prob=1.0)
            >>> late = wm.rollout(z[:, 2], a[:, 2:3], h0=h[:, 2])
            >>> torch.allclose(late[:, 1], tf[:, 3])
            True
        """
        h = self.initial_state(z[:, 0])
        states = [h]
        for t in range(z.shape[1] - 1):
            _, h = self.step(z[:, t], actions[:, t], h)
            states.append(h)
        return torch.stack(states, dim=1)


@torch.no_grad()
def calibrate_noise(
    model: LatentWorldModel,
    z: torch.Tensor,
    actions: torch.Tensor,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Set ``model.log_std`` to the log RMS of teacher-forced one-step residuals; return $\\sigma$.

    Only the transitions within each episode (``t + 1 < lengths``) count.

    Examples:
        >>> wm = LatentWorldModel(2, 1, hidden_dim=4)
        >>> calibrate_noise(wm, torch.randn(3, 5, 2), torch.randn(3, 5, 1)).shape
        torch.Size([2])
    """
    was_training = model.training
    model.eval()
    pred = model.rollout(z[:, 0], actions[:, :-1], teacher=z, teacher_prob=1.0)
    resid = z[:, 1:] - pred[:, 1:]
    if lengths is not None:
        resid = resid[length_mask(torch.as_tensor(lengths) - 1, z.shape[0], z.shape[1] - 1)]
    resid = resid.reshape(-1, z.shape[-1])
    std = resid.pow(2).mean(0).sqrt().clamp_min(1e-6)
    model.log_std.copy_(std.log())
    model.train(was_training)
    return std


def mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    """Two hidden ReLU layers (the policy and the TD3+BC critics).

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


@torch.no_grad()
def action_mse(actor: nn.Module, episodes: Episodes) -> float:
    """Mean squared action error of ``actor`` on every transition of ``episodes``.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> ep = simulate_episodes(n_episodes=2, horizon=4, seed=0)
        >>> zero = lambda z: torch.zeros(z.shape[0], 2)
        >>> abs(action_mse(zero, ep) - float((ep.actions[:, :3] ** 2).mean())) < 1e-6
        True
    """
    steps = episodes.transition_mask
    z = torch.as_tensor(episodes.z[steps])
    a = torch.as_tensor(episodes.actions[steps])
    if isinstance(actor, nn.Module):
        actor.eval()
    return float((actor(z) - a).pow(2).mean())


def save_checkpoint(
    path: str | Path, kind: str, module: nn.Module, settings: dict[str, Any]
) -> Path:
    """Write ``module``'s state dict with ``kind`` and ``settings`` (plain values only).

    Examples:
        >>> import tempfile
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/m.pt", "policy", nn.Linear(2, 1),
        ...                     {"latent_dim": 2})
        >>> sorted(load_checkpoint(p, "policy"))
        ['kind', 'settings', 'state_dict']
    """
    return save_torch({"kind": kind, "settings": settings, "state_dict": module.state_dict()}, path)


def load_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(..., weights_only=True)`` and check its kind.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this package, or of another kind.

    Examples:
        >>> import tempfile
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/m.pt", "policy", nn.Linear(2, 1), {})
        >>> load_checkpoint(p, "trust_net")
        Traceback (most recent call last):
        ...
        ValueError: ... must be a trust_net checkpoint, got a policy checkpoint
    """
    path = Path(path)
    ckpt = load_torch(path, what="checkpoint")
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a checkpoint of imbalance-world-model")
    if ckpt["kind"] != kind:
        raise ValueError(f"{path} must be a {kind} checkpoint, got a {ckpt['kind']} checkpoint")
    return ckpt


def load_world_model(path: str | Path) -> LatentWorldModel:
    """The world model saved at ``path``.

    Examples:
        >>> import tempfile
        >>> settings = {"latent_dim": 4, "action_dim": 2, "hidden_dim": 8, "residual_clip": 0.1}
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/wm.pt", "world_model",
        ...                     LatentWorldModel(4, 2, 8, 0.1), settings)
        >>> load_world_model(p).residual_clip
        0.1
    """
    ckpt = load_checkpoint(path, "world_model")
    s = ckpt["settings"]
    model = LatentWorldModel(s["latent_dim"], s["action_dim"], s["hidden_dim"], s["residual_clip"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def load_trust_net(path: str | Path) -> nn.Module:
    """The trust net saved at ``path``.

    Examples:
        >>> import tempfile
        >>> settings = {"trust_kind": "temporal", "latent_dim": 3, "hidden_dim": 4}
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/t.pt", "trust_net",
        ...                     build_trust_net("temporal", 3, 4), settings)
        >>> type(load_trust_net(p)).__name__
        'TemporalTrustNet'
    """
    ckpt = load_checkpoint(path, "trust_net")
    s = ckpt["settings"]
    net = build_trust_net(s["trust_kind"], s["latent_dim"], s["hidden_dim"])
    net.load_state_dict(ckpt["state_dict"])
    return net.eval()


def load_policy(path: str | Path) -> nn.Module:
    """The actor saved at ``path``.

    Examples:
        >>> import tempfile
        >>> p = save_checkpoint(tempfile.mkdtemp() + "/p.pt", "policy", mlp(4, 2, 8),
        ...                     {"latent_dim": 4, "action_dim": 2, "hidden_dim": 8})
        >>> load_policy(p)(torch.zeros(3, 4)).shape
        torch.Size([3, 2])
    """
    ckpt = load_checkpoint(path, "policy")
    s = ckpt["settings"]
    actor = mlp(s["latent_dim"], s["action_dim"], s["hidden_dim"])
    actor.load_state_dict(ckpt["state_dict"])
    return actor.eval()
