"""Input checks, random draws and interpolation shared by the over-samplers."""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import torch

from imbalance_kit._validation import (
    check_data_device,
    check_dtype_floating,
    check_finite,
    check_ndim,
    check_positive_int,
    check_same_length,
    check_tensor,
    error,
)
from imbalance_kit.augment._strategy import (
    SamplingStrategy,
    class_counts,
    resolve_sampling_strategy,
)

__all__ = [
    "allocate",
    "block_rows",
    "check_chunk_size",
    "check_features",
    "check_generator",
    "check_labels",
    "check_neighbors",
    "class_rows",
    "distinct",
    "empty",
    "fill_interpolated",
    "plan",
    "rand",
    "randint",
]


#: Elements per block of the row-wise loops (1 MiB of float32 per temporary: small
#: enough to be recycled by the allocator instead of mapped afresh each block).
_BLOCK_ELEMENTS = 1 << 18


def block_rows(row_elements: int) -> int:
    """Rows per block of a loop whose temporaries hold ``row_elements`` values per row.

    Examples:
        >>> block_rows(256), block_rows(10**7)
        (1024, 1)
    """
    return max(1, _BLOCK_ELEMENTS // max(1, row_elements))


def check_features(X: torch.Tensor, name: str = "X") -> None:
    """``X`` must be a finite 2-D floating tensor with at least one row and column."""
    check_tensor(name, X)
    check_data_device(name, X)
    check_ndim(name, X, 2)
    check_dtype_floating(name, X)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise error(
            name, "non-empty (at least one row and one column)", f"shape {tuple(X.shape)}", raw=True
        )
    # One reduction instead of an element-wise mask: a NaN or an infinity makes the sum
    # non-finite; a sum of finite values that overflows falls through to the exact check.
    if not bool(torch.isfinite(X.sum())):
        check_finite(name, X)


def check_labels(y: torch.Tensor, n: int, name: str = "y") -> None:
    """``y`` must be a 1-D integer tensor of class labels with ``n`` elements."""
    check_tensor(name, y)
    check_data_device(name, y)
    check_ndim(name, y, 1)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise error(
            name, "an integer tensor of class labels", f"dtype {y.dtype}", TypeError, raw=True
        )
    check_same_length("X", n, name, y.shape[0])


def check_generator(generator: torch.Generator | None) -> None:
    """``generator`` must be ``None`` or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise error(
            "generator", "None or a torch.Generator", type(generator).__name__, TypeError, raw=True
        )


def check_chunk_size(chunk_size: int | None) -> None:
    """``chunk_size`` must be ``None`` or a positive integer."""
    if chunk_size is not None:
        check_positive_int("chunk_size", chunk_size)


def check_neighbors(
    name: str, k: int, plan_: dict[Hashable, int], counts: dict[Hashable, int]
) -> None:
    """Every class that receives samples needs more than ``k`` members."""
    check_positive_int(name, k)
    targeted = [c for c, n_new in plan_.items() if n_new > 0]
    if not targeted:
        return
    smallest = min(targeted, key=counts.__getitem__)
    if counts[smallest] <= k:
        raise error(
            name,
            f"< {counts[smallest]}, the size of class {smallest!r} "
            "(the smallest class to over-sample)",
            k,
        )


def plan(
    X: torch.Tensor,
    y: torch.Tensor,
    sampling_strategy: SamplingStrategy,
    generator: torch.Generator | None,
) -> tuple[dict[Hashable, int], dict[Hashable, int]]:
    """Validate ``X``/``y``/``generator``; return ``(counts, {class: n_new})``."""
    check_features(X)
    check_labels(y, X.shape[0])
    check_generator(generator)
    if y.device != X.device:
        raise error("y", f"on the same device as X ({X.device})", f"device {y.device}", raw=True)
    counts = class_counts(y)
    return counts, resolve_sampling_strategy(sampling_strategy, counts, y)


def _draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return device if generator is None else generator.device


def randint(
    high: int, size: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Uniform integers in ``[0, high)`` drawn on the generator's device, put on ``device``."""
    out = torch.randint(high, (size,), generator=generator, device=_draw_device(generator, device))
    return out.to(device)


def rand(
    size: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Uniform ``[0, 1)`` numbers drawn on the generator's device, returned on ``device``."""
    draw = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.rand(size, generator=generator, device=_draw_device(generator, device), dtype=draw)
    return out.to(device=device, dtype=dtype)


def distinct(values: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.unique(values, return_inverse=True)`` for integers in ``[0, size)``, without a sort.

    Examples:
        >>> distinct(torch.tensor([4, 1, 4, 0]), 6)
        (tensor([0, 1, 4]), tensor([2, 1, 2, 0]))
    """
    seen = torch.zeros(size, dtype=torch.bool, device=values.device)
    seen[values] = True
    uniq = torch.nonzero(seen).squeeze(1)
    position = torch.cumsum(seen, dim=0) - 1
    return uniq, position[values]


def class_rows(y: torch.Tensor, label: Hashable) -> torch.Tensor:
    """Positions of the rows of class ``label`` (int64, ascending)."""
    return torch.nonzero(y == label).squeeze(1)


#: CPU buffers from this size on come from numpy (see `empty`).
_NUMPY_BACKED_BYTES = 4 * 2**20
_NUMPY_DTYPES = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.int64: np.int64,
}


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised tensor; large CPU buffers share the memory of a numpy array.

    numpy asks the kernel for transparent huge pages on large arrays (Linux), torch's
    CPU allocator does not by default; the first write to a fresh buffer then maps
    512 times fewer pages, which makes filling a large output about 4x faster. The
    result is an ordinary CPU tensor.

    Its pages are touched once here, on one thread, before any multi-threaded write:
    two OpenMP threads first-touching the same fresh huge pages made the fill up to 50x
    slower and erratic (3-190 ms instead of 4 ms for a 46 MB output on 2 cores), which
    made ``smote`` slower at 2 threads than at 1. One write per 4 KiB costs about 0.4 ms
    per 46 MB.

    Examples:
        >>> out = empty((2048, 1024), torch.float32, torch.device("cpu"))
        >>> out.shape, out.dtype
        (torch.Size([2048, 1024]), torch.float32)
    """
    np_dtype = _NUMPY_DTYPES.get(dtype)
    if device.type != "cpu" or np_dtype is None:
        return torch.empty(shape, dtype=dtype, device=device)
    if math.prod(shape) * np.dtype(np_dtype).itemsize < _NUMPY_BACKED_BYTES:
        return torch.empty(shape, dtype=dtype)
    array = np.empty(shape, dtype=np_dtype)
    array.reshape(-1).view(np.uint8)[::4096] = 0  # fault the pages in, one thread, in order
    return torch.from_numpy(array)


def allocate(X: torch.Tensor, y: torch.Tensor, n_total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs with the originals copied first and ``n_total`` rows left to fill."""
    n = X.shape[0]
    X_res = empty((n + n_total, X.shape[1]), X.dtype, X.device)
    X_res[:n] = X
    y_res = y.new_empty((n + n_total, *y.shape[1:]))
    y_res[:n] = y
    return X_res, y_res


def fill_interpolated(
    out: torch.Tensor,
    base_pool: torch.Tensor,
    rows: torch.Tensor,
    partner_pool: torch.Tensor,
    partners: torch.Tensor,
    steps: torch.Tensor,
) -> None:
    """Write ``base_pool[rows] + steps * (partner_pool[partners] - base_pool[rows])`` into ``out``.

    A fused ``torch.lerp`` per block of `block_rows` rows, so the gathered
    temporaries stay small whatever the number of new rows.
    """
    block = block_rows(out.shape[1])
    for start in range(0, out.shape[0], block):
        stop = min(start + block, out.shape[0])
        torch.lerp(
            base_pool.index_select(0, rows[start:stop]),
            partner_pool.index_select(0, partners[start:stop]),
            steps[start:stop],
            out=out[start:stop],
        )
