"""Episode schema: NPZ round trip and validation errors."""

from __future__ import annotations

import numpy as np
import pytest
from imbalance_world_model.data import Episodes, load_episodes, save_episodes

from imbalance_kit.app import DamagedFileError


def _ep(n=3, t=4, d=2, a=1):
    rng = np.random.default_rng(0)
    return Episodes(
        rng.normal(size=(n, t, d)),
        rng.normal(size=(n, t, a)),
        rng.normal(size=(n, t)),
        np.array(["real"] * (n - 1) + ["synthetic"]),
        {"energy": np.arange(n, dtype=float), "brick": np.arange(n)},
    )


def test_round_trip(tmp_path):
    ep = _ep()
    back = load_episodes(save_episodes(ep, tmp_path / "e.npz"))
    np.testing.assert_array_equal(back.z, ep.z)
    np.testing.assert_array_equal(back.actions, ep.actions)
    np.testing.assert_array_equal(back.rewards, ep.rewards)
    assert back.source.tolist() == ["real", "real", "synthetic"]
    assert back.meta["brick"].tolist() == [0, 1, 2]
    assert back.is_synthetic.tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actions": np.zeros((3, 5, 1))}, "actions must be of shape"),
        ({"rewards": np.zeros((3,))}, "rewards must be 2-D"),
        ({"z": np.full((3, 4, 2), np.nan)}, "z must be finite"),
        ({"source": np.array(["real", "fake", "real"])}, "source must be 'real' or 'synthetic'"),
        ({"source": np.array([1, 0, 1])}, "source must be an array of 3 strings"),
    ],
)
def test_validation_errors(change, message):
    ep = _ep()
    fields = {"z": ep.z, "actions": ep.actions, "rewards": ep.rewards, "source": ep.source}
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Episodes(**fields)


def test_bad_meta():
    ep = _ep()
    with pytest.raises(ValueError, match=r"meta\['x'\] must be a numeric array of shape \(3,\)"):
        Episodes(ep.z, ep.actions, ep.rewards, ep.source, {"x": np.zeros(2)})


def test_load_refuses_object_arrays_and_bad_keys(tmp_path):
    ep = _ep()
    path = tmp_path / "obj.npz"
    np.savez(
        path,
        z=ep.z,
        actions=ep.actions,
        rewards=ep.rewards,
        source=np.array(["real", "real", "synthetic"], dtype=object),
    )
    with pytest.raises(ValueError, match="object arrays are not accepted \\(field 'source'\\)"):
        load_episodes(path)
    np.savez(tmp_path / "missing.npz", z=ep.z)
    with pytest.raises(ValueError, match="no actions, rewards, source"):
        load_episodes(tmp_path / "missing.npz")
    np.savez(
        tmp_path / "extra.npz",
        z=ep.z,
        actions=ep.actions,
        rewards=ep.rewards,
        source=ep.source,
        other=np.zeros(3),
    )
    with pytest.raises(ValueError, match="unknown key 'other'"):
        load_episodes(tmp_path / "extra.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DamagedFileError, match="is damaged \\(not a zip archive\\)"):
        load_episodes(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        load_episodes(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="path must be a .npz file"):
        save_episodes(ep, tmp_path / "e.txt")


def test_subset_and_concatenate():
    ep = _ep()
    both = Episodes.concatenate([ep, ep.subset(np.array([2]))])
    assert both.n_episodes == 4
    assert both.meta["energy"].tolist() == [0.0, 1.0, 2.0, 2.0]
    assert both.is_synthetic.sum() == 2
