"""The risk network: an MLP encoder shared by binary, risk, time-to-failure, uncertainty heads.

```
hidden state -> standardise -> encoder MLP -> embedding
embedding -+-> binary heads (ensemble) -> logits (B, K)
           +-> risk head               -> logits (B, A)
           +-> ttf head                -> logit  (B,)
           +-> uncertainty head        -> mean, log-variance (B,), (B,)
           +-> projection head         -> (B, P) for SupCon
```

Only the heads of active tasks exist (a task with weight 0 has no head, so no
parameter goes unused under DDP). Every block has dropout, which MC dropout
keeps active at prediction time (:func:`predict`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from imbalance_kit.app import check_positive_int, error
from imbalance_risk.config import ModelConfig

__all__ = ["LOGVAR_RANGE", "Predictions", "RiskNet", "predict"]

LOGVAR_RANGE = (-7.0, 2.0)
HEADS = ("binary", "risk", "ttf", "uncertainty", "contrastive", "risk_mse")


def _mlp(sizes: list[int], dropout: float, last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers += [nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class RiskNet(nn.Module):
    """Encoder MLP with the heads of the active tasks.

    Args:
        input_dim: width ``H`` of the hidden states.
        action_dim: number ``A`` of action dimensions.
        config: widths, dropout and ensemble size.
        heads: which heads to build: any of ``"binary"``, ``"risk"``, ``"ttf"``,
            ``"uncertainty"``, ``"contrastive"``, ``"risk_mse"`` (the baseline's
            linear risk regressor).

    Examples:
        >>> net = RiskNet(8, 3, ModelConfig(hidden_dims=[16], embed_dim=8, n_heads=4),
        ...               heads=["binary", "risk", "ttf", "uncertainty", "contrastive"])
        >>> out = net(torch.randn(5, 8))
        >>> {k: tuple(v.shape) for k, v in sorted(out.items())}  # doctest: +NORMALIZE_WHITESPACE
        {'binary': (5, 4), 'logvar': (5,), 'mean': (5,), 'projection': (5, 32),
         'risk': (5, 3), 'ttf': (5,)}
    """

    def __init__(
        self, input_dim: int, action_dim: int, config: ModelConfig, heads: Iterable[str]
    ) -> None:
        super().__init__()
        check_positive_int("input_dim", input_dim)
        check_positive_int("action_dim", action_dim)
        heads = tuple(heads)
        unknown = [h for h in heads if h not in HEADS]
        if unknown or not heads:
            raise error("heads", f"a non-empty subset of {HEADS}", heads)
        self.heads = heads
        self.input_dim, self.action_dim = int(input_dim), int(action_dim)
        self.register_buffer("feature_mean", torch.zeros(input_dim))
        self.register_buffer("feature_std", torch.ones(input_dim))
        c = config
        self.encoder = _mlp([input_dim, *c.hidden_dims, c.embed_dim], c.dropout, True)

        def head(out: int) -> nn.Sequential:
            return _mlp([c.embed_dim, c.head_hidden, out], c.dropout, False)

        if "binary" in heads:
            self.binary_heads = nn.ModuleList(head(1) for _ in range(c.n_heads))
        if "risk" in heads:
            self.risk_head = head(action_dim)
        if "risk_mse" in heads:
            self.risk_mse_head = head(action_dim)
        if "ttf" in heads:
            self.ttf_head = head(1)
        if "uncertainty" in heads:
            self.uncertainty_head = head(2)
        if "contrastive" in heads:
            self.projection = _mlp([c.embed_dim, c.embed_dim, c.proj_dim], 0.0, False)

    def set_normalization(
        self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
    ) -> None:
        """Store the training features' mean and standard deviation (zeros in std become 1)."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean_t.numel() != self.input_dim or std_t.numel() != self.input_dim:
            raise error("mean/std", f"{self.input_dim} values", mean_t.numel())
        self.feature_mean.copy_(mean_t)
        self.feature_std.copy_(torch.where(std_t > 1e-8, std_t, torch.ones_like(std_t)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The shared embedding of standardised hidden states."""
        return self.encoder((x - self.feature_mean) / self.feature_std)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs of every head.

        Returns:
            ``binary`` ``(B, K)`` logits, ``risk`` ``(B, A)`` logits, ``risk_mse``
            ``(B, A)`` regression values, ``ttf`` ``(B,)`` logit of the normalised
            time to failure, ``mean`` ``(B,)`` logit and ``logvar`` ``(B,)`` log-variance
            of the step's risk level, ``projection`` ``(B, P)`` (each only when its head exists).
        """
        h = self.embed(x)
        out: dict[str, torch.Tensor] = {}
        if "binary" in self.heads:
            out["binary"] = torch.cat([m(h) for m in self.binary_heads], dim=1)
        if "risk" in self.heads:
            out["risk"] = self.risk_head(h)
        if "risk_mse" in self.heads:
            out["risk_mse"] = self.risk_mse_head(h)
        if "ttf" in self.heads:
            out["ttf"] = self.ttf_head(h).squeeze(1)
        if "uncertainty" in self.heads:
            raw = self.uncertainty_head(h)
            lo, hi = LOGVAR_RANGE
            out["mean"] = raw[:, 0]
            out["logvar"] = lo + (hi - lo) * torch.sigmoid(raw[:, 1])  # smooth, bounded
        if "contrastive" in self.heads:
            out["projection"] = self.projection(h)
        return out

    def score(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` failure score: the ensemble's mean probability, else the mean predicted risk.

        For the MSE baseline the score is the unclipped mean regression output
        (a ranking score, not a probability; see :class:`Predictions`).
        """
        if "binary" in out:
            return torch.sigmoid(out["binary"]).mean(dim=1)
        if "risk" in out:
            return torch.sigmoid(out["risk"]).mean(dim=1)
        return out["risk_mse"].mean(dim=1)


@dataclass
class Predictions:
    """Per-step predictions (numpy), ``None`` where the model has no such head.

    Attributes:
        score: ``(N,)`` ranking score of failure (deterministic pass).
        prob: ``(N,)`` failure probability: ``score`` clipped to ``[0, 1]`` (it is
            already a probability except for the MSE baseline).
        logit: ``(N,)`` logit of ``prob``.
        ensemble_std: ``(N,)`` spread of the binary heads' probabilities.
        mc_mean: ``(N,)`` mean probability over MC-dropout passes.
        mc_std: ``(N,)`` standard deviation over MC-dropout passes.
        risk: ``(N, A)`` predicted per-dimension risk (``None`` without a risk head).
        ttf: ``(N,)`` predicted normalised time to failure.
        aleatoric_std: ``(N,)`` predicted standard deviation of the risk level.

    Examples:
        >>> net = RiskNet(4, 2, ModelConfig(hidden_dims=[8], embed_dim=8), ["binary"])
        >>> p = predict(net, np.zeros((3, 4), np.float32))
        >>> p.prob.shape, p.risk is None, p.ensemble_std.shape
        ((3,), True, (3,))
    """

    score: np.ndarray
    prob: np.ndarray
    logit: np.ndarray
    ensemble_std: np.ndarray | None
    mc_mean: np.ndarray | None
    mc_std: np.ndarray | None
    risk: np.ndarray | None
    ttf: np.ndarray | None
    aleatoric_std: np.ndarray | None


def _set_dropout(net: nn.Module, active: bool) -> None:
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.train(active)


@torch.no_grad()
def predict(
    net: RiskNet,
    features: np.ndarray | torch.Tensor,
    *,
    mc_samples: int = 0,
    batch_size: int = 4096,
    seed: int = 0,
) -> Predictions:
    """Predict in evaluation mode, plus ``mc_samples`` passes with dropout active.

    Args:
        net: the trained network.
        features: ``(N, H)`` hidden states.
        mc_samples: MC-dropout passes (``0``: none).
        batch_size: rows per forward pass.
        seed: seed of the dropout masks.

    Examples:
        >>> config = ModelConfig(hidden_dims=[8], embed_dim=8, n_heads=3)
        >>> net = RiskNet(4, 2, config, ["binary", "risk"])
        >>> p = predict(net, np.random.default_rng(0).normal(size=(10, 4)), mc_samples=5)
        >>> p.prob.shape, p.mc_std.shape, p.risk.shape, p.ttf is None
        ((10,), (10,), (10, 2), True)
    """
    check_positive_int("mc_samples", mc_samples, minimum=0)
    x_all = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    chunks: dict[str, list[torch.Tensor]] = {}

    def add(name: str, value: torch.Tensor) -> None:
        chunks.setdefault(name, []).append(value.float().cpu())

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for start in range(0, x_all.shape[0], batch_size):
            x = x_all[start : start + batch_size].to(device)
            out = net(x)
            score = net.score(out)
            prob = score.clamp(0.0, 1.0)
            add("score", score)
            add("prob", prob)
            add("logit", torch.logit(prob.clamp(1e-7, 1 - 1e-7)))
            if "binary" in out:
                add("ensemble_std", torch.sigmoid(out["binary"]).std(dim=1, unbiased=False))
            if "risk" in out:
                add("risk", torch.sigmoid(out["risk"]))
            elif "risk_mse" in out:
                add("risk", out["risk_mse"])
            if "ttf" in out:
                add("ttf", torch.sigmoid(out["ttf"]))
            if "logvar" in out:
                add("aleatoric_std", torch.exp(0.5 * out["logvar"]))
            if mc_samples:
                _set_dropout(net, True)
                samples = torch.stack(
                    [net.score(net(x)).clamp(0.0, 1.0) for _ in range(mc_samples)]
                )
                _set_dropout(net, False)
                add("mc_mean", samples.mean(dim=0))
                add("mc_std", samples.std(dim=0, unbiased=False))
    finally:
        torch.random.set_rng_state(generator_state)
        net.train(was_training)

    def get(name: str) -> np.ndarray | None:
        return torch.cat(chunks[name]).numpy() if name in chunks else None

    return Predictions(
        score=get("score"),  # type: ignore[arg-type]
        prob=get("prob"),  # type: ignore[arg-type]
        logit=get("logit"),  # type: ignore[arg-type]
        ensemble_std=get("ensemble_std"),
        mc_mean=get("mc_mean"),
        mc_std=get("mc_std"),
        risk=get("risk"),
        ttf=get("ttf"),
        aleatoric_std=get("aleatoric_std"),
    )
