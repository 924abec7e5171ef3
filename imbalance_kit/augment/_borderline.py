"""Borderline-SMOTE: SMOTE seeded only at minority samples near the class border."""

from __future__ import annotations

import warnings
from typing import Literal

import torch

from imbalance_kit._validation import check_choice, check_positive_int, error
from imbalance_kit.augment._common import (
    allocate,
    check_chunk_size,
    check_neighbors,
    class_rows,
    distinct,
    fill_interpolated,
    plan,
    rand,
    randint,
)
from imbalance_kit.augment._neighbors import kneighbors
from imbalance_kit.augment._smote import smote_into
from imbalance_kit.augment._strategy import SamplingStrategy

__all__ = ["borderline_smote", "danger_mask"]

BORDERLINE_KINDS = ("borderline-1", "borderline-2")


def danger_mask(
    X: torch.Tensor,
    y: torch.Tensor,
    rows: torch.Tensor,
    label: int,
    m_neighbors: int,
    chunk_size: int | None,
) -> torch.Tensor:
    """Which of ``X[rows]`` (all of class ``label``) are in danger.

    A sample is in danger when at least half, but not all, of its
    ``m_neighbors`` nearest samples (whole data set, itself excluded) belong to
    another class: $m/2 \\le m' < m$. All-foreign neighbourhoods are noise.
    """
    nn = kneighbors(
        X.index_select(0, rows), X, m_neighbors, exclude=rows, chunk_size=chunk_size,
        role="m_neighbors",
    )  # fmt: skip
    n_foreign = (y[nn] != label).sum(dim=1)
    return (2 * n_foreign >= m_neighbors) & (n_foreign < m_neighbors)


@torch.no_grad()
def borderline_smote(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    k_neighbors: int = 5,
    m_neighbors: int = 10,
    kind: Literal["borderline-1", "borderline-2"] = "borderline-1",
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Over-sample with Borderline-SMOTE (kinds 1 and 2).

    A sample of class $c$ is *in danger* when $m'$ of its ``m_neighbors``
    nearest samples in the whole data set belong to other classes with
    $m/2 \\le m' < m$. Synthetic samples are seeded only at danger samples,
    drawn uniformly:

    * ``"borderline-1"``: SMOTE towards one of the ``k_neighbors`` nearest
      samples of class $c$, $x_{new} = x_i + u (x_{nn} - x_i)$, $u \\sim U[0, 1)$.
    * ``"borderline-2"``: the neighbour is one of the ``k_neighbors`` nearest
      samples of the whole data set; the step is $u \\sim U[0, 1)$ towards a
      sample of class $c$ and $u \\sim U[0, 0.5)$ towards a sample of another
      class, so the new point stays on the minority side of the midpoint.

    A class without any danger sample receives no synthetic sample (as in
    imbalanced-learn) and a ``RuntimeWarning`` says so.

    Reference: Han, Wang and Mao, "Borderline-SMOTE: A New Over-Sampling Method in
    Imbalanced Data Sets Learning", ICIC 2005.

    Args:
        X: ``(N, D)`` floating features (finite), any device.
        y: ``(N,)`` integer class labels on the same device.
        sampling_strategy: as in [`smote`][imbalance_kit.augment.smote].
        k_neighbors: neighbours to interpolate towards; smaller than every class to
            over-sample (``"borderline-1"``) or than ``N`` (``"borderline-2"``).
        m_neighbors: neighbours that decide whether a sample is in danger; smaller
            than ``N``.
        kind: ``"borderline-1"`` or ``"borderline-2"``.
        generator: ``torch.Generator`` for reproducible draws (see
            [`smote`][imbalance_kit.augment.smote]).
        chunk_size: query rows per block of the neighbour search (see
            [`smote`][imbalance_kit.augment.smote]).

    Returns:
        ``(X_res, y_res)``: originals first and unchanged, then the synthetic rows
        class by class.

    Raises:
        ValueError: as [`smote`][imbalance_kit.augment.smote], an unknown ``kind``, or
            ``m_neighbors`` >= ``N``.
        TypeError: non-tensor input, integer features or floating labels.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> X = torch.cat([torch.randn(40, 2, generator=g), torch.randn(10, 2, generator=g) + 1])
        >>> y = torch.tensor([0] * 40 + [1] * 10)
        >>> X_res, y_res = borderline_smote(X, y, k_neighbors=3, m_neighbors=6, generator=g)
        >>> torch.bincount(y_res).tolist()
        [40, 40]
    """
    counts, todo = plan(X, y, sampling_strategy, generator)
    check_choice("kind", kind, BORDERLINE_KINDS)
    check_positive_int("m_neighbors", m_neighbors)
    if m_neighbors >= X.shape[0]:
        raise error("m_neighbors", f"< {X.shape[0]}, the number of samples", m_neighbors)
    if kind == "borderline-1":
        check_neighbors("k_neighbors", k_neighbors, todo, counts)
    else:
        check_positive_int("k_neighbors", k_neighbors)
        if k_neighbors >= X.shape[0]:
            raise error("k_neighbors", f"< {X.shape[0]}, the number of samples", k_neighbors)
    check_chunk_size(chunk_size)

    dangers: dict[int, torch.Tensor] = {}
    for label, n_new in todo.items():
        if n_new == 0:
            continue
        rows = class_rows(y, label)
        danger = rows[danger_mask(X, y, rows, label, m_neighbors, chunk_size)]
        if danger.numel() == 0:
            warnings.warn(
                f"class {label!r} has no sample in danger (m_neighbors={m_neighbors}); "
                "no synthetic sample is generated for it",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        dangers[label] = danger

    X_res, y_res = allocate(X, y, sum(todo[label] for label in dangers))
    start = X.shape[0]
    for label, danger in dangers.items():
        n_new = todo[label]
        out = X_res[start : start + n_new]
        picks = randint(danger.numel(), n_new, generator, X.device)
        if kind == "borderline-1":
            rows = class_rows(y, label)
            # Danger rows are a subset of the class rows: their positions in the class pool.
            seeds = torch.searchsorted(rows, danger)[picks]
            smote_into(out, X.index_select(0, rows), seeds, k_neighbors, generator, chunk_size)
        else:
            cols = randint(k_neighbors, n_new, generator, X.device)
            steps = rand((n_new, 1), generator, X.device, X.dtype)
            uniq, inverse = distinct(picks, danger.numel())
            seeds = danger[uniq]
            nn = kneighbors(
                X[seeds], X, k_neighbors, exclude=seeds, chunk_size=chunk_size,
                role="k_neighbors",
            )  # fmt: skip
            partners = nn[inverse, cols]
            steps = torch.where((y[partners] == label).unsqueeze(1), steps, 0.5 * steps)
            fill_interpolated(out, X, danger[picks], X, partners, steps)
        y_res[start : start + n_new] = label
        start += n_new
    return X_res, y_res
