"""Synthetic data from a trained world model, and the ``generate`` stage.

Two modes (``generate.mode``):

* ``"episodes"``: each synthetic episode starts from the first state of a real training
  episode and replays its (open-loop) action sequence through the world model for the
  episode's whole length.
* ``"segments"``: short augmentation segments of ``generate.segment_length`` steps, started
  from a real state in the middle of a real training episode, where the model has not yet
  drifted. The model's GRU state is first warmed up on the real episode up to that state
  (teacher forced), then the segment is rolled out under the episode's real actions.

Either way the reward head labels the steps, ``meta["source_episode"]`` keeps the index of
the real training episode and ``meta["source_start"]`` the step the synthetic data starts at.
:func:`real_counterparts` gives, for every synthetic episode, the real stretch it replays (the
reference of the std ratio, the trust net and the bounds filter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from imbalance_kit.app import check_positive_int, error, write_json
from imbalance_world_model._runs import load_real
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import Episodes, save_episodes, writable_dir
from imbalance_world_model.diagnostics import ratio_headline, std_ratio_per_step
from imbalance_world_model.model import LatentWorldModel, load_world_model

__all__ = [
    "generate_episodes",
    "generate_segments",
    "real_counterparts",
    "real_reference",
    "stage_generate",
]


def _synthetic(
    model: LatentWorldModel,
    z0: torch.Tensor,
    actions: torch.Tensor,
    lengths: np.ndarray,
    meta: dict[str, np.ndarray],
    *,
    sample: bool,
    gen: torch.Generator,
    h0: torch.Tensor | None = None,
) -> Episodes:
    """Roll out from ``z0`` under ``actions`` ``(n, T, A)`` and label the steps."""
    t = actions.shape[1]
    traj = model.rollout(z0, actions[:, : t - 1], sample=sample, generator=gen, h0=h0)
    rewards = model.reward(traj, actions)
    return Episodes(
        traj.numpy(),
        actions.numpy(),
        rewards.numpy(),
        np.array(["synthetic"] * len(lengths)),
        meta,
        lengths.astype(np.int64),
    )


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
    source episode drawn with replacement and rolls the model out for the source's length
    (at most ``horizon`` states).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=5, horizon=12, seed=0)
        >>> syn = generate_episodes(LatentWorldModel(4, 2, hidden_dim=8), real, 3)
        >>> syn.z.shape, syn.source.tolist(), syn.meta["source_start"].tolist()
        ((3, 12, 4), ['synthetic', 'synthetic', 'synthetic'], [0, 0, 0])
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
    lengths = np.minimum(source.lengths[idx], horizon)
    t = int(lengths.max())
    z0 = torch.as_tensor(source.z[idx, 0])
    actions = torch.as_tensor(source.actions[idx, :t])
    meta = {"source_episode": idx.astype(np.int64), "source_start": np.zeros(n_episodes, np.int64)}
    return _synthetic(model, z0, actions, lengths, meta, sample=sample, gen=gen)


@torch.no_grad()
def generate_segments(
    model: LatentWorldModel,
    source: Episodes,
    n_segments: int,
    segment_length: int = 15,
    *,
    sample: bool = True,
    seed: int = 0,
) -> Episodes:
    """Augmentation segments: ``segment_length`` steps from real states, warm-started.

    Every window of ``segment_length + 1`` states inside a source episode is equally likely
    (a shorter episode gives its whole length). The model reads the real episode up to the
    window's first state (teacher forced) and rolls out from there under the real actions.

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=5, horizon=30, seed=0)
        >>> seg = generate_segments(LatentWorldModel(4, 2, hidden_dim=8), real, 6, 10)
        >>> seg.z.shape, bool((seg.meta["source_start"] <= 19).all())
        ((6, 11, 4), True)
        >>> i, s = seg.meta["source_episode"][0], seg.meta["source_start"][0]
        >>> bool(np.array_equal(seg.z[0, 0], real.z[i, s]))
        True
    """
    check_positive_int("n_segments", n_segments)
    check_positive_int("segment_length", segment_length)
    steps = np.minimum(segment_length, source.lengths - 1)  # steps per window, per episode
    starts_per_episode = source.lengths - steps  # window starts 0 .. L - 1 - steps
    rng = np.random.default_rng(seed)
    idx = rng.choice(source.n_episodes, n_segments, p=starts_per_episode / starts_per_episode.sum())
    start = (rng.random(n_segments) * starts_per_episode[idx]).astype(np.int64)
    lengths = steps[idx] + 1
    t = int(lengths.max())
    model.eval()
    z = torch.as_tensor(source.z)
    a = torch.as_tensor(source.actions)
    hidden = model.hidden_states(z, a)  # (N, T, H) teacher-forced warm-up states
    cols = np.minimum(start[:, None] + np.arange(t), source.horizon - 1)
    actions = torch.as_tensor(source.actions[idx[:, None], cols])
    actions[torch.as_tensor(np.arange(t)[None, :] >= lengths[:, None] - 1)] = 0.0
    z0 = torch.as_tensor(source.z[idx, start])
    h0 = hidden[torch.as_tensor(idx), torch.as_tensor(start)]
    meta = {"source_episode": idx.astype(np.int64), "source_start": start}
    gen = torch.Generator().manual_seed(seed)
    return _synthetic(model, z0, actions, lengths, meta, sample=sample, gen=gen, h0=h0)


def real_counterparts(train: Episodes, synthetic: Episodes) -> Episodes:
    """For every synthetic episode, the real stretch it replays: same start state, same actions,
    same length (its source episode from ``source_start`` on).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=5, horizon=30, seed=0)
        >>> seg = generate_segments(LatentWorldModel(4, 2, hidden_dim=8), real, 6, 10)
        >>> ref = real_counterparts(real, seg)
        >>> ref.lengths.tolist() == seg.lengths.tolist(), ref.source[0]
        (True, np.str_('real'))
    """
    for key in ("source_episode", "source_start"):
        if key not in synthetic.meta:
            raise error(
                "synthetic episodes",
                f"episodes from generate (with meta_{key})",
                f"no meta_{key}",
                raw=True,
            )
    idx = synthetic.meta["source_episode"].astype(np.int64)
    start = synthetic.meta["source_start"].astype(np.int64)
    if idx.size and (idx.max() >= train.n_episodes or idx.min() < 0):
        raise error(
            "meta_source_episode",
            f"indices of the {train.n_episodes} real training episodes",
            f"values up to {idx.max()}",
            raw=True,
        )
    lengths = synthetic.lengths
    if ((start + lengths) > train.lengths[idx]).any():
        raise error(
            "synthetic episodes",
            "stretches inside their real source episodes (same real file and split)",
            "stretches past the end of their source episode",
            raw=True,
        )
    t = synthetic.horizon
    cols = np.minimum(start[:, None] + np.arange(t), train.horizon - 1)
    rows = idx[:, None]
    return Episodes(
        train.z[rows, cols],
        train.actions[rows, cols],
        train.rewards[rows, cols],
        np.array(["real"] * len(idx)),
        {},
        lengths,
    )


def real_reference(train: Episodes, synthetic: Episodes) -> Episodes:
    """The real episodes synthetic data is compared with by the trust net and the bounds
    filter: all real training episodes for whole episodes (and for synthetic episodes that do
    not say where they come from), the replayed real windows for segments (episode
    statistics depend on length).

    Examples:
        >>> from imbalance_world_model.simulate import simulate_episodes
        >>> real = simulate_episodes(n_episodes=5, horizon=30, seed=0)
        >>> syn = generate_episodes(LatentWorldModel(4, 2, hidden_dim=8), real, 3)
        >>> real_reference(real, syn).n_episodes
        5
    """
    if "source_episode" not in synthetic.meta or "source_start" not in synthetic.meta:
        return train
    cp = real_counterparts(train, synthetic)  # checks the synthetic episodes' sources
    idx = synthetic.meta["source_episode"].astype(np.int64)
    whole = (synthetic.meta["source_start"] == 0) & (synthetic.lengths == train.lengths[idx])
    return train if bool(whole.all()) else cp


def stage_generate(
    config: WMConfig, model_path: str | Path, real_path: str | Path, out: str | Path
) -> tuple[Episodes, dict[str, Any]]:
    """Roll the world model out from real training episodes; write the synthetic episodes and
    ``<out>.json`` (mode, counts and the std ratio of synthetic to real per step).

    Returns:
        The synthetic episodes and the summary (``std_ratio``: step -> ratio, the headline).

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> from imbalance_world_model.train import stage_train_world_model
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> _ = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = stage_train_world_model(cfg, f"{d}/real.npz", f"{d}/wm")
        >>> syn, s = stage_generate(cfg, f"{d}/wm/model.pt", f"{d}/real.npz", f"{d}/syn.npz")
        >>> syn.n_episodes, syn.source[0], s["mode"]  # as many as the 9 real training episodes
        (9, np.str_('synthetic'), 'episodes')
    """
    train, _, split = load_real(real_path, config)
    model = load_world_model(model_path)
    if model.latent_dim != train.latent_dim or model.action_dim != train.action_dim:
        raise error(
            "the world model",
            f"one for D = {train.latent_dim}, A = {train.action_dim} (the real episodes)",
            f"D = {model.latent_dim}, A = {model.action_dim}",
            raw=True,
        )
    writable_dir(Path(out).parent)
    g = config.generate
    if g.mode == "episodes":
        n = g.n_episodes or train.n_episodes
        syn = generate_episodes(model, train, n, sample=g.sample, seed=config.seed + 1)
    else:
        k = g.segment_length
        n = g.n_segments or max(1, int(round(train.n_transitions / k)))
        syn = generate_segments(model, train, n, k, sample=g.sample, seed=config.seed + 1)
    ref = real_counterparts(train, syn)
    ratio = std_ratio_per_step(syn.z, ref.z, syn.lengths, ref.lengths)
    save_episodes(syn, out)
    summary = {
        "mode": g.mode,
        "n_episodes": syn.n_episodes,
        "n_transitions": syn.n_transitions,
        "segment_length": g.segment_length if g.mode == "segments" else None,
        "std_ratio": ratio_headline(ratio),
        "split": split,
    }
    write_json(Path(out).with_suffix(".json"), summary)
    return syn, summary
