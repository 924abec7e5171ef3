"""Training loop and evaluation behind ``imbalance-kit compare`` (strategies: ``_strategies``).

Every imbalance technique comes from the library (losses, weights, sampling,
augment, calibration, metrics); this module only wires them into one small,
reproducible training recipe whose hyper-parameters are fixed a priori:

* model: a linear layer, or an MLP ``d -> hidden -> C`` with ReLU;
* Adam (lr 3e-3, weight decay 1e-4), batches of 64, 60 epochs (``--quick``: 20);
* features standardised with the mean and standard deviation of the training part;
* 20% of every class (rounded down, so classes under 5 rows give none) is
  carved from the training split as a validation set, used only to fit the
  temperature of temperature scaling;
* seed ``s`` fixes the data split, the validation carve, the initialisation,
  the batch order, SMOTE and the sampler.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from imbalance_kit.cli.strategies import LDAM_SCALE, STRATEGIES, Strategy

__all__ = [
    "STRATEGIES",
    "RunResult",
    "Strategy",
    "TrainConfig",
    "carve_validation",
    "evaluate",
    "preload",
    "run_strategy",
    "train_model",
]


@dataclass(frozen=True)
class TrainConfig:
    """Fixed training recipe (chosen a priori, never tuned on test data)."""

    model: Literal["linear", "mlp"] = "mlp"
    hidden: int = 128
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    device: str = "cpu"


@dataclass
class RunResult:
    """Metrics of one strategy at one seed (test split), plus what the report needs."""

    strategy: str
    seed: int
    metrics: dict[str, float]
    seconds: float
    test_probs: np.ndarray | None = field(default=None, repr=False)


class _CosineHead(nn.Module):
    """Cosine similarity between normalised features and normalised class weights."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


def _build_model(
    config: TrainConfig, in_features: int, num_classes: int, cosine: bool
) -> nn.Module:
    if config.model == "linear":
        body: list[nn.Module] = []
        width = in_features
    else:
        body = [nn.Linear(in_features, config.hidden), nn.ReLU()]
        width = config.hidden
    head = _CosineHead(width, num_classes) if cosine else nn.Linear(width, num_classes)
    return nn.Sequential(*body, head)


def carve_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)``: ``floor(fraction * n_c)`` rows of class c validate.

    Classes with fewer than ``1 / fraction`` rows stay entirely in training, so
    no class loses its last examples.
    """
    rng = np.random.default_rng([seed, 7])
    train, val = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        k = int(math.floor(fraction * len(members)))
        val.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _smote_each_class(
    X: torch.Tensor, y: torch.Tensor, counts: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """SMOTE every class up to the majority count with ``k = min(5, n_c - 1)`` neighbours.

    Classes are grouped by their ``k`` (one ``smote`` call per group); a class
    with a single row has no neighbour to interpolate towards and is left as is.
    """
    from imbalance_kit.augment import smote

    n_max = int(counts.max())
    groups: dict[int, dict[int, int]] = {}
    for c, n in enumerate(counts.tolist()):
        if 2 <= n < n_max:
            groups.setdefault(min(5, int(n) - 1), {})[c] = n_max
    gen = torch.Generator().manual_seed(seed)
    new_X, new_y = [X], [y]
    for k, targets in sorted(groups.items()):
        X_res, y_res = smote(X, y, sampling_strategy=targets, k_neighbors=k, generator=gen)
        new_X.append(X_res[len(X) :])
        new_y.append(y_res[len(y) :])
    return torch.cat(new_X), torch.cat(new_y)


def train_model(
    strategy: Strategy,
    X: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    config: TrainConfig,
    seed: int,
) -> nn.Module:
    """Train one model with ``strategy`` on standardised ``X`` (already on the device)."""
    device = X.device
    counts = torch.bincount(y, minlength=num_classes).to(torch.float32)
    loss_fn = strategy.make_loss(counts)
    gen = torch.Generator().manual_seed(seed)
    if strategy.data == "smote":
        X, y = _smote_each_class(X, y, counts, seed)
    sampler = None
    if strategy.data == "sampler":
        from imbalance_kit.sampling import ClassBalancedSampler

        sampler = ClassBalancedSampler(y.cpu(), num_samples=len(y), power=0.0, seed=seed)
    with torch.random.fork_rng(devices=[]):  # initialise on the CPU, leave global RNGs alone
        torch.manual_seed(seed)
        model = _build_model(config, X.shape[1], num_classes, strategy.cosine_head)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    model.train()
    for epoch in range(config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = torch.as_tensor(list(sampler), dtype=torch.long)
        else:
            order = torch.randperm(len(y), generator=gen)
        for idx in order.split(config.batch_size):
            idx = idx.to(device)
            loss = loss_fn(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def _logits(model: nn.Module, strategy: Strategy, X: torch.Tensor) -> torch.Tensor:
    out = model(X)
    return out * LDAM_SCALE if strategy.cosine_head else out


def preload() -> None:
    """Import every module a run uses, so the first run's time is not import time."""
    import imbalance_kit.augment
    import imbalance_kit.calibration
    import imbalance_kit.losses
    import imbalance_kit.metrics
    import imbalance_kit.sampling
    import imbalance_kit.weights  # noqa: F401

    # The first optimizer built in a process imports torch's compiler stack (seconds).
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])


def evaluate(
    test_logits: torch.Tensor,
    y_test: np.ndarray,
    val_logits: torch.Tensor,
    y_val: np.ndarray,
    train_counts: np.ndarray,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Test metrics of one trained model, and its test probabilities before/after scaling.

    Predictions are the argmax of the raw logits (balanced softmax and logit
    adjustment train with the offsets and predict without them).

    Returns:
        ``(metrics, probs, probs_ts)``. ``metrics`` holds ``balanced_accuracy``,
        ``macro_f1``, ``tail_recall`` (mean recall of the ``ceil(C / 3)`` classes
        with the fewest training rows: the rarer class of a binary problem),
        ``pr_auc`` (binary only: average precision of the rarer training class),
        ``ece`` and ``ece_ts`` (top-label, 15 equal-width bins, before and after
        temperature scaling fitted on the validation logits) and ``temperature``.
    """
    from imbalance_kit.calibration import TemperatureScaling, expected_calibration_error
    from imbalance_kit.metrics import imbalance_report, tail_recall

    num_classes = len(train_counts)
    logits = test_logits.double().cpu()
    probs = torch.softmax(logits, dim=1)
    target = torch.as_tensor(y_test)
    report = imbalance_report(probs, target, n_bins=15)
    tail = tail_recall(
        probs, target, class_counts=train_counts, tail_fraction=1 / 3, num_classes=num_classes
    )
    metrics = {
        "balanced_accuracy": float(report["balanced_accuracy"]),
        "macro_f1": float(report["macro_f1"]),
        "tail_recall": float(tail),
    }
    if num_classes == 2:
        positive = str(int(np.argmin(train_counts)))  # the tail class of tail_recall
        metrics["pr_auc"] = float(report["per_class"][positive]["pr_auc"])
    metrics["ece"] = float(report["ece"])
    temperature = 1.0
    if len(y_val) and len(np.unique(y_val)) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a bound hit shows in `temperature`
            ts = TemperatureScaling().fit(val_logits.double().cpu(), torch.as_tensor(y_val))
        temperature = float(ts.temperature_)
    probs_ts = torch.softmax(logits / temperature, dim=1)
    metrics["ece_ts"] = float(expected_calibration_error(probs_ts, target, n_bins=15))
    metrics["temperature"] = temperature
    return metrics, probs.numpy(), probs_ts.numpy()


def _standardise(X_fit: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    mean = X_fit.mean(0)
    std = X_fit.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    return tuple(((x - mean) / std).astype(np.float32) for x in (X_fit, *others))


def run_strategy(
    strategy: Strategy,
    split: Any,
    config: TrainConfig,
    seed: int,
    *,
    keep_probs: bool = False,
) -> RunResult:
    """Carve validation, standardise, train and evaluate one strategy on one split.

    Args:
        strategy: what to train with.
        split: a [`LongTailSplit`][imbalance_kit.cli.datasets.LongTailSplit].
        config: the training recipe.
        seed: seed of the carve, the initialisation, batches, SMOTE and sampler.
        keep_probs: keep the test probabilities (for reliability diagrams).
    """
    start = time.perf_counter()
    num_classes = len(split.class_names)
    train_idx, val_idx = carve_validation(split.y_train, config.val_fraction, seed)
    X_tr, X_val, X_te = _standardise(split.X_train[train_idx], split.X_train[val_idx], split.X_test)
    y_tr, y_val = split.y_train[train_idx], split.y_train[val_idx]
    device = torch.device(config.device)
    model = train_model(
        strategy,
        torch.from_numpy(X_tr).to(device),
        torch.from_numpy(y_tr).to(device),
        num_classes,
        config,
        seed,
    )
    metrics, probs, _ = evaluate(
        _logits(model, strategy, torch.from_numpy(X_te).to(device)),
        split.y_test,
        _logits(model, strategy, torch.from_numpy(X_val).to(device)),
        y_val,
        split.train_counts,
    )
    seconds = time.perf_counter() - start
    return RunResult(strategy.name, seed, metrics, seconds, probs if keep_probs else None)
