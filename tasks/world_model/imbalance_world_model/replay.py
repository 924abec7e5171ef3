r"""Replay buffer with source tracking, trust-weighted sampling and importance weights.

Every transition $(z_t, a_t, r_t, z_{t+1})$ of every episode keeps its source (real or
synthetic), its episode and a weight. Transitions are drawn in proportion to their weights
with :class:`imbalance_kit.sampling.WeightedSampler`, or drawn uniformly with the weights in
the loss (:func:`imbalance_world_model.objective.importance_weighted_loss`). Either way the
effective synthetic contribution is the synthetic share of the weight mass:

```math
c_{\text{syn}} = \frac{\sum_{i \in \text{syn}} w_i}{\sum_i w_i}.
```

:func:`mix_weights` gives the per-episode weights of the three training mixes: real only
($c_{\text{syn}} = 0$), a fixed synthetic share, and trust weights (real 1, synthetic: the
gate's weight, see :class:`~imbalance_world_model.gates.TrustGate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from imbalance_kit.app import check_choice, check_in_range, error
from imbalance_kit.sampling import WeightedSampler
from imbalance_world_model.data import Episodes

__all__ = ["ReplayBuffer", "mix_weights"]

Mix = Literal["real_only", "fixed", "trust"]


def mix_weights(
    is_synthetic: np.ndarray,
    mix: Mix,
    *,
    share: float = 0.1,
    trust: np.ndarray | None = None,
    threshold: float = 0.5,
    bounds: np.ndarray | None = None,
    rule: str = "trust",
    transitions: np.ndarray | None = None,
) -> np.ndarray:
    """Per-episode weights of a training mix (every transition of an episode gets its weight).

    Args:
        is_synthetic: ``(N,)`` booleans.
        mix: ``"real_only"``, ``"fixed"`` (synthetic transitions share ``share`` of the mass,
            real ones ``1 - share``, equally within each source) or ``"trust"``.
        share: synthetic share of ``"fixed"``.
        trust: ``p(real)`` of every episode (``"trust"`` only; real episodes get weight 1).
        threshold: trust gate threshold.
        bounds: bounds-filter result of every episode (rules ``"bounds"`` and ``"both"``).
        rule: the gate's rule (:class:`~imbalance_world_model.gates.TrustGate`).
        transitions: transitions per episode (``"fixed"``: the shares are shares of
            transitions; default one per episode).

    Examples:
        >>> syn = np.array([False, False, True, True])
        >>> mix_weights(syn, "fixed", share=0.1).round(3).tolist()
        [0.45, 0.45, 0.05, 0.05]
        >>> w = mix_weights(syn, "fixed", share=0.1, transitions=np.array([10, 10, 2, 2]))
        >>> float((w * [10, 10, 2, 2])[2:].sum() / (w * [10, 10, 2, 2]).sum())
        0.1
        >>> mix_weights(syn, "trust", trust=np.array([1.0, 1.0, 0.9, 0.2])).tolist()
        [1.0, 1.0, 0.9, 0.0]
        >>> mix_weights(syn, "trust", trust=np.array([1.0, 1.0, 0.9, 0.8]), rule="both",
        ...             bounds=np.array([True, True, False, True])).tolist()
        [1.0, 1.0, 0.0, 0.8]
    """
    check_choice("mix", mix, ("real_only", "fixed", "trust"))
    syn = np.asarray(is_synthetic, dtype=bool)
    w = np.where(syn, 0.0, 1.0)
    if mix == "fixed":
        check_in_range("share", share, 0.0, 1.0, high_inclusive=False)
        count = np.ones(len(syn)) if transitions is None else np.asarray(transitions, float)
        n_syn, n_real = float(count[syn].sum()), float(count[~syn].sum())
        if n_real == 0:
            raise error(
                "is_synthetic",
                "False for at least one episode (the fixed mix needs real ones)",
                "all True",
                raw=True,
            )
        w = np.where(syn, share / max(n_syn, 1.0), (1 - share) / n_real)
    elif mix == "trust":
        if trust is None:
            raise error("trust", "p(real) scores (mix 'trust' needs trust scores)", None)
        from imbalance_world_model.gates import TrustGate

        p = np.asarray(trust, dtype=np.float64)
        if p.shape != syn.shape:
            raise ValueError(f"trust must have shape {syn.shape}, got {p.shape}")
        passed = None if bounds is None else np.asarray(bounds, dtype=bool)
        w = np.where(syn, TrustGate(threshold, rule).weights(p, passed), 1.0)  # type: ignore[arg-type]
    return w


@dataclass
class ReplayBuffer:
    """Transitions with their source, episode and weight (all tensors of length ``M``).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> ep = simulate_episodes(n_episodes=2, horizon=5, seed=0)
        >>> buf = ReplayBuffer.from_episodes(ep, np.array([1.0, 3.0]))
        >>> len(buf), buf.synthetic_share(), buf.weights[:5].tolist()
        (8, 0.0, [1.0, 1.0, 1.0, 1.0, 3.0])
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_states: torch.Tensor
    dones: torch.Tensor
    synthetic: torch.Tensor
    episode: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def from_episodes(
        cls, episodes: Episodes, episode_weights: np.ndarray | None = None
    ) -> ReplayBuffer:
        """All ``L_i - 1`` transitions of every episode; ``episode_weights`` default to 1.

        The last transition of an episode is terminal (``done = 1``) when its
        ``meta["terminated"]`` is 1 or absent; 0 for an episode cut by a time limit.
        """
        n, t = episodes.n_episodes, episodes.horizon
        w = np.ones(n) if episode_weights is None else np.asarray(episode_weights, np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
            raise error(
                "episode_weights",
                f"{n} finite values >= 0 (one per episode)",
                f"shape {w.shape}, min {np.min(w) if w.size else 'n/a'}",
                raw=True,
            )
        steps = episodes.transition_mask[:, : t - 1]  # (N, T - 1): t < L_i - 1
        terminal = episodes.meta.get("terminated", np.ones(n)).astype(bool)
        done = np.zeros((n, t - 1), dtype=np.float32)
        done[np.arange(n), episodes.lengths - 2] = terminal
        z = episodes.z
        ep = np.broadcast_to(np.arange(n)[:, None], (n, t - 1))
        return cls(
            states=torch.as_tensor(z[:, :-1][steps]),
            actions=torch.as_tensor(episodes.actions[:, :-1][steps]),
            rewards=torch.as_tensor(episodes.rewards[:, :-1][steps]),
            next_states=torch.as_tensor(z[:, 1:][steps]),
            dones=torch.as_tensor(done[steps]),
            synthetic=torch.as_tensor(
                np.broadcast_to(episodes.is_synthetic[:, None], (n, t - 1))[steps]
            ),
            episode=torch.as_tensor(ep[steps]),
            weights=torch.as_tensor(
                np.broadcast_to(w[:, None], (n, t - 1))[steps], dtype=torch.float32
            ),
        )

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def synthetic_share(self) -> float:
        """Effective synthetic contribution: synthetic share of the weight mass."""
        total = float(self.weights.sum())
        return float(self.weights[self.synthetic].sum()) / total if total > 0 else 0.0

    def sampler(self, num_samples: int | None = None, seed: int = 0) -> WeightedSampler:
        """A :class:`~imbalance_kit.sampling.WeightedSampler` over the transition weights."""
        return WeightedSampler(self.weights, num_samples or len(self), replacement=True, seed=seed)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """``(states, actions, rewards, next_states, dones, weights)`` for a ``TensorDataset``."""
        return (self.states, self.actions, self.rewards, self.next_states, self.dones, self.weights)
