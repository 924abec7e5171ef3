r"""Rollouts of a noisy reaching policy on a planar n-link arm (numpy rigid-body physics).

The arm stands on a table in a vertical plane: ``n_links`` revolute joints, point
masses at the link ends, motor inertia and viscous joint friction, under
gravity. Its equation of motion is integrated with semi-implicit Euler:

```math
M(q)\,\ddot q + C(q, \dot q)\,\dot q + g(q) + b\,\dot q = \tau ,
\qquad
M(q) = \sum_i m_i J_i(q)^\top J_i(q) + I_m ,
```

where $J_i$ is the Jacobian of the $i$-th link end and $C\dot q$ follows from
$\dot M \dot q - \tfrac12 \nabla_q (\dot q^\top M \dot q)$ (derivatives of $M$
by central differences).

The policy reaches for goal postures with a PD law plus an imperfect gravity
model, torques saturate at the motor limits, and coloured (Ornstein-Uhlenbeck)
noise perturbs every action. From time to time the policy *glitches*: its goal
jumps to a posture near or beyond the safe region for a random number of
steps. Whether a glitch ends in a failure is decided by the physics: the arm
fails when a joint passes its limit, a link end touches the table, or a joint
spins faster than the safety limit. Failures are therefore partly predictable
some steps ahead from the policy's hidden state (which encodes its intended
motion and the arm's state), and partly not (glitch durations are random and
short glitches recover).

The hidden state is a fixed random two-layer tanh network of what the policy
observes (joint angles, velocities, its goal error, its previous action and the
end-effector position) and of a per-episode scene vector (the lighting, objects
and instruction a real policy also encodes, unrelated to failures), plus
observation noise: a stand-in for a learned policy's features, where the
failure signal is entangled with variation that does not matter. Actions are
torques normalised by the motor limits (in ``[-1, 1]``); velocities are the
joint speeds. With the defaults and ``prepare``'s default
``k``, about 6% of steps are labelled positive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from imbalance_kit.app import check_in_range, check_non_negative, check_positive_int, error
from imbalance_risk.rollouts import Rollouts

__all__ = ["FAILURE_MODES", "ArmSimulator", "SimulationConfig", "simulate_rollouts"]

FAILURE_MODES = ("none", "joint_limit", "table_collision", "overspeed")


@dataclass
class SimulationConfig:
    """Settings of :func:`simulate_rollouts`.

    Attributes:
        n_episodes: number of episodes.
        horizon: maximum steps per episode (an episode ends at its failure).
        n_links: number of joints = action dimensions (2 to 6).
        hidden_dim: width of the policy's hidden state.
        glitch_rate: probability per step that a glitch starts.
        action_noise: standard deviation of the Ornstein-Uhlenbeck action noise,
            as a fraction of the torque limit.
        obs_noise: standard deviation of the noise added to the hidden state.
        scene_dim: size of a per-episode scene vector (lighting, objects,
            instruction: what a real policy also encodes) fed to the feature
            network with the observation; it varies between episodes and has
            nothing to do with failures (0: none).
        seed: seed of the episodes (initial postures, goals, noise, glitches).
        policy_seed: seed of the policy's feature network (keep it fixed so that
            different data sets come from the same policy).

    Examples:
        >>> SimulationConfig(n_links=4).hidden_dim
        64
    """

    n_episodes: int = 400
    horizon: int = 120
    n_links: int = 3
    hidden_dim: int = 64
    glitch_rate: float = 0.015
    action_noise: float = 0.15
    obs_noise: float = 0.05
    scene_dim: int = 8
    seed: int = 0
    policy_seed: int = 1234

    def __post_init__(self) -> None:
        check_positive_int("n_episodes", self.n_episodes)
        check_positive_int("horizon", self.horizon, minimum=2)
        check_positive_int("hidden_dim", self.hidden_dim)
        check_in_range("n_links", self.n_links, 2, 6)
        if int(self.n_links) != self.n_links:
            raise error("n_links", "an integer in [2, 6]", self.n_links)
        check_in_range("glitch_rate", self.glitch_rate, 0.0, 1.0)
        check_non_negative("action_noise", self.action_noise)
        check_non_negative("obs_noise", self.obs_noise)
        check_positive_int("scene_dim", self.scene_dim, minimum=0)
        for name in ("seed", "policy_seed"):
            check_positive_int(name, getattr(self, name), minimum=0)


class ArmSimulator:
    """Planar n-link arm dynamics, vectorised over a batch of arms.

    Args:
        n_links: number of joints (2 to 6).

    Examples:
        >>> arm = ArmSimulator(3)
        >>> q = np.array([[np.pi / 2, 0.0, 0.0]])  # pointing straight up
        >>> np.round(arm.points(q)[0, -1], 3)  # the end effector
        array([0. , 1.2])
        >>> M = arm.mass_matrix(q)
        >>> bool(np.allclose(M, M.transpose(0, 2, 1))), bool((np.linalg.eigvalsh(M) > 0).all())
        (True, True)
    """

    dt = 0.01
    substeps = 2
    gravity = 9.81
    table_height = -0.2
    max_speed = 8.0

    def __init__(self, n_links: int) -> None:
        self.n = int(n_links)
        base_l = np.array([0.5, 0.4, 0.3, 0.25, 0.2, 0.15])[: self.n]
        self.lengths = base_l * (1.2 / base_l.sum())
        self.masses = np.linspace(1.0, 0.4, self.n)
        self.motor_inertia = np.full(self.n, 0.05)
        self.friction = np.full(self.n, 0.5)
        self.center = np.zeros(self.n)
        self.center[0] = np.pi / 2
        self.limits = np.full(self.n, 2.2)
        self.limits[0] = 2.0
        reach = np.cumsum(self.lengths[::-1])[::-1]  # lever arm carried by each joint
        carried = np.cumsum(self.masses[::-1])[::-1]
        self.torque_limit = np.ceil(1.4 * self.gravity * carried * reach * 0.8)
        self.kp = 2.2 * self.gravity * carried * reach
        inertia = np.diag(self.mass_matrix(self.center[None])[0])
        self.kd = 1.4 * np.sqrt(self.kp * inertia)  # damping ratio about 0.7

    # ------------------------------------------------------------- kinematics
    def _link_terms(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi = np.cumsum(q, axis=-1)
        c, s = np.cos(phi), np.sin(phi)
        vec = np.stack([c, s], axis=-1) * self.lengths[:, None]  # (B, n, 2)
        dvec = np.stack([-s, c], axis=-1) * self.lengths[:, None]  # d vec_k / d phi_k
        return vec, dvec

    def points(self, q: np.ndarray) -> np.ndarray:
        """``(B, n, 2)`` positions of the link ends (the last one is the end effector)."""
        vec, _ = self._link_terms(q)
        return np.cumsum(vec, axis=1)

    def jacobians(self, q: np.ndarray) -> np.ndarray:
        """``(B, n, 2, n)``: ``J[b, i, :, j]`` is d(point i) / d(q_j)."""
        _, dvec = self._link_terms(q)
        s = np.cumsum(dvec, axis=1)  # (B, n, 2): sum of dvec_0..i
        s_prev = np.concatenate([np.zeros_like(s[:, :1]), s[:, :-1]], axis=1)
        jac = s[:, :, :, None] - s_prev.transpose(0, 2, 1)[:, None, :, :]
        mask = np.tril(np.ones((self.n, self.n)))  # j <= i
        return jac * mask[None, :, None, :]

    def mass_matrix(self, q: np.ndarray) -> np.ndarray:
        """``(B, n, n)`` joint-space inertia matrix."""
        jac = self.jacobians(q)
        m = np.einsum("bicj,bick,i->bjk", jac, jac, self.masses)
        return m + np.diag(self.motor_inertia)

    def gravity_torque(self, q: np.ndarray) -> np.ndarray:
        """``(B, n)`` torques that hold the arm still against gravity."""
        jac = self.jacobians(q)
        return self.gravity * np.einsum("bij,i->bj", jac[:, :, 1, :], self.masses)

    def _bias_forces(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """Coriolis and centrifugal torques ``C(q, dq) dq`` by central differences of M."""
        eps = 1e-5
        eye = np.eye(self.n) * eps
        dm = np.stack(
            [
                (self.mass_matrix(q + eye[k]) - self.mass_matrix(q - eye[k])) / (2 * eps)
                for k in range(self.n)
            ],
            axis=1,
        )  # (B, k, n, n): dM/dq_k
        mdot = np.einsum("bkij,bk->bij", dm, dq)
        grad = np.einsum("bi,bkij,bj->bk", dq, dm, dq)
        return np.einsum("bij,bj->bi", mdot, dq) - 0.5 * grad

    def step(self, q: np.ndarray, dq: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance one control step (``substeps`` semi-implicit Euler steps of ``dt``)."""
        for _ in range(self.substeps):
            rhs = tau - self._bias_forces(q, dq) - self.gravity_torque(q) - self.friction * dq
            ddq = np.linalg.solve(self.mass_matrix(q), rhs[..., None])[..., 0]
            dq = dq + self.dt * ddq
            q = q + self.dt * dq
        return q, dq

    def failures(self, q: np.ndarray, dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Failure mode per arm (index into :data:`FAILURE_MODES`) and its action direction.

        The direction is the torque direction that pushed the arm into the
        failure, scaled to a maximum absolute value of 1.
        """
        b = q.shape[0]
        rel = q - self.center
        over_limit = np.abs(rel) > self.limits
        pts = self.points(q)
        heights = pts[:, :, 1]
        hit = heights < self.table_height
        fast = np.abs(dq) > self.max_speed
        # Priority: table collision, then joint limit, then speed.
        rows = np.arange(b)
        jac = self.jacobians(q)
        lowest = np.argmin(heights, axis=1)
        down = -jac[rows, lowest, 1, :]  # torques that lower the lowest point
        j_lim = np.argmax(np.abs(rel) - self.limits, axis=1)
        j_fast = np.argmax(np.abs(dq), axis=1)
        limit_dir = np.zeros((b, self.n))
        limit_dir[rows, j_lim] = np.sign(rel[rows, j_lim])
        speed_dir = np.zeros((b, self.n))
        speed_dir[rows, j_fast] = np.sign(dq[rows, j_fast])
        is_hit, is_limit, is_fast = hit.any(axis=1), over_limit.any(axis=1), fast.any(axis=1)
        mode = np.select([is_hit, is_limit, is_fast], [2, 1, 3], 0).astype(np.int64)
        direction = np.select(
            [is_hit[:, None], is_limit[:, None], is_fast[:, None]],
            [down, limit_dir, speed_dir],
            0.0,
        )
        scale = np.abs(direction).max(axis=1, keepdims=True)
        direction = np.divide(direction, scale, out=np.zeros_like(direction), where=scale > 0)
        return mode, direction

    def sample_goals(self, rng: np.random.Generator, b: int) -> np.ndarray:
        """``(b, n)`` reachable goal postures with every link end well above the table."""
        goals = np.empty((b, self.n))
        todo = np.arange(b)
        while todo.size:
            cand = self.center + rng.uniform(-1, 1, (todo.size, self.n)) * self.limits * 0.55
            ok = self.points(cand)[:, :, 1].min(axis=1) > self.table_height + 0.35
            goals[todo[ok]] = cand[ok]
            todo = todo[~ok]
        return goals


class _Policy:
    """Features of a fixed random policy network: observation -> hidden state."""

    def __init__(self, arm: ArmSimulator, hidden_dim: int, scene_dim: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n_obs = 6 * arm.n + 3 + scene_dim
        width = max(64, 2 * hidden_dim)
        self.w1 = rng.normal(0, 1 / np.sqrt(n_obs), (n_obs, width))
        self.b1 = rng.normal(0, 0.1, width)
        self.w2 = rng.normal(0, 1.5 / np.sqrt(width), (width, hidden_dim))
        self.b2 = rng.normal(0, 0.1, hidden_dim)

    def features(self, obs: np.ndarray) -> np.ndarray:
        return np.tanh(np.tanh(obs @ self.w1 + self.b1) @ self.w2 + self.b2)


def simulate_rollouts(config: SimulationConfig | None = None, **overrides: Any) -> Rollouts:
    """Simulate episodes of the glitching reaching policy on the planar arm.

    Args:
        config: the settings (defaults when ``None``).
        **overrides: fields of :class:`SimulationConfig` to replace.

    Returns:
        :class:`~imbalance_risk.rollouts.Rollouts` with velocities and failure
        directions; ``failure_mode`` (index into :data:`FAILURE_MODES`, one per
        episode) is attached as an extra attribute.

    Raises:
        ValueError: an invalid setting.

    Examples:
        >>> r = simulate_rollouts(n_episodes=20, horizon=40, seed=3)
        >>> r.n_episodes, r.action_dim, r.hidden_dim
        (20, 3, 64)
        >>> bool(np.abs(r.actions).max() <= 1.0)
        True
    """
    cfg = SimulationConfig(**{**(asdict(config) if config else {}), **overrides})
    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only cost
        return _simulate(cfg)


def _simulate(cfg: SimulationConfig) -> Rollouts:
    arm = ArmSimulator(cfg.n_links)
    policy = _Policy(arm, cfg.hidden_dim, cfg.scene_dim, cfg.policy_seed)
    rng = np.random.default_rng(cfg.seed)
    b, n, horizon = cfg.n_episodes, arm.n, cfg.horizon
    scene = rng.normal(size=(b, cfg.scene_dim))

    goal = arm.sample_goals(rng, b)
    q = goal + rng.normal(0, 0.15, (b, n))
    dq = np.zeros((b, n))
    next_switch = rng.integers(25, 60, b)
    glitch_left = np.zeros(b, dtype=np.int64)
    glitch_goal = np.zeros((b, n))
    noise = np.zeros((b, n))
    prev_action = np.zeros((b, n))
    rho = 0.8

    hidden = np.zeros((horizon, b, cfg.hidden_dim), np.float32)
    actions = np.zeros((horizon, b, n), np.float32)
    velocities = np.zeros((horizon, b, n), np.float32)
    alive = np.ones(b, dtype=bool)
    length = np.full(b, horizon, dtype=np.int64)
    failure_step = np.full(b, -1, dtype=np.int64)
    failure_mode = np.zeros(b, dtype=np.int64)
    failure_direction = np.zeros((b, n), np.float32)

    for t in range(horizon):
        # Goal schedule and glitches.
        switch = t >= next_switch
        if switch.any():
            goal[switch] = arm.sample_goals(rng, int(switch.sum()))
            next_switch[switch] = t + rng.integers(25, 60, int(switch.sum()))
        start = (glitch_left == 0) & (rng.random(b) < cfg.glitch_rate)
        if start.any():
            k = int(start.sum())
            direction = rng.normal(size=(k, n))
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            glitch_goal[start] = q[start] + direction * rng.uniform(1.0, 3.0, (k, 1))
            glitch_left[start] = rng.integers(6, 40, k)
        glitching = glitch_left > 0
        target = np.where(glitching[:, None], glitch_goal, goal)
        glitch_left = np.maximum(glitch_left - 1, 0)

        # The policy: observe, compute features, act.
        ee = arm.points(q)[:, -1]
        obs = np.concatenate(
            [
                np.sin(q),
                np.cos(q),
                dq / arm.max_speed,
                np.clip(target - q, -3, 3),
                prev_action,
                np.clip(q - arm.center, -3, 3) / arm.limits,
                ee,
                arm.points(q)[:, :, 1].min(axis=1, keepdims=True),
                scene,
            ],
            axis=1,
        )
        feats = policy.features(obs) + rng.normal(0, cfg.obs_noise, (b, cfg.hidden_dim))
        noise = rho * noise + np.sqrt(1 - rho**2) * rng.normal(0, cfg.action_noise, (b, n))
        tau = (
            0.9 * arm.gravity_torque(q)
            + arm.kp * np.clip(target - q, -1.5, 1.5)
            - arm.kd * dq
            + noise * arm.torque_limit
        )
        tau = np.clip(tau, -arm.torque_limit, arm.torque_limit)
        action = tau / arm.torque_limit
        hidden[t], actions[t], velocities[t] = feats, action, dq
        prev_action = action

        # Physics, then failure checks for the arms still running.
        q_new, dq_new = arm.step(q, dq, tau)
        mode, direction = arm.failures(q_new, dq_new)
        failed_now = alive & (mode > 0)
        failure_step[failed_now] = t
        length[failed_now] = t + 1
        failure_mode[failed_now] = mode[failed_now]
        failure_direction[failed_now] = direction[failed_now]
        alive &= ~failed_now
        q = np.where(alive[:, None], q_new, q)
        dq = np.where(alive[:, None], dq_new, 0.0)
        if not alive.any():
            break

    mask = np.arange(horizon)[:, None] < length[None, :]  # (T, B)
    order = mask.T  # episode-major
    rollouts = Rollouts(
        hidden_states=hidden.transpose(1, 0, 2)[order],
        actions=actions.transpose(1, 0, 2)[order],
        velocities=velocities.transpose(1, 0, 2)[order],
        episode_lengths=length,
        success=failure_step < 0,
        failure_step=failure_step,
        failure_direction=failure_direction,
    )
    rollouts.failure_mode = failure_mode  # type: ignore[attr-defined]
    return rollouts
