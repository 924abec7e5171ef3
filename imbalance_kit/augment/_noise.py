"""Noise over-sampling: Gaussian jitter of minority rows, scaled per class and feature."""

from __future__ import annotations

import torch

from imbalance_kit._validation import check_bool, check_non_negative
from imbalance_kit.augment._common import allocate, class_rows, plan, randint
from imbalance_kit.augment._strategy import SamplingStrategy

__all__ = ["class_feature_scale", "noise_oversample"]


def class_feature_scale(X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-feature standard deviation of ``X[rows]`` (of all of ``X`` for a single row).

    Examples:
        >>> X = torch.tensor([[0.0, 1.0], [2.0, 1.0], [9.0, 9.0]])
        >>> class_feature_scale(X, torch.tensor([0, 1]))
        tensor([1.4142, 0.0000])
    """
    source = X.index_select(0, rows) if rows.numel() > 1 else X
    if source.shape[0] < 2:
        return torch.zeros_like(X[0])
    return source.std(dim=0)


@torch.no_grad()
def noise_oversample(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    noise_std: float = 0.1,
    generator: torch.Generator | None = None,
    return_indices: bool = False,
) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Over-sample with Gaussian jitter of rows of each class.

    A row $x_i$ of class $c$ is drawn uniformly with replacement and perturbed
    with noise proportional to the class's per-feature standard deviation
    $\\sigma_c$ (of the whole data set for a class of one sample):

    ```math
    x_{new} = x_i + \\text{noise\\_std} \\cdot \\sigma_c \\odot \\varepsilon,
    \\qquad \\varepsilon \\sim \\mathcal{N}(0, I).
    ```

    A feature constant within the class stays constant. This is the smoothed
    bootstrap of imbalanced-learn's ``RandomOverSampler(shrinkage=...)`` with a
    per-class scale; it needs no neighbour search, which makes it the cheapest
    augmenter for embeddings whose classes are compact.

    Reference: Menardi and Torelli, "Training and assessing classification rules
    with imbalanced data", Data Mining and Knowledge Discovery 28 (2014) (ROSE).

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N,)`` integer class labels on the same device.
        sampling_strategy: as in [`smote`][imbalance_kit.augment.smote].
        noise_std: noise scale relative to the class's feature standard deviation
            (``0`` duplicates rows, like
            [`random_oversample`][imbalance_kit.augment.random_oversample]).
        generator: ``torch.Generator`` for reproducible draws (see
            [`smote`][imbalance_kit.augment.smote]).
        return_indices: also return the source row of every output row.

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the jittered rows
        class by class. With ``return_indices=True``, ``(X_res, y_res, source)``:
        ``source`` is the ``(N_res,)`` int64 row of ``X`` each output row was jittered
        from (``arange(N)`` for the originals), to carry other per-row columns
        (group ids, targets of other heads) along with the new rows.

    Raises:
        ValueError: as [`random_oversample`][imbalance_kit.augment.random_oversample], or a negative
            / non-finite ``noise_std``.
        TypeError: non-tensor input, integer features or floating labels.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.randn(20, 4, generator=g)
        >>> y = torch.tensor([0] * 16 + [1] * 4)
        >>> X_res, y_res = noise_oversample(X, y, noise_std=0.05, generator=g)
        >>> X_res.shape, torch.bincount(y_res).tolist()
        (torch.Size([32, 4]), [16, 16])
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    check_non_negative("noise_std", noise_std)
    check_bool("return_indices", return_indices)
    X_res, y_res = allocate(X, y, sum(todo.values()))
    start = X.shape[0]
    source = torch.arange(X_res.shape[0], device=X.device) if return_indices else None
    draw_device = X.device if generator is None else generator.device
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        picks = rows[randint(rows.numel(), n_new, generator, X.device)]
        draw_dtype = X.dtype if X.dtype in (torch.float32, torch.float64) else torch.float32
        eps = torch.randn(
            (n_new, X.shape[1]), generator=generator, device=draw_device, dtype=draw_dtype
        )
        scale = class_feature_scale(X, rows) * noise_std
        out = X_res[start : start + n_new]
        torch.index_select(X, 0, picks, out=out)
        out.add_(eps.to(device=X.device, dtype=X.dtype) * scale)
        y_res[start : start + n_new] = label
        if source is not None:
            source[start : start + n_new] = picks
        start += n_new
    if source is not None:
        return X_res, y_res, source
    return X_res, y_res
