"""``imbalance-risk prepare``: labels, an episode-level split, the prepared file and its summary.

Every step of the rollouts is labelled (:mod:`imbalance_risk.labels`), the episodes are split
into train / validation / test, and the result is written as ``prepared.npz`` (the arrays of
:class:`imbalance_risk.data.PreparedData`) beside ``summary.json``.

Episodes, never single steps, are assigned to splits (stratified by outcome),
so no episode contributes steps to two splits. ``summary.json`` holds the
positive rates, per-dimension label statistics and the settings used.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import check_in_range, error, write_json
from imbalance_risk._npz import write_npz
from imbalance_risk.data import SPLITS, PreparedData
from imbalance_risk.labels import LabelConfig, make_labels
from imbalance_risk.rollouts import Rollouts

__all__ = [
    "label_summary",
    "prepare_rollouts",
    "settings_record",
    "split_episodes",
    "write_prepared",
]


def split_episodes(
    success: np.ndarray, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> np.ndarray:
    """Assign episodes to train (0), validation (1) and test (2), stratified by outcome.

    Within each outcome the episodes are shuffled and cut by the fractions
    (rounded), so both outcomes are spread over the splits in proportion.

    Args:
        success: ``(E,)`` episode outcomes.
        val_fraction: share of episodes in validation, in ``[0, 1)``.
        test_fraction: share of episodes in test, in ``[0, 1)``; the two sum below 1.
        seed: shuffling seed.

    Returns:
        ``(E,)`` int8 split code of each episode.

    Examples:
        >>> codes = split_episodes(np.array([True] * 10 + [False] * 10), 0.2, 0.2, seed=0)
        >>> np.bincount(codes).tolist(), np.bincount(codes[10:]).tolist()
        ([12, 4, 4], [6, 2, 2])
    """
    check_in_range("val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    check_in_range("test_fraction", test_fraction, 0.0, 1.0, high_inclusive=False)
    if val_fraction + test_fraction >= 1.0:
        raise error(
            "val_fraction + test_fraction",
            "< 1 (some episodes must train)",
            val_fraction + test_fraction,
        )
    success = np.asarray(success, dtype=bool)
    rng = np.random.default_rng(seed)
    codes = np.zeros(success.shape[0], dtype=np.int8)
    for outcome in (False, True):
        members = rng.permutation(np.flatnonzero(success == outcome))
        n_val = int(round(val_fraction * members.size))
        n_test = int(round(test_fraction * members.size))
        codes[members[:n_val]] = 1
        codes[members[n_val : n_val + n_test]] = 2
    return codes


def prepare_rollouts(
    rollouts: Rollouts,
    config: LabelConfig | None = None,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> PreparedData:
    """Label every step and split the episodes.

    Args:
        rollouts: the episodes.
        config: labelling settings (defaults when ``None``).
        val_fraction: share of episodes in validation.
        test_fraction: share of episodes in test.
        seed: split seed.

    Returns:
        The :class:`PreparedData`. A warning is issued when a split has no
        positive step.

    Examples:
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> data = prepare_rollouts(simulate_rollouts(n_episodes=60, horizon=80), LabelConfig(k=10))
        >>> int(data.binary.sum()) <= 10 * 60
        True
    """
    labels = make_labels(rollouts, config)
    episode_split = split_episodes(rollouts.success, val_fraction, test_fraction, seed)
    data = PreparedData(
        features=rollouts.hidden_states[labels.rows],
        actions=rollouts.actions[labels.rows],
        binary=labels.binary,
        ttf=labels.ttf,
        steps_to_failure=labels.steps_to_failure,
        risk=labels.risk,
        episode=rollouts.episode_id[labels.episode],
        step=labels.step,
        episode_failed=~rollouts.success[labels.episode],
        split=episode_split[labels.episode],
    )
    for code, name in enumerate(SPLITS):
        fraction = (val_fraction, test_fraction)[code - 1] if code else 1.0
        rows = data.split == code
        if fraction > 0 and rows.any() and not data.binary[rows].any():
            warnings.warn(
                f"the {name} split has no positive step; use more episodes or other fractions",
                stacklevel=2,
            )
    return data


def _stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "max": float("nan"), "nonzero": 0.0}
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "max": float(values.max()),
        "nonzero": float((values > 0).mean()),
    }


def label_summary(data: PreparedData) -> dict[str, Any]:
    """Positive rates and label statistics, overall and per split.

    Examples:
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> summary = label_summary(prepare_rollouts(simulate_rollouts(n_episodes=60, horizon=80)))
        >>> sorted(summary["splits"])
        ['test', 'train', 'val']
        >>> 0.0 < summary["positive_rate"] < 1.0
        True
    """

    def block(part: PreparedData) -> dict[str, Any]:
        positive = part.binary > 0.5
        episodes, first = np.unique(part.episode, return_index=True)
        return {
            "n_steps": part.n_steps,
            "n_episodes": int(episodes.size),
            "n_failed_episodes": int(part.episode_failed[first].sum()),
            "n_positive": int(positive.sum()),
            "positive_rate": float(positive.mean()) if part.n_steps else float("nan"),
            "risk_nonzero_rate": float((part.risk > 0).any(axis=1).mean())
            if part.n_steps
            else float("nan"),
        }

    summary = block(data)
    summary["splits"] = {name: block(data.subset(name)) for name in SPLITS}
    positive = data.binary > 0.5
    summary["per_dim_risk"] = [
        {
            "dim": j,
            **_stats(data.risk[:, j]),
            "mean_on_positive": _stats(data.risk[positive, j])["mean"],
        }
        for j in range(data.action_dim)
    ]
    failed = data.steps_to_failure >= 0
    summary["steps_to_failure"] = _stats(data.steps_to_failure[failed].astype(np.float64))
    summary["feature_dim"] = int(data.features.shape[1])
    summary["action_dim"] = data.action_dim
    return summary


def write_prepared(
    data: PreparedData, out_dir: str | Path, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``prepared.npz`` and ``summary.json`` into ``out_dir``; return the summary.

    Args:
        data: the prepared data set.
        out_dir: output folder (created).
        settings: extra settings recorded under ``"settings"`` in the summary.

    Examples:
        >>> import tempfile
        >>> from imbalance_risk.simulate import simulate_rollouts
        >>> data = prepare_rollouts(simulate_rollouts(n_episodes=60, horizon=80))
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     summary = write_prepared(data, tmp, {"k": 15})
        ...     from imbalance_risk.data import load_prepared
        ...     load_prepared(tmp).n_steps == data.n_steps == summary["n_steps"]
        True
    """
    out = Path(out_dir)
    write_npz(out / "prepared.npz", data.arrays())  # atomic: a crash never leaves half a file
    summary = label_summary(data)
    summary["settings"] = settings or {}
    write_json(out / "summary.json", summary)
    return summary


def settings_record(config: LabelConfig, **extra: Any) -> dict[str, Any]:
    """The labelling settings as a JSON-ready dict (for ``summary.json``).

    Examples:
        >>> settings_record(LabelConfig(k=5), seed=1)["attribution_weights"]
        [0.4, 0.3, 0.2, 0.1]
    """
    record = asdict(config)
    record["attribution_weights"] = list(config.attribution_weights)
    record.update(extra)
    return record
