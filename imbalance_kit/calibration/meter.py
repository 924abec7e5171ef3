"""Streaming calibration meter: constant memory, exact, all-reducible under DDP."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist

from imbalance_kit._validation import check_positive_int, error
from imbalance_kit.calibration._ece import (
    Mode,
    Norm,
    bin_statistics,
    check_options,
    error_from_statistics,
    scores_and_hits,
    uniform_bin_index,
)
from imbalance_kit.calibration._inputs import prepare_labels, prepare_probs
from imbalance_kit.calibration._reliability import curve_from_statistics

__all__ = ["CalibrationMeter"]


class CalibrationMeter:
    r"""Accumulate calibration error over batches in O(bins x classes) memory.

    Each [`update`][imbalance_kit.calibration.CalibrationMeter.update] adds the batch's per-bin
    count, sum of scores and sum of hits to a float64 state of shape ``(3, G, n_bins)`` (``G = 1``
    for top-label, ``G = C`` for classwise). Those sums are all the calibration
    error needs, so [`compute`][imbalance_kit.calibration.CalibrationMeter.compute] returns exactly
    what [`expected_calibration_error`][imbalance_kit.calibration.expected_calibration_error] gives
    on the concatenated data (up to float rounding), whatever the number of
    predictions. torchmetrics' ``CalibrationError`` instead keeps every
    confidence (O(N) state, all-gathered under DDP).

    **Binning.** Uniform bins are exact. Quantile (equal-mass) bins need the
    sorted scores of the whole data set and cannot be computed exactly in
    O(bins) memory, so ``binning="quantile"`` is refused with an error rather
    than approximated; use the one-shot function on the gathered scores instead.

    **Distributed.** [`sync`][imbalance_kit.calibration.CalibrationMeter.sync] all-reduces (sums)
    the state over the process group, after which
    [`compute`][imbalance_kit.calibration.CalibrationMeter.compute] gives the global value on every
    rank. It is a no-op when ``torch.distributed`` is not initialised. The local state is kept: a
    later [`update`][imbalance_kit.calibration.CalibrationMeter.update] first returns to it, so
    syncing never counts a batch twice.

    **Host syncs.** With ``validate_args=False``,
    [`update`][imbalance_kit.calibration.CalibrationMeter.update] runs no host synchronisation (only
    ``index_add_`` into the state); the default validation reads the batch once to check the
    probabilities and labels.

    Args:
        n_bins: number of uniform bins (>= 1).
        norm: ``"l1"``, ``"l2"`` or ``"max"`` (see ``expected_calibration_error``).
        mode: ``"top_label"`` or ``"classwise"``.
        binning: only ``"uniform"`` (see above).
        debias: debiased L2 estimator; requires ``norm="l2"``.
        num_classes: number of classes for ``mode="classwise"``; inferred from the
            first batch when ``None`` (give it to
            [`sync`][imbalance_kit.calibration.CalibrationMeter.sync] a meter that may have seen no
            data).
        from_logits: batches are logits; apply softmax ``(N, C)`` / sigmoid ``(N,)``.
        validate_args: check every batch (one host sync per update).

    Raises:
        ValueError: bad options, including ``binning="quantile"``.

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

    def __init__(
        self,
        n_bins: int = 15,
        *,
        norm: Norm = "l1",
        mode: Mode = "top_label",
        binning: Literal["uniform"] = "uniform",
        debias: bool = False,
        num_classes: int | None = None,
        from_logits: bool = False,
        validate_args: bool = True,
    ) -> None:
        check_options(n_bins, norm, binning, mode, debias)
        if binning != "uniform":
            raise error(
                "binning",
                "'uniform' for CalibrationMeter (quantile edges depend on all the data and "
                "cannot be computed exactly in O(bins) memory; call "
                "expected_calibration_error(..., binning='quantile') on the gathered scores)",
                binning,
            )
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
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every batch (and any synced state)."""
        self._stats: torch.Tensor | None = None
        self._local: torch.Tensor | None = None  # local state while synced
        self._binary: bool | None = None
        self._dtype = torch.float32
        self._num_samples = 0
        self._synced_samples = 0
        if self.mode == "top_label":
            self._stats = torch.zeros(3, 1, self.n_bins, dtype=torch.float64)
        elif self.num_classes is not None:
            self._stats = torch.zeros(3, self.num_classes, self.n_bins, dtype=torch.float64)

    @property
    def num_samples(self) -> int:
        """Predictions counted in the current state (global after
        [`sync`][imbalance_kit.calibration.CalibrationMeter.sync])."""
        return self._synced_samples if self._local is not None else self._num_samples

    @property
    def state(self) -> torch.Tensor | None:
        """The ``(3, G, n_bins)`` float64 state: count, sum of scores, sum of hits per bin."""
        return self._stats

    def _unsync(self) -> None:
        if self._local is not None:
            self._stats, self._local = self._local, None

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
                layout (binary or ``C`` classes) differs from the first one.
        """
        prepared = prepare_probs(
            probs, from_logits=self.from_logits, validate=self.validate_args, allow_empty=True
        )
        targets = prepare_labels(labels, prepared, validate=self.validate_args)
        self._check_layout(prepared)
        self._unsync()
        scores, hits = scores_and_hits(prepared, targets, self.mode)
        index = uniform_bin_index(scores, self.n_bins)
        if self._stats is None:  # classwise, classes known now
            groups = scores.shape[0]
            self._stats = torch.zeros(3, groups, self.n_bins, dtype=torch.float64)
        if self._stats.device != prepared.device:
            self._stats = self._stats.to(prepared.device)
        bin_statistics(index, scores, hits, self.n_bins, out=self._stats)
        self._num_samples += prepared.shape[0]
        if prepared.dtype == torch.float64:
            self._dtype = torch.float64

    def _check_layout(self, probs: torch.Tensor) -> None:
        binary = probs.ndim == 1
        classes = 2 if binary else probs.shape[1]
        if self._binary is not None and binary != self._binary:
            first = "(N,) binary" if self._binary else "(N, C)"
            raise error(
                "probs", f"{first} like the first batch", f"shape {tuple(probs.shape)}", raw=True
            )
        if self.mode == "classwise":
            expected = self.num_classes if self._stats is None else self._stats.shape[1]
            if expected is not None and classes != expected:
                raise error(
                    "probs",
                    f"{expected} classes like the meter",
                    f"shape {tuple(probs.shape)}",
                    raw=True,
                )
        self._binary = binary

    # ---------------------------------------------------------------- results
    def _require_data(self) -> torch.Tensor:
        if self._stats is None or self.num_samples == 0:
            raise ValueError("CalibrationMeter has no predictions: call update() before compute()")
        return self._stats

    def compute(self) -> torch.Tensor:
        """Calibration error of everything seen (after
        [`sync`][imbalance_kit.calibration.CalibrationMeter.sync], over all ranks).

        Returns:
            A 0-d tensor on the state's device (float64 if the batches were float64).

        Raises:
            ValueError: no predictions yet.
        """
        stats = self._require_data()
        return error_from_statistics(stats, self.norm, self.debias).to(self._dtype)

    def reliability_curve(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-bin ``(confidence, accuracy, count)`` of the state.

        Shapes are ``(n_bins,)`` in top-label mode and ``(C, n_bins)`` in
        classwise mode; confidence and accuracy are NaN in empty bins.

        Raises:
            ValueError: no predictions yet.
        """
        stats = self._require_data()
        confidence, accuracy, count = curve_from_statistics(stats)
        if self.mode == "top_label":
            return confidence[0], accuracy[0], count[0]
        return confidence, accuracy, count

    # ------------------------------------------------------------ distributed
    def sync(self, group: Any = None) -> None:
        """Sum the state over the ranks of ``group`` (all ranks must call it).

        A no-op when ``torch.distributed`` is unavailable or not initialised.
        One ``all_reduce`` of ``3 * G * n_bins`` float64 values plus the sample
        count; calling it again without a new update does nothing.

        Args:
            group: the process group (default: the world).

        Raises:
            ValueError: classwise meter without ``num_classes`` that has seen no data.
        """
        if not (dist.is_available() and dist.is_initialized()) or self._local is not None:
            return
        if self._stats is None:
            raise error(
                "num_classes",
                "given to CalibrationMeter to sync a classwise meter that has seen no data",
                None,
            )
        device = self._stats.device
        if dist.get_backend(group) == "nccl" and device.type != "cuda":
            device = torch.device("cuda", torch.cuda.current_device())
        count = torch.tensor([float(self._num_samples)], dtype=torch.float64, device=device)
        packed = torch.cat([self._stats.to(device).reshape(-1), count])
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
        self._local = self._stats
        self._stats = packed[:-1].reshape(self._local.shape).to(self._local.device)
        self._synced_samples = int(packed[-1].item())

    def __repr__(self) -> str:
        return (
            f"CalibrationMeter(n_bins={self.n_bins}, norm={self.norm!r}, mode={self.mode!r}, "
            f"debias={self.debias}, num_samples={self.num_samples})"
        )
