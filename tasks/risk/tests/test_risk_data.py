"""Over-sampling, class-balanced sampling and the double-correction warning in the data module."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from imbalance_risk.config import RiskConfig
from imbalance_risk.data import RiskDataModule, load_prepared, oversample_positives

from imbalance_kit.weights import DoubleCorrectionWarning


def _tensors(n_neg: int = 40, n_pos: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = n_neg + n_pos
    binary = torch.cat([torch.zeros(n_neg), torch.ones(n_pos)])
    return {
        "features": torch.randn(n, 5, generator=g),
        "binary": binary,
        "risk": torch.rand(n, 3, generator=g) * binary[:, None],
        "ttf": torch.where(binary > 0, torch.rand(n, generator=g) * 0.3, torch.ones(n)),
        "episode_failed": torch.cat([torch.rand(n_neg, generator=g).round(), torch.ones(n_pos)]),
        "synthetic": torch.zeros(n, dtype=torch.bool),
    }


def test_oversampling_counts_and_labels():
    t = _tensors()
    out = oversample_positives(t, ratio=0.5, noise_std=0.1, seed=0)
    assert int(out["binary"].sum()) == 20 and out["features"].shape[0] == 40 + 20
    for name in ("features", "binary", "risk", "ttf", "episode_failed"):  # originals first, intact
        torch.testing.assert_close(out[name][:46], t[name])
    new = out["synthetic"]
    assert int(new.sum()) == 14 and bool(new[46:].all())
    assert bool((out["binary"][new] == 1).all()) and bool((out["episode_failed"][new] == 1).all())
    assert out["risk"].min() >= 0 and out["risk"].max() <= 1 and out["ttf"].max() <= 1
    # Each synthetic row sits next to one positive source row (jitter: 0.1 of the class std).
    positives = t["features"][t["binary"] > 0]
    dist = torch.cdist(out["features"][new], positives)
    nearest, _ = dist.min(dim=1)
    assert float(nearest.max()) < 0.2 * float(torch.cdist(positives, positives).max())


def test_oversampling_without_noise_copies_rows_with_their_targets():
    t = _tensors()
    out = oversample_positives(t, ratio=1.0, noise_std=0.0, seed=1)
    rows = torch.cat([t["features"], t["risk"], t["ttf"][:, None]], dim=1)
    synth = torch.cat([out["features"], out["risk"], out["ttf"][:, None]], dim=1)[out["synthetic"]]
    matches = (synth[:, None, :] == rows[None, :, :]).all(dim=2)
    assert bool(matches.any(dim=1).all())  # every synthetic row is an exact positive row
    assert bool((t["binary"][matches.float().argmax(dim=1)] == 1).all())


def test_augment_factor_adds_that_many_copies_per_positive():
    t = _tensors(n_neg=40, n_pos=6)
    out = oversample_positives(t, ratio=None, noise_std=0.0, seed=2, augment_factor=3)
    assert int(out["binary"].sum()) == 6 * 4 and int(out["synthetic"].sum()) == 18
    assert int((out["binary"] == 0).sum()) == 40  # negatives untouched
    positives = t["features"][t["binary"] > 0]
    synth = out["features"][out["synthetic"]]
    assert bool((torch.cdist(synth, positives).min(dim=1).values == 0).all())  # noise 0: copies
    with pytest.raises(ValueError, match="ratio must be null when augment_factor is set"):
        RiskConfig.from_dict(
            {"imbalance": {"noise_oversample": {"ratio": 0.5, "augment_factor": 2}}}
        )
    cfg = RiskConfig.from_dict({"imbalance": {"noise_oversample": {"augment_factor": 2}}})
    assert cfg.imbalance.noise_oversample.target_positives(5, 1000) == 15


def test_oversampling_that_has_nothing_to_do_warns():
    t = _tensors(n_neg=10, n_pos=8)
    with pytest.warns(UserWarning, match="noise_oversample skipped"):
        out = oversample_positives(t, ratio=0.5, noise_std=0.1, seed=0)
    assert out["features"].shape[0] == 18


def _module(tiny_prepared, **sections):
    return RiskDataModule(load_prepared(tiny_prepared), RiskConfig.from_dict(sections))


def test_balanced_sampler_draws_half_positives(tiny_prepared):
    dm = _module(tiny_prepared, imbalance={"noise_oversample": {"enabled": False}})
    labels = dm.train_set.tensors["binary"]
    drawn = labels[torch.tensor(list(dm.train_sampler()))]
    n = drawn.numel()
    assert labels.mean() < 0.1  # the data are imbalanced ...
    assert abs(float(drawn.mean()) - 0.5) < 5 * (0.25 / n) ** 0.5  # ... the batches are not
    plain = _module(
        tiny_prepared,
        imbalance={"sampler": {"enabled": False}, "noise_oversample": {"enabled": False}},
    )
    order = list(plain.train_sampler())
    assert sorted(order) == list(range(len(plain.train_set)))  # a shuffled pass over every row


def test_sampler_shards_are_the_single_process_draw(tiny_prepared):
    class _Trainer:
        def __init__(self, world, rank):
            self.world_size, self.global_rank = world, rank

    dm = _module(tiny_prepared, train={"epoch_size": 1000})
    single = list(dm.train_sampler())
    shards = []
    for rank in range(2):
        dm.trainer = _Trainer(2, rank)
        shards.append(list(dm.train_sampler()))
    assert len(single) == 1000 and [len(s) for s in shards] == [500, 500]
    interleaved = [i for pair in zip(*shards) for i in pair]
    assert interleaved == single


@pytest.mark.parametrize(
    ("sampler", "pos_weight", "warns"),
    [(True, "auto", True), (True, 3.0, True), (False, "auto", False), (True, None, False)],
)
def test_double_correction_warning(tiny_prepared, sampler, pos_weight, warns):
    dm = _module(
        tiny_prepared,
        imbalance={"sampler": {"enabled": sampler}},
        loss={"binary": {"pos_weight": pos_weight}},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.train_sampler()
    assert any(issubclass(w.category, DoubleCorrectionWarning) for w in caught) == warns


def test_pos_weight_auto_is_negatives_over_positives(tiny_prepared):
    dm = _module(tiny_prepared, loss={"binary": {"pos_weight": "auto"}})
    y = dm.train_set.tensors["binary"]  # after over-sampling, as the loader sees it
    assert dm.pos_weight == pytest.approx(float((y == 0).sum() / (y == 1).sum()))
    assert dm.n_synthetic > 0


def test_split_without_positives_is_an_error(tiny_prepared):
    data = load_prepared(tiny_prepared)
    data.binary = np.where(data.split == 1, 0.0, data.binary).astype(np.float32)
    with pytest.raises(ValueError, match="the val split must be positive and negative steps"):
        RiskDataModule(data, RiskConfig())


def test_epoch_size_needs_the_sampler(tiny_prepared):
    dm = _module(
        tiny_prepared, imbalance={"sampler": {"enabled": False}}, train={"epoch_size": 100}
    )
    with pytest.raises(ValueError, match="train.epoch_size must be None unless"):
        dm.train_sampler()
