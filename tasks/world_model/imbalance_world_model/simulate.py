r"""Real episodes: damped coupled oscillators driven by a noisy linear controller.

``n`` unit masses on springs, neighbours coupled by springs, with viscous damping,
a control force per mass and process noise. The latent state is
$z = (x, v) \in \mathbb{R}^{2n}$ (positions, velocities); one step of length ``dt``
is a semi-implicit (symplectic) Euler step:

```math
v_{t+1} = v_t + \Delta t\,(-K x_t - c\,v_t + u_t) + \sigma \sqrt{\Delta t}\,\varepsilon_t,
\qquad x_{t+1} = x_t + \Delta t\, v_{t+1},
```

with stiffness $K = k I + \kappa L$ ($L$ the Laplacian of the chain of masses).
Without control and noise the energy $E = \tfrac12 v^\top v + \tfrac12 x^\top K x$
decays. The behaviour policy is a PD controller toward a fixed set-point with a
per-episode gain ("skill") and per-episode action noise:

```math
u_t = K x^\star + g\,(x^\star - x_t) - d\, v_t + \eta\, \xi_t .
```

Each episode gets economic metrics (throughput: share of steps within ``tol`` of the
set-point; error rate: share of steps farther than ``error_tol``; energy:
$\sum_t \lVert u_t\rVert^2 \Delta t$), which k-means clusters into data "bricks"
with value profiles (:func:`data_bricks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import check_non_negative, check_positive, check_positive_int, write_json
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import Episodes, make_split, save_episodes, writable_dir

__all__ = [
    "data_bricks",
    "oscillator_step",
    "simulate_episodes",
    "simulate_real",
    "spring_matrix",
    "stage_simulate",
    "write_bricks",
]


def spring_matrix(n: int, stiffness: float = 1.0, coupling: float = 0.5) -> np.ndarray:
    r"""$K = k I + \kappa L$ for a chain of ``n`` masses.

    Examples:
        >>> spring_matrix(3, 1.0, 0.5).tolist()
        [[1.5, -0.5, 0.0], [-0.5, 2.0, -0.5], [0.0, -0.5, 1.5]]
    """
    lap = np.zeros((n, n))
    for i in range(n - 1):
        lap[i, i] += 1
        lap[i + 1, i + 1] += 1
        lap[i, i + 1] -= 1
        lap[i + 1, i] -= 1
    return stiffness * np.eye(n) + coupling * lap


def oscillator_step(
    z: np.ndarray,
    u: np.ndarray,
    spring: np.ndarray,
    damping: float,
    dt: float,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """One semi-implicit Euler step of a batch ``z`` ``(B, 2n)`` under forces ``u`` ``(B, n)``.

    ``noise`` (``(B, n)``, already scaled) is added to the velocity update.

    Examples:
        >>> z = np.array([[1.0, 0.0]])   # x = 1, v = 0, one mass
        >>> oscillator_step(z, np.zeros((1, 1)), np.eye(1), damping=0.0, dt=0.1).round(3).tolist()
        [[0.99, -0.1]]
    """
    n = spring.shape[0]
    x, v = z[:, :n], z[:, n:]
    v_next = v + dt * (-x @ spring.T - damping * v + u)
    if noise is not None:
        v_next = v_next + noise
    return np.concatenate([x + dt * v_next, v_next], axis=1)


def simulate_episodes(
    n_episodes: int = 200,
    horizon: int = 61,
    n_oscillators: int = 2,
    *,
    dt: float = 0.1,
    stiffness: float = 1.0,
    coupling: float = 0.5,
    damping: float = 0.3,
    process_noise: float = 0.1,
    gain_range: tuple[float, float] = (0.5, 2.0),
    action_noise_range: tuple[float, float] = (0.05, 0.5),
    tol: float = 0.15,
    error_tol: float = 0.5,
    seed: int = 0,
) -> Episodes:
    """Simulate real episodes of the controlled oscillators.

    Args:
        n_episodes: number of episodes.
        horizon: states per episode ``T`` (``T - 1`` actions applied; the last state's
            action and reward are stored as 0).
        n_oscillators: masses ``n`` (latent dimension ``2n``, action dimension ``n``).
        dt: step length.
        stiffness, coupling, damping: $k$, $\\kappa$, $c$ above.
        process_noise: $\\sigma$ of the velocity noise.
        gain_range: per-episode controller gain $g$ drawn uniformly from this range
            (damping gain $d = g / 2$).
        action_noise_range: per-episode action noise $\\eta$ drawn uniformly from this range.
        tol, error_tol: distance (max over masses) from the set-point for throughput / errors.
        seed: random seed.

    Returns:
        Real :class:`Episodes` with metadata ``throughput``, ``error_rate``, ``energy``,
        ``episode_return``, ``gain`` and ``action_noise``.

    Examples:
        >>> ep = simulate_episodes(n_episodes=4, horizon=10, n_oscillators=2, seed=0)
        >>> ep.z.shape, ep.actions.shape, sorted(ep.meta)[:3]
        ((4, 10, 4), (4, 10, 2), ['action_noise', 'energy', 'episode_return'])
    """
    check_positive_int("n_episodes", n_episodes)
    check_positive_int("horizon", horizon, minimum=2)
    check_positive_int("n_oscillators", n_oscillators)
    for name, value in (
        ("dt", dt),
        ("stiffness", stiffness),
        ("tol", tol),
        ("error_tol", error_tol),
    ):
        check_positive(name, value)
    for name, value in (
        ("coupling", coupling),
        ("damping", damping),
        ("process_noise", process_noise),
    ):
        check_non_negative(name, value)
    rng = np.random.default_rng(seed)
    n = n_oscillators
    spring = spring_matrix(n, stiffness, coupling)
    target = np.where(np.arange(n) % 2 == 0, 0.5, -0.5)
    gain = rng.uniform(*gain_range, size=(n_episodes, 1))
    eta = rng.uniform(*action_noise_range, size=(n_episodes, 1))
    z = np.concatenate(
        [rng.normal(0.0, 0.5, (n_episodes, n)), rng.normal(0.0, 0.2, (n_episodes, n))], axis=1
    )
    zs, us, rs = [], [], []
    for _ in range(horizon):
        x, v = z[:, :n], z[:, n:]
        u = target @ spring.T + gain * (target - x) - 0.5 * gain * v
        u = u + eta * rng.standard_normal((n_episodes, n))
        reward = -((x - target) ** 2).sum(1) - 0.01 * (u**2).sum(1)
        zs.append(z)
        us.append(u)
        rs.append(reward)
        noise = process_noise * np.sqrt(dt) * rng.standard_normal((n_episodes, n))
        z = oscillator_step(z, u, spring, damping, dt, noise)
    z_all, u_all, r_all = np.stack(zs, 1), np.stack(us, 1), np.stack(rs, 1)
    dist = np.abs(z_all[:, :, :n] - target).max(axis=2)
    u_all[:, -1], r_all[:, -1] = 0.0, 0.0  # the last state's action is never applied
    meta = {
        "throughput": (dist < tol).mean(1),
        "error_rate": (dist > error_tol).mean(1),
        "energy": (u_all**2).sum(axis=(1, 2)) * dt,
        "episode_return": r_all.sum(1),
        "gain": gain[:, 0],
        "action_noise": eta[:, 0],
    }
    return Episodes(z_all, u_all, r_all, np.array(["real"] * n_episodes), meta)


def data_bricks(
    episodes: Episodes, n_bricks: int = 4, *, energy_price: float = 0.01, seed: int = 0
) -> dict[str, Any]:
    r"""Cluster episodes into bricks by their economic metrics (k-means on z-scores).

    Each brick's value profile holds the mean throughput, error rate, energy and return of
    its episodes and a value $\text{throughput}\,(1 - \text{error rate}) - p_E\, \text{energy}$.
    The brick index of every episode is stored in ``episodes.meta["brick"]``.

    Returns:
        The manifest: ``{"n_bricks", "features", "bricks": [profile, ...]}``.

    Examples:
        >>> ep = simulate_episodes(n_episodes=30, horizon=20, seed=1)
        >>> manifest = data_bricks(ep, n_bricks=3)
        >>> sum(b["n_episodes"] for b in manifest["bricks"]), int(ep.meta["brick"].max()) < 3
        (30, True)
    """
    from sklearn.cluster import KMeans

    check_positive_int("n_bricks", n_bricks)
    names = ("throughput", "error_rate", "energy")
    missing = [k for k in names if k not in episodes.meta]
    if missing:
        raise ValueError(f"episodes must have metadata {list(names)}, missing {missing}")
    if n_bricks > episodes.n_episodes:
        raise ValueError(
            f"n_bricks must be <= the number of episodes ({episodes.n_episodes}), got {n_bricks}"
        )
    x = np.stack([episodes.meta[k] for k in names], 1).astype(np.float64)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    labels = KMeans(n_bricks, n_init=5, random_state=seed).fit_predict(x)
    episodes.meta["brick"] = labels.astype(np.int64)
    bricks = []
    for b in range(n_bricks):
        mask = labels == b
        profile: dict[str, Any] = {"brick": b, "n_episodes": int(mask.sum())}
        for k in (*names, "episode_return"):
            if k in episodes.meta:
                profile[f"mean_{k}"] = float(episodes.meta[k][mask].mean())
        profile["value"] = float(
            profile["mean_throughput"] * (1 - profile["mean_error_rate"])
            - energy_price * profile["mean_energy"]
        )
        profile["episodes"] = np.flatnonzero(mask).tolist()
        bricks.append(profile)
    return {
        "n_bricks": n_bricks,
        "features": list(names),
        "energy_price": energy_price,
        "bricks": bricks,
    }


def write_bricks(manifest: dict[str, Any], path: str | Path) -> Path:
    """Write a bricks manifest as JSON.

    Examples:
        >>> import tempfile
        >>> write_bricks({"n_bricks": 0, "bricks": []}, tempfile.mkdtemp() + "/b.json").name
        'b.json'
    """
    return write_json(path, manifest)


def simulate_real(config: WMConfig) -> Episodes:
    """Real episodes of the ``simulate`` section, with the held-out ones marked in
    ``meta["split_test"]`` (``split.test_fraction`` of them, at least one, drawn with
    ``simulate.seed``).

    Examples:
        >>> cfg = WMConfig.from_dict({"simulate": {"n_episodes": 8, "horizon": 6}})
        >>> int(simulate_real(cfg).meta["split_test"].sum())
        2
    """
    s = config.simulate
    real = simulate_episodes(
        s.n_episodes,
        s.horizon,
        s.n_oscillators,
        dt=s.dt,
        damping=s.damping,
        coupling=s.coupling,
        process_noise=s.process_noise,
        seed=s.seed,
    )
    real.meta["split_test"] = make_split(s.n_episodes, config.split.test_fraction, s.seed + 1)
    return real


def stage_simulate(config: WMConfig, out: str | Path) -> Episodes:
    """Simulate real episodes, mark the held-out split, cluster bricks; write ``out`` and
    ``bricks.json`` beside it.

    Examples:
        >>> import tempfile
        >>> cfg = WMConfig.from_dict({"simulate": {"n_episodes": 8, "horizon": 6, "n_bricks": 2}})
        >>> real = stage_simulate(cfg, tempfile.mkdtemp() + "/real.npz")
        >>> int(real.meta["split_test"].sum()), sorted(real.meta)[:2]
        (2, ['action_noise', 'brick'])
    """
    s = config.simulate
    writable_dir(Path(out).parent)
    real = simulate_real(config)
    manifest = data_bricks(real, min(s.n_bricks, s.n_episodes), seed=s.seed)
    out = Path(out)
    save_episodes(real, out)
    write_bricks(manifest, out.with_name("bricks.json"))
    return real
