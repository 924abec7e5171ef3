"""The fused losses refuse double backward instead of returning a constant gradient.

Their gradient is computed in the forward pass, without a graph. Handed to
``create_graph=True`` it would carry no second derivative, and second-order methods (MAML,
gradient penalties through the loss) would silently lose that term; so backward raises.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from imbalance_kit.losses import (
    balanced_softmax_loss,
    class_balanced_loss,
    ldam_loss,
    logit_adjusted_loss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)
from imbalance_kit.losses.contrastive import supervised_contrastive_loss

_X = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
_Y = torch.tensor([0, 1, 2, 3, 0, 1])
_T = F.one_hot(_Y, 4).to(torch.float64)
_COUNTS = [40, 20, 8, 2]

FUSED = {
    "sigmoid_focal/torch": lambda x: sigmoid_focal_loss(x, _T, backend="torch"),
    "sigmoid_focal/triton": lambda x: sigmoid_focal_loss(x, _T, backend="triton"),
    "softmax_focal/torch": lambda x: softmax_focal_loss(x, _Y, backend="torch"),
    "softmax_focal/triton": lambda x: softmax_focal_loss(x, _Y, backend="triton"),
    "balanced_softmax": lambda x: balanced_softmax_loss(x, _Y, _COUNTS),
    "logit_adjusted": lambda x: logit_adjusted_loss(x, _Y, _COUNTS),
    "ldam": lambda x: ldam_loss(x, _Y, _COUNTS),
    "class_balanced": lambda x: class_balanced_loss(x, _Y, _COUNTS, loss_type="focal"),
    "supcon": lambda x: supervised_contrastive_loss(x, _Y),
    "supcon/chunked": lambda x: supervised_contrastive_loss(x, _Y, chunk_size=2),
}


@pytest.mark.parametrize("name", sorted(FUSED))
def test_double_backward_is_refused_and_first_order_still_works(name):
    x = _X.clone().requires_grad_(True)
    with pytest.raises(RuntimeError, match="no second derivative.*create_graph=True"):
        torch.autograd.grad(FUSED[name](x), x, create_graph=True)
    (grad,) = torch.autograd.grad(FUSED[name](x), x)
    assert grad.shape == x.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert not grad.requires_grad


@pytest.mark.parametrize("name", ["sigmoid_focal/torch", "softmax_focal/torch", "supcon"])
def test_gradient_penalty_through_the_loss_raises_instead_of_dropping_the_term(name):
    x = _X.clone().requires_grad_(True)
    loss = FUSED[name](x)
    with pytest.raises(RuntimeError, match="no second derivative"):
        (g,) = torch.autograd.grad(loss, x, create_graph=True)
        (loss + g.pow(2).sum()).backward()


def test_a_plain_torch_loss_keeps_its_second_derivative():
    # The control: the refusal is the fused losses' own, autograd supports this pattern.
    x = _X.clone().requires_grad_(True)
    loss = F.binary_cross_entropy_with_logits(x, _T)
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    (hess_diag_sum,) = torch.autograd.grad(g.sum(), x)
    p = torch.sigmoid(x.detach())
    torch.testing.assert_close(hess_diag_sum, p * (1 - p) / x.numel())
