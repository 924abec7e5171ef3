"""Trust features against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imbalance_world_model.features import episode_features


def test_features_match_numpy():
    z = np.random.default_rng(0).normal(size=(5, 13, 3))
    got = episode_features(torch.as_tensor(z)).numpy()
    want = np.concatenate(
        [z.mean(1), z.std(1), z.min(1), z.max(1), z.var(1), np.abs(np.diff(z, axis=1)).mean(1)],
        axis=1,
    )
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_features_are_differentiable():
    z = torch.randn(2, 6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: episode_features(x)[:, [0, 1, 4, 5]].sum(), (z,))


def test_bad_input():
    with pytest.raises(ValueError, match="z must be at least 2 steps long"):
        episode_features(torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="z must be 3-D"):
        episode_features(torch.zeros(2, 3))
