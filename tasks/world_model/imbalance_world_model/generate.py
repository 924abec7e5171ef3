"""Synthetic episodes from a trained world model, and the ``generate`` stage.

Each synthetic episode starts from the first state of a real training episode and replays
its (open-loop) action sequence through the world model; the reward head labels the steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from imbalance_kit.app import check_positive_int
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import (
    Episodes,
    load_episodes,
    save_episodes,
    split_real,
    writable_dir,
)
from imbalance_world_model.model import LatentWorldModel, load_world_model

__all__ = ["generate_episodes", "stage_generate"]


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


def stage_generate(
    config: WMConfig, model_path: str | Path, real_path: str | Path, out: str | Path
) -> Episodes:
    """Roll the world model out from real training episodes; write synthetic episodes.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> from imbalance_world_model.train import stage_train_world_model
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> _ = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = stage_train_world_model(cfg, f"{d}/real.npz", f"{d}/wm")
        >>> syn = stage_generate(cfg, f"{d}/wm/model.pt", f"{d}/real.npz", f"{d}/syn.npz")
        >>> syn.n_episodes, syn.source[0]   # as many as the 9 real training episodes
        (9, np.str_('synthetic'))
    """
    train, _ = split_real(load_episodes(real_path))
    model = load_world_model(model_path)
    writable_dir(Path(out).parent)
    n = config.generate.n_episodes or train.n_episodes
    syn = generate_episodes(model, train, n, sample=config.generate.sample, seed=config.seed + 1)
    save_episodes(syn, out)
    return syn
