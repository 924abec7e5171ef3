r"""Diagnostics: std ratio over the rollout horizon, gate pass shares, plots.

The per-step std ratio compares the spread of synthetic and real states across episodes:

```math
\rho_t = \sqrt{\frac{\tfrac1D \sum_d \mathrm{Var}_n\, \tilde z_{ntd}}
                   {\tfrac1D \sum_d \mathrm{Var}_n\, z_{ntd}}} ,
```

$\rho_t = 1$ for a model whose rollouts spread like the real episodes; $\rho_t > 1$ is
the drift out of distribution the field notes report (1.9 after 60 steps). The real
reference is the set of real episodes the synthetic ones start from (same first states and
actions), so $\rho_0 = 1$.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "format_headline",
    "pass_shares",
    "plot_std_ratio",
    "plot_trust_histogram",
    "ratio_headline",
    "std_ratio_per_step",
]


def std_ratio_per_step(
    synthetic_z: np.ndarray,
    real_z: np.ndarray,
    synthetic_lengths: np.ndarray | None = None,
    real_lengths: np.ndarray | None = None,
    min_episodes: int = 2,
) -> np.ndarray:
    """$\\rho_t$ for every step ``t`` of ``(N, T, D)`` arrays (``T`` may differ: the shorter wins).

    With lengths, step ``t``'s variances are over the episodes still running at ``t``; a
    step with fewer than ``min_episodes`` of them on either side is NaN.

    Examples:
        >>> real = np.array([[[1.0], [1.0]], [[-1.0], [-3.0]]])
        >>> std_ratio_per_step(real * [[[1.0], [2.0]]], real).tolist()
        [1.0, 2.0]
        >>> std_ratio_per_step(real, real, np.array([2, 1]), np.array([2, 1])).tolist()
        [1.0, nan]
    """
    syn = np.asarray(synthetic_z, dtype=np.float64)
    real = np.asarray(real_z, dtype=np.float64)
    if syn.ndim != 3 or real.ndim != 3 or syn.shape[2] != real.shape[2]:
        raise ValueError(
            f"synthetic_z and real_z must be (N, T, D) with the same D, got "
            f"{syn.shape} and {real.shape}"
        )
    t = min(syn.shape[1], real.shape[1])
    v_syn, n_syn = _step_variance(syn[:, :t], synthetic_lengths)
    v_real, n_real = _step_variance(real[:, :t], real_lengths)
    ratio = np.sqrt(v_syn / np.maximum(v_real, 1e-12))
    ratio[(n_syn < min_episodes) | (n_real < min_episodes)] = np.nan
    return ratio


def _step_variance(z: np.ndarray, lengths: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the variance across running episodes (mean over dimensions) and their count."""
    if lengths is None:
        return z.var(axis=0).mean(-1), np.full(z.shape[1], z.shape[0])
    m = (np.arange(z.shape[1])[None, :] < np.asarray(lengths)[:, None])[:, :, None]
    count = m.sum(0)
    mean = (z * m).sum(0) / np.maximum(count, 1)
    var = (((z - mean) ** 2) * m).sum(0) / np.maximum(count, 1)
    return var.mean(-1), count[:, 0]


def ratio_headline(ratio: np.ndarray) -> dict[str, float | None]:
    """The std ratio at steps 1, 5, 10, 20, 50, 100, 200, ... and at the last step with a value.

    Examples:
        >>> ratio_headline(np.linspace(1.0, 1.6, 61))
        {'1': 1.01, '5': 1.05, '10': 1.1, '20': 1.2, '50': 1.5, '60': 1.6}
    """
    finite = np.flatnonzero(np.isfinite(ratio))
    if finite.size == 0:
        return {}
    last = int(finite[-1])
    steps = [s for s in (1, 5, 10, 20, 50, 100, 200, 500, 1000) if s < last] + [last]
    return {str(s): None if not np.isfinite(ratio[s]) else round(float(ratio[s]), 4) for s in steps}


def format_headline(headline: dict[str, float | None]) -> str:
    """``"step 1: 1.00, step 10: 1.02, ..."``.

    Examples:
        >>> format_headline({"1": 1.0, "10": 1.234})
        'step 1: 1.00, step 10: 1.23'
    """
    return ", ".join(f"step {k}: {'n/a' if v is None else f'{v:.2f}'}" for k, v in headline.items())


def pass_shares(bounds_pass: np.ndarray, p_real: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of (synthetic) episodes passing the bounds filter, the trust gate, and both.

    Examples:
        >>> pass_shares(np.array([True, True, False, False]), np.array([0.9, 0.1, 0.8, 0.2]), 0.5)
        {'bounds': 0.5, 'trust': 0.5, 'both': 0.25}
    """
    bounds_pass = np.asarray(bounds_pass, dtype=bool)
    trust = np.asarray(p_real) >= threshold
    return {
        "bounds": float(bounds_pass.mean()),
        "trust": float(trust.mean()),
        "both": float((bounds_pass & trust).mean()),
    }


def _figure() -> tuple[Any, Any]:
    """A 6 x 4 inch figure and its axes (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))


def _save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (PNG, parent folders created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_std_ratio(curves: dict[str, np.ndarray], path: str | Path) -> Path:
    """Plot $\\rho_t$ against the step for every named curve (PNG).

    Examples:
        >>> import tempfile
        >>> plot_std_ratio({"bptt": np.ones(5)}, tempfile.mkdtemp() + "/r.png").suffix
        '.png'
    """
    fig, ax = _figure()
    for name, ratio in curves.items():
        ax.plot(np.arange(len(ratio)), ratio, label=name)  # NaN steps leave gaps
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("rollout step")
    ax.set_ylabel("std ratio synthetic / real")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_trust_histogram(
    p_real: np.ndarray, is_synthetic: np.ndarray, threshold: float, path: str | Path
) -> Path:
    """Histogram of $p(\\text{real})$ for real and synthetic episodes (PNG).

    Examples:
        >>> import tempfile
        >>> p, syn = np.array([0.9, 0.1]), np.array([False, True])
        >>> plot_trust_histogram(p, syn, 0.5, tempfile.mkdtemp() + "/t.png").name
        't.png'
    """
    p_real = np.asarray(p_real)
    syn = np.asarray(is_synthetic, dtype=bool)
    fig, ax = _figure()
    bins = np.linspace(0, 1, 26)
    ax.hist(p_real[~syn], bins=bins, alpha=0.6, label="real")
    ax.hist(p_real[syn], bins=bins, alpha=0.6, label="synthetic")
    ax.axvline(threshold, color="k", ls="--", lw=0.8, label="threshold")
    ax.set_xlabel("trust p(real)")
    ax.set_ylabel("episodes")
    ax.legend(loc="upper left")
    return _save(fig, path)
