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

__all__ = ["pass_shares", "plot_std_ratio", "plot_trust_histogram", "std_ratio_per_step"]


def std_ratio_per_step(synthetic_z: np.ndarray, real_z: np.ndarray) -> np.ndarray:
    """$\\rho_t$ for every step ``t`` of ``(N, T, D)`` arrays (``T`` may differ: the shorter wins).

    Examples:
        >>> real = np.array([[[1.0], [1.0]], [[-1.0], [-3.0]]])
        >>> std_ratio_per_step(real * [[[1.0], [2.0]]], real).tolist()
        [1.0, 2.0]
    """
    syn = np.asarray(synthetic_z, dtype=np.float64)
    real = np.asarray(real_z, dtype=np.float64)
    if syn.ndim != 3 or real.ndim != 3 or syn.shape[2] != real.shape[2]:
        raise ValueError(
            f"synthetic_z and real_z must be (N, T, D) with the same D, got "
            f"{syn.shape} and {real.shape}"
        )
    t = min(syn.shape[1], real.shape[1])
    v_syn = syn[:, :t].var(axis=0).mean(-1)
    v_real = real[:, :t].var(axis=0).mean(-1)
    return np.sqrt(v_syn / np.maximum(v_real, 1e-12))


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
        ax.plot(np.arange(len(ratio)), ratio, label=name)
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
