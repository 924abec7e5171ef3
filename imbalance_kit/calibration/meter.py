"""Streaming calibration error: a ``torchmetrics.Metric`` with O(bins x classes) state."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from imbalance_kit._validation import check_bool, check_positive_int, error
from imbalance_kit.calibration._ece import (
    Binning,
    Mode,
    Norm,
    bin_statistics,
    check_options,
    error_from_statistics,
    quantile_bin_index,
    scores_and_hits,
    uniform_bin_index,
)
from imbalance_kit.calibration._inputs import prepare_labels, prepare_probs
from imbalance_kit.calibration._reliability import curve_from_statistics

__all__ = ["CalibrationMeter"]


class CalibrationMeter(Metric):
    r"""Streaming calibration error, a ``torchmetrics.Metric``: exact, DDP-synced, loggable.

    Every option of
    [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error] (``norm``,
    ``binning``, ``mode``, ``debias``) gives exactly what the function gives on the
    concatenated batches (up to float rounding).

    **State.** With uniform bins (the default) each
    [`update`][imbalance_kit.calibration.CalibrationMeter.update] adds the batch's per-bin count,
    sum of scores and sum of hits to a float64 ``stats`` state of shape ``(3, G, n_bins)``
    (``G = 1`` for top-label, ``G = C`` for classwise), registered with
    ``add_state(..., dist_reduce_fx="sum")``: O(bins x classes) memory whatever the number of
    predictions. torchmetrics' ``CalibrationError`` instead keeps every confidence.

    **Quantile binning** (``binning="quantile"``) needs the sorted scores of the
    whole data set: no fixed-size state gives it exactly. The meter then keeps every
    score and hit (list states, concatenated over ranks with ``dist_reduce_fx="cat"``:
    O(N x G) memory, like torchmetrics) and bins them at
    [`compute`][imbalance_kit.calibration.CalibrationMeter.compute].

    **Distributed and Lightning.** ``compute()`` sums (or concatenates) the states of
    every rank through torchmetrics, so each rank gets the global value;
    ``self.log("val/ece", meter)`` in a ``LightningModule`` logs it per epoch. A
    classwise meter without ``num_classes`` agrees on ``C`` with one extra all-reduce
    (a rank that saw no batch learns it). ``sync()`` without arguments (the
    pre-torchmetrics API) is deprecated: ``compute()`` syncs by itself.

    **Host syncs.** With ``validate_args=False``,
    [`update`][imbalance_kit.calibration.CalibrationMeter.update] runs no host synchronisation for
    uniform bins; the default validation reads the batch once.

    Args:
        n_bins: number of bins (>= 1).
        norm: ``"l1"``, ``"l2"`` or ``"max"`` (see ``expected_calibration_error``).
        mode: ``"top_label"`` or ``"classwise"``.
        binning: ``"uniform"`` (O(bins) state) or ``"quantile"`` (O(N) state, above).
        debias: debiased L2 estimator; requires ``norm="l2"``.
        num_classes: number of classes ``C`` (2 for ``(N,)`` binary batches); every
            batch must have it. Inferred from the first batch when ``None``; later
            batches must match.
        from_logits: batches are logits; apply softmax ``(N, C)`` / sigmoid ``(N,)``.
        validate_args: check every batch (one host sync per update).
        kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``,
            ``process_group``, ``compute_on_cpu``, ...).

    Raises:
        ValueError: bad options.

    Examples:
        >>> import torch
        >>> from imbalance_kit.calibration import expected_calibration_error
        >>> g = torch.Generator().manual_seed(0)
        >>> probs = torch.softmax(torch.randn(1000, 5, generator=g), dim=1)
        >>> labels = torch.randint(0, 5, (1000,), generator=g)
        >>> meter = CalibrationMeter(n_bins=10)
        >>> for p, y in zip(probs.split(128), labels.split(128)):
        ...     meter.update(p, y)
        >>> streamed = meter.compute()
        >>> bool(torch.isclose(streamed, expected_calibration_error(probs, labels, n_bins=10)))
        True
        >>> meter.num_samples
        1000
    """

    is_differentiable = False
    higher_is_better = False
    # forward() first adds the batch to the global state (so the layout checks see every
    # batch), then computes the batch's own value
    full_state_update = True

    def __init__(
        self,
        n_bins: int = 15,
        *,
        norm: Norm = "l1",
        mode: Mode = "top_label",
        binning: Binning = "uniform",
        debias: bool = False,
        num_classes: int | None = None,
        from_logits: bool = False,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_options(n_bins, norm, binning, mode, debias)
        check_bool("from_logits", from_logits)
        check_bool("validate_args", validate_args)
        if num_classes is not None:
            check_positive_int("num_classes", num_classes, minimum=2)
        self.n_bins = n_bins
        self.norm = norm
        self.mode = mode
        self.binning = binning
        self.debias = debias
        self.num_classes = num_classes
        self.from_logits = from_logits
        self.validate_args = validate_args
        groups = 1 if mode == "top_label" else (num_classes or 0)
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        if binning == "uniform":
            self.add_state(
                "stats", torch.zeros(3, groups, n_bins, dtype=torch.float64), dist_reduce_fx="sum"
            )
        else:
            self.add_state("scores", [], dist_reduce_fx="cat")
            self.add_state("hits", [], dist_reduce_fx="cat")
        self._layout: tuple[bool, int] | None = None  # (binary, classes) of the batches
        self._result_dtype = torch.float32

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every batch."""
        super().reset()
        self._layout = None
        self._result_dtype = torch.float32

    @property
    def num_samples(self) -> int:
        """Predictions counted in this rank's state."""
        return int(self.count)

    @property
    def state(self) -> torch.Tensor | None:
        """The ``(3, G, n_bins)`` float64 state of uniform bins (count, score sum, hit sum).

        ``None`` for quantile bins (their state is the scores themselves).
        """
        return self.stats if self.binning == "uniform" else None

    # ----------------------------------------------------------------- update
    @torch.no_grad()
    def update(self, probs: Any, labels: Any) -> None:
        """Add a batch of ``(N, C)`` or ``(N,)`` probabilities and their labels.

        Args:
            probs: ``(N, C)`` class probabilities (rows sum to 1) or ``(N,)``
                positive-class probabilities (logits with ``from_logits=True``).
            labels: ``(N,)`` class indices, or 0/1 for ``(N,)`` input.
                An empty batch (``N = 0``) adds nothing.

        Raises:
            ValueError: invalid batch (when ``validate_args``), or a batch whose
                layout (binary or ``C`` classes) differs from the first one or from
                ``num_classes``.
        """
        prepared = prepare_probs(
            probs, from_logits=self.from_logits, validate=self.validate_args, allow_empty=True
        )
        targets = prepare_labels(labels, prepared, validate=self.validate_args)
        self._check_layout(prepared)
        scores, hits = scores_and_hits(prepared, targets, self.mode)
        if self.binning == "uniform":
            index = uniform_bin_index(scores, self.n_bins)
            if self.stats.shape[1] != (1 if scores.ndim == 1 else scores.shape[0]):
                # classwise, classes known now
                self.stats = torch.zeros(
                    3, scores.shape[0], self.n_bins, dtype=torch.float64, device=self.device
                )
            self.stats += bin_statistics(index, scores, hits, self.n_bins).to(self.stats.device)
        else:  # kept as (N, G) rows so that the states concatenate along dim 0
            self.scores.append(scores.reshape(-1, prepared.shape[0]).T.to(torch.float64))
            self.hits.append(hits.reshape(-1, prepared.shape[0]).T.to(torch.float64))
        self.count += prepared.shape[0]
        if prepared.dtype == torch.float64:
            self._result_dtype = torch.float64

    def _check_layout(self, probs: torch.Tensor) -> None:
        binary = probs.ndim == 1
        classes = 2 if binary else probs.shape[1]
        if self.num_classes is not None and classes != self.num_classes:
            raise error(
                "probs",
                f"{self.num_classes} classes like num_classes={self.num_classes}",
                f"shape {tuple(probs.shape)}",
                raw=True,
            )
        if self._layout is not None and (binary, classes) != self._layout:
            first_binary, first_classes = self._layout
            first = "(N,) binary" if first_binary else f"(N, {first_classes})"
            raise error(
                "probs", f"{first} like the first batch", f"shape {tuple(probs.shape)}", raw=True
            )
        self._layout = (binary, classes)

    # ---------------------------------------------------------------- results
    def _statistics(self) -> torch.Tensor:
        if float(self.count) == 0:
            raise ValueError("CalibrationMeter has no predictions: call update() before compute()")
        if self.binning == "uniform":
            return self.stats
        scores, hits = dim_zero_cat(self.scores).T, dim_zero_cat(self.hits).T
        index = quantile_bin_index(scores.contiguous(), self.n_bins)
        return bin_statistics(index.squeeze(0), scores.squeeze(0), hits.squeeze(0), self.n_bins)

    def compute(self) -> torch.Tensor:
        """Calibration error of everything seen (over all ranks under DDP).

        Returns:
            A 0-d tensor on the state's device (float64 if the batches were float64).

        Raises:
            ValueError: no predictions yet.
        """
        stats = self._statistics()
        return error_from_statistics(stats, self.norm, self.debias).to(self._result_dtype)

    def reliability_curve(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-bin ``(confidence, accuracy, count)`` of this rank's state.

        Shapes are ``(n_bins,)`` in top-label mode and ``(C, n_bins)`` in
        classwise mode; confidence and accuracy are NaN in empty bins.

        Raises:
            ValueError: no predictions yet.
        """
        confidence, accuracy, count = curve_from_statistics(self._statistics())
        if self.mode == "top_label":
            return confidence[0], accuracy[0], count[0]
        return confidence, accuracy, count

    # ------------------------------------------------------------ distributed
    def _sync_dist(self, dist_sync_fn: Any = None, process_group: Any = None) -> None:
        """torchmetrics' sync, after agreeing on ``C`` for a classwise meter without it.

        A rank that saw no batch does not know ``C``: one all-reduce of the class
        counts gives it (ranks that saw different ``C`` all raise the same error).
        """
        if self.binning == "uniform" and self.mode == "classwise" and self.num_classes is None:
            import torch.distributed as dist

            group = process_group or self.process_group
            seen = self.stats.shape[1]
            sizes = torch.tensor([seen, -seen if seen else -(2**62)], device=self.stats.device)
            dist.all_reduce(sizes, op=dist.ReduceOp.MAX, group=group)
            largest, smallest = int(sizes[0]), -int(sizes[1])
            if largest and smallest != largest:
                raise error(
                    "probs",
                    "batches with the same number of classes on every rank",
                    f"{smallest} and {largest} classes",
                    raw=True,
                )
            if largest and not seen:
                self.stats = self.stats.new_zeros(3, largest, self.n_bins)
        if dist_sync_fn is None:
            super()._sync_dist(process_group=process_group)
        else:
            super()._sync_dist(dist_sync_fn, process_group=process_group)

    def sync(self, *args: Any, group: Any = None, **kwargs: Any) -> None:
        """torchmetrics' ``Metric.sync``; called bare it is the deprecated pre-torchmetrics API.

        ``meter.sync()`` (or ``meter.sync(group=...)``) used to all-reduce the state
        before [`compute`][imbalance_kit.calibration.CalibrationMeter.compute]. ``compute()`` now
        does that itself, so the bare call only warns (``DeprecationWarning``) and remembers
        ``group`` as the process group of later syncs. With torchmetrics' arguments it is
        torchmetrics' ``sync``.
        """
        if args or kwargs:
            super().sync(*args, **kwargs)
            return
        warnings.warn(
            "CalibrationMeter.sync() is deprecated and does nothing: compute() sums the "
            "state of every rank by itself (torchmetrics). Remove the call.",
            DeprecationWarning,
            stacklevel=2,
        )
        if group is not None:
            self.process_group = group

    def __repr__(self) -> str:
        return (
            f"CalibrationMeter(n_bins={self.n_bins}, norm={self.norm!r}, mode={self.mode!r}, "
            f"binning={self.binning!r}, debias={self.debias}, num_samples={self.num_samples})"
        )
