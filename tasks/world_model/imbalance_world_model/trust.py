r"""Trust nets: classifiers of real vs synthetic episodes that output $p(\text{real})$.

* :class:`TrustMLP` reads the episode features of
  :func:`~imbalance_world_model.features.episode_features` (standardised with statistics
  fitted on the training episodes) through an MLP.
* :class:`TemporalTrustNet` reads the standardised latent sequence with a GRU.

Both map episodes ``(N, T, D)`` (padded, with their ``lengths``) to logits ``(N,)`` and are
differentiable in ``z``, so a
frozen trust net can train the world model (the trust-aware term). Training
(:func:`imbalance_world_model.train.train_trust`) uses ``BCEWithLogitsLoss`` with
``pos_weight`` from :func:`imbalance_kit.weights.positive_weights` (real and synthetic sets
may differ in size). :func:`trust_metrics` reports accuracy at 0.5,
ROC AUC (scikit-learn), the expected calibration error
(:func:`imbalance_kit.calibration.expected_calibration_error`) and the trust gap

```math
\text{gap} = \overline{p(\text{real})}_{\text{real}}
  - \overline{p(\text{real})}_{\text{synthetic}} .
```
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from imbalance_kit.app import check_choice, check_positive_int
from imbalance_kit.calibration import expected_calibration_error
from imbalance_world_model.features import episode_features, length_mask

__all__ = [
    "TemporalTrustNet",
    "TrustMLP",
    "build_trust_net",
    "trust_metrics",
    "trust_scores",
]

TrustKind = Literal["mlp", "temporal"]


class TrustMLP(nn.Module):
    """MLP on standardised episode features -> logit of "real".

    Examples:
        >>> net = TrustMLP(latent_dim=3, hidden_dim=8)
        >>> net(torch.randn(5, 10, 3)).shape
        torch.Size([5])
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("hidden_dim", hidden_dim)
        width = 6 * latent_dim
        self.register_buffer("feat_mean", torch.zeros(width))
        self.register_buffer("feat_std", torch.ones(width))
        self.net = nn.Sequential(
            nn.Linear(width, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 1),
        )

    def standardise_on(self, z: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        """Fit the feature standardisation on episodes ``z``."""
        f = episode_features(z, lengths)
        self.feat_mean.copy_(f.mean(0))
        self.feat_std.copy_(f.std(0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        f = (episode_features(z, lengths) - self.feat_mean) / self.feat_std
        return self.net(f).squeeze(-1)


class TemporalTrustNet(nn.Module):
    """GRU over standardised latent states (and their first differences) -> logit of "real".

    Examples:
        >>> TemporalTrustNet(latent_dim=3, hidden_dim=8)(torch.randn(5, 10, 3)).shape
        torch.Size([5])
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("hidden_dim", hidden_dim)
        self.register_buffer("z_mean", torch.zeros(latent_dim))
        self.register_buffer("z_std", torch.ones(latent_dim))
        self.gru = nn.GRU(2 * latent_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, 1)

    def standardise_on(self, z: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        """Fit the per-dimension standardisation on the valid states of episodes ``z``."""
        values = z[length_mask(lengths, z.shape[0], z.shape[1], z.device)]
        self.z_mean.copy_(values.mean(0))
        self.z_std.copy_(values.std(0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = (z - self.z_mean) / self.z_std
        dx = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        seq = torch.cat([x, dx], dim=-1)
        if lengths is not None:
            seq = nn.utils.rnn.pack_padded_sequence(
                seq, torch.as_tensor(lengths).cpu(), batch_first=True, enforce_sorted=False
            )
        _, h = self.gru(seq)
        return self.out(h[-1]).squeeze(-1)


def build_trust_net(kind: TrustKind, latent_dim: int, hidden_dim: int = 64) -> nn.Module:
    """``"mlp"`` -> :class:`TrustMLP`, ``"temporal"`` -> :class:`TemporalTrustNet`.

    Examples:
        >>> type(build_trust_net("temporal", 2, 4)).__name__
        'TemporalTrustNet'
    """
    check_choice("kind", kind, ("mlp", "temporal"))
    cls = TrustMLP if kind == "mlp" else TemporalTrustNet
    return cls(latent_dim, hidden_dim)


@torch.no_grad()
def trust_scores(
    net: nn.Module, z: np.ndarray | torch.Tensor, lengths: np.ndarray | None = None
) -> np.ndarray:
    """``p(real)`` of every episode in ``z`` ``(N, T, D)`` (padded, with its ``lengths``).

    Examples:
        >>> trust_scores(TrustMLP(2, 4), np.zeros((3, 5, 2))).shape
        (3,)
    """
    net.eval()
    z = torch.as_tensor(z, dtype=torch.float32)
    lengths = None if lengths is None else torch.as_tensor(lengths)
    return torch.sigmoid(net(z, lengths)).numpy().astype(np.float64)


def trust_metrics(p_real: np.ndarray, is_real: np.ndarray) -> dict[str, Any]:
    """Accuracy at 0.5, ROC AUC, ECE, mean trust per source and the trust gap.

    Examples:
        >>> m = trust_metrics(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]))
        >>> m["accuracy"], m["roc_auc"], round(m["trust_gap"], 3)
        (1.0, 1.0, 0.65)
    """
    from sklearn.metrics import roc_auc_score

    p_real = np.asarray(p_real, dtype=np.float64)
    is_real = np.asarray(is_real).astype(bool)
    both = is_real.any() and (~is_real).any()
    real_mean = float(p_real[is_real].mean()) if is_real.any() else None
    syn_mean = float(p_real[~is_real].mean()) if (~is_real).any() else None
    return {
        "n_real": int(is_real.sum()),
        "n_synthetic": int((~is_real).sum()),
        "accuracy": float(((p_real >= 0.5) == is_real).mean()),
        "roc_auc": float(roc_auc_score(is_real, p_real)) if both else None,
        "ece": float(
            expected_calibration_error(
                torch.as_tensor(p_real), torch.as_tensor(is_real.astype(np.int64))
            )
        ),
        "mean_trust_real": real_mean,
        "mean_trust_synthetic": syn_mean,
        "trust_gap": real_mean - syn_mean if both else None,
    }
