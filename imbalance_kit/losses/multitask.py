"""Multi-task loss: per-task losses combined with a fixed, learned or adaptive weighting."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias

import torch
from torch import nn

from imbalance_kit._validation import (
    check_choice,
    check_in_range,
    check_non_negative,
    check_positive,
    error,
)
from imbalance_kit.losses._registry import get_loss

__all__ = ["MultiTaskLoss"]

Weighting: TypeAlias = Literal[
    "uniform", "uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty"
]
WEIGHTINGS = ("uniform", "uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty")
METRIC_WEIGHTINGS = ("inverse_accuracy", "inverse_f1", "difficulty")
# The weightings that read each option; any other weighting needs the option left at its default.
_ADJUSTED_WEIGHTINGS = ("uncertainty", "dwa", *METRIC_WEIGHTINGS)
OPTION_USERS: dict[str, tuple[str, ...]] = {
    "max_weight": _ADJUSTED_WEIGHTINGS,
    "min_weight": _ADJUSTED_WEIGHTINGS,
    "dwa_temperature": ("dwa",),
    "gamma": ("difficulty",),
    "metric_momentum": METRIC_WEIGHTINGS,
    "uncertainty_form": ("uncertainty",),
    "init_log_var": ("uncertainty",),
    "eps": ("dwa", *METRIC_WEIGHTINGS),
    "class_counts": ("difficulty",),
}
LossFn: TypeAlias = Callable[[Any, Any], torch.Tensor]
TaskSpec: TypeAlias = LossFn | str | tuple[str, Mapping[str, Any]] | Mapping[str, Any]


class _FunctionLoss(nn.Module):
    """Holds a plain callable so every task loss lives in one ``nn.ModuleList``."""

    def __init__(self, fn: LossFn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, output: Any, target: Any) -> torch.Tensor:
        return self.fn(output, target)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


def _build_task_loss(task: str, spec: Any) -> nn.Module:
    where = f"tasks[{task!r}]"
    if isinstance(spec, str):
        return get_loss(spec)
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], Mapping):
            raise error(where, "a (name, kwargs) pair", spec)
        return get_loss(spec[0], **spec[1])
    if isinstance(spec, Mapping):
        if not isinstance(spec.get("name"), str):
            raise error(where, "a mapping with a 'name' key naming a registered loss", spec)
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        return get_loss(spec["name"], **kwargs)
    if isinstance(spec, nn.Module):
        return spec
    if callable(spec):
        return _FunctionLoss(spec)
    raise error(
        where,
        "a loss callable, a registry name, a (name, kwargs) pair or a mapping with a 'name' key",
        type(spec).__name__,
        TypeError,
        raw=True,
    )


def _project_weights(raw: list[float], low: float, high: float | None) -> list[float]:
    """Scale ``raw`` to sum to ``len(raw)``, each weight clipped to ``[low, high]``.

    Solves ``sum(clip(c * raw_t, low, high)) = K`` for the scale ``c`` exactly
    (the left side is piecewise linear and non-decreasing in ``c``), so
    capped weight mass is redistributed in proportion to the raw weights.
    Requires ``low <= 1 <= high``. Non-finite or all-zero input gives uniform weights.
    """
    k = len(raw)
    top = max(raw)
    if not (math.isfinite(top) and top > 0) or not all(math.isfinite(r) for r in raw):
        return [1.0] * k
    x = [max(r / top, 1e-12) for r in raw]
    hi = math.inf if high is None else high

    def clipped(c: float) -> list[float]:
        return [min(max(c * xi, low), hi) for xi in x]

    breakpoints = sorted({b for xi in x for b in (low / xi, hi / xi) if 0 < b < math.inf})
    start = 0.0
    for end in [*breakpoints, math.inf]:
        if end == math.inf or sum(clipped(end)) >= k:
            mid = start + 1.0 if end == math.inf else (start + end) / 2
            free = [low < mid * xi < hi for xi in x]
            fixed = sum(v for v, f in zip(clipped(mid), free) if not f)
            slope = sum(xi for xi, f in zip(x, free) if f)
            if slope == 0:
                return clipped(start)
            return clipped((k - fixed) / slope)
        start = end
    raise AssertionError("unreachable")  # pragma: no cover


def _class_imbalance(class_counts: Any, task_names: tuple[str, ...]) -> list[float]:
    """The imbalance $u_t = 1 - H(p_t) / \\log C_t$ of each task's class counts (0: balanced)."""
    if not isinstance(class_counts, Mapping):
        raise error("class_counts", "a mapping of task name -> class counts", class_counts)
    unknown = [key for key in class_counts if key not in task_names]
    missing = [t for t in task_names if t not in class_counts]
    if unknown or missing:
        raise error(
            "class_counts",
            f"keyed by exactly the tasks {list(task_names)}",
            f"missing {missing}, unknown {unknown}",
            raw=True,
        )
    out = []
    for task in task_names:
        name = f"class_counts[{task!r}]"
        counts = torch.as_tensor(class_counts[task], dtype=torch.float64).detach().cpu()
        if counts.ndim != 1 or counts.numel() < 2:
            raise error(name, "a 1-D sequence of at least two class counts", class_counts[task])
        if not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
            raise error(name, "finite counts >= 0", counts.tolist())
        total = float(counts.sum())
        if total <= 0:
            raise error(name, "counts with a positive total", counts.tolist())
        p = counts / total
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        out.append(min(1.0, max(0.0, 1.0 - entropy / math.log(counts.numel()))))
    return out


def _check_options_used(weighting: str, options: Mapping[str, Any]) -> None:
    """Raise if an option the chosen weighting does not read differs from its default."""
    defaults = _option_defaults()
    for name, value in options.items():
        users = OPTION_USERS[name]
        if weighting in users or value == defaults[name]:
            continue
        listed = ", ".join(repr(w) for w in users)
        verb = "reads" if len(users) == 1 else "read"
        raise error(
            name,
            f"left at its default {defaults[name]!r} with weighting={weighting!r} "
            f"(only {listed} {verb} it)",
            value,
        )


def _option_defaults() -> dict[str, Any]:
    params = inspect.signature(MultiTaskLoss.__init__).parameters
    return {name: params[name].default for name in OPTION_USERS}


class _ClampInward(torch.autograd.Function):
    """``clamp(s, low, high)`` whose gradient still moves a clamped value back inside.

    Outside the bounds the gradient is kept only when a descent step would move
    ``s`` towards the allowed interval, so a clamped log-variance recovers as
    soon as its task's loss calls for it (and does not drift further away).
    """

    @staticmethod
    def forward(ctx, s: torch.Tensor, low: float | None, high: float | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(s)
        ctx.low, ctx.high = low, high
        return s.clamp(min=low, max=high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (s,) = ctx.saved_tensors
        keep = torch.ones_like(s, dtype=torch.bool)
        if ctx.low is not None:
            keep &= (s >= ctx.low) | (grad < 0)
        if ctx.high is not None:
            keep &= (s <= ctx.high) | (grad > 0)
        return grad * keep, None, None


class MultiTaskLoss(nn.Module):
    r"""Per-task losses combined into one objective with a chosen task weighting.

    ``forward(outputs, targets)`` computes ``L_t = loss_t(outputs[t], targets[t])``
    for every task and returns ``(total, per_task)``. Keys of ``outputs`` and
    ``targets`` that name no task are not used (a model may return more heads).

    **Task specs.** Each value of ``tasks`` is one of: a callable
    ``(output, target) -> scalar tensor`` (an ``nn.Module`` loss or a function);
    a registry name such as ``"softmax_focal"`` (built with
    [`imbalance_kit.losses.get_loss`][imbalance_kit.losses.get_loss]); a pair ``(name, kwargs)``; or
    a mapping ``{"name": name, **kwargs}`` (the form a YAML config gives).

    **Weightings.** Except for ``"uncertainty"``, the total is
    $\sum_t w_t L_t$ with constant weights normalised to
    $\sum_t w_t = K$ (the number of tasks) and each clipped to
    ``[min_weight, max_weight]``; the mass removed by a cap is shared among the
    other tasks in proportion to their raw weights.

    - ``"uniform"``: $w_t = 1$, the plain sum.
    - ``"uncertainty"`` (Kendall et al. 2018): learnable log-variances
      $s_t$ (the parameter ``log_vars``) and
      $\mathcal{L} = \sum_t c\,\left(e^{-s_t} L_t + s_t\right)$,
      with $c = 1$ (``uncertainty_form="simple"``) or $c = 1/2$
      (``"gaussian"``: $L_t / (2\sigma_t^2) + \log\sigma_t$ with
      $s_t = \log\sigma_t^2$, the paper's regression form). The weights
      $c\,e^{-s_t}$ are learned, not normalised; the cap is applied by
      clamping $s_t$ to $[\log(c/\text{max\_weight}), \log(c/\text{min\_weight})]$
      (a clamped $s_t$ still receives the gradient that moves it back
      inside). Add the module's parameters to the optimiser; under DDP keep
      the loss inside the wrapped module (or all-reduce its gradients).
    - ``"dwa"`` (Dynamic Weight Average, Liu et al. 2019): with
      $\bar L_t(e)$ the mean training loss of task $t$ over epoch
      $e$, $r_t = \bar L_t(e-1) / \bar L_t(e-2)$ and
      $w_t = K \frac{\exp(r_t / T)}{\sum_j \exp(r_j / T)}$;
      uniform until two epochs are recorded. Losses of every ``forward`` in
      training mode are accumulated; call
      [`step_epoch`][imbalance_kit.losses.MultiTaskLoss.step_epoch] at the end of each epoch to
      close it (or pass the epoch means yourself, e.g. all-reduced over ranks).
    - ``"inverse_accuracy"`` / ``"inverse_f1"``: $w_t \propto 1 / \max(m_t, \epsilon)$
      for the task metric $m_t$ (accuracy or F1; the rule is the same, the
      name says which metric you feed).
    - ``"difficulty"`` (Dynamic Task Prioritization, Guo et al. 2018):
      focal-style $w_t \propto -(1 - k_t)^\gamma \log k_t$ with
      $k_t = \mathrm{clip}(m_t, \epsilon, 1 - \epsilon)$: tasks with a
      low metric get more weight. With ``class_counts`` it combines the class
      counts with the performance:
      $w_t \propto d_t\,(1 + u_t)$, where $d_t$ is the term above
      (1 before the first metrics) and
      $u_t = 1 - H(p_t) / \log C_t \in [0, 1]$ is the imbalance of task
      $t$'s class distribution $p_t$ (its $C_t$ class counts normalised;
      $H$ the entropy): 0 for balanced classes, towards 1 as one class
      dominates. A task with rarer classes gets more weight from the start (up to
      twice that of a balanced task at equal performance).

    The metric-driven weightings are uniform until the first
    [`update_metrics`][imbalance_kit.losses.MultiTaskLoss.update_metrics] call (after each
    evaluation, with a value in ``[0, 1]`` for every task; ``metric_momentum`` smooths them as the
    paper's moving average). Weights are finite for metrics of exactly 0 or 1 and
    never NaN. [`task_weights`][imbalance_kit.losses.MultiTaskLoss.task_weights] shows the current
    weights. The DWA loss history and the metrics are saved in ``state_dict()``.

    References: Kendall, Gal & Cipolla, "Multi-Task Learning Using
    Uncertainty to Weigh Losses", CVPR 2018. Liu, Johns & Davison,
    "End-to-End Multi-Task Learning with Attention", CVPR 2019. Guo et al.,
    "Dynamic Task Prioritization for Multitask Learning", ECCV 2018.

    Args:
        tasks: task name -> task spec (see above); at least one task.
        weighting: the weighting strategy.
        max_weight: cap on a task's weight (``>= 1``; ``None`` for no cap);
            every weighting except ``"uniform"``.
        min_weight: floor on a task's weight, in ``[0, 1]``; every weighting
            except ``"uniform"``.
        dwa_temperature: DWA temperature $T > 0$ (2 in the paper); ``"dwa"`` only.
        gamma: focusing exponent $\gamma \ge 0$; ``"difficulty"`` only.
        class_counts: task name -> the training class counts of that task (every
            task, at least two classes each; a binary task gives its negative and
            positive counts); ``"difficulty"`` only.
        metric_momentum: $\alpha \in [0, 1)$; a new metric is stored as
            $\alpha m_\text{old} + (1 - \alpha) m_\text{new}$ (0 keeps the
            latest value); metric-driven weightings only.
        uncertainty_form: ``"simple"`` ($c = 1$) or ``"gaussian"`` ($c = 1/2$);
            ``"uncertainty"`` only.
        init_log_var: initial $s_t$ (0: weight $c$); ``"uncertainty"`` only.
        eps: $\epsilon \in (0, 0.5)$ keeping metric-driven weights finite
            (and the DWA ratio's denominator positive); ``"dwa"`` and the
            metric-driven weightings only.

    An option the chosen weighting does not read (see "only" above) must
    keep its default: a non-default value raises ``ValueError`` naming the
    option, the weighting and the weightings that read it, instead of being
    silently ignored.

    Raises:
        ValueError: empty ``tasks``, a bad task name or spec, an unknown
            weighting, an out-of-range option, or a non-default value for an
            option the chosen weighting does not read.
        TypeError: a task spec of an unsupported type.

    Examples:
        >>> import torch.nn.functional as F
        >>> criterion = MultiTaskLoss(
        ...     {
        ...         "action": "cross_entropy",
        ...         "severity": {"name": "softmax_focal", "gamma": 2.0},
        ...         "offence": F.binary_cross_entropy_with_logits,
        ...     },
        ...     weighting="inverse_f1",
        ... )
        >>> outputs = {"action": torch.randn(4, 3), "severity": torch.randn(4, 5),
        ...            "offence": torch.randn(4)}
        >>> targets = {"action": torch.tensor([0, 2, 1, 0]), "severity": torch.tensor([4, 0, 0, 1]),
        ...            "offence": torch.tensor([1.0, 0.0, 0.0, 1.0])}
        >>> total, per_task = criterion(outputs, targets)
        >>> sorted(per_task)
        ['action', 'offence', 'severity']
        >>> criterion.update_metrics({"action": 0.9, "severity": 0.3, "offence": 0.6})
        >>> {t: round(w, 3) for t, w in criterion.task_weights().items()}
        {'action': 0.545, 'severity': 1.636, 'offence': 0.818}
    """

    def __init__(
        self,
        tasks: Mapping[str, TaskSpec],
        weighting: Weighting = "uniform",
        *,
        max_weight: float | None = 10.0,
        min_weight: float = 0.0,
        dwa_temperature: float = 2.0,
        gamma: float = 2.0,
        metric_momentum: float = 0.0,
        uncertainty_form: Literal["simple", "gaussian"] = "simple",
        init_log_var: float = 0.0,
        eps: float = 1e-6,
        class_counts: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(tasks, Mapping) or len(tasks) == 0:
            raise error("tasks", "a non-empty mapping of task name -> loss", tasks)
        for name in tasks:
            if not isinstance(name, str) or not name:
                raise error("tasks", "keyed by non-empty task-name strings", name)
        check_choice("weighting", weighting, WEIGHTINGS)
        if max_weight is not None:
            check_in_range("max_weight", max_weight, 1.0, math.inf)
        check_in_range("min_weight", min_weight, 0.0, 1.0)
        check_positive("dwa_temperature", dwa_temperature)
        check_non_negative("gamma", gamma)
        check_in_range("metric_momentum", metric_momentum, 0.0, 1.0, high_inclusive=False)
        check_choice("uncertainty_form", uncertainty_form, ("simple", "gaussian"))
        check_in_range("init_log_var", init_log_var, -math.inf, math.inf)
        check_in_range("eps", eps, 0.0, 0.5, low_inclusive=False, high_inclusive=False)
        _check_options_used(
            weighting,
            {
                "max_weight": max_weight,
                "min_weight": min_weight,
                "dwa_temperature": dwa_temperature,
                "gamma": gamma,
                "metric_momentum": metric_momentum,
                "uncertainty_form": uncertainty_form,
                "init_log_var": init_log_var,
                "eps": eps,
                "class_counts": class_counts,
            },
        )

        self.task_names: tuple[str, ...] = tuple(tasks)
        self.task_losses = nn.ModuleList(_build_task_loss(t, s) for t, s in tasks.items())
        self.weighting = weighting
        self.max_weight = max_weight
        self.min_weight = min_weight
        self.dwa_temperature = dwa_temperature
        self.gamma = gamma
        self.metric_momentum = metric_momentum
        self.uncertainty_form = uncertainty_form
        self.eps = eps
        self._imbalance: list[float] | None = (
            None if class_counts is None else _class_imbalance(class_counts, self.task_names)
        )
        k = len(self.task_names)
        if weighting == "uncertainty":
            self.log_vars = nn.Parameter(torch.full((k,), float(init_log_var)))
        else:
            self.register_parameter("log_vars", None)
        self._metrics: dict[str, float] = {}
        self._history: list[list[float]] = []  # epoch means, oldest first (last two kept)
        self._epochs = 0
        self._epoch_sums: list[torch.Tensor | float] = [0.0] * k
        self._epoch_steps = 0
        self._weights = [1.0] * k
        self._refresh_weights()

    # ------------------------------------------------------------------ weights

    def _uncertainty_scale(self) -> float:
        return 1.0 if self.uncertainty_form == "simple" else 0.5

    def _log_var_bounds(self) -> tuple[float | None, float | None]:
        c = self._uncertainty_scale()
        low = None if self.max_weight is None else math.log(c / self.max_weight)
        high = math.log(c / self.min_weight) if self.min_weight > 0 else None
        return low, high

    def _raw_weights(self) -> list[float]:
        k = len(self.task_names)
        if self.weighting == "dwa":
            if len(self._history) < 2:
                return [1.0] * k
            before, last = self._history[-2], self._history[-1]
            ratios = [lt / max(bt, self.eps) for lt, bt in zip(last, before)]
            top = max(ratios)
            return [math.exp((r - top) / self.dwa_temperature) for r in ratios]
        if self.weighting == "difficulty":
            raw = [1.0] * k
            if self._metrics:
                values = [self._metrics[t] for t in self.task_names]
                clipped = [min(max(m, self.eps), 1.0 - self.eps) for m in values]
                raw = [-((1.0 - m) ** self.gamma) * math.log(m) for m in clipped]
            if self._imbalance is not None:
                raw = [d * (1.0 + u) for d, u in zip(raw, self._imbalance)]
            return raw
        if self.weighting in METRIC_WEIGHTINGS:
            if not self._metrics:
                return [1.0] * k
            values = [self._metrics[t] for t in self.task_names]
            return [1.0 / max(m, self.eps) for m in values]
        return [1.0] * k

    def _refresh_weights(self) -> None:
        if self.weighting != "uncertainty":
            self._weights = _project_weights(self._raw_weights(), self.min_weight, self.max_weight)

    def _bounded_log_vars(self) -> torch.Tensor:
        low, high = self._log_var_bounds()
        return _ClampInward.apply(self.log_vars, low, high)

    def task_weights(self) -> dict[str, float]:
        """Current weight of each task (for ``"uncertainty"``: $c\\,e^{-s_t}$).

        Examples:
            >>> MultiTaskLoss({"a": "mse", "b": "mse"}).task_weights()
            {'a': 1.0, 'b': 1.0}
        """
        if self.weighting == "uncertainty":
            with torch.no_grad():
                weights = self._uncertainty_scale() * torch.exp(-self._bounded_log_vars())
            return dict(zip(self.task_names, weights.tolist()))
        return dict(zip(self.task_names, self._weights))

    # ------------------------------------------------------------------ state updates

    def _check_task_mapping(self, name: str, values: Mapping[str, Any]) -> None:
        if not isinstance(values, Mapping):
            raise error(name, "a mapping of task name -> value", type(values).__name__, raw=True)
        for task in self.task_names:
            if task not in values:
                tasks = list(self.task_names)
                raise KeyError(f"{name} must contain every task {tasks}, missing {task!r}")
        unknown = [key for key in values if key not in self.task_names]
        if unknown:
            tasks = list(self.task_names)
            raise KeyError(f"{name} must only contain tasks {tasks}, got unknown {unknown[0]!r}")

    def update_metrics(self, metrics: Mapping[str, float | torch.Tensor]) -> None:
        """Record each task's latest evaluation metric (in ``[0, 1]``) and update the weights.

        Used by ``"inverse_accuracy"``, ``"inverse_f1"`` and ``"difficulty"``;
        the other weightings keep the values without using them.

        Args:
            metrics: task name -> metric (float or 0-d tensor) for every task.

        Raises:
            KeyError: a task is missing or a key names no task.
            ValueError: a metric outside ``[0, 1]`` or not finite.

        Examples:
            >>> criterion = MultiTaskLoss({"a": "mse", "b": "mse"}, weighting="inverse_accuracy")
            >>> criterion.update_metrics({"a": 0.25, "b": 0.75})
            >>> criterion.task_weights()
            {'a': 1.5, 'b': 0.5}
        """
        self._check_task_mapping("metrics", metrics)
        new: dict[str, float] = {}
        for task in self.task_names:
            value = metrics[task]
            value = float(value.item()) if isinstance(value, torch.Tensor) else value
            check_in_range(f"metrics[{task!r}]", value, 0.0, 1.0)
            old = self._metrics.get(task)
            a = self.metric_momentum
            new[task] = float(value) if old is None else a * old + (1.0 - a) * float(value)
        self._metrics = new
        self._refresh_weights()

    def step_epoch(
        self, losses: Mapping[str, float | torch.Tensor] | None = None
    ) -> dict[str, float]:
        """Close an epoch: store its mean task losses in the history DWA reads.

        Args:
            losses: the epoch's mean loss per task. ``None`` uses the mean of
                the losses accumulated by ``forward`` in training mode since the
                last call (per process: under DDP pass all-reduced means to keep
                ranks identical).

        Returns:
            The mean loss per task that was recorded.

        Raises:
            RuntimeError: ``losses`` is ``None`` and no training ``forward`` ran.
            KeyError: ``losses`` misses a task or names an unknown one.
            ValueError: a non-finite epoch loss.

        Examples:
            >>> criterion = MultiTaskLoss({"a": "mse", "b": "mse"}, weighting="dwa")
            >>> _ = criterion.step_epoch({"a": 1.0, "b": 1.0})
            >>> _ = criterion.step_epoch({"a": 0.5, "b": 1.0})  # a improves faster
            >>> {t: round(w, 4) for t, w in criterion.task_weights().items()}
            {'a': 0.8756, 'b': 1.1244}
        """
        if losses is None:
            if self._epoch_steps == 0:
                raise RuntimeError(
                    "step_epoch() needs losses: no forward in training mode since the last call"
                )
            means = [float(s) / self._epoch_steps for s in self._epoch_sums]
        else:
            self._check_task_mapping("losses", losses)
            means = [float(losses[t]) for t in self.task_names]
        for task, value in zip(self.task_names, means):
            if not math.isfinite(value):
                raise error(f"epoch loss of task {task!r}", "finite", value)
        self._history = [*self._history, means][-2:]
        self._epochs += 1
        self._epoch_sums = [0.0] * len(self.task_names)
        self._epoch_steps = 0
        self._refresh_weights()
        return dict(zip(self.task_names, means))

    def get_extra_state(self) -> dict[str, Any]:
        sums = [float(s) for s in self._epoch_sums]
        return {
            "metrics": dict(self._metrics),
            "history": [list(h) for h in self._history],
            "epochs": self._epochs,
            "epoch_sums": sums,
            "epoch_steps": self._epoch_steps,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._metrics = dict(state["metrics"])
        self._history = [list(h) for h in state["history"]]
        self._epochs = int(state["epochs"])
        self._epoch_sums = list(state["epoch_sums"])
        self._epoch_steps = int(state["epoch_steps"])
        self._refresh_weights()

    # ------------------------------------------------------------------ forward

    def forward(
        self, outputs: Mapping[str, Any], targets: Mapping[str, Any]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute every task loss and their weighted total.

        Args:
            outputs: task name -> model output for that task.
            targets: task name -> target for that task.

        Returns:
            ``(total, per_task)``: the scalar objective and the unweighted loss
            of each task (still attached to the graph; detach before logging).

        Raises:
            KeyError: ``outputs`` or ``targets`` has no entry for a task.
            ValueError: a task loss is not a scalar tensor.
        """
        per_task: dict[str, torch.Tensor] = {}
        for task, loss_fn in zip(self.task_names, self.task_losses):
            for name, mapping in (("outputs", outputs), ("targets", targets)):
                if task not in mapping:
                    raise KeyError(f"{name} must have an entry for every task, missing {task!r}")
            loss = loss_fn(outputs[task], targets[task])
            if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else loss
                raise error(f"the loss of task {task!r}", "a scalar tensor", got, raw=True)
            per_task[task] = loss
        losses = list(per_task.values())
        if self.training:
            self._epoch_sums = [s + loss.detach() for s, loss in zip(self._epoch_sums, losses)]
            self._epoch_steps += 1
        if self.weighting == "uncertainty":
            s = self._bounded_log_vars()
            c = self._uncertainty_scale()
            terms = [c * (torch.exp(-s[i]) * loss + s[i]) for i, loss in enumerate(losses)]
        else:
            terms = [w * loss for w, loss in zip(self._weights, losses)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total, per_task

    def extra_repr(self) -> str:
        return f"tasks={list(self.task_names)}, weighting={self.weighting!r}"
