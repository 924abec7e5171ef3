"""Labels (binary, time to failure, per-dimension risk), the episode split and the summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imbalance_risk.data import load_prepared
from imbalance_risk.labels import LabelConfig, failure_directions, make_labels
from imbalance_risk.prepare import (
    label_summary,
    prepare_rollouts,
    split_episodes,
    write_prepared,
)
from imbalance_risk.rollouts import Rollouts


def _handmade(with_direction: bool) -> Rollouts:
    # Episode 0: fails at step 4 of 6 (steps 5 is after the failure and dropped).
    # Episode 1: success, 3 steps.
    actions = np.array(
        [
            [0.1, -0.2],
            [0.4, 0.0],
            [-0.5, 0.2],
            [0.8, -1.0],
            [0.2, 0.5],
            [9.0, 9.0],  # after the failure: dropped, and it sets no scale either
            [0.3, 0.3],
            [-0.2, 0.1],
            [0.0, 0.4],
        ]
    )
    velocities = np.array(
        [
            [0.0, 0.0],
            [0.5, 0.1],
            [0.7, -0.3],
            [0.1, 0.2],
            [1.1, 0.2],
            [0, 0],
            [0, 0],
            [0.2, 0.0],
            [0.2, 0.6],
        ]
    )
    return Rollouts(
        hidden_states=np.arange(18, dtype=float).reshape(9, 2),
        actions=actions,
        velocities=velocities,
        episode_lengths=[6, 3],
        success=[False, True],
        failure_step=[4, -1],
        failure_direction=[[1.0, -0.5], [0.0, 0.0]] if with_direction else None,
    )


def _reference(r: Rollouts, k: int, decay: float, weights, horizon: int, include_all: bool):
    """The labels written out step by step, dimension by dimension."""
    w_a, w_f, w_v, w_0 = weights
    a_dim = r.actions.shape[1]
    kept_dv = []
    rows = []
    for e in range(r.n_episodes):
        start = int(r.offsets[e])
        fs = -1 if r.success[e] else int(r.failure_step[e])
        last = int(r.episode_lengths[e]) - 1 if fs < 0 else fs
        for t in range(last + 1):
            i = start + t
            dv = (
                [0.0] * a_dim
                if t == 0
                else [abs(r.velocities[i, j] - r.velocities[i - 1, j]) for j in range(a_dim)]
            )
            kept_dv.append(dv)
            rows.append((e, t, i, fs, dv))
    kept = [i for _, _, i, _, _ in rows]
    s = [max(abs(r.actions[kept, j]).max(), 1e-12) for j in range(a_dim)]
    u = [max(max(dv[j] for dv in kept_dv), 1e-12) for j in range(a_dim)]
    out = {"binary": [], "ttf": [], "risk": [], "d": []}
    for e, t, i, fs, dv in rows:
        failed = fs >= 0
        d = fs - t if failed else -1
        y = 1.0 if failed and (include_all or d < k) else 0.0
        if r.failure_direction is not None:
            f = list(r.failure_direction[e])
        else:
            start = int(r.offsets[e])
            window = [start + tt for tt in range(max(0, fs - k + 1), fs + 1)] if failed else []
            f = [
                np.mean([r.actions[ii, j] / s[j] for ii in window]) if window else 0.0
                for j in range(a_dim)
            ]
        top = max(abs(x) for x in f)
        f = [x / top if top > 0 else 0.0 for x in f]
        risk = []
        for j in range(a_dim):
            a = r.actions[i, j] / s[j]
            attribution = w_a * abs(a) + w_f * max(0.0, a * f[j]) + w_v * dv[j] / u[j] + w_0
            risk.append(y * (decay ** max(d, 0)) * attribution)
        out["binary"].append(y)
        out["ttf"].append(min(d, horizon) / horizon if failed else 1.0)
        out["risk"].append(risk)
        out["d"].append(d)
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("with_direction", [True, False])
@pytest.mark.parametrize("include_all", [False, True])
def test_labels_match_the_formula_step_by_step(with_direction, include_all):
    r = _handmade(with_direction)
    weights = (0.5, 0.2, 0.2, 0.1)
    cfg = LabelConfig(
        k=2,
        include_all_failure_steps=include_all,
        risk_decay=0.8,
        attribution_weights=weights,
        ttf_horizon=3,
    )
    labels = make_labels(r, cfg)
    ref = _reference(r, 2, 0.8, weights, 3, include_all)
    assert labels.rows.tolist() == [0, 1, 2, 3, 4, 6, 7, 8]  # row 5 follows the failure
    np.testing.assert_array_equal(labels.binary, ref["binary"])
    np.testing.assert_array_equal(labels.steps_to_failure, ref["d"])
    np.testing.assert_allclose(labels.ttf, ref["ttf"], rtol=1e-6)
    np.testing.assert_allclose(labels.risk, ref["risk"], rtol=1e-5, atol=1e-7)
    assert labels.step.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]


def test_failure_direction_from_recent_actions():
    r = _handmade(False)
    scale = np.abs(r.actions[[0, 1, 2, 3, 4, 6, 7, 8]]).max(axis=0)
    got = failure_directions(r, k=2, action_scale=scale)
    mean = (r.actions[3] + r.actions[4]) / 2 / scale
    np.testing.assert_allclose(got[0], mean / np.abs(mean).max(), rtol=1e-6)
    np.testing.assert_array_equal(got[1], [0.0, 0.0])


def test_without_velocities_the_velocity_term_is_zero():
    r = _handmade(True)
    no_vel = Rollouts(
        r.hidden_states,
        r.actions,
        r.episode_lengths,
        r.success,
        r.failure_step,
        failure_direction=r.failure_direction,
    )
    only_velocity = LabelConfig(k=5, risk_decay=1.0, attribution_weights=(0, 0, 1, 0))
    assert make_labels(no_vel, only_velocity).risk.max() == 0.0
    assert make_labels(r, only_velocity).risk.max() == pytest.approx(1.0)


@st.composite
def _random_rollouts(draw):
    n_eps = draw(st.integers(1, 6))
    lengths = draw(st.lists(st.integers(1, 12), min_size=n_eps, max_size=n_eps))
    success = draw(st.lists(st.booleans(), min_size=n_eps, max_size=n_eps))
    fail = [-1 if s else draw(st.integers(-1, n - 1)) for s, n in zip(success, lengths)]
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    return Rollouts(
        rng.normal(size=(n, 2)),
        rng.normal(size=(n, 3)),
        lengths,
        success,
        fail,
        velocities=rng.normal(size=(n, 3)),
    )


@settings(max_examples=40, deadline=None)
@given(_random_rollouts(), st.integers(1, 8), st.floats(0.05, 1.0))
def test_label_properties(r, k, decay):
    labels = make_labels(r, LabelConfig(k=k, risk_decay=decay))
    positive = labels.binary > 0
    # The floor makes every positive step's risk positive; negatives have none.
    assert ((labels.risk > 0).all(axis=1) == positive).all()
    assert labels.risk.max() <= 1.0 + 1e-6  # the default weights sum to 1
    assert ((labels.ttf >= 0) & (labels.ttf <= 1)).all()
    fs = r.resolved_failure_step()
    for e in range(r.n_episodes):
        mine = labels.episode == e
        expected = 0 if fs[e] < 0 else min(k, fs[e] + 1)
        assert int(positive[mine].sum()) == expected
        assert int(mine.sum()) == (r.episode_lengths[e] if fs[e] < 0 else fs[e] + 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be an integer >= 1"),
        ({"risk_decay": 0.0}, r"risk_decay must be in \(0.0, 1.0\]"),
        ({"risk_decay": 1.5}, "risk_decay must be in"),
        ({"attribution_weights": (0.4, 0.3, 0.3)}, "attribution_weights must be 4 weights"),
        ({"attribution_weights": (0.4, -0.3, 0.3, 0.1)}, r"attribution_weights\[alignment\]"),
        ({"attribution_weights": (0, 0, 0, 0)}, "attribution_weights must be a positive sum"),
        ({"ttf_horizon": 0}, "ttf_horizon must be"),
    ],
)
def test_label_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelConfig(**kwargs)


def test_split_is_by_episode_and_stratified(tiny_rollouts):
    data = prepare_rollouts(tiny_rollouts, seed=3)
    for episode in np.unique(data.episode):
        assert np.unique(data.split[data.episode == episode]).size == 1
    codes = split_episodes(tiny_rollouts.success, 0.15, 0.15, seed=3)
    for outcome in (False, True):
        members = codes[tiny_rollouts.success == outcome]
        n = members.size
        assert np.bincount(members, minlength=3)[1:].tolist() == [round(0.15 * n)] * 2
    assert not np.array_equal(codes, split_episodes(tiny_rollouts.success, 0.15, 0.15, seed=4))
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        split_episodes(tiny_rollouts.success, 0.5, 0.5)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_episodes(tiny_rollouts.success, -0.1, 0.2)


def test_summary_and_round_trip(tiny_rollouts, tmp_path):
    data = prepare_rollouts(tiny_rollouts, seed=1)
    summary = write_prepared(data, tmp_path, {"note": "test"})
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["positive_rate"] == pytest.approx(float((data.binary > 0.5).mean()))
    assert summary["n_failed_episodes"] == int((~tiny_rollouts.success).sum())
    for j, dim in enumerate(summary["per_dim_risk"]):
        assert dim["mean"] == pytest.approx(float(data.risk[:, j].mean()), rel=1e-6)
        assert dim["nonzero"] == pytest.approx(float((data.risk[:, j] > 0).mean()))
        assert dim["mean_on_positive"] == pytest.approx(
            float(data.risk[data.binary > 0.5, j].mean()), rel=1e-6
        )
    total = sum(summary["splits"][s]["n_steps"] for s in ("train", "val", "test"))
    assert total == summary["n_steps"] == data.n_steps
    again = load_prepared(tmp_path)
    for name, array in data.arrays().items():
        np.testing.assert_array_equal(getattr(again, name), array, err_msg=name)
    assert label_summary(again)["positive_rate"] == summary["positive_rate"]


def test_prepare_warns_about_a_split_without_positives():
    r = Rollouts(
        np.zeros((12, 1)),
        np.zeros((12, 1)),
        [3, 3, 3, 3],
        [True, True, True, False],
        [-1, -1, -1, 2],
    )
    with pytest.warns(UserWarning, match="split has no positive step"):
        prepare_rollouts(r, val_fraction=0.25, test_fraction=0.25)
