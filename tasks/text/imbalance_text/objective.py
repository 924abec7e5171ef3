"""The training objective: weighted focal loss plus the implication penalty.

```math
\\mathcal{L} = \\operatorname{FL}_\\gamma(z, y;\\, \\omega)
    + \\frac{\\lambda}{NM}\\sum_{n,k}
      \\max\\bigl(0,\\ \\sigma(z_{n,c_k}) - \\sigma(z_{n,p_k})\\bigr)
```

with ``omega`` the per-label ``pos_weight`` (custom values for the named rare
labels, automatic and capped for the others), ``gamma`` the focal parameter and
``(c_k, p_k)`` the (secondary, primary) pairs of the schema. Both terms come
from :mod:`imbalance_kit.losses`; the weights from :mod:`imbalance_kit.weights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from imbalance_kit.app import check_choice, check_non_negative, error
from imbalance_kit.losses import implication_penalty, sigmoid_focal_loss
from imbalance_kit.weights import compute_class_weights, positive_weights
from imbalance_text.config import WEIGHT_METHODS
from imbalance_text.schema import LabelSchema

__all__ = ["TextObjective", "label_weights", "weight_table"]


def label_weights(
    targets: Any,
    schema: LabelSchema,
    *,
    method: str = "positive",
    max_weight: float | None = 3.0,
    use_custom: bool = True,
) -> torch.Tensor | None:
    """Per-label ``pos_weight``: automatic (capped) for every label, then the schema's custom ones.

    * ``"positive"``: :func:`imbalance_kit.weights.positive_weights`, negatives
      over positives per label, capped at ``max_weight``;
    * ``"balanced"``, ``"inverse"``, ``"sqrt_inverse"``, ``"effective"``:
      :func:`imbalance_kit.weights.compute_class_weights` on the per-label
      positive counts (labels compared with each other), capped;
    * ``"none"``: 1 for every label.

    ``schema.custom_weights`` then set the named labels (not capped) when
    ``use_custom``. With ``method="none"`` and no custom weight in use the
    result is ``None`` (no ``pos_weight`` at all).

    Args:
        targets: ``(N, L)`` 0/1 training targets, columns in ``schema.names`` order.
        schema: the label schema.
        method: the automatic method (above).
        max_weight: cap on the automatic weights (``None``: no cap).
        use_custom: apply ``schema.custom_weights``.

    Returns:
        ``(L,)`` float32 weights, or ``None``.

    Raises:
        ValueError: an unknown method, targets of the wrong width.

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> schema = LabelSchema(["hate", "threat"], {"slur": "hate"},
        ...                      custom_weights={"slur": 10.0})
        >>> y = torch.zeros(100, 3); y[:40, 0] = 1; y[:2, 2] = 1; y[:10, 1] = 1
        >>> label_weights(y, schema)  # hate 60/40, threat 90/10 capped at 3, slur custom
        tensor([ 1.5000,  3.0000, 10.0000])
    """
    check_choice("method", method, WEIGHT_METHODS)
    y = torch.as_tensor(targets, dtype=torch.float32)
    if y.ndim != 2 or y.shape[1] != schema.num_labels:
        raise error(
            "targets",
            f"(N, {schema.num_labels}) for the schema",
            f"shape {tuple(y.shape)}",
            raw=True,
        )
    custom = schema.custom_weights if use_custom else {}
    if method == "none":
        if not custom:
            return None
        weights = torch.ones(schema.num_labels)
    elif method == "positive":
        weights = positive_weights(y, max_weight=max_weight)
    else:
        counts = y.sum(dim=0).double()
        return compute_class_weights(
            counts,
            method=method,  # type: ignore[arg-type]
            max_weight=max_weight,
            overrides=dict(custom) or None,
            class_names=schema.names,
            from_counts=True,
        )
    for name, value in custom.items():
        weights[schema.index(name)] = float(value)
    return weights


def weight_table(
    targets: Any, schema: LabelSchema, weights: torch.Tensor | None
) -> list[dict[str, Any]]:
    """One row per label: positives, negatives, ratio, weight and its source (custom/automatic).

    ``ratio`` is negatives per positive (``None`` for a label without positives).

    Examples:
        >>> from imbalance_text.schema import LabelSchema
        >>> s = LabelSchema(["a"], {"b": "a"}, custom_weights={"b": 5.0})
        >>> y = torch.tensor([[1., 1.], [1., 0.], [0., 0.], [0., 0.]])
        >>> [(r["label"], r["ratio"], r["weight"], r["source"]) for r in weight_table(y, s, None)]
        [('a', 1.0, 1.0, 'none'), ('b', 3.0, 1.0, 'none')]
    """
    y = torch.as_tensor(targets, dtype=torch.float32)
    pos = y.sum(dim=0)
    rows = []
    for j, name in enumerate(schema.names):
        p, n = int(pos[j]), int(y.shape[0] - pos[j])
        source = (
            "none" if weights is None else ("custom" if name in schema.custom_weights else "auto")
        )
        rows.append(
            {
                "label": name,
                "level": "primary" if name in schema.primary else "secondary",
                "positives": p,
                "negatives": n,
                "prevalence": p / max(1, y.shape[0]),
                "ratio": (n / p) if p else None,
                "weight": 1.0 if weights is None else float(weights[j]),
                "source": source,
            }
        )
    return rows


class TextObjective(nn.Module):
    """``sigmoid_focal_loss`` with ``pos_weight`` plus ``lambda * implication_penalty``.

    Args:
        implications: ``(child, parent)`` column pairs (may be empty).
        pos_weight: ``(L,)`` positive weights, or ``None``.
        gamma: focal ``gamma`` (0: BCE).
        alpha: focal ``alpha`` (``None``: off; ``pos_weight`` does the balancing).
        constraint_lambda: coefficient of the implication penalty (0: off).

    Examples:
        >>> obj = TextObjective([(1, 0)], pos_weight=torch.tensor([1.0, 5.0]), gamma=2.0)
        >>> logits = torch.tensor([[-2.0, 2.0], [1.0, -1.0]])
        >>> out = obj(logits, torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
        >>> sorted(out), bool(out["penalty"] > 0)
        (['focal', 'loss', 'penalty'], True)
    """

    pos_weight: torch.Tensor | None
    pairs: torch.Tensor

    def __init__(
        self,
        implications: Sequence[tuple[int, int]],
        *,
        pos_weight: torch.Tensor | None = None,
        gamma: float = 2.0,
        alpha: float | None = None,
        constraint_lambda: float = 0.5,
    ) -> None:
        super().__init__()
        check_non_negative("gamma", gamma)
        check_non_negative("constraint_lambda", constraint_lambda)
        self.gamma = float(gamma)
        self.alpha = alpha
        self.constraint_lambda = float(constraint_lambda)
        pairs = torch.as_tensor(list(implications), dtype=torch.long).reshape(-1, 2)
        self.register_buffer("pairs", pairs)
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight).float()
        )

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": total, "focal": ..., "penalty": ...}`` (penalty 0 when off)."""
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()  # mixed precision: the loss is computed in float32
        focal = sigmoid_focal_loss(
            logits, targets.to(logits.dtype), alpha=self.alpha, gamma=self.gamma,
            pos_weight=self.pos_weight, validate_args=False,
        )  # fmt: skip
        if self.constraint_lambda > 0 and self.pairs.shape[0] > 0:
            penalty = implication_penalty(logits, self.pairs, validate_args=False)
        else:
            penalty = logits.new_zeros(())
        return {
            "loss": focal + self.constraint_lambda * penalty,
            "focal": focal,
            "penalty": penalty,
        }
