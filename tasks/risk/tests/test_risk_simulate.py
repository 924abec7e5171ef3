"""The arm simulator: rigid-body physics checks and the properties of the simulated rollouts."""

from __future__ import annotations

import numpy as np
import pytest
from imbalance_risk.prepare import prepare_rollouts
from imbalance_risk.simulate import ArmSimulator, SimulationConfig, simulate_rollouts
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


@pytest.mark.parametrize("n_links", [2, 3, 5])
def test_jacobian_and_gravity_are_derivatives(n_links):
    arm = ArmSimulator(n_links)
    rng = np.random.default_rng(n_links)
    q = rng.uniform(-2, 2, (4, n_links))
    eps = 1e-6
    jac = arm.jacobians(q)
    for j in range(n_links):
        dq = np.zeros(n_links)
        dq[j] = eps
        numeric = (arm.points(q + dq) - arm.points(q - dq)) / (2 * eps)
        np.testing.assert_allclose(jac[:, :, :, j], numeric, atol=1e-7)

    # Gravity torque = gradient of the potential energy sum_i m_i g y_i.
    def potential(qq):
        return arm.gravity * (arm.points(qq)[:, :, 1] * arm.masses).sum(axis=1)

    for j in range(n_links):
        dq = np.zeros(n_links)
        dq[j] = eps
        numeric = (potential(q + dq) - potential(q - dq)) / (2 * eps)
        np.testing.assert_allclose(arm.gravity_torque(q)[:, j], numeric, rtol=1e-6, atol=1e-6)


def test_mass_matrix_equals_kinetic_energy_of_the_point_masses():
    arm = ArmSimulator(3)
    rng = np.random.default_rng(0)
    q, dq = rng.uniform(-2, 2, (5, 3)), rng.normal(size=(5, 3))
    eps = 1e-6
    velocity = (arm.points(q + eps * dq) - arm.points(q - eps * dq)) / (2 * eps)  # (B, n, 2)
    kinetic = 0.5 * (arm.masses * (velocity**2).sum(axis=2)).sum(axis=1)
    kinetic += 0.5 * (arm.motor_inertia * dq**2).sum(axis=1)
    m = arm.mass_matrix(q)
    np.testing.assert_allclose(0.5 * np.einsum("bi,bij,bj->b", dq, m, dq), kinetic, rtol=1e-6)


def test_free_swing_conserves_energy():
    """No friction, no torque: the total energy stays constant (this tests the Coriolis terms)."""
    arm = ArmSimulator(3)
    arm.friction = np.zeros(3)
    arm.substeps = 20
    arm.dt = 0.0005  # semi-implicit Euler: the energy error shrinks linearly with dt
    q = np.array([[0.3, 0.8, -0.5], [2.0, -1.0, 0.4]])
    dq = np.array([[1.0, -2.0, 3.0], [0.0, 0.5, -1.0]])

    def energy(q, dq):
        kinetic = 0.5 * np.einsum("bi,bij,bj->b", dq, arm.mass_matrix(q), dq)
        return kinetic + arm.gravity * (arm.points(q)[:, :, 1] * arm.masses).sum(axis=1)

    start = energy(q, dq)
    for _ in range(100):  # one second
        q, dq = arm.step(q, dq, np.zeros_like(q))
    spread = np.abs(energy(q, dq) - start) / (np.abs(start) + 10.0)
    assert spread.max() < 1e-2
    # Leaving out the Coriolis terms breaks the conservation by far more.
    arm._bias_forces = lambda q, dq: np.zeros_like(q)
    q2, dq2 = np.array([[0.3, 0.8, -0.5]]), np.array([[1.0, -2.0, 3.0]])
    start2 = energy(q2, dq2)
    for _ in range(100):
        q2, dq2 = arm.step(q2, dq2, np.zeros_like(q2))
    assert abs(energy(q2, dq2) - start2)[0] / (abs(start2[0]) + 10.0) > 10 * spread.max()


def test_rollouts_are_reproducible_and_consistent():
    a = simulate_rollouts(n_episodes=40, horizon=60, seed=7)
    b = simulate_rollouts(n_episodes=40, horizon=60, seed=7)
    c = simulate_rollouts(n_episodes=40, horizon=60, seed=8)
    np.testing.assert_array_equal(a.hidden_states, b.hidden_states)
    np.testing.assert_array_equal(a.episode_lengths, b.episode_lengths)
    assert not np.array_equal(a.episode_lengths, c.episode_lengths)
    failed = ~a.success
    assert failed.any() and a.success.any()
    # Failed episodes end at their failure, with a physical cause and a unit direction.
    np.testing.assert_array_equal(a.failure_step[failed] + 1, a.episode_lengths[failed])
    assert set(a.failure_mode[failed].tolist()) <= {1, 2, 3}
    assert (a.failure_mode[~failed] == 0).all() and (a.episode_lengths[~failed] == 60).all()
    np.testing.assert_allclose(np.abs(a.failure_direction[failed]).max(axis=1), 1.0)
    assert np.abs(a.actions).max() <= 1.0
    assert a.velocities is not None and a.velocities.shape == a.actions.shape


def test_about_six_percent_positive_and_partly_predictable():
    data = prepare_rollouts(simulate_rollouts(n_episodes=200, seed=0))
    rate = float((data.binary > 0.5).mean())
    assert 0.035 < rate < 0.085  # about 6% (the draw of 200 episodes varies)
    train, test = data.subset("train"), data.subset("test")
    model = LogisticRegression(max_iter=500).fit(train.features, train.binary)
    auc = roc_auc_score(test.binary, model.predict_proba(test.features)[:, 1])
    assert 0.75 < auc < 0.99  # predictable from the hidden state, but not trivially


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_episodes": 0}, "n_episodes must be an integer >= 1"),
        ({"horizon": 1}, "horizon must be an integer >= 2"),
        ({"n_links": 7}, "n_links must be in"),
        ({"glitch_rate": 1.5}, "glitch_rate must be in"),
        ({"action_noise": -0.1}, "action_noise must be a finite number >= 0"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**kwargs)
