"""Real-data example: rollouts of noisy scripted policies in gymnasium's classic-control
environments, written in the package's episodes format.

gymnasium (PyPI, ``pip install 'imbalance-kit-world-model[real]'``) ships the environments'
dynamics; nothing is downloaded. Two environments, one of each kind of episode:

* ``pendulum`` (``Pendulum-v1``): observation ``(cos th, sin th, th_dot)`` (``D = 3``),
  torque in ``[-2, 2]`` (``A = 1``); episodes never terminate and are cut by the time limit
  (all of the same length). Policy: energy pumping to swing up, a PD controller near the top,
  plus Gaussian torque noise of standard deviation ``2 * eps``.
* ``acrobot`` (``Acrobot-v1``): observation of the two joint angles' cos and sin and the two
  angular velocities (``D = 6``), torque ``-1, 0, +1`` (stored as that number, ``A = 1``);
  an episode terminates when the tip swings above the bar, so lengths vary. Policy: torque in
  the direction of the second joint's velocity, replaced by a uniformly random action with
  probability ``eps``.

``eps`` is drawn per episode from ``noise`` (a behaviour policy of mixed skill, as in the
simulator). Each episode ``i`` starts from ``env.reset(seed=seed + i)``. Metadata:
``terminated`` (1 = the environment ended it, 0 = the time limit), ``episode_return``,
``policy_noise``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import check_choice, check_in_range, check_positive_int
from imbalance_world_model.data import Episodes, save_episodes, writable_dir

__all__ = ["ENVIRONMENTS", "rollout_episodes", "stage_rollouts"]

Policy = Callable[[np.ndarray, np.random.Generator, float], Any]


def _pendulum(obs: np.ndarray, rng: np.random.Generator, eps: float) -> np.ndarray:
    c, s, w = (float(v) for v in obs)
    th = np.arctan2(s, c)
    energy = 0.5 * w * w + 10.0 * (c - 1.0)  # 0 when upright at rest
    if c > 0.9:
        u = -(10.0 * th + 2.0 * w)  # balance near the top
    else:
        u = 2.0 * np.sign(w * -energy) if abs(w) > 1e-3 else 1.0  # pump energy
    return np.array([np.clip(u + rng.normal(0.0, 2.0 * eps), -2.0, 2.0)], dtype=np.float32)


def _acrobot(obs: np.ndarray, rng: np.random.Generator, eps: float) -> int:
    if rng.random() < eps:
        return int(rng.integers(3))
    return 2 if obs[5] > 0 else 0


#: name -> (gymnasium id, policy, default noise range, action -> stored action)
ENVIRONMENTS: dict[str, tuple[str, Policy, tuple[float, float], Callable[[Any], float]]] = {
    "pendulum": ("Pendulum-v1", _pendulum, (0.0, 1.0), lambda a: float(a[0])),
    "acrobot": ("Acrobot-v1", _acrobot, (0.0, 0.9), lambda a: float(a) - 1.0),
}


def rollout_episodes(
    env: str,
    n_episodes: int,
    *,
    max_steps: int | None = None,
    noise: tuple[float, float] | None = None,
    seed: int = 0,
) -> Episodes:
    """Roll the scripted policy of ``env`` out for ``n_episodes`` episodes.

    Args:
        env: ``"pendulum"`` or ``"acrobot"``.
        n_episodes: episodes.
        max_steps: time limit in steps (default: the environment's, 200 and 500).
        noise: range of the per-episode policy noise ``eps`` (default per environment).
        seed: seed of the resets and of the policy noise.

    Returns:
        Real episodes padded to the longest (``lengths`` = steps + 1 states).

    Raises:
        ImportError: gymnasium is not installed.

    Examples:
        ``rollout_episodes("acrobot", 200, max_steps=200)`` is the README's Acrobot data
        (``tests/test_wm_rollouts.py`` runs a small slice); the environments:

        >>> sorted(ENVIRONMENTS)
        ['acrobot', 'pendulum']
    """
    check_choice("env", env, tuple(ENVIRONMENTS))
    check_positive_int("n_episodes", n_episodes)
    if max_steps is not None:
        check_positive_int("max_steps", max_steps)
    env_id, policy, default_noise, store = ENVIRONMENTS[env]
    low, high = default_noise if noise is None else noise
    check_in_range("noise", low, 0.0, 1.0)
    check_in_range("noise", high, low, 1.0)
    try:
        import gymnasium as gym
    except ImportError:
        raise ImportError(
            "the rollouts need gymnasium: pip install 'imbalance-kit-world-model[real]'"
        ) from None
    kwargs = {} if max_steps is None else {"max_episode_steps": max_steps}
    environment = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(seed)
    zs, actions, rewards, meta = [], [], [], {"terminated": [], "episode_return": [], "eps": []}
    try:
        for i in range(n_episodes):
            obs, _ = environment.reset(seed=seed + i)
            eps = float(rng.uniform(low, high))
            states, acts, rews, terminated = [np.asarray(obs, np.float32)], [], [], False
            while True:
                action = policy(obs, rng, eps)
                obs, reward, terminated, truncated, _ = environment.step(action)
                states.append(np.asarray(obs, np.float32))
                acts.append(store(action))
                rews.append(float(reward))
                if terminated or truncated:
                    break
            zs.append(np.stack(states))
            actions.append(np.asarray(acts + [0.0], np.float32)[:, None])
            rewards.append(np.asarray(rews + [0.0], np.float32))
            meta["terminated"].append(int(terminated))
            meta["episode_return"].append(float(np.sum(rews)))
            meta["eps"].append(eps)
    finally:
        environment.close()
    lengths = np.array([len(z) for z in zs], dtype=np.int64)
    t = int(lengths.max())

    def pad(parts: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(parts), t, *parts[0].shape[1:]), dtype=np.float32)
        for j, part in enumerate(parts):
            out[j, : len(part)] = part
        return out

    return Episodes(
        pad(zs),
        pad(actions),
        pad(rewards),
        np.array(["real"] * n_episodes),
        {
            "terminated": np.asarray(meta["terminated"], np.int64),
            "episode_return": np.asarray(meta["episode_return"]),
            "policy_noise": np.asarray(meta["eps"]),
        },
        lengths,
    )


def stage_rollouts(
    env: str,
    out: str | Path,
    n_episodes: int,
    *,
    max_steps: int | None = None,
    seed: int = 0,
) -> Episodes:
    """Roll out and write the episodes file ``out`` (no held-out split: the commands that
    read it make one, see ``split`` in the config)."""
    writable_dir(Path(out).parent)
    episodes = rollout_episodes(env, n_episodes, max_steps=max_steps, seed=seed)
    save_episodes(episodes, out)
    return episodes
