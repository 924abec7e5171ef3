"""Random over-sampling: duplicate minority rows drawn with replacement."""

from __future__ import annotations

import torch

from imbalance_kit._validation import check_bool
from imbalance_kit.augment._common import allocate, class_rows, plan, randint
from imbalance_kit.augment._strategy import SamplingStrategy

__all__ = ["random_oversample"]


@torch.no_grad()
def random_oversample(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    generator: torch.Generator | None = None,
    return_indices: bool = False,
) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over-sample by repeating rows of each class, drawn uniformly with replacement.

    The baseline of every over-sampler: the new rows are exact copies,

    ```math
    x_{new} = x_i, \\qquad i \\sim \\mathcal{U}\\{\\text{rows of class } c\\},
    ```

    as imbalanced-learn's ``RandomOverSampler`` without shrinkage. No neighbour
    search, so the cost is that of the copies.

    Reference: Japkowicz and Stephen, "The class imbalance problem: A systematic
    study", Intelligent Data Analysis 6 (2002).

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N,)`` integer class labels on the same device.
        sampling_strategy: as in [`smote`][imbalance_kit.augment.smote].
        generator: ``torch.Generator`` for reproducible draws (see
            [`smote`][imbalance_kit.augment.smote]).
        return_indices: also return the source row of every output row.

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the copies class by
        class. With ``return_indices=True``, ``(X_res, y_res, source)``: ``source``
        is the ``(N_res,)`` int64 row of ``X`` each output row copies (``arange(N)``
        for the originals), to carry other per-row columns along (imbalanced-learn's
        ``sample_indices_``).

    Raises:
        ValueError: non-finite features, mismatched lengths, a single class or an
            impossible ``sampling_strategy``.
        TypeError: non-tensor input, integer features or floating labels.

    Examples:
        >>> X = torch.tensor([[0.0], [1.0], [2.0], [5.0]])
        >>> y = torch.tensor([0, 0, 0, 1])
        >>> X_res, y_res = random_oversample(X, y, generator=torch.Generator().manual_seed(0))
        >>> X_res[4:].flatten().tolist(), y_res.tolist()
        ([5.0, 5.0], [0, 0, 0, 1, 1, 1])
        >>> g = torch.Generator().manual_seed(0)
        >>> random_oversample(X, y, generator=g, return_indices=True)[2].tolist()
        [0, 1, 2, 3, 3, 3]
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    check_bool("return_indices", return_indices)
    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    source = torch.arange(X_res.shape[0], device=X.device) if return_indices else None
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        picks = rows[randint(rows.numel(), n_new, generator, X.device)]
        torch.index_select(X, 0, picks, out=X_res[start : start + n_new])
        y_res[start : start + n_new] = label
        if source is not None:
            source[start : start + n_new] = picks
        start += n_new
    if source is not None:
        return X_res, y_res, source
    return X_res, y_res
