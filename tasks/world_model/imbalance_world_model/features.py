r"""Episode features of the trust net (differentiable, so the world model can train through them).

For an episode $z \in \mathbb{R}^{L \times D}$ (its $L$ valid states) and every latent
dimension $d$, six statistics over time:

```math
\bar z_d,\quad s_d = \sqrt{\tfrac1L \textstyle\sum_t (z_{td} - \bar z_d)^2},\quad
\min_t z_{td},\quad \max_t z_{td},\quad s_d^2,\quad
\text{smooth}_d = \tfrac{1}{L-1}\textstyle\sum_{t} |z_{t+1,d} - z_{td}| .
```

The feature vector is ``[mean, std, min, max, var, smoothness]`` concatenated
(``6 D`` values, grouped by statistic). Episodes of different lengths are given padded with
their ``lengths``; the padding never enters a statistic.
"""

from __future__ import annotations

import torch

from imbalance_kit.app import check_ndim, check_tensor, error

__all__ = ["FEATURE_NAMES", "episode_features", "length_mask"]

FEATURE_NAMES = ("mean", "std", "min", "max", "var", "smoothness")


def length_mask(lengths: torch.Tensor | None, n: int, t: int, device=None) -> torch.Tensor:
    """``(n, t)`` booleans ``step < length`` (all true without ``lengths``).

    Examples:
        >>> length_mask(torch.tensor([3, 1]), 2, 3).tolist()
        [[True, True, True], [True, False, False]]
    """
    if lengths is None:
        return torch.ones(n, t, dtype=torch.bool, device=device)
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(t, device=device)[None, :] < lengths[:, None]


def episode_features(z: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """The trust features of a batch of episodes ``z`` ``(N, T, D)`` -> ``(N, 6 D)``.

    Args:
        z: padded episodes.
        lengths: ``(N,)`` valid states per episode (default: all ``T``).

    Raises:
        ValueError: ``z`` not 3-D or shorter than 2 steps.

    Examples:
        >>> z = torch.tensor([[[0.0], [2.0], [1.0]]])
        >>> episode_features(z).tolist()   # mean, std, min, max, var, smoothness
        [[1.0, 0.8165, 0.0, 2.0, 0.6667, 1.5]]
        >>> padded = torch.tensor([[[0.0], [2.0], [1.0], [99.0]]])
        >>> episode_features(padded, torch.tensor([3])).tolist() == episode_features(z).tolist()
        True
    """
    z = check_tensor("z", z)
    check_ndim("z", z, 3)
    if z.shape[1] < 2:
        raise error("z", "at least 2 steps long", f"shape {tuple(z.shape)}", raw=True)
    if lengths is None:
        mean = z.mean(1)
        var = z.var(1, unbiased=False)
        smooth = (z[:, 1:] - z[:, :-1]).abs().mean(1)
        low, high = z.amin(1), z.amax(1)
    else:
        m = length_mask(lengths, z.shape[0], z.shape[1], z.device).unsqueeze(-1).to(z.dtype)
        count = m.sum(1).clamp_min(1.0)
        mean = (z * m).sum(1) / count
        var = ((z - mean[:, None]) ** 2 * m).sum(1) / count
        step = m[:, 1:] * m[:, :-1]
        smooth = ((z[:, 1:] - z[:, :-1]).abs() * step).sum(1) / step.sum(1).clamp_min(1.0)
        big = torch.finfo(z.dtype).max
        low = torch.where(m > 0, z, torch.full_like(z, big)).amin(1)
        high = torch.where(m > 0, z, torch.full_like(z, -big)).amax(1)
    std = (var + 1e-12).sqrt()
    return torch.cat([mean, std, low, high, var, smooth], dim=1)
