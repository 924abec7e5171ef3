"""Supervised contrastive (SupCon) and NT-Xent (SimCLR) losses.

Both losses share one implementation: NT-Xent is SupCon where every sample is
its own class, so the positives of an anchor are the other views of the same
sample. The similarity matrix is processed in blocks of anchor rows by a
custom ``autograd.Function`` that recomputes each block in the backward pass,
so memory stays O(N x chunk_size) in both passes when ``chunk_size`` is set.
Under ``torch.distributed`` the features can be all-gathered with gradients so
that every rank contrasts its anchors against the whole global batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imbalance_kit._fused import check_first_order
from imbalance_kit._validation import (
    check_dtype_floating,
    check_finite,
    check_ndim,
    check_positive,
    check_positive_int,
    check_same_length,
    check_same_shape,
    check_tensor,
    error,
)
from imbalance_kit.losses._common import check_logits_device

__all__ = [
    "NTXentLoss",
    "SupervisedContrastiveLoss",
    "nt_xent_loss",
    "supervised_contrastive_loss",
]


# --------------------------------------------------------------------------- core math


def _block_logits(
    scaled_anchors: torch.Tensor, candidates: torch.Tensor, self_index: torch.Tensor
) -> torch.Tensor:
    """``(anchors / T) @ candidates.T`` for a block, each anchor's own column set to -inf."""
    logits = scaled_anchors @ candidates.T
    rows = torch.arange(logits.shape[0], device=logits.device)
    logits[rows, self_index] = float("-inf")
    return logits


def _logsumexp_(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise log-sum-exp that overwrites ``logits`` (no (B, M) temporaries)."""
    shift = logits.amax(dim=1)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    return logits.sub_(shift[:, None]).exp_().sum(dim=1).log_() + shift


def _class_sums(
    candidates: torch.Tensor, candidate_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature sum and size of each class id in ``[0, M)``: O(M x D)."""
    n_cand = candidates.shape[0]
    class_sum = candidates.new_zeros(n_cand, candidates.shape[1])
    class_sum.index_add_(0, candidate_ids, candidates)
    return class_sum, torch.bincount(candidate_ids, minlength=n_cand)


def _positive_sum(
    class_sum: torch.Tensor,
    candidates: torch.Tensor,
    anchor_ids: torch.Tensor,
    own: torch.Tensor,
    self_index: torch.Tensor,
) -> torch.Tensor:
    """Sum of the positives' features of each anchor, without an (N, M) mask.

    Positives of anchor ``i`` are the candidates of its class except column
    ``self_index[i]``: the class sum minus that column when it is of the same
    class (``own``).
    """
    own_column = own[:, None].to(candidates.dtype) * candidates[self_index]
    return class_sum[anchor_ids] - own_column


class _SupConRows(torch.autograd.Function):
    """Per-anchor SupCon losses, computed and differentiated block by block.

    Inputs: (normalised) ``anchors`` (Na, D) and ``candidates`` (M, D) in the
    compute dtype; class ids in ``[0, M)`` for both (``candidate_ids`` of the
    anchors' classes, as ``torch.unique(..., return_inverse=True)`` gives);
    for each anchor the column of ``candidates`` excluded from its
    denominator and positives (the anchor itself); the temperature and the
    block size. Outputs: the per-anchor losses (0 for anchors without a
    positive) and the number of positives of each anchor (not differentiable).

    The positive term is linear in the features and is computed from class
    sums; only the log-sum-exp needs the (B, M) similarity blocks, which are
    recomputed in ``backward`` instead of being stored.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        anchors: torch.Tensor,
        candidates: torch.Tensor,
        anchor_ids: torch.Tensor,
        candidate_ids: torch.Tensor,
        self_index: torch.Tensor,
        temperature: float,
        block: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_anchors = anchors.shape[0]
        scaled = anchors / temperature
        lse = anchors.new_zeros(n_anchors)
        for start in range(0, n_anchors, block):
            rows = slice(start, min(start + block, n_anchors))
            lse[rows] = _logsumexp_(_block_logits(scaled[rows], candidates, self_index[rows]))
        class_sum, class_count = _class_sums(candidates, candidate_ids)
        own = candidate_ids[self_index] == anchor_ids
        n_pos = class_count[anchor_ids] - own.long()
        positive_sum = _positive_sum(class_sum, candidates, anchor_ids, own, self_index)
        mean_positive = (scaled * positive_sum).sum(dim=1) / n_pos.clamp_min(1)
        has_pos = n_pos > 0
        loss = torch.where(has_pos, lse - mean_positive, torch.zeros_like(lse))
        # an anchor with no other candidate has lse = -inf; keep it finite for backward
        lse = torch.where(has_pos, lse, torch.zeros_like(lse))
        ctx.save_for_backward(
            anchors, candidates, anchor_ids, candidate_ids, self_index, lse, n_pos, own, class_sum
        )
        ctx.temperature, ctx.block = temperature, block
        ctx.mark_non_differentiable(n_pos)
        return loss, n_pos

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor, _grad_count: torch.Tensor | None):  # type: ignore[override]
        check_first_order("supervised_contrastive_loss")
        (anchors, candidates, anchor_ids, candidate_ids, self_index, lse, n_pos, own, class_sum) = (
            ctx.saved_tensors
        )
        temperature, block = ctx.temperature, ctx.block
        # d loss_i / d logit_ia = softmax_ia - [a in P(i)] / |P(i)|; logit_ia = a_i . c_a / T
        weight = torch.where(n_pos > 0, grad_loss, torch.zeros_like(grad_loss)) / temperature
        scaled = anchors / temperature
        grad_anchors = torch.empty_like(anchors)
        grad_candidates = torch.zeros_like(candidates)
        for start in range(0, anchors.shape[0], block):
            rows = slice(start, min(start + block, anchors.shape[0]))
            d_logits = _block_logits(scaled[rows], candidates, self_index[rows])
            d_logits.sub_(lse[rows, None]).exp_().mul_(weight[rows, None])  # softmax part
            grad_anchors[rows] = d_logits @ candidates
            grad_candidates.addmm_(d_logits.T, anchors[rows])
        # positive part, from class sums: anchors see their positives' sum ...
        q = weight / n_pos.clamp_min(1)
        positive_sum = _positive_sum(class_sum, candidates, anchor_ids, own, self_index)
        grad_anchors -= q[:, None] * positive_sum
        # ... and each candidate the weighted sum of the anchors it is a positive of
        weighted = q[:, None] * anchors
        class_grad = anchors.new_zeros(candidates.shape[0], anchors.shape[1])
        class_grad.index_add_(0, anchor_ids, weighted)
        grad_candidates -= class_grad[candidate_ids]
        grad_candidates.index_add_(0, self_index, own[:, None].to(anchors.dtype) * weighted)
        grad_anchors = grad_anchors if ctx.needs_input_grad[0] else None
        grad_candidates = grad_candidates if ctx.needs_input_grad[1] else None
        return grad_anchors, grad_candidates, None, None, None, None, None


# --------------------------------------------------------------------------- distributed


def _world_size() -> int:
    """Size of the default process group; 1 outside an initialised torch.distributed."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGatherRows(torch.autograd.Function):
    """All-gather equally sized row blocks; the backward sums every rank's gradient.

    The gradient of the gathered tensor is all-reduced (summed over ranks) and
    each rank keeps the rows it contributed, so the gradient of a row reaches
    the rank that owns it with the contributions of every rank's loss.
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        dist = torch.distributed
        world_size, rank = dist.get_world_size(), dist.get_rank()
        parts = [torch.empty_like(rows) for _ in range(world_size)]
        dist.all_gather(parts, rows.contiguous())
        ctx.rank, ctx.n_rows = rank, rows.shape[0]
        return torch.cat(parts)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        start = ctx.rank * ctx.n_rows
        return grad[start : start + ctx.n_rows]


def _gather_rows(
    features: torch.Tensor, labels: torch.Tensor, world_size: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """All-gather rows of every rank (sizes may differ); gradients flow back to the owner.

    Returns the concatenated features (autograd-connected), the concatenated
    labels, and the offset of this rank's rows in the concatenation.
    """
    dist = torch.distributed
    n_local = torch.tensor([features.shape[0]], device=features.device)
    sizes_t = [torch.zeros_like(n_local) for _ in range(world_size)]
    dist.all_gather(sizes_t, n_local)
    sizes = [int(s) for s in sizes_t]
    pad = max(sizes) - features.shape[0]
    if pad:
        features = torch.cat([features, features.new_zeros(pad, features.shape[1])])
        labels = torch.cat([labels, labels.new_zeros(pad)])
    gathered = _AllGatherRows.apply(features).split(max(sizes))
    label_parts = [torch.empty_like(labels) for _ in range(world_size)]
    dist.all_gather(label_parts, labels.contiguous())
    features_all = torch.cat([p[:s] for p, s in zip(gathered, sizes)])
    labels_all = torch.cat([p[:s] for p, s in zip(label_parts, sizes)])
    offset = sum(sizes[: dist.get_rank()])
    return features_all, labels_all, offset


# --------------------------------------------------------------------------- functions


def _contrastive(
    features: torch.Tensor,
    labels: torch.Tensor | None,
    temperature: float,
    chunk_size: int | None,
    gather_distributed: bool,
    normalize: bool,
    validate_args: bool,
) -> torch.Tensor:
    """Shared SupCon / NT-Xent path: validation, flattening, gathering, reduction."""
    check_tensor("features", features)
    check_dtype_floating("features", features)
    check_logits_device(features, "features")
    check_ndim("features", features, (2, 3))
    check_positive("temperature", temperature)
    if chunk_size is not None:
        check_positive_int("chunk_size", chunk_size)
    if labels is None:
        if features.ndim != 3 or features.shape[1] < 2:
            raise error(
                "features",
                "(N, V, D) with V >= 2 views when labels is None",
                f"shape {tuple(features.shape)}",
                raw=True,
            )
    else:
        check_tensor("labels", labels)
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            got = f"dtype {labels.dtype}"
            raise error("labels", "an integer tensor of class ids", got, TypeError, raw=True)
        check_ndim("labels", labels, 1)
        check_same_length("features", features.shape[0], "labels", labels.shape[0])
        if labels.device != features.device:
            raise error(
                "labels", f"on the features' device {features.device}",
                f"device {labels.device}", raw=True,
            )  # fmt: skip
    if validate_args:
        check_finite("features", features)

    n_samples = features.shape[0]
    views = features.shape[1] if features.ndim == 3 else 1
    flat = features.reshape(n_samples * views, features.shape[-1])  # sample-major rows
    compute_dtype = torch.promote_types(flat.dtype, torch.float32)
    flat = flat.to(compute_dtype)
    if normalize:
        flat = F.normalize(flat, dim=-1)

    world_size = _world_size() if gather_distributed else 1
    if labels is None:  # every sample is its own class: NT-Xent
        row_labels = torch.arange(flat.shape[0], device=flat.device) // views
    else:
        row_labels = labels.to(flat.device).repeat_interleave(views)
    if world_size > 1:
        candidates, candidate_labels, offset = _gather_rows(flat, row_labels, world_size)
        if labels is None:  # sample ids must be unique over the whole global batch
            candidate_labels = torch.arange(candidates.shape[0], device=flat.device) // views
    else:
        candidates, candidate_labels, offset = flat, row_labels, 0

    n_anchors = flat.shape[0]
    if labels is None:  # ids row // views are already in [0, M)
        candidate_ids = candidate_labels
    else:
        candidate_ids = torch.unique(candidate_labels, return_inverse=True)[1]
    anchor_ids = candidate_ids[offset : offset + n_anchors]
    self_index = torch.arange(offset, offset + n_anchors, device=flat.device)
    block = max(1, n_anchors) if chunk_size is None else chunk_size
    per_anchor, n_pos = _SupConRows.apply(
        flat, candidates, anchor_ids, candidate_ids, self_index, float(temperature), block
    )
    n_valid = (n_pos > 0).sum()
    if world_size > 1:
        torch.distributed.all_reduce(n_valid)
    return per_anchor.sum() * (world_size / n_valid.clamp_min(1).to(per_anchor.dtype))


def supervised_contrastive_loss(
    features: torch.Tensor,
    labels: torch.Tensor | None = None,
    temperature: float = 0.1,
    *,
    chunk_size: int | None = None,
    gather_distributed: bool = False,
    normalize: bool = True,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""Supervised contrastive loss (SupCon, the $\mathcal{L}^{sup}_{out}$ form).

    Every view of every sample is an anchor. For anchor $i$ with positives
    $P(i)$ (the other rows with the same label) and candidates
    $A(i)$ (every row but $i$), with $z$ the L2-normalised
    features and $\tau$ the temperature:

    ```math
    \ell_i = -\frac{1}{|P(i)|} \sum_{p \in P(i)}
        \log \frac{\exp(z_i \cdot z_p / \tau)}{\sum_{a \in A(i)} \exp(z_i \cdot z_a / \tau)},
    \qquad
    \mathcal{L} = \frac{1}{|\{i : |P(i)| > 0\}|} \sum_{i : |P(i)| > 0} \ell_i .
    ```

    Anchors without a positive (a label seen once in the batch) are left out
    of the mean. If no anchor has a positive the loss is ``0``, still connected
    to the graph (its gradient is zero). The official code also multiplies by
    ``temperature / base_temperature``; that factor is not applied here (it is
    1 with the paper's defaults).

    With ``labels=None`` every sample is its own class, so the positives of an
    anchor are the other views of the same sample: with two views this is
    SimCLR's NT-Xent (see [`nt_xent_loss`][imbalance_kit.losses.nt_xent_loss]).

    **Memory.** The positive term is linear in the features and is computed
    from per-class feature sums, so no N x N label mask exists. Similarities
    for the log-sum-exp are computed in blocks of ``chunk_size`` anchor rows by
    a custom autograd function that recomputes each block in the backward
    pass, so the N x N similarity matrix is never stored: peak memory is
    O(N x chunk_size) in both passes (one N x N block for
    ``chunk_size=None``). The gradient is computed analytically and supports
    first-order differentiation only (no double backward).

    **Distributed.** With ``gather_distributed=True`` and an initialised
    default process group, features (and labels) of every rank are all-gathered
    (batch sizes may differ between ranks), and each rank computes the loss of
    its own anchors against the whole global batch. Gradients flow back through
    the gather to the rank that owns each row. Each rank returns
    ``world_size / n_valid_global * sum(local anchor losses)``, so the mean of
    the per-rank losses equals the single-process loss on the concatenated
    batch, and after DDP's gradient averaging the parameter gradients equal the
    single-process ones (the gradient of the local features on a rank is
    ``world_size`` times the single-process gradient of those rows). Every rank
    must call the loss and its backward. Without an initialised process group
    the argument has no effect (a world of one process).

    Reference: Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.

    Args:
        features: ``(N, D)`` embeddings, or ``(N, V, D)`` with ``V`` views per
            sample (views are flattened into ``N * V`` anchors and the labels
            repeated, as in the paper). Half precision is computed in float32.
        labels: ``(N,)`` integer class ids, or ``None`` for NT-Xent over the
            views (then ``features`` must be ``(N, V, D)`` with ``V >= 2``).
        temperature: $\tau > 0$.
        chunk_size: anchors processed per block; ``None`` processes all at once.
        gather_distributed: contrast against the features of every
            ``torch.distributed`` rank (see above).
        normalize: L2-normalise the features along the last dimension first
            (the paper's setting). With ``False`` they are used as given.
        validate_args: check that ``features`` is finite (a host sync on CUDA).

    Returns:
        Scalar loss, in float32 for half-precision input, else in the input
        dtype.

    Raises:
        TypeError: ``features`` not a floating tensor or ``labels`` not integer.
        ValueError: bad shapes, ``temperature <= 0``, ``chunk_size < 1``,
            non-finite features (with ``validate_args``).

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> features = torch.randn(8, 2, 16)  # 8 samples, 2 views each
        >>> labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
        >>> loss = supervised_contrastive_loss(features, labels, temperature=0.1)
        >>> chunked = supervised_contrastive_loss(features, labels, 0.1, chunk_size=3)
        >>> bool(torch.allclose(loss, chunked))
        True
        >>> loss.ndim
        0
    """
    return _contrastive(
        features, labels, temperature, chunk_size, gather_distributed, normalize, validate_args
    )


def nt_xent_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float = 0.5,
    *,
    chunk_size: int | None = None,
    gather_distributed: bool = False,
    normalize: bool = True,
    validate_args: bool = True,
) -> torch.Tensor:
    r"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

    ``z1[k]`` and ``z2[k]`` are two views of sample ``k``; each of the
    $2N$ rows is an anchor whose only positive is its partner view, and
    whose candidates are the other $2N - 1$ rows:

    ```math
    \ell(i, j) = -\log \frac{\exp(\mathrm{sim}(z_i, z_j)/\tau)}
        {\sum_{k \ne i} \exp(\mathrm{sim}(z_i, z_k)/\tau)},
    \qquad
    \mathcal{L} = \frac{1}{2N} \sum_{k=1}^{N} \left[\ell(2k-1, 2k) + \ell(2k, 2k-1)\right],
    ```

    with $\mathrm{sim}$ the cosine similarity. This is
    [`supervised_contrastive_loss`][imbalance_kit.losses.supervised_contrastive_loss] with
    ``labels=None`` on ``torch.stack([z1, z2], dim=1)`` (the same code), so ``chunk_size``,
    ``gather_distributed`` and ``normalize`` behave as documented there.

    Reference: Chen et al., "A Simple Framework for Contrastive Learning of
    Visual Representations", ICML 2020.

    Args:
        z1: ``(N, D)`` embeddings of the first views.
        z2: ``(N, D)`` embeddings of the second views.
        temperature: $\tau > 0$.
        chunk_size: anchors processed per block; ``None`` processes all at once.
        gather_distributed: contrast against the views of every rank.
        normalize: L2-normalise the embeddings first (cosine similarity).
        validate_args: check that the embeddings are finite.

    Returns:
        Scalar loss.

    Raises:
        TypeError: non-tensor or non-floating input.
        ValueError: ``z1`` and ``z2`` of different shapes or not 2-D, bad
            ``temperature`` or ``chunk_size``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
        >>> loss = nt_xent_loss(z1, z2, temperature=0.5)
        >>> same = supervised_contrastive_loss(torch.stack([z1, z2], 1), None, 0.5)
        >>> bool(torch.allclose(loss, same))
        True
    """
    check_tensor("z1", z1)
    check_tensor("z2", z2)
    check_ndim("z1", z1, 2)
    check_same_shape("z1", z1, "z2", z2)
    return _contrastive(
        torch.stack([z1, z2], dim=1),
        None,
        temperature,
        chunk_size,
        gather_distributed,
        normalize,
        validate_args,
    )


# --------------------------------------------------------------------------- modules


class SupervisedContrastiveLoss(nn.Module):
    """Module form of
    [`supervised_contrastive_loss`][imbalance_kit.losses.supervised_contrastive_loss].

    Args:
        temperature: $\\tau > 0$.
        chunk_size: anchors processed per block (memory O(N x chunk_size)).
        gather_distributed: all-gather features over ``torch.distributed`` ranks.
        normalize: L2-normalise features first.
        validate_args: check that features are finite.

    Examples:
        >>> criterion = SupervisedContrastiveLoss(temperature=0.1, chunk_size=64)
        >>> features = torch.randn(6, 2, 32, requires_grad=True)
        >>> loss = criterion(features, torch.tensor([0, 1, 0, 1, 2, 2]))
        >>> loss.backward()
        >>> features.grad.shape
        torch.Size([6, 2, 32])
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        chunk_size: int | None = None,
        gather_distributed: bool = False,
        normalize: bool = True,
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        if chunk_size is not None:
            check_positive_int("chunk_size", chunk_size)
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.gather_distributed = gather_distributed
        self.normalize = normalize
        self.validate_args = validate_args

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """See [`supervised_contrastive_loss`][imbalance_kit.losses.supervised_contrastive_loss]."""
        return supervised_contrastive_loss(
            features,
            labels,
            self.temperature,
            chunk_size=self.chunk_size,
            gather_distributed=self.gather_distributed,
            normalize=self.normalize,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, chunk_size={self.chunk_size}"


class NTXentLoss(nn.Module):
    """Module form of [`nt_xent_loss`][imbalance_kit.losses.nt_xent_loss].

    Args:
        temperature: $\\tau > 0$.
        chunk_size: anchors processed per block (memory O(N x chunk_size)).
        gather_distributed: all-gather embeddings over ``torch.distributed`` ranks.
        normalize: L2-normalise embeddings first (cosine similarity).
        validate_args: check that embeddings are finite.

    Examples:
        >>> criterion = NTXentLoss(temperature=0.5)
        >>> z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
        >>> criterion(z1, z2).ndim
        0
    """

    def __init__(
        self,
        temperature: float = 0.5,
        *,
        chunk_size: int | None = None,
        gather_distributed: bool = False,
        normalize: bool = True,
        validate_args: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        if chunk_size is not None:
            check_positive_int("chunk_size", chunk_size)
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.gather_distributed = gather_distributed
        self.normalize = normalize
        self.validate_args = validate_args

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """See [`nt_xent_loss`][imbalance_kit.losses.nt_xent_loss]."""
        return nt_xent_loss(
            z1,
            z2,
            self.temperature,
            chunk_size=self.chunk_size,
            gather_distributed=self.gather_distributed,
            normalize=self.normalize,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, chunk_size={self.chunk_size}"
