r"""Real rollouts from a public environment: CartPole-v1 (gymnasium) in the rollout format.

``imbalance-risk convert-gym --out cartpole.npz`` runs a noisy controller on gymnasium's
``CartPole-v1`` and writes its episodes in the package's NPZ rollout format
(:mod:`imbalance_risk.rollouts`). gymnasium ships the environment itself (``pip install
'imbalance-kit-risk[real]'``); nothing is downloaded.

The controller pushes the cart towards the side the pole falls to,

```math
a_t = \mathbb{1}\bigl[\theta + 0.5\,\dot\theta + 0.05\,\dot x + 0.01\,x > 0\bigr],
```

and each step is replaced by a random push with probability $\varepsilon$, drawn once per
episode from ``U(eps_low, eps_high)``. An episode *fails* when the environment terminates it
(the pole leans past 12 degrees or the cart leaves the track) and *succeeds* when it reaches
``max_steps``. With the defaults (600 episodes, ``eps`` in ``[0.25, 0.85]``, 400 steps) about
three quarters of the episodes fail and about 7% of the steps fall in the last 15 before a
failure (``prepare``'s default ``k``).

What goes where:

* ``hidden_states`` ``(T, 4)``: the observation ``(x, x_dot, theta, theta_dot)`` the
  controller acts on (a linear policy has no other internal state).
* ``actions``: with ``action_encoding="signed"`` (default) ``(T, 1)``, the push direction
  ``-1`` (left) or ``+1`` (right); with ``"onehot"`` ``(T, 2)``, one column per discrete action.
* ``velocities``: with ``"signed"`` ``(T, 1)``, the cart velocity (the pushed degree of
  freedom); with ``"onehot"`` none (a discrete action has no velocity of its own).

Per-dimension risk then has one dimension (``signed``: the decayed risk of pushing along
the failure direction) or one per discrete action (``onehot``: how much the choice of that
action near the failure carries the risk).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from imbalance_kit.app import check_choice, check_in_range, check_positive_int, error
from imbalance_risk.rollouts import Rollouts

__all__ = ["ActionEncoding", "cartpole_rollouts"]

ActionEncoding = Literal["signed", "onehot"]


def _import_gymnasium():
    try:
        import gymnasium
    except ImportError as exc:
        raise ImportError(
            "the CartPole converter needs gymnasium: pip install 'imbalance-kit-risk[real]'"
        ) from exc
    return gymnasium


def cartpole_rollouts(
    n_episodes: int = 600,
    *,
    seed: int = 0,
    max_steps: int = 400,
    eps_low: float = 0.25,
    eps_high: float = 0.85,
    action_encoding: ActionEncoding = "signed",
) -> Rollouts:
    """Episodes of a noisy balancing controller on gymnasium's ``CartPole-v1``.

    Args:
        n_episodes: number of episodes.
        seed: seed of the environment resets and of the controller's noise.
        max_steps: episode length at which an episode counts as a success.
        eps_low: lowest per-episode probability of a random push.
        eps_high: highest per-episode probability of a random push.
        action_encoding: ``"signed"`` (one column, -1 / +1) or ``"onehot"`` (two columns).

    Returns:
        The episodes as :class:`~imbalance_risk.rollouts.Rollouts`.

    Raises:
        ImportError: gymnasium is not installed.
        ValueError: a bad argument.

    Examples:
        >>> r = cartpole_rollouts(20, seed=1, max_steps=100)  # doctest: +SKIP
        >>> r.hidden_dim, r.action_dim, r.velocities.shape[1]  # doctest: +SKIP
        (4, 1, 1)
    """
    check_positive_int("n_episodes", n_episodes)
    check_positive_int("seed", seed, minimum=0)
    check_positive_int("max_steps", max_steps, minimum=2)
    check_in_range("eps_low", eps_low, 0.0, 1.0)
    check_in_range("eps_high", eps_high, 0.0, 1.0)
    if eps_high < eps_low:
        raise error("eps_high", f">= eps_low ({eps_low})", eps_high)
    check_choice("action_encoding", action_encoding, ("signed", "onehot"))
    gym = _import_gymnasium()
    env = gym.make("CartPole-v1", max_episode_steps=max_steps)
    rng = np.random.default_rng(seed)
    observations, pushes, lengths, success = [], [], [], []
    try:
        for episode in range(n_episodes):
            eps = rng.uniform(eps_low, eps_high)
            obs, _ = env.reset(seed=seed * 1_000_003 + episode)
            states: list[np.ndarray] = []
            chosen: list[int] = []
            terminated = truncated = False
            while not (terminated or truncated):
                x, x_dot, theta, theta_dot = obs
                action = int(theta + 0.5 * theta_dot + 0.05 * x_dot + 0.01 * x > 0)
                if rng.random() < eps:
                    action = int(rng.integers(2))
                states.append(np.asarray(obs, dtype=np.float32))
                chosen.append(action)
                obs, _, terminated, truncated, _ = env.step(action)
            observations.append(np.stack(states))
            pushes.append(np.asarray(chosen))
            lengths.append(len(chosen))
            success.append(not terminated)
    finally:
        env.close()
    hidden = np.concatenate(observations)
    action = np.concatenate(pushes)
    success_arr = np.asarray(success)
    lengths_arr = np.asarray(lengths)
    if action_encoding == "signed":
        actions = (2.0 * action - 1.0)[:, None].astype(np.float32)
        velocities = hidden[:, 1:2].copy()  # the cart velocity: the pushed degree of freedom
    else:
        actions = np.eye(2, dtype=np.float32)[action]
        velocities = None
    return Rollouts(
        hidden_states=hidden,
        actions=actions,
        episode_lengths=lengths_arr,
        success=success_arr,
        failure_step=np.where(success_arr, -1, lengths_arr - 1),
        velocities=velocities,
    )
