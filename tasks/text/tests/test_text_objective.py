"""Label weights and the training objective against hand-written references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from imbalance_text.objective import TextObjective, label_weights, weight_table
from imbalance_text.schema import DEFAULT_SCHEMA, LabelSchema

SCHEMA = LabelSchema(
    ["hate", "violence"],
    {"slur": "hate", "praising violence": "violence"},
    custom_weights={"slur": 10.0},
)


def _targets(n: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    prevalence = torch.tensor([0.4, 0.2, 0.02, 0.1])
    return (torch.rand(n, 4, generator=g) < prevalence).float()


def test_positive_weights_capped_then_custom() -> None:
    y = _targets()
    pos = y.sum(0).numpy()
    reference = np.minimum((len(y) - pos) / pos, 3.0)  # negatives over positives, capped
    reference[2] = 10.0  # custom, not capped
    np.testing.assert_allclose(label_weights(y, SCHEMA).numpy(), reference, rtol=1e-6)
    uncapped = label_weights(y, SCHEMA, max_weight=None, use_custom=False).numpy()
    np.testing.assert_allclose(uncapped, (len(y) - pos) / pos, rtol=1e-6)


@pytest.mark.parametrize("method", ["balanced", "inverse", "sqrt_inverse"])
def test_count_based_methods(method: str) -> None:
    y = _targets(seed=1)
    n = y.sum(0).double().numpy()
    power = 0.5 if method == "sqrt_inverse" else 1.0
    raw = n**-power
    reference = raw * n.sum() / (raw * n).sum()  # inverse frequency, mean weight per positive 1
    reference = np.minimum(reference, 3.0)
    reference[2] = 10.0
    got = label_weights(y, SCHEMA, method=method).numpy()
    np.testing.assert_allclose(got, reference, rtol=1e-5)


def test_none_method() -> None:
    y = _targets()
    assert label_weights(y, SCHEMA, method="none", use_custom=False) is None
    np.testing.assert_allclose(label_weights(y, SCHEMA, method="none").numpy(), [1, 1, 10, 1])


def test_label_weight_errors() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        label_weights(_targets(), SCHEMA, method="median")
    with pytest.raises(ValueError, match=r"targets must be \(N, 4\) for the schema"):
        label_weights(torch.zeros(5, 3), SCHEMA)


def test_weight_table_rows() -> None:
    y = _targets()
    rows = weight_table(y, SCHEMA, label_weights(y, SCHEMA))
    by = {r["label"]: r for r in rows}
    assert by["slur"]["source"] == "custom" and by["hate"]["source"] == "auto"
    assert by["slur"]["level"] == "secondary"
    pos = int(y[:, 1].sum())
    assert by["violence"]["positives"] == pos
    assert by["violence"]["ratio"] == pytest.approx((len(y) - pos) / pos)


def _reference_loss(logits, targets, pos_weight, gamma, lam, pairs):  # type: ignore[no-untyped-def]
    """Weighted focal BCE plus the hinge on sigmoid(child) - sigmoid(parent), written out."""
    p = torch.sigmoid(logits)
    w = torch.ones(logits.shape[-1], dtype=logits.dtype) if pos_weight is None else pos_weight
    pos = -w * targets * (1 - p) ** gamma * torch.log(p)
    neg = -(1 - targets) * p**gamma * torch.log(1 - p)
    focal = (pos + neg).mean()
    hinge = torch.stack([torch.relu(p[:, c] - p[:, q]) for c, q in pairs], dim=1).mean()
    return focal + lam * hinge


@settings(max_examples=20, deadline=None)
@given(
    gamma=st.sampled_from([0.0, 1.0, 2.0, 3.0]),
    lam=st.sampled_from([0.0, 0.5, 2.0]),
    weighted=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_objective_matches_reference(gamma: float, lam: float, weighted: bool, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(16, 4, generator=g, dtype=torch.float64) * 3
    targets = (torch.rand(16, 4, generator=g) < 0.3).double()
    pos_weight = torch.tensor([1.5, 3.0, 10.0, 5.0], dtype=torch.float64) if weighted else None
    pairs = SCHEMA.implication_indices
    obj = TextObjective(pairs, pos_weight=pos_weight, gamma=gamma, constraint_lambda=lam).double()
    got = obj(logits, targets)["loss"]
    want = _reference_loss(logits, targets, pos_weight, gamma, lam, pairs)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


def test_gamma_zero_is_weighted_bce() -> None:
    logits = torch.randn(32, 4)
    targets = (torch.rand(32, 4) < 0.2).float()
    w = torch.tensor([1.0, 2.0, 10.0, 5.0])
    obj = TextObjective([], pos_weight=w, gamma=0.0, constraint_lambda=0.0)
    want = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=w)
    torch.testing.assert_close(obj(logits, targets)["loss"], want)


def test_penalty_only_on_violations_and_gradcheck() -> None:
    obj = TextObjective([(1, 0)], gamma=2.0, constraint_lambda=1.0).double()
    consistent = torch.tensor([[2.0, -1.0], [0.0, 0.0]], dtype=torch.float64)
    assert float(obj(consistent, torch.zeros(2, 2, dtype=torch.float64))["penalty"]) == 0.0
    logits = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    targets = (torch.rand(6, 2) < 0.5).double()

    def f(z: torch.Tensor) -> torch.Tensor:
        return obj(z, targets)["loss"]

    assert torch.autograd.gradcheck(f, (logits,))


def test_objective_on_default_schema_trains_rare_label_up() -> None:
    """Under the custom 10x weight the rare label's gradient on a positive is 10x the plain one."""
    pairs = DEFAULT_SCHEMA.implication_indices
    j = DEFAULT_SCHEMA.index("praising extremist acts")
    logits = torch.zeros(1, DEFAULT_SCHEMA.num_labels, requires_grad=True)
    targets = torch.zeros(1, DEFAULT_SCHEMA.num_labels)
    targets[0, j] = 1
    weights = torch.ones(DEFAULT_SCHEMA.num_labels)
    weights[j] = 10.0
    grads = []
    for w in (None, weights):
        logits.grad = None
        TextObjective(pairs, pos_weight=w, gamma=2.0, constraint_lambda=0.0)(logits, targets)[
            "loss"
        ].backward()
        grads.append(logits.grad[0, j].item())
    assert grads[1] == pytest.approx(10 * grads[0])


def test_objective_argument_errors() -> None:
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        TextObjective([], gamma=-1.0)
    with pytest.raises(ValueError, match="constraint_lambda must be a finite number >= 0"):
        TextObjective([], constraint_lambda=-0.5)
