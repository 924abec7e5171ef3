r"""Gates on synthetic episodes: the distribution-bounds filter (baseline) and the trust gate.

:class:`BoundsFilter` is fitted on real episodes. Per latent dimension $d$ it keeps the
value band and the largest per-episode standard deviation seen in real data:

```math
\ell_d = q_d - m w_d,\quad u_d = Q_d + m w_d,\quad w_d = Q_d - q_d,\qquad
s^{\max}_d = \tau\,\mathrm{quantile}_{1-\alpha}\big(\mathrm{std}_t\, z_{n t d}\big),
```

with $q_d, Q_d$ the $\alpha$ and $1-\alpha$ quantiles of all real values, $m$ the
``margin`` and $\tau$ the ``std_tolerance``. An episode passes when at most
``max_outside`` of its values leave $[\ell_d, u_d]$ and every per-dimension standard
deviation is at most $s^{\max}_d$.

:class:`TrustGate` accepts an episode when its trust score $p(\text{real})$ reaches the
threshold; its sampling weight is then $p$, otherwise 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imbalance_kit.app import (
    DamagedFileError,
    atomic_open,
    check_in_range,
    check_non_negative,
    check_positive,
    error,
    write_json,
)
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import load_episodes, read_npz, split_real, writable_dir
from imbalance_world_model.diagnostics import pass_shares
from imbalance_world_model.model import load_trust_net
from imbalance_world_model.trust import trust_scores

__all__ = ["SCORE_KEYS", "BoundsFilter", "TrustGate", "bounds_filter", "load_scores", "stage_gate"]

#: The arrays of a gate ``scores.npz`` file.
SCORE_KEYS = ("p_real_synthetic", "bounds_pass_synthetic", "p_real_real", "bounds_pass_real")


class BoundsFilter:
    """Distribution-bounds filter fitted on real episodes ``(N, T, D)``.

    Attributes:
        low_, high_: per-dimension value band ``(D,)``.
        std_high_: per-dimension largest allowed episode standard deviation ``(D,)``.

    Examples:
        >>> real = np.random.default_rng(0).normal(0, 1, (50, 20, 2))
        >>> f = BoundsFilter(quantile=0.01).fit(real)
        >>> f.passes(np.stack([real[0], 5 * real[1]])).tolist()
        [True, False]
    """

    def __init__(
        self,
        *,
        quantile: float = 0.005,
        margin: float = 0.1,
        std_tolerance: float = 1.25,
        max_outside: float = 0.0,
    ) -> None:
        check_in_range("quantile", quantile, 0.0, 0.5, high_inclusive=False)
        check_non_negative("margin", margin)
        check_positive("std_tolerance", std_tolerance)
        check_in_range("max_outside", max_outside, 0.0, 1.0)
        self.quantile, self.margin = quantile, margin
        self.std_tolerance, self.max_outside = std_tolerance, max_outside

    def fit(self, real_z: np.ndarray) -> BoundsFilter:
        real_z = _episodes("real_z", real_z)
        values = real_z.reshape(-1, real_z.shape[-1])
        lo = np.quantile(values, self.quantile, axis=0)
        hi = np.quantile(values, 1 - self.quantile, axis=0)
        self.low_ = lo - self.margin * (hi - lo)
        self.high_ = hi + self.margin * (hi - lo)
        ep_std = real_z.std(axis=1)
        self.std_high_ = self.std_tolerance * np.quantile(ep_std, 1 - self.quantile, axis=0)
        return self

    def _check_fitted(self, z: np.ndarray) -> np.ndarray:
        if not hasattr(self, "low_"):
            raise RuntimeError("BoundsFilter is not fitted: call fit(real_z) first")
        z = _episodes("z", z)
        if z.shape[-1] != self.low_.shape[0]:
            raise ValueError(
                f"z must have {self.low_.shape[0]} latent dimensions like the "
                f"real episodes, got {z.shape[-1]}"
            )
        return z

    def outside_fraction(self, z: np.ndarray) -> np.ndarray:
        """Share of each episode's values outside the band ``(N,)``."""
        z = self._check_fitted(z)
        return ((z < self.low_) | (z > self.high_)).mean(axis=(1, 2))

    def std_ok(self, z: np.ndarray) -> np.ndarray:
        """Whether every per-dimension episode standard deviation is within bounds ``(N,)``."""
        z = self._check_fitted(z)
        return (z.std(axis=1) <= self.std_high_).all(axis=-1)

    def passes(self, z: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: the episode passes the filter."""
        return (self.outside_fraction(z) <= self.max_outside) & self.std_ok(z)


class TrustGate:
    """Accept episodes with $p(\\text{real}) \\ge$ ``threshold``; weight accepted ones by $p$.

    Examples:
        >>> gate = TrustGate(0.5)
        >>> gate.accepts(np.array([0.2, 0.7])).tolist(), gate.weights(np.array([0.2, 0.7])).tolist()
        ([False, True], [0.0, 0.7])
    """

    def __init__(self, threshold: float = 0.5) -> None:
        check_in_range("threshold", threshold, 0.0, 1.0)
        self.threshold = threshold

    def accepts(self, p_real: np.ndarray) -> np.ndarray:
        p = _scores(p_real)
        return p >= self.threshold

    def weights(self, p_real: np.ndarray) -> np.ndarray:
        p = _scores(p_real)
        return np.where(p >= self.threshold, p, 0.0)


def _episodes(name: str, z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3 or z.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, T, D) array, got shape {z.shape}")
    return z


def _scores(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        shown = f"shape {p.shape}" + (f", range [{p.min():.3g}, {p.max():.3g}]" if p.size else "")
        raise error("p_real", "a 1-D array of probabilities in [0, 1]", shown, raw=True)
    return p


def bounds_filter(config: WMConfig) -> BoundsFilter:
    """The (unfitted) bounds filter of the ``gate`` section.

    Examples:
        >>> bounds_filter(WMConfig()).quantile
        0.005
    """
    g = config.gate
    return BoundsFilter(
        quantile=g.quantile,
        margin=g.margin,
        std_tolerance=g.std_tolerance,
        max_outside=g.max_outside,
    )


def stage_gate(
    config: WMConfig,
    trust_path: str | Path,
    real_path: str | Path,
    synthetic_path: str | Path,
    out: str | Path,
) -> dict[str, Any]:
    """Score synthetic (and real training) episodes with the trust net and the bounds filter.

    Writes ``out`` (``scores.npz``: ``p_real_synthetic``, ``bounds_pass_synthetic``,
    ``p_real_real``, ``bounds_pass_real``) and ``summary.json`` beside it.

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> from imbalance_world_model.train import stage_train_trust
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> _ = stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust")
        >>> s = stage_gate(cfg, f"{d}/trust/model.pt", f"{d}/real.npz", f"{d}/syn.npz",
        ...                f"{d}/gate/scores.npz")
        >>> sorted(s["synthetic"]), s["trust_threshold"]
        (['both', 'bounds', 'trust'], 0.5)
    """
    train, _ = split_real(load_episodes(real_path))
    syn = load_episodes(synthetic_path)
    net = load_trust_net(trust_path)
    writable_dir(Path(out).parent)
    g = config.gate
    bounds = bounds_filter(config).fit(train.z)
    scores = {
        "p_real_synthetic": trust_scores(net, syn.z),
        "bounds_pass_synthetic": bounds.passes(syn.z),
        "p_real_real": trust_scores(net, train.z),
        "bounds_pass_real": bounds.passes(train.z),
    }
    out = Path(out)
    with atomic_open(out, "wb") as fh:
        np.savez(fh, **scores)
    summary = {
        "synthetic": pass_shares(
            scores["bounds_pass_synthetic"], scores["p_real_synthetic"], g.trust_threshold
        ),
        "real": pass_shares(scores["bounds_pass_real"], scores["p_real_real"], g.trust_threshold),
        "trust_threshold": g.trust_threshold,
    }
    write_json(out.with_name("summary.json"), summary)
    return summary


def load_scores(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a gate ``scores.npz`` file (:data:`SCORE_KEYS`).

    Raises:
        FileNotFoundError: no such file.
        DamagedFileError: truncated, corrupt or missing an array (a ``ValueError``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gate scores file not found: {path}")
    scores = read_npz(path, "gate scores file")
    missing = [k for k in SCORE_KEYS if k not in scores]
    if missing:
        raise DamagedFileError(f"gate scores file {path} is damaged (no {', '.join(missing)})")
    return scores
