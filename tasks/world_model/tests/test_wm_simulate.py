"""Simulator physics, the behaviour policy's economic metrics and the bricks."""

from __future__ import annotations

import numpy as np
import pytest
from imbalance_world_model.simulate import (
    data_bricks,
    oscillator_step,
    simulate_episodes,
    spring_matrix,
    write_bricks,
)


def _energy(z, spring):
    n = spring.shape[0]
    x, v = z[:, :n], z[:, n:]
    return 0.5 * (v**2).sum(1) + 0.5 * np.einsum("bi,ij,bj->b", x, spring, x)


def test_energy_decays_without_control_and_noise():
    spring = spring_matrix(3, 1.0, 0.5)
    z = np.random.default_rng(0).normal(size=(5, 6))
    e0 = _energy(z, spring)
    energies = [e0]
    for _ in range(300):
        z = oscillator_step(z, np.zeros((5, 3)), spring, damping=0.3, dt=0.05)
        energies.append(_energy(z, spring))
    energies = np.array(energies)
    assert (energies[-1] < 0.05 * e0).all()
    # decays over every 20-step window (semi-implicit Euler: energy wiggles within a period)
    assert (energies[20::20] < energies[:-20:20]).all()


def test_one_step_matches_hand_derivation():
    # two masses, k = 2, kappa = 1: K = [[3, -1], [-1, 3]]; c = 0.5, dt = 0.1
    spring = spring_matrix(2, 2.0, 1.0)
    np.testing.assert_allclose(spring, [[3.0, -1.0], [-1.0, 3.0]])
    z = np.array([[1.0, -2.0, 0.5, 0.0]])
    u = np.array([[0.2, -0.4]])
    noise = np.array([[0.01, 0.02]])
    out = oscillator_step(z, u, spring, damping=0.5, dt=0.1, noise=noise)
    # v1' = 0.5 + 0.1 * (-(3*1 - 1*(-2)) - 0.5*0.5 + 0.2) + 0.01 = 0.5 + 0.1 * (-5.05) + 0.01
    v1 = 0.5 + 0.1 * (-5.0 - 0.25 + 0.2) + 0.01
    # v2' = 0 + 0.1 * (-(-1*1 + 3*(-2)) - 0 - 0.4) + 0.02
    v2 = 0.0 + 0.1 * (7.0 - 0.4) + 0.02
    np.testing.assert_allclose(out, [[1.0 + 0.1 * v1, -2.0 + 0.1 * v2, v1, v2]], rtol=1e-12)


def test_episodes_and_metrics(tiny_real):
    ep = tiny_real
    assert ep.z.shape == (32, 21, 4) and ep.actions.shape == (32, 21, 2)
    assert (ep.source == "real").all()
    target = np.array([0.5, -0.5])
    dist = np.abs(ep.z[:, :, :2] - target).max(2)
    np.testing.assert_allclose(ep.meta["throughput"], (dist < 0.15).mean(1))
    np.testing.assert_allclose(ep.meta["error_rate"], (dist > 0.5).mean(1))
    np.testing.assert_allclose(
        ep.meta["energy"], (ep.actions.astype(np.float64) ** 2).sum((1, 2)) * 0.1, rtol=1e-5
    )
    # consecutive states follow the physics up to the process noise
    spring = spring_matrix(2, 1.0, 0.5)
    pred = oscillator_step(ep.z[:, 0].astype(np.float64), ep.actions[:, 0], spring, 0.3, 0.1)
    resid = ep.z[:, 1, 2:] - pred[:, 2:]
    assert 0.01 < resid.std() < 0.06  # sigma * sqrt(dt) = 0.0316


def test_same_seed_same_episodes():
    a = simulate_episodes(3, 5, seed=7)
    b = simulate_episodes(3, 5, seed=7)
    np.testing.assert_array_equal(a.z, b.z)


def test_bad_arguments():
    with pytest.raises(ValueError, match="horizon must be an integer >= 2"):
        simulate_episodes(3, 1)
    with pytest.raises(ValueError, match="process_noise must be a finite number >= 0"):
        simulate_episodes(3, 5, process_noise=-1.0)


def test_bricks(tiny_real, tmp_path):
    manifest = data_bricks(tiny_real, n_bricks=3, seed=0)
    bricks = manifest["bricks"]
    assert sum(b["n_episodes"] for b in bricks) == 32
    for b in bricks:
        idx = np.array(b["episodes"])
        assert (tiny_real.meta["brick"][idx] == b["brick"]).all()
        tp = tiny_real.meta["throughput"][idx].mean()
        er = tiny_real.meta["error_rate"][idx].mean()
        en = tiny_real.meta["energy"][idx].mean()
        assert b["value"] == pytest.approx(tp * (1 - er) - 0.01 * en)
    assert write_bricks(manifest, tmp_path / "b.json").is_file()
    with pytest.raises(ValueError, match="n_bricks must be <= the number of episodes"):
        data_bricks(tiny_real, n_bricks=100)
