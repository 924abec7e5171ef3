"""Temperature scaling fitted by a safeguarded Newton method on a convex objective."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit._validation import check_positive, check_positive_int, error
from imbalance_kit.calibration._inputs import as_tensor, prepare_labels

__all__ = ["TemperatureScaling"]

_CHUNK_ELEMENTS = 1 << 20  # rows per chunk are chosen so one chunk holds ~1M logits


def _nll_derivatives(
    logits: torch.Tensor, labels: torch.Tensor, beta: float
) -> tuple[float, float, float]:
    r"""NLL of ``beta * logits`` and its first two derivatives in ``beta``, in one pass.

    Multiclass, with $p = \mathrm{softmax}(\beta z)$:
    $f = \overline{\mathrm{lse}(\beta z) - \beta z_y}$,
    $f' = \overline{\mathbb{E}_p[z] - z_y}$,
    $f'' = \overline{\mathrm{Var}_p[z]} \ge 0$.
    Binary, with $\sigma = \sigma(\beta z)$: $f = \overline{\mathrm{softplus}(\beta z) - y\beta z}$,
    $f' = \overline{(\sigma - y) z}$, $f'' = \overline{\sigma (1 - \sigma) z^2}$.
    Means accumulate in float64 over row chunks.
    """
    n = logits.shape[0]
    width = 1 if logits.ndim == 1 else logits.shape[1]
    rows = max(1, _CHUNK_ELEMENTS // width)
    total = torch.zeros(3, dtype=torch.float64, device=logits.device)
    for start in range(0, n, rows):
        z = logits[start : start + rows]
        y = labels[start : start + rows]
        if z.dtype not in (torch.float32, torch.float64):
            z = z.float()
        scaled = z * beta
        if z.ndim == 1:
            yf = y.to(z.dtype)
            sig = torch.sigmoid(scaled)
            parts = (
                F.softplus(scaled) - yf * scaled,
                (sig - yf) * z,
                sig * (1 - sig) * z.square(),
            )
        else:
            log_p = torch.log_softmax(scaled, dim=1)
            p = log_p.exp()
            z_y = z.gather(1, y[:, None]).squeeze(1)
            mean_z = (p * z).sum(dim=1)
            parts = (
                -log_p.gather(1, y[:, None]).squeeze(1),
                mean_z - z_y,
                (p * (z - mean_z[:, None]).square()).sum(dim=1),
            )
        total += torch.stack([part.sum(dtype=torch.float64) for part in parts])
    f, g, h = (total / n).tolist()
    return f, g, h


def _newton_candidate(beta: float, g: float, h: float) -> float:
    """Newton step for ``f'(beta) = 0``, taken in ``u = log(beta)`` where that is convex.

    In ``u`` the curvature is ``beta * (beta * h + g)``; when positive, the step
    ``u -= g / (beta * h + g)`` stays well scaled far from the optimum (an
    over-confident model, where ``f`` flattens in ``beta``). Otherwise the plain
    Newton step in ``beta``. NaN when neither is defined.
    """
    curvature = beta * h + g
    if curvature > 0:
        return beta * math.exp(max(-50.0, min(50.0, -g / curvature)))
    if h > 0:
        return beta - g / h
    return math.nan


_PARAMS = ("max_iter", "max_temperature", "min_temperature", "tol")


def _not_fitted() -> Exception:
    """scikit-learn's ``NotFittedError`` (a ``ValueError``), imported only on this path."""
    message = (
        "TemperatureScaling is not fitted yet: call fit(logits, labels) first "
        "(or load_state_dict() of a fitted one)"
    )
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return ValueError(message)
    return NotFittedError(message)


class TemperatureScaling(nn.Module):
    r"""Temperature scaling (Guo et al. 2017), fitted with a method that always converges.

    Learns one scalar $T > 0$ so that ``softmax(logits / T)`` (``sigmoid`` for
    binary ``(N,)`` logits) minimises the negative log-likelihood on held-out
    data. Written in the inverse temperature $\beta = 1/T$ the NLL

    $$
    f(\beta) = \frac{1}{N}\sum_{i=1}^{N} \Big(\log \sum_{c} e^{\beta z_{ic}} - \beta z_{i y_i}\Big)
    $$

    is convex ($f''(\beta)$ is the mean variance of the logits under the
    scaled softmax), so $f'(\beta) = 0$ has a single root. The fit runs a
    Newton iteration on $f'$ inside a bracket that always contains the root,
    falling back to bisection in $\log \beta$ (i.e. in $\log T$) whenever a Newton step
    leaves the bracket or stops shrinking fast: it converges for any input,
    with no learning rate or initial value to tune. Each iteration is one pass
    over the logits (chunked, so the memory is a few chunks, not copies of the
    data). The common LBFGS recipe (``lr=0.01, max_iter=50`` on $T$) can stop
    early or diverge; this cannot.

    Guarantees: the result lies in ``[min_temperature, max_temperature]`` and
    its NLL is never above the NLL at $T = 1$ (if rounding ever made it so, $T = 1$
    is kept). Separable logits (every label is the top logit) have no finite
    optimum: the NLL keeps falling as $T \to 0$, so $T$ stops at
    ``min_temperature`` with a warning; the opposite case stops at
    ``max_temperature``. Already calibrated logits give $T \approx 1$.

    **As a module.** ``TemperatureScaling`` is an ``nn.Module`` that sits after a
    model: ``forward(logits)`` returns ``logits / T`` (differentiable in the logits,
    no host synchronisation), the fitted ``T`` lives in the ``temperature`` buffer of
    ``state_dict()`` and moves with ``.to(device)``; a fresh module loaded from a
    fitted one's ``state_dict`` is fitted. It also keeps scikit-learn's estimator
    conventions (keyword-only parameters, ``get_params`` / ``set_params``, ``clone``,
    fitted attributes ending in ``_``) without importing scikit-learn.

    Reference: Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern
    Neural Networks".

    Args:
        min_temperature: lower bound on $T$ (> 0).
        max_temperature: upper bound on $T$ (> ``min_temperature``).
        max_iter: maximum passes over the logits (>= 1); a typical fit takes 5-10,
            and bisection alone reaches ``tol`` from the default bracket in about 40.
        tol: relative tolerance on $T$ (> 0).

    Attributes:
        temperature: the fitted temperature, a float64 0-d buffer (NaN until fitted).
        temperature_: the fitted temperature (float).
        nll_: mean NLL of the fitted temperature on the fitting data.
        nll_at_one_: mean NLL at $T = 1$.
        n_iter_: passes over the logits (each gives the NLL and its two derivatives).
        converged_: the tolerance was met (False only if ``max_iter`` ran out).
        at_bound_: the optimum was outside the bounds and $T$ is a bound.
        binary_: fitted on ``(N,)`` binary logits.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> true_logits = 2 * torch.randn(4000, 5, generator=g)
        >>> labels = torch.distributions.Categorical(logits=true_logits).sample()
        >>> overconfident = 3 * true_logits  # the model's logits are 3x too sharp
        >>> ts = TemperatureScaling().fit(overconfident, labels)
        >>> abs(ts.temperature_ - 3.0) < 0.2
        True
        >>> ts.nll_ < ts.nll_at_one_
        True
        >>> ts.transform(overconfident).shape
        torch.Size([4000, 5])

        After a model, as a module (its temperature is saved with the state dict):

        >>> calibrated = torch.nn.Sequential(torch.nn.Identity(), ts)
        >>> torch.allclose(calibrated(overconfident), overconfident / ts.temperature_)
        True
        >>> restored = TemperatureScaling()
        >>> _ = restored.load_state_dict(ts.state_dict())
        >>> restored.temperature_ == ts.temperature_
        True
    """

    def __init__(
        self,
        *,
        min_temperature: float = 0.01,
        max_temperature: float = 100.0,
        max_iter: int = 100,
        tol: float = 1e-6,
    ) -> None:
        super().__init__()
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature
        self.max_iter = max_iter
        self.tol = tol
        self.register_buffer("temperature", torch.full((), math.nan, dtype=torch.float64))
        self._fitted = False

    # ----------------------------------------------------- estimator conventions
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``BaseEstimator.get_params``."""
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params: Any) -> TemperatureScaling:
        """Set constructor parameters (scikit-learn convention); returns ``self``."""
        for name, value in params.items():
            if name not in _PARAMS:
                listed = ", ".join(repr(p) for p in _PARAMS)
                raise error("set_params keys", f"parameters of TemperatureScaling ({listed})", name)
            setattr(self, name, value)
        return self

    def extra_repr(self) -> str:
        defaults = {"max_iter": 100, "max_temperature": 100.0, "min_temperature": 0.01,
                    "tol": 1e-6}  # fmt: skip
        changed = [f"{k}={getattr(self, k)!r}" for k in _PARAMS if getattr(self, k) != defaults[k]]
        if self._fitted:
            changed.append(f"temperature={self.temperature_:.4g}")
        return ", ".join(changed)

    @property
    def temperature_(self) -> float:
        """The fitted temperature (``AttributeError`` before
        [`fit`][imbalance_kit.calibration.TemperatureScaling.fit])."""
        if not self._fitted:
            raise AttributeError("temperature_")
        return float(self.temperature)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        value = state_dict.get(prefix + "temperature")
        self._fitted = isinstance(value, torch.Tensor) and bool(torch.isfinite(value).all())

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise _not_fitted()

    def _check_params(self) -> None:
        check_positive("min_temperature", self.min_temperature)
        check_positive("max_temperature", self.max_temperature)
        if not self.min_temperature < 1.0 < self.max_temperature:
            raise error(
                "min_temperature and max_temperature",
                "a range around 1 (min_temperature < 1 < max_temperature)",
                (self.min_temperature, self.max_temperature),
            )
        check_positive_int("max_iter", self.max_iter)
        check_positive("tol", self.tol)

    @staticmethod
    def _prepare_logits(logits: Any) -> torch.Tensor:
        tensor = as_tensor(logits, "logits").detach()
        if not tensor.is_floating_point():
            raise error(
                "logits", "a floating-point tensor", f"dtype {tensor.dtype}", TypeError, raw=True
            )
        if tensor.ndim not in (1, 2) or tensor.shape[0] == 0:
            raise error(
                "logits", "non-empty (N,) or (N, C)", f"shape {tuple(tensor.shape)}", raw=True
            )
        if tensor.ndim == 2 and tensor.shape[1] < 2:
            raise error(
                "logits", "(N, C) with C >= 2 or (N,)", f"shape {tuple(tensor.shape)}", raw=True
            )
        if not all(math.isfinite(v) for v in torch.stack(torch.aminmax(tensor)).tolist()):
            # NaN and inf propagate into the min / max: no full-size temporary needed
            raise error("logits", "finite (no NaN or inf)", "non-finite values", raw=True)
        return tensor

    def fit(self, logits: Any, labels: Any) -> TemperatureScaling:
        """Fit the temperature on held-out ``logits`` and ``labels``.

        Args:
            logits: ``(N, C)`` class logits or ``(N,)`` binary logits (torch, any
                device, or numpy).
            labels: ``(N,)`` class indices in ``[0, C)`` (0/1 for binary logits).

        Returns:
            ``self``.

        Raises:
            ValueError: empty or non-finite logits, labels out of range, bad parameters.
        """
        self._check_params()
        z = self._prepare_logits(logits)
        y = prepare_labels(labels, z)
        with torch.no_grad():
            beta, info = self._solve(z, y)
            self.temperature.fill_(1.0 / beta)
        self._fitted = True
        self.nll_, self.nll_at_one_ = info["nll"], info["nll_at_one"]
        self.n_iter_, self.converged_, self.at_bound_ = (
            info["n_iter"],
            info["converged"],
            info["at_bound"],
        )
        self.binary_ = z.ndim == 1
        if self.at_bound_:
            if beta > 1:
                side, example = "min_temperature", "separable logits: every label is the top logit"
            else:
                side, example = "max_temperature", "logits that rank the labels last"
            warnings.warn(
                f"the NLL keeps decreasing past {side}={self.temperature_:g} (for example, "
                f"{example}); the temperature was clipped to {side}",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def _solve(self, z: torch.Tensor, y: torch.Tensor) -> tuple[float, dict]:
        """Safeguarded Newton on ``f'(beta) = 0`` over ``[1 / max_T, 1 / min_T]``.

        The bracket ``[lo, hi]`` always holds the root: ``f'`` is increasing, so
        the sign of ``f'`` at each iterate says which side the root is on. The
        far bound is evaluated only if the iteration heads past it.
        """
        lo, hi = 1.0 / self.max_temperature, 1.0 / self.min_temperature
        f1, g, h = _nll_derivatives(z, y, 1.0)
        info = {"nll_at_one": f1, "nll": f1, "n_iter": 1, "converged": True, "at_bound": False}
        if g == 0.0:
            return 1.0, info
        if g < 0:
            lo, unexplored = 1.0, "hi"
        else:
            hi, unexplored = 1.0, "lo"
        x, fx, last_step, converged = 1.0, f1, math.inf, False
        while info["n_iter"] < self.max_iter:
            newton = _newton_candidate(x, g, h)
            inside = lo < newton < hi  # False for NaN
            if inside and abs(newton - x) <= self.tol * x:
                converged = True  # quadratic convergence: x is already within tol
                break
            if unexplored is not None and not inside:
                bound = hi if unexplored == "hi" else lo
                fb, gb, _ = _nll_derivatives(z, y, bound)
                info["n_iter"] += 1
                if (unexplored == "hi" and gb <= 0) or (unexplored == "lo" and gb >= 0):
                    x, fx, converged, info["at_bound"] = bound, fb, True, True
                    break
                unexplored = None
            if inside and abs(newton - x) <= 0.5 * last_step:
                candidate = newton
            else:
                candidate = math.sqrt(lo * hi)  # bisection in log(beta) = -log(T)
            last_step, x = abs(candidate - x), candidate
            fx, g, h = _nll_derivatives(z, y, x)
            info["n_iter"] += 1
            if g < 0:
                lo = x
            elif g > 0:
                hi = x
            if g == 0.0 or hi / lo - 1 <= self.tol:
                converged = True
                break
        if fx > f1:  # only through rounding: the bracket always holds beta = 1's side
            x, fx = 1.0, f1
        info.update(nll=fx, converged=converged)
        return x, info

    def transform(self, logits: Any) -> Any:
        """Divide ``logits`` by the fitted temperature (same type, device and dtype).

        Args:
            logits: ``(N, C)`` or ``(N,)`` logits, torch tensor or numpy array.

        Returns:
            ``logits / temperature_``.

        Raises:
            sklearn.exceptions.NotFittedError: before `fit` (a ``ValueError``).
        """
        self._require_fitted()
        if isinstance(logits, torch.Tensor):
            return logits / self.temperature_
        return np.asarray(logits) / self.temperature_

    def predict_proba(self, logits: Any) -> torch.Tensor:
        """Calibrated probabilities: ``softmax(logits / T)``, or ``sigmoid`` for ``(N,)`` logits.

        Args:
            logits: ``(N, C)`` or ``(N,)`` logits, torch tensor or numpy array.

        Returns:
            A torch tensor of probabilities on the input's device.
        """
        scaled = as_tensor(self.transform(logits), "logits")
        if scaled.ndim == 1:
            return torch.sigmoid(scaled)
        return torch.softmax(scaled, dim=-1)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits / T`` with the fitted temperature (differentiable in ``logits``).

        Args:
            logits: floating logits of any shape (``(N, C)``, ``(N,)``, ...) on the
                module's device.

        Returns:
            A tensor of the logits' shape and dtype.

        Raises:
            sklearn.exceptions.NotFittedError: before `fit` (a ``ValueError``).
            TypeError: ``logits`` is not a floating-point tensor.
        """
        self._require_fitted()
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            got = (
                f"dtype {logits.dtype}"
                if isinstance(logits, torch.Tensor)
                else type(logits).__name__
            )
            raise error("logits", "a floating-point torch.Tensor", got, TypeError, raw=True)
        return logits / self.temperature.to(logits.dtype)
