r"""Gates on synthetic episodes: the distribution-bounds filter, the trust gate, and the rule
that combines them.

:class:`BoundsFilter` is fitted on real episodes. Per latent dimension $d$ it keeps the
value band and the largest per-episode standard deviation seen in real data:

```math
\ell_d = q_d - m w_d,\quad u_d = Q_d + m w_d,\quad w_d = Q_d - q_d,\qquad
s^{\max}_d = \tau\,\mathrm{quantile}_{1-\alpha}\big(\mathrm{std}_t\, z_{n t d}\big),
```

with $q_d, Q_d$ the $\alpha$ and $1-\alpha$ quantiles of all real values, $m$ the
``margin`` and $\tau$ the ``std_tolerance``. An episode passes when at most
``max_outside`` of its values leave $[\ell_d, u_d]$ and every per-dimension standard
deviation is at most $s^{\max}_d$ (statistics over each episode's own steps).

:class:`TrustGate` applies the gate's ``rule`` (``gate.rule``):

* ``"trust"``: accepted when the trust score $p(\text{real})$ reaches the threshold;
* ``"bounds"``: accepted when the episode passes the bounds filter;
* ``"both"`` (default): accepted when it does both.

An accepted episode's sampling weight is $p(\text{real})$ under ``"trust"`` and ``"both"``,
1 under ``"bounds"``; a rejected one's is 0.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import numpy as np

from imbalance_kit.app import (
    DamagedFileError,
    atomic_open,
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    error,
    write_json,
)
from imbalance_world_model._runs import load_real
from imbalance_world_model.config import WMConfig
from imbalance_world_model.data import (
    load_episodes,
    read_npz,
    writable_dir,
)
from imbalance_world_model.diagnostics import pass_shares
from imbalance_world_model.model import load_trust_net
from imbalance_world_model.trust import trust_scores

__all__ = [
    "GATE_RULES",
    "SCORE_KEYS",
    "BoundsFilter",
    "TrustGate",
    "bounds_filter",
    "load_scores",
    "stage_gate",
    "trust_gate",
]

GateRule = Literal["trust", "bounds", "both"]

#: The rules of :class:`TrustGate`.
GATE_RULES: tuple[str, ...] = typing.get_args(GateRule)

#: The arrays of a gate ``scores.npz`` file.
SCORE_KEYS = ("p_real_synthetic", "bounds_pass_synthetic", "p_real_real", "bounds_pass_real")


class BoundsFilter:
    """Distribution-bounds filter fitted on real episodes ``(N, T, D)``.

    Attributes:
        low_, high_: per-dimension value band ``(D,)``.
        std_high_: per-dimension largest allowed episode standard deviation ``(D,)``.

    Episodes of several lengths are given padded, with their ``lengths``.

    Examples:
        >>> real = np.random.default_rng(0).normal(0, 1, (50, 20, 2))
        >>> f = BoundsFilter(quantile=0.01).fit(real)
        >>> f.passes(np.stack([real[0], 5 * real[1]])).tolist()
        [True, False]
        >>> wild = real[1].copy()
        >>> wild[5:] *= 50  # wild after its first 5 steps
        >>> z = np.stack([real[0], wild])
        >>> f.passes(z).tolist(), f.passes(z, lengths=np.array([20, 5])).tolist()
        ([True, False], [True, True])
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

    def fit(self, real_z: np.ndarray, lengths: np.ndarray | None = None) -> BoundsFilter:
        real_z = _episodes("real_z", real_z)
        mask = _mask(real_z, lengths)
        values = real_z[mask]
        lo = np.quantile(values, self.quantile, axis=0)
        hi = np.quantile(values, 1 - self.quantile, axis=0)
        self.low_ = lo - self.margin * (hi - lo)
        self.high_ = hi + self.margin * (hi - lo)
        ep_std = _episode_std(real_z, mask)
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

    def outside_fraction(self, z: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Share of each episode's values outside the band ``(N,)``."""
        z = self._check_fitted(z)
        mask = _mask(z, lengths)[:, :, None]
        outside = ((z < self.low_) | (z > self.high_)) & mask
        return outside.sum(axis=(1, 2)) / (mask.sum(axis=(1, 2)) * z.shape[2])

    def std_ok(self, z: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Whether every per-dimension episode standard deviation is within bounds ``(N,)``."""
        z = self._check_fitted(z)
        return (_episode_std(z, _mask(z, lengths)) <= self.std_high_).all(axis=-1)

    def passes(self, z: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Boolean ``(N,)``: the episode passes the filter."""
        return (self.outside_fraction(z, lengths) <= self.max_outside) & self.std_ok(z, lengths)


class TrustGate:
    """The gate: which synthetic episodes are accepted (``rule``) and their sampling weights.

    Args:
        threshold: the trust threshold on $p(\\text{real})$.
        rule: ``"trust"``, ``"bounds"`` or ``"both"`` (see the module text).

    Examples:
        >>> p, bounds = np.array([0.2, 0.7, 0.9]), np.array([True, False, True])
        >>> gate = TrustGate(0.5)
        >>> gate.accepts(p).tolist(), gate.weights(p).tolist()
        ([False, True, True], [0.0, 0.7, 0.9])
        >>> TrustGate(0.5, rule="both").weights(p, bounds).tolist()
        [0.0, 0.0, 0.9]
        >>> TrustGate(0.5, rule="bounds").weights(p, bounds).tolist()
        [1.0, 0.0, 1.0]
    """

    def __init__(self, threshold: float = 0.5, rule: GateRule = "trust") -> None:
        check_in_range("threshold", threshold, 0.0, 1.0)
        check_choice("rule", rule, GATE_RULES)
        self.threshold, self.rule = threshold, rule

    def accepts(self, p_real: np.ndarray, bounds_pass: np.ndarray | None = None) -> np.ndarray:
        p = _scores(p_real)
        trusted = p >= self.threshold
        if self.rule == "trust":
            return trusted
        if bounds_pass is None:
            raise error("bounds_pass", f"the bounds-filter results (rule {self.rule!r})", None)
        bounds = np.asarray(bounds_pass, dtype=bool)
        if bounds.shape != p.shape:
            raise error("bounds_pass", f"of shape {p.shape} like p_real", bounds)
        return bounds if self.rule == "bounds" else trusted & bounds

    def weights(self, p_real: np.ndarray, bounds_pass: np.ndarray | None = None) -> np.ndarray:
        p = _scores(p_real)
        accepted = self.accepts(p, bounds_pass)
        return np.where(accepted, 1.0 if self.rule == "bounds" else p, 0.0)


def trust_gate(config: WMConfig) -> TrustGate:
    """The gate of the ``gate`` section (``trust_threshold``, ``rule``).

    Examples:
        >>> trust_gate(WMConfig()).rule
        'both'
    """
    return TrustGate(config.gate.trust_threshold, config.gate.rule)


def _mask(z: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    if lengths is None:
        return np.ones(z.shape[:2], dtype=bool)
    return np.arange(z.shape[1])[None, :] < np.asarray(lengths)[:, None]


def _episode_std(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-episode, per-dimension standard deviation over the episode's own steps ``(N, D)``."""
    m = mask[:, :, None]
    count = np.maximum(m.sum(1), 1)
    mean = (z * m).sum(1) / count
    return np.sqrt((((z - mean[:, None]) ** 2) * m).sum(1) / count)


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
    """Score synthetic (and real reference) episodes with the trust net and the bounds filter.

    The real reference is the real training episodes, or for augmentation segments the real
    windows the segments replay (:func:`~imbalance_world_model.generate.real_reference`). The
    bounds filter is fitted on it. Writes ``out`` (``scores.npz``: ``p_real_synthetic``,
    ``bounds_pass_synthetic``, ``p_real_real``, ``bounds_pass_real``) and ``summary.json``
    beside it (pass shares under each test and accepted shares under ``gate.rule``).

    Examples:
        >>> import tempfile
        >>> from imbalance_world_model.demo import TINY_OVERRIDES, demo_config
        >>> from imbalance_world_model.data import save_episodes, split_real
        >>> from imbalance_world_model.simulate import stage_simulate
        >>> from imbalance_world_model.train import stage_train_trust
        >>> cfg, d = demo_config(False, 0, TINY_OVERRIDES), tempfile.mkdtemp()
        >>> real = stage_simulate(cfg, f"{d}/real.npz")
        >>> _ = save_episodes(split_real(real)[0].subset(np.arange(5)), f"{d}/syn.npz")
        >>> _ = stage_train_trust(cfg, f"{d}/real.npz", f"{d}/syn.npz", f"{d}/trust")
        >>> s = stage_gate(cfg, f"{d}/trust/model.pt", f"{d}/real.npz", f"{d}/syn.npz",
        ...                f"{d}/gate/scores.npz")
        >>> sorted(s["synthetic"]), s["rule"], s["trust_threshold"]
        (['accepted', 'both', 'bounds', 'trust'], 'both', 0.5)
    """
    from imbalance_world_model.generate import real_reference

    train, _, split = load_real(real_path, config)
    syn = load_episodes(synthetic_path)
    net = load_trust_net(trust_path)
    writable_dir(Path(out).parent)
    ref = real_reference(train, syn)
    gate = trust_gate(config)
    bounds = bounds_filter(config).fit(ref.z, ref.lengths)
    scores = {
        "p_real_synthetic": trust_scores(net, syn.z, syn.lengths),
        "bounds_pass_synthetic": bounds.passes(syn.z, syn.lengths),
        "p_real_real": trust_scores(net, ref.z, ref.lengths),
        "bounds_pass_real": bounds.passes(ref.z, ref.lengths),
    }
    out = Path(out)
    with atomic_open(out, "wb") as fh:
        np.savez(fh, **scores)
    summary: dict[str, Any] = {"rule": gate.rule, "trust_threshold": gate.threshold}
    for source in ("synthetic", "real"):
        p, passed = scores[f"p_real_{source}"], scores[f"bounds_pass_{source}"]
        shares = pass_shares(passed, p, gate.threshold)
        shares["accepted"] = float(gate.accepts(p, passed).mean())
        summary[source] = shares
    summary["split"] = split
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
