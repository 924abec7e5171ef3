r"""The training objectives: the world model's loss terms and the policies' weighted losses.

**World model**: teacher forcing, scheduled sampling or BPTT, plus distribution terms.
Every batch is a set of windows of ``H + 1`` real states (random starts; the whole episode
when ``horizon`` is ``None``). The model rolls out over the window, taking the true state as
its input with probability $p$ (1 for teacher forcing, 0 for BPTT, falling linearly from 1
to ``ss_min_teacher`` over the epochs for scheduled sampling). The loss is

```math
\mathcal L = \underbrace{\tfrac{1}{H}\textstyle\sum_t
  \lVert \hat z_t - z_t\rVert^2 / D}_{\text{recon}}
 + \mathcal L_r
 + \lambda_{\text{var}}\,\mathcal L_{\text{var}}
 + \lambda_{\text{feat}}\,\lVert \bar\phi(\tilde z) - \bar\phi(z)\rVert^2
 + \lambda_{\text{trust}}\,\mathrm{BCE}(\text{trust}(\tilde z), 1),
```

where $\mathcal L_r$ is the reward head's MSE on real transitions, $\tilde z$ a sampled
free-running rollout over the same window (noise from the current $\sigma$), $\phi$ the
trust features and

```math
\mathcal L_{\text{var}} = \frac{1}{H}\sum_{t=1}^{H}
\mathrm{ReLU}\Big(\frac{\hat v_t}{v_t + \epsilon} - \rho\Big),\qquad
\hat v_t = \frac1D\sum_d \mathrm{Var}_b\,\tilde z_{btd},\quad
v_t = \frac1D\sum_d \mathrm{Var}_b\, z_{btd},
```

which penalises per-step variance growth beyond the ratio $\rho$ (``var_reg_ratio``).
$\sigma$ is re-estimated from teacher-forced one-step residuals at the start of every
epoch and after training (:func:`~imbalance_world_model.model.calibrate_noise`).

Reference: Bengio et al., "Scheduled sampling for sequence prediction with recurrent neural
networks", NeurIPS 2015.

**Policies**: weighted behaviour cloning and TD3+BC on the latent space. Weighted behaviour
cloning minimises the (importance-)weighted squared action error

```math
\mathcal L_{\text{BC}} = \frac{\sum_i w_i \lVert \pi(z_i) - a_i\rVert^2 / A}{\sum_i w_i}.
```

TD3+BC (Fujimoto & Gu, "A minimalist approach to offline reinforcement learning",
NeurIPS 2021) trains twin critics toward
$y = r + \gamma (1 - d) \min_k Q'_k(z', \pi'(z') + \mathrm{clip}(\sigma\varepsilon, -c, c))$
and, every ``policy_delay`` steps, the actor on

```math
\mathcal L_\pi = -\lambda\, \overline{Q_1(z, \pi(z))} + \overline{\lVert \pi(z) - a\rVert^2 / A},
\qquad \lambda = \frac{\alpha}{\overline{|Q_1(z, \pi(z))|}}\ \text{(no gradient)},
```

with every mean weighted as in $\mathcal L_{\text{BC}}$ when ``weighting="loss"``. Policies are
evaluated by their action MSE on held-out real episodes. The weighted means are
:func:`importance_weighted_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from imbalance_kit.app import check_ndim, check_positive, check_same_shape
from imbalance_world_model.config import WMTrainConfig
from imbalance_world_model.features import episode_features

__all__ = [
    "bc_loss",
    "episode_mse",
    "feature_matching_loss",
    "importance_weighted_loss",
    "td3_target",
    "td3bc_actor_loss",
    "teacher_probability",
    "variance_penalty",
    "weighted_mean",
]


def episode_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over episodes of each episode's mean squared error over its valid steps.

    ``pred`` and ``target`` are ``(B, H, ...)``; ``mask`` ``(B, H)`` marks the valid steps
    (``None``: all). For equal lengths this is the plain mean squared error; as a mean over
    episodes it is also what DDP's gradient averaging needs (equal batches per process).

    Examples:
        >>> pred, target = torch.zeros(2, 3, 1), torch.tensor([[[1.0], [1.0], [1.0]],
        ...                                                    [[2.0], [0.0], [0.0]]])
        >>> episode_mse(pred, target), episode_mse(pred, target, torch.tensor(
        ...     [[True, True, True], [True, False, False]]))
        (tensor(1.1667), tensor(2.5000))
    """
    err = (pred - target).pow(2)
    if err.ndim > 2:
        err = err.flatten(2).mean(-1)
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype)
    return ((err * m).sum(1) / m.sum(1).clamp_min(1.0)).mean()


def variance_penalty(
    synthetic: torch.Tensor,
    real: torch.Tensor,
    ratio: float = 1.2,
    eps: float = 1e-8,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The variance penalty above for ``(B, H + 1, D)`` rollouts (step 0 skipped).

    With ``mask`` ``(B, H + 1)`` each step's variances are over the episodes still running
    at that step; steps with fewer than two are left out.

    Examples:
        >>> real = torch.tensor([[[0.0], [1.0]], [[0.0], [-1.0]]])   # step-1 variance 1
        >>> variance_penalty(2 * real, real, ratio=1.5)              # 4 / 1 - 1.5
        tensor(2.5000)
    """
    check_ndim("synthetic", synthetic, 3)
    check_same_shape("synthetic", synthetic, "real", real)
    check_positive("ratio", ratio)
    if mask is None:
        v_syn = synthetic[:, 1:].var(0, unbiased=False).mean(-1)
        v_real = real[:, 1:].var(0, unbiased=False).mean(-1)
        return F.relu(v_syn / (v_real + eps) - ratio).mean()
    m = mask[:, 1:].to(synthetic.dtype).unsqueeze(-1)
    count = m.sum(0)

    def masked_var(x: torch.Tensor) -> torch.Tensor:
        mean = (x * m).sum(0) / count.clamp_min(1.0)
        return (((x - mean) ** 2) * m).sum(0).div(count.clamp_min(1.0)).mean(-1)

    v_syn, v_real = masked_var(synthetic[:, 1:]), masked_var(real[:, 1:])
    keep = count[:, 0] >= 2
    if not bool(keep.any()):
        return synthetic.sum() * 0.0
    return F.relu(v_syn[keep] / (v_real[keep] + eps) - ratio).mean()


def feature_matching_loss(
    synthetic: torch.Tensor, real: torch.Tensor, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared distance of the batch means of the trust features (episodes of ``lengths``).

    Examples:
        >>> z = torch.randn(4, 6, 2)
        >>> feature_matching_loss(z, z).item()
        0.0
    """
    diff = episode_features(synthetic, lengths).mean(0) - episode_features(real, lengths).mean(0)
    return diff.pow(2).sum()


def teacher_probability(config: WMTrainConfig, epoch: int) -> float:
    """Teacher-input probability of ``epoch`` (0-based) under ``config.mode``.

    Examples:
        >>> cfg = WMTrainConfig(mode="scheduled_sampling", epochs=5)
        >>> [teacher_probability(cfg, e) for e in range(5)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if config.mode == "teacher_forcing":
        return 1.0
    if config.mode == "bptt":
        return 0.0
    frac = epoch / max(config.epochs - 1, 1)
    return float(1.0 - (1.0 - config.ss_min_teacher) * min(frac, 1.0))


def importance_weighted_loss(
    per_sample: torch.Tensor, weights: torch.Tensor, mean_weight: float | None = None
) -> torch.Tensor:
    r"""Importance-weighted mean of per-sample losses.

    ```math
    \text{self-normalised: } \frac{\sum_i w_i \ell_i}{\sum_i w_i},
    \qquad \text{with } \bar w\text{: } \frac{1}{B}\sum_i \frac{w_i}{\bar w}\, \ell_i .
    ```

    ``mean_weight`` $\bar w$ is the mean weight of the whole data set. The second form is a
    plain mean, so batches split across DDP processes average to the full batch's value;
    the self-normalised form (``mean_weight=None``) is not (its denominator is per batch).

    Examples:
        >>> losses, w = torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0])
        >>> importance_weighted_loss(losses, w), importance_weighted_loss(losses, w, 2.0)
        (tensor(1.5000), tensor(1.5000))
        >>> importance_weighted_loss(losses, w, mean_weight=1.0)
        tensor(3.)
    """
    check_same_shape("per_sample", per_sample, "weights", weights)
    if mean_weight is not None:
        return (weights * per_sample).mean() / mean_weight
    total = weights.sum()
    return (weights * per_sample).sum() / total.clamp_min(1e-12)


def weighted_mean(
    per_sample: torch.Tensor, weights: torch.Tensor | None, mean_weight: float | None
) -> torch.Tensor:
    """Plain mean without ``weights``, else :func:`importance_weighted_loss`.

    Examples:
        >>> weighted_mean(torch.tensor([1.0, 3.0]), None, None)
        tensor(2.)
    """
    if weights is None:
        return per_sample.mean()
    return importance_weighted_loss(per_sample, weights, mean_weight)


def bc_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    mean_weight: float | None = None,
) -> torch.Tensor:
    """$\\mathcal L_{\\text{BC}}$ (unweighted mean when ``weights`` is ``None``).

    With ``mean_weight`` (the data set's mean weight) the sum is divided by the batch size
    times ``mean_weight`` instead of the batch's weight sum (see
    :func:`~imbalance_world_model.replay.importance_weighted_loss`).

    Examples:
        >>> pred, target = torch.tensor([[1.0, 1.0], [0.0, 0.0]]), torch.zeros(2, 2)
        >>> w = torch.tensor([1.0, 3.0])
        >>> bc_loss(pred, target, w), bc_loss(pred, target, w, mean_weight=2.0)
        (tensor(0.2500), tensor(0.2500))
    """
    return weighted_mean((pred - target).pow(2).mean(-1), weights, mean_weight)


def td3bc_actor_loss(
    q: torch.Tensor,
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    weights: torch.Tensor | None = None,
    mean_weight: float | None = None,
) -> torch.Tensor:
    """$\\mathcal L_\\pi$ from ``q`` $= Q_1(z, \\pi(z))$ ``(B,)`` and the actions ``(B, A)``.

    Examples:
        >>> q = torch.tensor([2.0, -4.0])
        >>> td3bc_actor_loss(q, torch.ones(2, 1), torch.zeros(2, 1), alpha=3.0)  # -1*(-1)+1
        tensor(2.)
    """
    lam = alpha / q.abs().mean().detach().clamp_min(1e-6)
    return -lam * weighted_mean(q, weights, mean_weight) + bc_loss(
        pred, target, weights, mean_weight
    )


def td3_target(
    reward: torch.Tensor,
    done: torch.Tensor,
    q1_next: torch.Tensor,
    q2_next: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """$y = r + \\gamma (1 - d) \\min(Q'_1, Q'_2)$.

    Examples:
        >>> td3_target(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]),
        ...            torch.tensor([2.0, 2.0]), torch.tensor([3.0, 0.5]), 0.5)
        tensor([2., 1.])
    """
    return reward + gamma * (1 - done) * torch.minimum(q1_next, q2_next)
