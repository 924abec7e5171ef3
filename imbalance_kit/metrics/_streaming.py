"""Streaming forms of the imbalance metrics: ``torchmetrics.Metric`` subclasses.

Each keeps additive per-class sums (``add_state(..., dist_reduce_fx="sum")``), so an
epoch streams in O(classes) (or O(classes^2) for the confusion matrix) memory, DDP
sync is torchmetrics' all-gather-and-sum, and ``self.log("val/tail_recall", metric)``
works in a ``LightningModule``. ``compute()`` equals the function of the same name on
the concatenated batches.

Importing this module imports torchmetrics; ``imbalance_kit.metrics`` loads it on the
first access to one of these classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torchmetrics import Metric

from imbalance_kit._validation import check_bool, check_in_range, error
from imbalance_kit.calibration._ece import bin_statistics, check_options, uniform_bin_index
from imbalance_kit.calibration._ece import error_from_statistics as _ece_from_statistics
from imbalance_kit.calibration._inputs import as_tensor
from imbalance_kit.metrics._inputs import check_order, predicted_classes, target_classes
from imbalance_kit.metrics._recall import (
    check_class_counts,
    check_tail_classes,
    recall_compute,
    recall_update,
    tail_compute,
    tail_from_counts,
)
from imbalance_kit.metrics._report import report_inputs

__all__ = ["ImbalanceReport", "PerClassRecall", "TailRecall"]


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise error("num_classes", "an integer >= 2", num_classes)
    return num_classes


def _batch_classes(
    preds: Any, target: Any, num_classes: int, function: str, validate: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and target of one batch, checked against ``num_classes``."""
    p, t = as_tensor(preds, "preds"), as_tensor(target, "target")
    if not validate:
        pred = p.argmax(dim=1) if p.ndim == 2 else p
        return pred.to(t.device).long(), t.long()
    check_order(function, p, t)
    truth = target_classes(t)
    pred, width = predicted_classes(p, truth.shape[0])
    if width is not None and width != num_classes:
        raise error(
            "preds", f"(N, {num_classes}) scores like num_classes", f"shape {tuple(p.shape)}",
            raw=True,
        )  # fmt: skip
    for name, tensor in (("target", truth), ("preds", pred)):
        high = int(tensor.max())
        if high >= num_classes:
            raise error(name, f"class indices in [0, num_classes={num_classes})", high)
    return pred.to(truth.device), truth


class PerClassRecall(Metric):
    r"""Streaming [`per_class_recall`][imbalance_kit.metrics.per_class_recall]: recall of every
    class.

    State: the support and the hits of each class (two ``(C,)`` int64 sums).
    Classes without a sample give NaN (torchmetrics' ``MulticlassRecall(average=None)``
    gives 0). ``update`` takes ``(preds, target)``: ``(N,)`` predicted classes or
    ``(N, C)`` scores, and ``(N,)`` class indices. An empty batch adds nothing.

    Args:
        num_classes: number of classes ``C`` (>= 2).
        validate_args: check every batch (one host sync per update).
        kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).

    Examples:
        >>> import torch
        >>> metric = PerClassRecall(num_classes=3)
        >>> metric.update(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]))
        >>> metric.update(torch.tensor([2, 0]), torch.tensor([2, 0]))
        >>> metric.compute()
        tensor([0.6667, 1.0000, 1.0000], dtype=torch.float64)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int, *, validate_args: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        check_bool("validate_args", validate_args)
        self.validate_args = validate_args
        for name in ("support", "hits"):
            self.add_state(name, torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Any, target: Any) -> None:
        """Add a batch of ``(N,)`` predicted classes or ``(N, C)`` scores and ``(N,)`` targets."""
        if _is_empty(target) and _is_empty(preds):
            return
        pred, truth = _batch_classes(
            preds, target, self.num_classes, type(self).__name__, self.validate_args
        )
        support, hits = recall_update(pred, truth, self.num_classes)
        self.support += support.to(self.support.device)
        self.hits += hits.to(self.hits.device)

    def compute(self) -> torch.Tensor:
        """Float64 ``(C,)`` recall, NaN for classes without a sample."""
        return recall_compute(self.support, self.hits)


class TailRecall(PerClassRecall):
    """Streaming [`tail_recall`][imbalance_kit.metrics.tail_recall]: mean recall of the rare
    classes.

    The tail is ``tail_classes``, or the ``ceil(tail_fraction * K)`` rarest of the
    ``K`` classes counted in ``class_counts`` (fixed, e.g. the training counts) or,
    by default, in the targets seen so far (over all ranks under DDP).

    Args:
        num_classes: number of classes ``C`` (>= 2).
        tail_classes: explicit tail class indices.
        class_counts: ``(C,)`` counts that define the tail; not with ``tail_classes``.
        tail_fraction: share of the classes that form the tail, in ``(0, 1]``.
        validate_args: check every batch.
        kwargs: ``torchmetrics.Metric`` options.

    Examples:
        >>> import torch
        >>> metric = TailRecall(num_classes=3, tail_fraction=0.5)
        >>> metric.update(torch.tensor([0, 0, 0, 0, 0, 0]), torch.tensor([0, 0, 0, 0, 0, 0]))
        >>> metric.update(torch.tensor([1, 0, 0]), torch.tensor([1, 1, 2]))
        >>> metric.compute()  # classes 2 (recall 0) and 1 (recall 0.5)
        tensor(0.2500, dtype=torch.float64)
    """

    def __init__(
        self,
        num_classes: int,
        tail_classes: Sequence[int] | None = None,
        *,
        class_counts: Any = None,
        tail_fraction: float = 0.5,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, validate_args=validate_args, **kwargs)
        self._tail: torch.Tensor | None = None
        self._counts: torch.Tensor | None = None
        if tail_classes is not None:
            if class_counts is not None:
                raise error("class_counts", "None when tail_classes is given", "both", raw=True)
            self._tail = check_tail_classes(tail_classes, self.num_classes)
        else:
            check_in_range("tail_fraction", tail_fraction, 0.0, 1.0, low_inclusive=False)
            if class_counts is not None:
                self._counts = check_class_counts(class_counts, self.num_classes)
        self.tail_fraction = tail_fraction

    def compute(self) -> torch.Tensor:
        """0-d float64 mean recall over the tail classes present (NaN if none is)."""
        recall = recall_compute(self.support, self.hits)
        tail = self._tail
        if tail is None:
            counts = self._counts if self._counts is not None else self.support.double().cpu()
            tail = tail_from_counts(counts, self.tail_fraction)
        return tail_compute(recall, tail)


class ImbalanceReport(Metric):
    """Streaming [`imbalance_report`][imbalance_kit.metrics.imbalance_report] (all but the PR-AUC).

    State: the ``(C, C)`` confusion matrix, the Brier sum and the top-label ECE bins
    (``3 x n_bins``), all summed over batches and ranks. The PR-AUC needs every score
    (no exact fixed-size state), so it is left to the function or to torchmetrics'
    ``AveragePrecision``.

    ``compute()`` returns a dict of 0-d tensors, ready for ``self.log_dict``:
    ``accuracy``, ``balanced_accuracy`` (mean recall over the classes present),
    ``macro_f1`` (over the classes present or predicted), ``brier`` and ``ece``
    (top-label, L1, uniform bins). [`per_class`][imbalance_kit.metrics.ImbalanceReport.per_class]
    gives ``precision``, ``recall`` (NaN for an absent class), ``f1`` and ``support`` per class, and
    [`confusion_matrix`][imbalance_kit.metrics.ImbalanceReport.confusion_matrix] the matrix (rows:
    true class).

    ``update(probs, target)`` takes ``(N, C)`` probabilities, or ``(N,)``
    positive-class probabilities with ``num_classes=2`` (predicted positive when
    ``p >= threshold``).

    Args:
        num_classes: number of classes ``C`` (>= 2).
        threshold: decision threshold for ``(N,)`` input (default 0.5).
        n_bins: bins of the ECE.
        from_logits: batches are logits (softmax / sigmoid applied).
        validate_args: check every batch.
        kwargs: ``torchmetrics.Metric`` options.

    Examples:
        >>> import torch
        >>> report = ImbalanceReport(num_classes=2)
        >>> report.update(torch.tensor([0.1, 0.2, 0.1, 0.3]), torch.tensor([0, 0, 0, 0]))
        >>> report.update(torch.tensor([0.6, 0.2, 0.7, 0.4]), torch.tensor([0, 0, 1, 1]))
        >>> {k: round(v.item(), 4) for k, v in report.compute().items()}
        {'accuracy': 0.75, 'balanced_accuracy': 0.6667, 'macro_f1': 0.6667,
         'brier': 0.125, 'ece': 0.3}
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(
        self,
        num_classes: int,
        *,
        threshold: float | None = None,
        n_bins: int = 15,
        from_logits: bool = False,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        check_options(n_bins, "l1", "uniform", "top_label", False)
        check_bool("from_logits", from_logits)
        check_bool("validate_args", validate_args)
        if threshold is not None:
            check_in_range("threshold", threshold, 0.0, 1.0)
        self.threshold = threshold
        self.n_bins = n_bins
        self.from_logits = from_logits
        self.validate_args = validate_args
        k = self.num_classes
        self.add_state("confmat", torch.zeros(k, k, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("brier_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("bins", torch.zeros(3, 1, n_bins, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: Any, target: Any) -> None:
        """Add a batch of probabilities and ``(N,)`` targets (an empty batch adds nothing)."""
        if _is_empty(target) and _is_empty(probs):
            return
        prepared, truth, pred, k = report_inputs(
            probs,
            target,
            threshold=self.threshold,
            from_logits=self.from_logits,
            function=type(self).__name__,
            validate=self.validate_args,
        )
        if k != self.num_classes:
            raise error(
                "probs",
                f"{self.num_classes} classes like num_classes",
                f"shape {tuple(prepared.shape)}",
                raw=True,
            )
        device = self.confmat.device
        flat = (truth * k + pred).to(device)
        self.confmat += torch.bincount(flat, minlength=k * k).reshape(k, k)
        if prepared.ndim == 1:
            gap = prepared - truth.to(prepared.dtype)
            self.brier_sum += gap.square().sum(dtype=torch.float64).to(device)
            scores, hits = prepared, truth.to(prepared.dtype)
        else:
            one_hot = torch.nn.functional.one_hot(truth, k).to(prepared.dtype)
            self.brier_sum += (prepared - one_hot).square().sum(dtype=torch.float64).to(device)
            scores, top = prepared.max(dim=1)
            hits = (top == truth).to(prepared.dtype)
        index = uniform_bin_index(scores, self.n_bins)
        self.bins += bin_statistics(index, scores, hits, self.n_bins).to(device)

    @property
    def confusion_matrix(self) -> torch.Tensor:
        """The ``(C, C)`` int64 confusion matrix (rows: true class, columns: predicted)."""
        return self.confmat.clone()

    def per_class(self) -> dict[str, torch.Tensor]:
        """``precision``, ``recall``, ``f1`` (float64) and ``support`` (int64), each ``(C,)``."""
        cm = self.confmat.double()
        tp = cm.diagonal()
        support, predicted = cm.sum(dim=1), cm.sum(dim=0)
        precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
        recall0 = torch.where(support > 0, tp / support.clamp_min(1), torch.zeros_like(tp))
        denom = precision + recall0
        f1 = torch.where(
            denom > 0, 2 * precision * recall0 / denom.clamp_min(1e-300), torch.zeros_like(tp)
        )
        recall = torch.where(support > 0, recall0, torch.full_like(tp, math.nan))
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": self.confmat.sum(dim=1),
        }

    def compute(self) -> dict[str, torch.Tensor]:
        """``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``brier``, ``ece`` (0-d float64)."""
        cm = self.confmat.double()
        n = cm.sum()
        rows = self.per_class()
        present = rows["support"] > 0
        seen = present | (cm.sum(dim=0) > 0)
        return {
            "accuracy": cm.diagonal().sum() / n,
            "balanced_accuracy": rows["recall"][present].mean(),
            "macro_f1": rows["f1"][seen].mean(),
            "brier": self.brier_sum / n,
            "ece": _ece_from_statistics(self.bins, "l1"),
        }


def _is_empty(value: Any) -> bool:
    """A batch of no rows (an empty tensor, array or list)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return isinstance(value, (list, tuple)) and len(value) == 0
    return len(shape) >= 1 and shape[0] == 0
