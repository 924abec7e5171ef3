r"""Per-step labels from episode outcomes: fails-within-k, time to failure, per-dimension risk.

For a failed episode with failure step $F$, step $t \le F$ is $d_t = F - t$
steps from the failure (steps after $F$ are dropped: the episode is over).

* **Binary**: $y_t = 1$ when $d_t < k$ (the last ``k`` steps up to and including
  the failure), or for every step of a failed episode with
  ``include_all_failure_steps``; 0 in successful episodes.
* **Time to failure**: $\min(d_t, h) / h$ for the horizon $h$ (``ttf_horizon``),
  and 1 for every step of a successful episode (censored at the horizon).
* **Per-dimension risk**: temporal decay times an action attribution,

```math
r_{t,j} = y_t \, \rho^{d_t} \Bigl( w_a \frac{|a_{t,j}|}{s_j}
    + w_f \frac{\max(0,\, a_{t,j} f_j)}{s_j}
    + w_v \frac{|v_{t,j} - v_{t-1,j}|}{u_j} + w_0 \Bigr),
```

with $\rho$ = ``risk_decay``, $s_j$ the largest $|a_j|$ over the kept steps,
$u_j$ the largest velocity change of dimension $j$ over the kept steps, and
$f$ the episode's failure direction scaled to a maximum absolute value of 1
(given by the rollouts, or else the mean scaled action over the last ``k``
steps before the failure). The
default weights $(w_a, w_f, w_v, w_0) = (0.4, 0.3, 0.2, 0.1)$ sum to 1, so
$r_{t,j} \in [0, 1]$ and every positive step has $r_{t,j} \ge w_0\,\rho^{d_t}$.
Without velocities the velocity term is 0.

The alignment term counts only actions that push *along* the failure direction
(an action braking against it adds nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imbalance_kit.app import check_in_range, check_non_negative, check_positive_int, error
from imbalance_risk.rollouts import Rollouts

__all__ = ["ATTRIBUTION_TERMS", "LabelConfig", "StepLabels", "failure_directions", "make_labels"]

ATTRIBUTION_TERMS = ("action", "alignment", "velocity", "floor")


@dataclass
class LabelConfig:
    """How per-step labels are made from episode outcomes.

    Attributes:
        k: steps before (and including) the failure labelled positive.
        include_all_failure_steps: label every step of a failed episode positive.
        risk_decay: $\\rho \\in (0, 1]$, decay of the risk per step away from the failure.
        attribution_weights: ``(action, alignment, velocity, floor)`` weights, each
            ``>= 0`` with a positive sum.
        ttf_horizon: steps at which time to failure is capped (``> 0``).

    Examples:
        >>> LabelConfig(k=30, include_all_failure_steps=True).attribution_weights
        (0.4, 0.3, 0.2, 0.1)
    """

    k: int = 15
    include_all_failure_steps: bool = False
    risk_decay: float = 0.9
    attribution_weights: tuple[float, float, float, float] = field(
        default_factory=lambda: (0.4, 0.3, 0.2, 0.1)
    )
    ttf_horizon: int = 50

    def __post_init__(self) -> None:
        check_positive_int("k", self.k)
        check_in_range("risk_decay", self.risk_decay, 0.0, 1.0, low_inclusive=False)
        check_positive_int("ttf_horizon", self.ttf_horizon)
        weights = tuple(self.attribution_weights)
        if len(weights) != 4:
            raise error(
                "attribution_weights",
                "4 weights (action, alignment, velocity, floor)",
                f"{len(weights)} values",
                raw=True,
            )
        for name, w in zip(ATTRIBUTION_TERMS, weights):
            check_non_negative(f"attribution_weights[{name}]", float(w))
        if sum(weights) <= 0:
            raise error("attribution_weights", "a positive sum", weights)
        self.attribution_weights = tuple(float(w) for w in weights)  # type: ignore[assignment]


@dataclass
class StepLabels:
    """Labels of every kept step, aligned with ``rows`` of the rollouts' step arrays.

    Attributes:
        rows: ``(N,)`` indices of the kept steps in the rollouts' step arrays.
        episode: ``(N,)`` position of each step's episode (``0..E-1``).
        step: ``(N,)`` step index within the episode.
        binary: ``(N,)`` float32 0/1 fails-within-k label.
        steps_to_failure: ``(N,)`` int64 $d_t$, ``-1`` in successful episodes.
        ttf: ``(N,)`` float32 normalised time to failure in ``[0, 1]``.
        risk: ``(N, A)`` float32 per-dimension risk.
        action_scale: ``(A,)`` the $s_j$ used.
        velocity_scale: ``(A,)`` the $u_j$ used (zeros without velocities).

    Examples:
        >>> import numpy as np
        >>> r = Rollouts(np.zeros((3, 1)), np.ones((3, 1)), [3], [False], [2])
        >>> make_labels(r, LabelConfig(k=1)).binary.tolist()
        [0.0, 0.0, 1.0]
    """

    rows: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    binary: np.ndarray
    steps_to_failure: np.ndarray
    ttf: np.ndarray
    risk: np.ndarray
    action_scale: np.ndarray
    velocity_scale: np.ndarray


def _episode_index(rollouts: Rollouts) -> tuple[np.ndarray, np.ndarray]:
    lengths = rollouts.episode_lengths
    episode = np.repeat(np.arange(rollouts.n_episodes), lengths)
    step = np.arange(rollouts.n_steps) - np.repeat(rollouts.offsets[:-1], lengths)
    return episode, step


def _velocity_change(rollouts: Rollouts, step: np.ndarray) -> np.ndarray:
    if rollouts.velocities is None:
        return np.zeros_like(rollouts.actions)
    change = np.zeros_like(rollouts.velocities)
    change[1:] = np.abs(np.diff(rollouts.velocities, axis=0))
    change[step == 0] = 0.0  # no change across an episode boundary
    return change


def _safe_scale(values: np.ndarray) -> np.ndarray:
    scale = np.abs(values).max(axis=0) if values.size else np.zeros(values.shape[1])
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def failure_directions(rollouts: Rollouts, k: int, action_scale: np.ndarray) -> np.ndarray:
    """``(E, A)`` failure direction of every episode, scaled to max-abs 1 (zeros for successes).

    The rollouts' ``failure_direction`` is used when present; otherwise the mean
    scaled action over the last ``k`` steps up to the failure.

    Examples:
        >>> import numpy as np
        >>> r = Rollouts(np.zeros((4, 1)), [[0.1, 0.0], [0.2, -0.1], [0.4, -0.1], [1.0, 1.0]],
        ...              episode_lengths=[3, 1], success=[False, True], failure_step=[2, -1])
        >>> failure_directions(r, k=2, action_scale=np.ones(2)).round(2).tolist()
        [[1.0, -0.33], [0.0, 0.0]]
    """
    fs = rollouts.resolved_failure_step()
    if rollouts.failure_direction is not None:
        raw = rollouts.failure_direction.astype(np.float64)
    else:
        raw = np.zeros((rollouts.n_episodes, rollouts.action_dim))
        scaled = rollouts.actions / action_scale
        for i in np.flatnonzero(fs >= 0):
            start = int(rollouts.offsets[i])
            stop = start + int(fs[i]) + 1
            raw[i] = scaled[max(start, stop - k) : stop].mean(axis=0)
    raw[fs < 0] = 0.0
    top = np.abs(raw).max(axis=1, keepdims=True)
    return np.divide(raw, top, out=np.zeros_like(raw), where=top > 0).astype(np.float32)


def make_labels(rollouts: Rollouts, config: LabelConfig | None = None) -> StepLabels:
    """Compute the binary, time-to-failure and per-dimension risk labels of every step.

    Args:
        rollouts: the episodes.
        config: labelling settings (defaults when ``None``).

    Returns:
        :class:`StepLabels` for every step up to each episode's failure.

    Examples:
        >>> import numpy as np
        >>> r = Rollouts(np.zeros((6, 2)), np.ones((6, 1)), episode_lengths=[4, 2],
        ...              success=[False, True], failure_step=[3, -1])
        >>> labels = make_labels(r, LabelConfig(k=2, risk_decay=0.5, ttf_horizon=4))
        >>> labels.binary.tolist(), labels.steps_to_failure.tolist()
        ([0.0, 0.0, 1.0, 1.0, 0.0, 0.0], [3, 2, 1, 0, -1, -1])
        >>> labels.ttf.tolist()
        [0.75, 0.5, 0.25, 0.0, 1.0, 1.0]
        >>> labels.risk[:, 0].round(2).tolist()  # decay 0.5 ** d times 0.4 + 0.3 + 0 + 0.1
        [0.0, 0.0, 0.4, 0.8, 0.0, 0.0]
    """
    cfg = config or LabelConfig()
    episode, step = _episode_index(rollouts)
    fs = rollouts.resolved_failure_step()[episode]
    failed = fs >= 0
    keep = ~failed | (step <= fs)
    d = np.where(failed, fs - step, -1)

    action_scale = _safe_scale(rollouts.actions[keep])
    dv = _velocity_change(rollouts, step)
    velocity_scale = (
        _safe_scale(dv[keep]) if rollouts.velocities is not None else np.zeros_like(action_scale)
    )
    direction = failure_directions(rollouts, cfg.k, action_scale)[episode]

    if cfg.include_all_failure_steps:
        binary = failed
    else:
        binary = failed & (d < cfg.k)
    scaled = rollouts.actions / action_scale
    w_a, w_f, w_v, w_0 = cfg.attribution_weights
    vel_term = dv / np.where(velocity_scale > 0, velocity_scale, 1.0)
    attribution = (
        w_a * np.abs(scaled) + w_f * np.maximum(0.0, scaled * direction) + w_v * vel_term + w_0
    )
    decay = np.where(failed, cfg.risk_decay ** np.maximum(d, 0).astype(np.float64), 0.0)
    risk = (binary * decay)[:, None] * attribution
    ttf = np.where(failed, np.minimum(np.maximum(d, 0), cfg.ttf_horizon) / cfg.ttf_horizon, 1.0)

    rows = np.flatnonzero(keep)
    return StepLabels(
        rows=rows,
        episode=episode[rows],
        step=step[rows],
        binary=binary[rows].astype(np.float32),
        steps_to_failure=d[rows].astype(np.int64),
        ttf=ttf[rows].astype(np.float32),
        risk=risk[rows].astype(np.float32),
        action_scale=action_scale,
        velocity_scale=velocity_scale.astype(np.float32),
    )
