"""The rollout schema and its NPZ / Parquet / pickle readers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from imbalance_risk.rollouts import Rollouts, load_rollouts, save_rollouts


def _rollouts(with_optional: bool = True) -> Rollouts:
    rng = np.random.default_rng(0)
    lengths = np.array([4, 2, 5])
    n = int(lengths.sum())
    return Rollouts(
        hidden_states=rng.normal(size=(n, 3)),
        actions=rng.uniform(-1, 1, size=(n, 2)),
        episode_lengths=lengths,
        success=[True, False, False],
        failure_step=[-1, 1, 3],
        velocities=rng.normal(size=(n, 2)) if with_optional else None,
        failure_direction=rng.normal(size=(3, 2)) if with_optional else None,
        episode_id=[10, 11, 12],
    )


def _assert_same(a: Rollouts, b: Rollouts) -> None:
    for name in ("hidden_states", "actions", "velocities", "failure_direction"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=0, atol=0, err_msg=name)
    for name in ("episode_lengths", "success", "failure_step", "episode_id"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("optional", [True, False])
def test_npz_round_trip(tmp_path, optional):
    r = _rollouts(optional)
    _assert_same(r, load_rollouts(save_rollouts(r, tmp_path / "r.npz")))


def test_parquet_round_trip_and_row_order(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    r = _rollouts()
    path = save_rollouts(r, tmp_path / "r.parquet")
    _assert_same(r, load_rollouts(path))
    # Rows in any order are sorted back by (episode_id, step).
    table = pq.read_table(path)
    shuffled = table.take(pa.array(np.random.default_rng(1).permutation(table.num_rows)))
    pq.write_table(shuffled, tmp_path / "shuffled.parquet")
    _assert_same(r, load_rollouts(tmp_path / "shuffled.parquet"))


def test_parquet_rejects_gaps_and_missing_columns(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = save_rollouts(_rollouts(), tmp_path / "r.parquet")
    table = pq.read_table(path)
    pq.write_table(table.slice(1), tmp_path / "gap.parquet")  # episode 10 starts at step 1
    with pytest.raises(ValueError, match="step"):
        load_rollouts(tmp_path / "gap.parquet")
    pq.write_table(table.drop_columns(["action"]), tmp_path / "no_action.parquet")
    with pytest.raises(ValueError, match=r"missing \['action'\]"):
        load_rollouts(tmp_path / "no_action.parquet")


def test_pickle_needs_explicit_permission(tmp_path):
    r = _rollouts()
    episodes = []
    for i in range(r.n_episodes):
        rows = r.episode_slice(i)
        episodes.append(
            {
                "features": r.hidden_states[rows],  # legacy alias of hidden_states
                "actions": r.actions[rows],
                "velocities": r.velocities[rows],
                "failure_direction": r.failure_direction[i],
                "success": bool(r.success[i]),
                "failure_step": None if r.success[i] else int(r.failure_step[i]),
                "episode_id": int(r.episode_id[i]),
            }
        )
    path = tmp_path / "legacy.pkl"
    path.write_bytes(pickle.dumps(episodes))
    with pytest.raises(PermissionError, match="allow-pickle"):
        load_rollouts(path)
    _assert_same(r, load_rollouts(path, allow_pickle=True))
    wrapped = tmp_path / "wrapped.pickle"
    wrapped.write_bytes(pickle.dumps({"episodes": episodes}))
    _assert_same(r, load_rollouts(wrapped, allow_pickle=True))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"something": 1}))
    with pytest.raises(ValueError, match="episodes"):
        load_rollouts(bad, allow_pickle=True)


def test_npz_is_read_without_pickle(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, hidden_states=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):  # numpy refuses object arrays with allow_pickle=False
        load_rollouts(path)


def test_never_writes_pickle(tmp_path):
    with pytest.raises(ValueError, match="pickles are read-only"):
        save_rollouts(_rollouts(), tmp_path / "r.pkl")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"episode_lengths": [4, 2, 4]}, "episode_lengths must be summing to the number of steps"),
        ({"success": [True, True, False]}, "failure_step must be -1 for successful episodes"),
        ({"failure_step": [-1, 2, 3]}, r"failure_step must be in \[-1, 1\] for episode 11"),
        ({"actions": np.zeros((10, 2))}, "actions must be 11 rows"),
        ({"velocities": np.zeros((11, 3))}, "velocities must be shape"),
        ({"failure_direction": np.zeros((2, 2))}, "failure_direction must be shape"),
        ({"episode_id": [1, 1, 2]}, "episode_id must be unique"),
        ({"episode_lengths": [0, 6, 5]}, "episode_lengths must be >= 1"),
    ],
)
def test_schema_errors(change, message):
    r = _rollouts()
    fields = {
        "hidden_states": r.hidden_states,
        "actions": r.actions,
        "episode_lengths": r.episode_lengths,
        "success": r.success,
        "failure_step": r.failure_step,
        "velocities": r.velocities,
        "failure_direction": r.failure_direction,
        "episode_id": r.episode_id,
    }
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Rollouts(**fields)


def test_non_finite_and_file_errors(tmp_path):
    with pytest.raises(ValueError, match="hidden_states must be finite"):
        Rollouts(np.array([[np.nan]]), np.zeros((1, 1)), [1], [True], [-1])
    with pytest.raises(FileNotFoundError):
        load_rollouts(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="path must be a file ending in one of"):
        load_rollouts(tmp_path / "data.csv")
    np.savez(tmp_path / "partial.npz", hidden_states=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="missing"):
        load_rollouts(tmp_path / "partial.npz")


def test_from_episodes_failure_defaults_and_mixed_fields():
    eps = [
        {"hidden": np.zeros((3, 2)), "actions": np.zeros((3, 1)), "success": False},
        {"hidden_states": np.zeros((2, 2)), "actions": np.zeros((2, 1)), "success": True},
    ]
    r = Rollouts.from_episodes(eps)
    assert r.resolved_failure_step().tolist() == [2, -1]  # unknown failure step: the last one
    eps[0]["velocities"] = np.zeros((3, 1))
    with pytest.raises(ValueError, match="velocities must be present in every episode"):
        Rollouts.from_episodes(eps)
    with pytest.raises(ValueError, match="hidden_states"):
        Rollouts.from_episodes([{"actions": np.zeros((1, 1)), "success": True}])


def _episode_list_npz(path, r: Rollouts, **extra) -> None:
    """The common "list of episodes" layout: one object array entry per episode."""

    def per_episode(a):
        out = np.empty(r.n_episodes, dtype=object)
        for i in range(r.n_episodes):
            out[i] = a[r.episode_slice(i)]
        return out

    np.savez(
        path,
        hidden_states=per_episode(r.hidden_states),
        actions=per_episode(r.actions),
        velocities=per_episode(r.velocities),
        success=r.success,
        failure_step=r.failure_step,
        failure_direction=r.failure_direction,
        episode_id=r.episode_id,
        **extra,
    )


def test_the_episode_list_layout_names_the_field_and_the_way_out(tmp_path):
    r = _rollouts()
    path = tmp_path / "episodes.npz"
    _episode_list_npz(path, r)
    with pytest.raises(ValueError) as info:
        load_rollouts(path)
    message = str(info.value)
    assert "'hidden_states' holds one array per episode" in message
    assert "episode_lengths=[len(e) for e in per_episode]" in message
    assert "--allow-pickle" in message and "\n" not in message
    _assert_same(load_rollouts(path, allow_pickle=True), r)  # a trusted file reads


def test_unknown_fields_are_named_once(tmp_path, capsys):
    from imbalance_risk.cli import main
    from imbalance_risk.rollouts import IgnoredFieldsWarning

    r = _rollouts()
    path = tmp_path / "extra.npz"
    np.savez(path, **r.to_arrays(), rewards=np.ones(r.n_steps), dones=np.zeros(r.n_steps))
    with pytest.warns(
        IgnoredFieldsWarning, match="ignored arrays not in the rollout schema: dones, rewards"
    ):
        _assert_same(load_rollouts(path), r)
    notes: list[str] = []
    load_rollouts(path, note=notes.append)
    assert len(notes) == 1 and "dones, rewards" in notes[0]
    episodes = [
        {
            "hidden_states": np.ones((3, 2)),
            "actions": np.ones((3, 1)),
            "success": True,
            "reward": 1.0,
        }
    ]
    pkl = tmp_path / "e.pkl"
    pkl.write_bytes(pickle.dumps(episodes))
    load_rollouts(pkl, allow_pickle=True, note=notes.append)
    assert "ignored episode keys not in the rollout schema: reward" in notes[1]
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pq.read_table(save_rollouts(r, tmp_path / "r.parquet"))
    table = table.append_column("reward", pa.array(np.ones(table.num_rows)))
    pq.write_table(table, tmp_path / "extra.parquet")
    _assert_same(load_rollouts(tmp_path / "extra.parquet", note=notes.append), r)
    assert "ignored columns not in the rollout schema: reward" in notes[2]
    main(["prepare", str(path), "--out", str(tmp_path / "p")])  # too few episodes to split
    err = capsys.readouterr().err
    assert err.count("imbalance-risk: note:") == 1 and "rewards" in err
