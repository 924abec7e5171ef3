r"""Episode features of the trust net (differentiable, so the world model can train through them).

For an episode $z \in \mathbb{R}^{T \times D}$ and every latent dimension $d$, six
statistics over time:

```math
\bar z_d,\quad s_d = \sqrt{\tfrac1T \textstyle\sum_t (z_{td} - \bar z_d)^2},\quad
\min_t z_{td},\quad \max_t z_{td},\quad s_d^2,\quad
\text{smooth}_d = \tfrac{1}{T-1}\textstyle\sum_{t} |z_{t+1,d} - z_{td}| .
```

The feature vector is ``[mean, std, min, max, var, smoothness]`` concatenated
(``6 D`` values, grouped by statistic).
"""

from __future__ import annotations

import torch

from imbalance_kit.app import check_ndim, check_tensor, error

__all__ = ["FEATURE_NAMES", "episode_features"]

FEATURE_NAMES = ("mean", "std", "min", "max", "var", "smoothness")


def episode_features(z: torch.Tensor) -> torch.Tensor:
    """The trust features of a batch of episodes ``z`` ``(N, T, D)`` -> ``(N, 6 D)``.

    Raises:
        ValueError: ``z`` not 3-D or shorter than 2 steps.

    Examples:
        >>> z = torch.tensor([[[0.0], [2.0], [1.0]]])
        >>> episode_features(z).tolist()   # mean, std, min, max, var, smoothness
        [[1.0, 0.8165, 0.0, 2.0, 0.6667, 1.5]]
    """
    z = check_tensor("z", z)
    check_ndim("z", z, 3)
    if z.shape[1] < 2:
        raise error("z", "at least 2 steps long", f"shape {tuple(z.shape)}", raw=True)
    mean = z.mean(1)
    var = z.var(1, unbiased=False)
    std = (var + 1e-12).sqrt()
    smooth = (z[:, 1:] - z[:, :-1]).abs().mean(1)
    return torch.cat([mean, std, z.amin(1), z.amax(1), var, smooth], dim=1)
