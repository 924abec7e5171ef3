"""TemperatureScaling: recovery of a known temperature, exact optimum, guarantees, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import imbalance_kit.calibration.temperature as temperature_module
from imbalance_kit.calibration import TemperatureScaling, expected_calibration_error
from imbalance_kit.testing.references.calibration import lbfgs_temperature, nll_at_temperature


def _calibrated(n: int, c: int, seed: int, scale: float = 2.0):
    """Logits of a calibrated model and labels drawn from its own softmax."""
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, c, generator=g, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)
    return logits, labels


def _scipy_temperature(logits, labels, low=0.01, high=100.0) -> float:
    """The exact optimum by bounded Brent search on log T (an independent method)."""
    result = minimize_scalar(
        lambda t: nll_at_temperature(logits, labels, float(np.exp(t))),
        bounds=(np.log(low), np.log(high)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(np.exp(result.x))


@pytest.mark.parametrize("true_t", [0.5, 2.0, 5.0])
def test_recovers_a_known_temperature(true_t):
    logits, labels = _calibrated(20_000, 10, seed=int(10 * true_t))
    model = TemperatureScaling().fit(logits * true_t, labels)  # sharpened by true_t
    assert model.temperature_ == pytest.approx(true_t, rel=0.05)
    assert model.converged_ and not model.at_bound_
    assert model.n_iter_ <= 15
    exact = _scipy_temperature(logits * true_t, labels)
    assert model.temperature_ == pytest.approx(exact, rel=1e-5)
    assert model.nll_ == pytest.approx(
        nll_at_temperature(logits * true_t, labels, exact), abs=1e-10
    )
    assert model.nll_ < model.nll_at_one_


def test_binary_logits():
    g = torch.Generator().manual_seed(3)
    z = 2 * torch.randn(20_000, generator=g, dtype=torch.float64)
    y = torch.bernoulli(torch.sigmoid(z), generator=g).long()
    model = TemperatureScaling().fit(3 * z, y)
    assert model.binary_
    assert model.temperature_ == pytest.approx(3.0, rel=0.05)
    assert model.temperature_ == pytest.approx(_scipy_temperature(3 * z, y), rel=1e-5)
    probs = model.predict_proba(3 * z)
    assert probs.shape == (20_000,)
    torch.testing.assert_close(probs, torch.sigmoid(3 * z / model.temperature_))


@settings(max_examples=25)
@given(
    n=st.integers(1, 80),
    c=st.integers(2, 6),
    scale=st.floats(0.01, 30.0),
    seed=st.integers(0, 10_000),
)
def test_never_worse_than_t1_and_matches_the_exact_optimum(n, c, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, c, generator=g, dtype=torch.float64)
    labels = torch.randint(0, c, (n,), generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # separable draws hit the bound
        model = TemperatureScaling().fit(logits, labels)
    at_one = nll_at_temperature(logits, labels, 1.0)
    assert model.nll_at_one_ == pytest.approx(at_one, rel=1e-12, abs=1e-12)
    assert model.nll_ <= at_one + 1e-12
    assert 0.01 <= model.temperature_ <= 100.0
    exact = _scipy_temperature(logits, labels)
    assert model.nll_ <= nll_at_temperature(logits, labels, exact) + 1e-9
    assert model.nll_ == pytest.approx(nll_at_temperature(logits, labels, model.temperature_))


def test_at_least_as_good_as_the_lbfgs_recipe():
    logits, labels = _calibrated(1000, 10, seed=4, scale=1.0)
    sharp = (logits * 6).float()  # far from T = 1: LBFGS with lr=0.01 stops short
    ours = TemperatureScaling().fit(sharp, labels)
    theirs = lbfgs_temperature(sharp, labels)
    assert ours.nll_ <= nll_at_temperature(sharp, labels, theirs) + 1e-6
    assert ours.temperature_ == pytest.approx(6.0, rel=0.1)


def test_separable_logits_stop_at_the_lower_bound_with_a_warning():
    logits = torch.randn(200, 4, dtype=torch.float64)
    labels = logits.argmax(dim=1)  # every label is the top logit
    with pytest.warns(RuntimeWarning, match="separable"):
        model = TemperatureScaling().fit(logits, labels)
    assert model.at_bound_ and model.temperature_ == pytest.approx(0.01)
    assert model.nll_ < model.nll_at_one_
    with pytest.warns(RuntimeWarning, match="max_temperature"):
        worst = TemperatureScaling(max_temperature=50.0).fit(logits, logits.argmin(dim=1))
    assert worst.temperature_ == pytest.approx(50.0)
    assert worst.nll_ < worst.nll_at_one_


def test_already_calibrated_and_constant_logits():
    logits, labels = _calibrated(30_000, 5, seed=5)
    model = TemperatureScaling().fit(logits, labels)
    assert model.temperature_ == pytest.approx(1.0, abs=0.04)
    flat = TemperatureScaling().fit(torch.zeros(10, 3), torch.arange(10) % 3)
    assert flat.temperature_ == 1.0 and flat.n_iter_ == 1 and flat.converged_


def test_extreme_logits_stay_finite():
    logits, labels = _calibrated(1000, 5, seed=6)
    model = TemperatureScaling(max_temperature=1e4).fit(1e3 * logits.float(), labels)
    assert np.isfinite(model.temperature_) and np.isfinite(model.nll_)
    assert model.nll_ <= model.nll_at_one_
    assert model.temperature_ == pytest.approx(1e3, rel=0.1) and not model.at_bound_


def test_calibration_improves_ece():
    logits, labels = _calibrated(20_000, 10, seed=7)
    sharp = 4 * logits
    model = TemperatureScaling().fit(sharp[:10_000], labels[:10_000])
    before = expected_calibration_error(sharp[10_000:], labels[10_000:], from_logits=True)
    after = expected_calibration_error(
        model.transform(sharp[10_000:]), labels[10_000:], from_logits=True
    )
    assert after.item() < 0.5 * before.item()


def test_chunked_passes_give_the_same_fit(monkeypatch):
    logits, labels = _calibrated(1000, 7, seed=8)
    whole = TemperatureScaling().fit(2 * logits, labels)
    monkeypatch.setattr(temperature_module, "_CHUNK_ELEMENTS", 7 * 300)  # 4 chunks, a ragged tail
    chunked = TemperatureScaling().fit(2 * logits, labels)
    assert chunked.temperature_ == pytest.approx(whole.temperature_, rel=1e-12)
    assert chunked.n_iter_ == whole.n_iter_


def test_transform_types_and_devices(device):
    logits, labels = _calibrated(500, 4, seed=9)
    model = TemperatureScaling().fit((2 * logits).float().to(device), labels.to(device))
    out = model.transform(logits.float().to(device))
    assert isinstance(out, torch.Tensor) and out.device.type == device.type
    assert out.dtype == torch.float32
    as_numpy = model.transform(logits.numpy())
    assert isinstance(as_numpy, np.ndarray)
    np.testing.assert_allclose(as_numpy, logits.numpy() / model.temperature_)
    fitted_on_numpy = TemperatureScaling().fit((2 * logits).numpy(), labels.numpy())
    assert fitted_on_numpy.temperature_ == pytest.approx(model.temperature_, rel=1e-4)
    probs = model.predict_proba(logits)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(500, dtype=torch.float64))
    half = TemperatureScaling().fit((2 * logits).half(), labels)
    assert half.temperature_ == pytest.approx(model.temperature_, rel=1e-2)


def test_sklearn_estimator_conventions():
    model = TemperatureScaling(max_iter=20)
    assert model.get_params() == {
        "max_iter": 20,
        "max_temperature": 100.0,
        "min_temperature": 0.01,
        "tol": 1e-6,
    }
    assert clone(model).set_params(tol=1e-4).tol == 1e-4
    with pytest.raises(NotFittedError):
        model.transform(torch.zeros(2, 2))
    with pytest.raises(TypeError):
        TemperatureScaling(0.1)  # keyword-only


@pytest.mark.parametrize(
    "params,match",
    [
        ({"min_temperature": 0.0}, "min_temperature must be a finite number > 0"),
        ({"min_temperature": 2.0}, "min_temperature < 1 < max_temperature"),
        ({"max_temperature": 1.0}, "min_temperature < 1 < max_temperature"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"tol": -1.0}, "tol must be a finite number > 0"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        TemperatureScaling(**params).fit(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))


@pytest.mark.parametrize(
    "logits,labels,exc,match",
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), ValueError, r"class indices in \[0, 3\)"),
        (torch.randn(4), torch.tensor([0, 1, 2, 1]), ValueError, "0 or 1"),
        (torch.empty(0, 3), torch.empty(0, dtype=torch.long), ValueError, "non-empty"),
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), ValueError, "finite"),
        (torch.randn(4, 1), torch.zeros(4, dtype=torch.long), ValueError, "C >= 2"),
        (
            torch.ones(4, 3, dtype=torch.long),
            torch.zeros(4, dtype=torch.long),
            TypeError,
            "floating",
        ),
        (torch.randn(4, 3), torch.zeros(5, dtype=torch.long), ValueError, "same length"),
    ],
)
def test_bad_input(logits, labels, exc, match):
    with pytest.raises(exc, match=match):
        TemperatureScaling().fit(logits, labels)


# ---------------------------------------------------------------- as a module
def test_module_after_a_model_divides_by_the_fitted_temperature():
    logits, labels = _calibrated(2000, 5, seed=21)
    features = torch.randn(2000, 5, dtype=torch.float64)
    model = torch.nn.Linear(5, 5).double()
    with torch.no_grad():
        model.weight.copy_(torch.eye(5))
        model.bias.zero_()
    scaler = TemperatureScaling().fit(3 * logits, labels)
    assert isinstance(scaler, torch.nn.Module)
    calibrated = torch.nn.Sequential(model, scaler)
    out = calibrated(3 * features)
    torch.testing.assert_close(out, 3 * features / scaler.temperature_)
    torch.testing.assert_close(out, scaler.transform(model(3 * features)))
    # gradients flow through to the model (the temperature itself is a buffer, not trained)
    out.sum().backward()
    torch.testing.assert_close(
        model.weight.grad,
        torch.full((5, 5), 1.0 / scaler.temperature_, dtype=torch.float64) * (3 * features).sum(0),
    )
    assert list(scaler.parameters()) == []
    # dtype of the logits is kept
    assert scaler(torch.randn(4, 5)).dtype == torch.float32


def test_state_dict_holds_the_temperature():
    logits, labels = _calibrated(1000, 4, seed=22)
    scaler = TemperatureScaling().fit(2 * logits, labels)
    state = scaler.state_dict()
    assert set(state) == {"temperature"}
    assert state["temperature"].item() == scaler.temperature_
    restored = TemperatureScaling()
    with pytest.raises(NotFittedError, match="call fit"):
        restored(logits)
    restored.load_state_dict(state)
    assert restored.temperature_ == scaler.temperature_
    torch.testing.assert_close(restored(logits), scaler(logits))
    # inside a bigger model's state dict, through torch.save / weights_only load
    wrapped = torch.nn.Sequential(torch.nn.Identity(), scaler)
    buffer = __import__("io").BytesIO()
    torch.save(wrapped.state_dict(), buffer)
    buffer.seek(0)
    fresh = torch.nn.Sequential(torch.nn.Identity(), TemperatureScaling())
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh[1].temperature_ == scaler.temperature_
    # an unfitted state dict leaves the module unfitted
    unfitted = TemperatureScaling()
    unfitted.load_state_dict(TemperatureScaling().state_dict())
    with pytest.raises(NotFittedError):
        unfitted.transform(logits)


def test_module_errors_and_repr():
    scaler = TemperatureScaling(max_iter=50)
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        scaler(torch.zeros(2, 2))
    assert repr(scaler) == "TemperatureScaling(max_iter=50)"
    scaler.fit(*_calibrated(200, 3, seed=23))
    assert repr(scaler).startswith("TemperatureScaling(max_iter=50, temperature=")
    with pytest.raises(TypeError, match="logits must be a floating-point torch.Tensor"):
        scaler(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="set_params keys must be parameters"):
        scaler.set_params(lr=0.1)
