"""Random over-sampling: duplicate minority rows drawn with replacement."""

from __future__ import annotations

import torch

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
) -> tuple[torch.Tensor, torch.Tensor]:
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
        sampling_strategy: as in :func:`smote`.
        generator: ``torch.Generator`` for reproducible draws (see :func:`smote`).

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the copies class by
        class.

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
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        picks = rows[randint(rows.numel(), n_new, generator, X.device)]
        torch.index_select(X, 0, picks, out=X_res[start : start + n_new])
        y_res[start : start + n_new] = label
        start += n_new
    return X_res, y_res
