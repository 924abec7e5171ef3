"""The multi-label classification head (no Lightning import, so workers stay light)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MultiLabelHead"]


class MultiLabelHead(nn.Module):
    """Dropout, an optional hidden layer (GELU) and one logit per label.

    Args:
        in_dim: embedding size.
        num_labels: number of labels.
        hidden: hidden width (0: a linear head).
        dropout: dropout before each linear layer.
        prior: optional per-label prevalence; the output bias starts at its
            log-odds, so rare labels start near their base rate instead of 0.5
            (Lin et al. 2017, section 4.1).

    Examples:
        >>> head = MultiLabelHead(8, 3, hidden=4, prior=[0.5, 0.1, 0.01])
        >>> torch.sigmoid(head.out.bias).round(decimals=2).tolist()
        [0.5, 0.1, 0.01]
    """

    def __init__(
        self,
        in_dim: int,
        num_labels: int,
        hidden: int = 256,
        dropout: float = 0.1,
        prior: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = in_dim
        if hidden > 0:
            layers += [nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_labels)
        if prior is not None:
            p = torch.as_tensor(list(prior), dtype=torch.float32).clamp(1e-4, 1 - 1e-4)
            with torch.no_grad():
                self.out.bias.copy_(torch.log(p / (1 - p)))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_labels)``."""
        return self.out(self.body(embeddings))
