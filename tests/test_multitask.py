"""Tests of MultiTaskLoss: each weighting against a hand-written formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from imbalance_kit.losses import available_losses, get_loss, register_loss, softmax_focal_loss
from imbalance_kit.losses.multitask import WEIGHTINGS, MultiTaskLoss, _project_weights


def _constant_tasks(names):
    """Tasks whose loss is the output itself: the test chooses every L_t exactly."""
    return {name: (lambda out, tgt: out.sum()) for name in names}


def _outputs(values: dict[str, float], requires_grad: bool = False):
    outs = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad)
        for k, v in values.items()
    }
    return outs, dict.fromkeys(values)


def _check_weights(got: dict[str, float], expected: dict[str, float], tol: float = 1e-12) -> None:
    assert list(got) == list(expected)
    for task in expected:
        assert got[task] == pytest.approx(expected[task], rel=tol, abs=tol), task


# ----------------------------------------------------------------------------- uniform, specs


def test_uniform_is_the_plain_sum_with_mixed_task_specs():
    pos_weight = torch.tensor([3.0])
    criterion = MultiTaskLoss(
        {
            "action": "cross_entropy",
            "offence": ("bce", {"pos_weight": pos_weight}),
            "severity": {"name": "cross-entropy", "label_smoothing": 0.1},
            "depth": F.l1_loss,
            "box": torch.nn.MSELoss(reduction="sum"),
        }
    )
    outputs = {
        "action": torch.randn(6, 4, requires_grad=True),
        "offence": torch.randn(6, 1),
        "severity": torch.randn(6, 3),
        "depth": torch.randn(6),
        "box": torch.randn(6, 2),
        "unused_head": torch.randn(6),  # keys naming no task are not used
    }
    targets = {
        "action": torch.randint(0, 4, (6,)),
        "offence": torch.randint(0, 2, (6, 1)).float(),
        "severity": torch.randint(0, 3, (6,)),
        "depth": torch.randn(6),
        "box": torch.randn(6, 2),
    }
    total, per_task = criterion(outputs, targets)
    expected = {
        "action": F.cross_entropy(outputs["action"], targets["action"]),
        "offence": F.binary_cross_entropy_with_logits(
            outputs["offence"], targets["offence"], pos_weight=pos_weight
        ),
        "severity": F.cross_entropy(outputs["severity"], targets["severity"], label_smoothing=0.1),
        "depth": F.l1_loss(outputs["depth"], targets["depth"]),
        "box": F.mse_loss(outputs["box"], targets["box"], reduction="sum"),
    }
    assert list(per_task) == list(expected)
    for task, value in expected.items():
        torch.testing.assert_close(per_task[task], value)
    torch.testing.assert_close(total, sum(expected.values()))
    assert criterion.task_weights() == dict.fromkeys(expected, 1.0)
    (grad,) = torch.autograd.grad(total, outputs["action"])
    (ref,) = torch.autograd.grad(expected["action"], outputs["action"])
    torch.testing.assert_close(grad, ref)
    assert "weighting='uniform'" in repr(criterion)


def test_focal_task_from_a_config_mapping():
    from imbalance_kit.losses import softmax_focal_loss

    criterion = MultiTaskLoss({"severity": {"name": "softmax_focal", "gamma": 2.0}})
    logits, target = torch.randn(8, 5), torch.randint(0, 5, (8,))
    total, per_task = criterion({"severity": logits}, {"severity": target})
    torch.testing.assert_close(total, softmax_focal_loss(logits, target, gamma=2.0))
    assert not torch.allclose(total, F.cross_entropy(logits, target))


def test_update_metrics_is_stored_but_unused_by_uniform():
    criterion = MultiTaskLoss(_constant_tasks("ab"))
    criterion.update_metrics({"a": 0.1, "b": 0.9})
    assert criterion.task_weights() == {"a": 1.0, "b": 1.0}
    assert criterion.get_extra_state()["metrics"] == {"a": 0.1, "b": 0.9}


# ----------------------------------------------------------------------------- uncertainty


@pytest.mark.parametrize(("form", "c"), [("simple", 1.0), ("gaussian", 0.5)])
def test_uncertainty_formula_and_log_variance_gradients(form, c):
    criterion = MultiTaskLoss(_constant_tasks("abc"), "uncertainty", uncertainty_form=form)
    s = [0.3, -0.7, 1.2]
    losses = {"a": 2.0, "b": 0.5, "c": 4.0}
    with torch.no_grad():
        criterion.log_vars.copy_(torch.tensor(s))
    outputs, targets = _outputs(losses)
    total, per_task = criterion(outputs, targets)
    expected = sum(c * (math.exp(-si) * li + si) for si, li in zip(s, losses.values()))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    # d total / d s_t = c * (1 - exp(-s_t) L_t)
    expected_grad = [c * (1 - math.exp(-si) * li) for si, li in zip(s, losses.values())]
    torch.testing.assert_close(criterion.log_vars.grad, torch.tensor(expected_grad))
    _check_weights(
        criterion.task_weights(), {t: c * math.exp(-si) for t, si in zip("abc", s)}, 1e-6
    )
    assert [p for p in criterion.parameters()] == [criterion.log_vars]


def test_uncertainty_initial_weights_and_no_parameter_otherwise():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "uncertainty", init_log_var=math.log(2.0))
    _check_weights(criterion.task_weights(), {"a": 0.5, "b": 0.5}, 1e-6)
    assert criterion.log_vars.shape == (2,)
    assert list(MultiTaskLoss(_constant_tasks("ab")).parameters()) == []


def test_uncertainty_cap_clamps_and_keeps_inward_gradient():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "uncertainty", max_weight=2.0, min_weight=0.5)
    floor, ceiling = math.log(1 / 2.0), math.log(1 / 0.5)
    with torch.no_grad():
        criterion.log_vars.copy_(torch.tensor([-5.0, 4.0]))  # beyond both bounds
    _check_weights(criterion.task_weights(), {"a": 2.0, "b": 0.5}, 1e-6)
    # large loss on a: gradient 1 - 2*10 < 0 would raise s_a (back inside): kept;
    # small loss on b: gradient 1 - 0.5*0.01 > 0 would lower s_b (back inside): kept.
    outputs, targets = _outputs({"a": 10.0, "b": 0.01})
    total, _ = criterion(outputs, targets)
    expected = (2.0 * 10.0 + floor) + (0.5 * 0.01 + ceiling)
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    torch.testing.assert_close(criterion.log_vars.grad, torch.tensor([1 - 20.0, 1 - 0.005]))
    # opposite losses: the gradients point further outside, so they are blocked
    criterion.log_vars.grad = None
    outputs, targets = _outputs({"a": 0.01, "b": 10.0})
    criterion(outputs, targets)[0].backward()
    torch.testing.assert_close(criterion.log_vars.grad, torch.zeros(2))


# ----------------------------------------------------------------------------- DWA


def test_dwa_by_hand_from_the_loss_history():
    t = 2.0
    criterion = MultiTaskLoss(_constant_tasks("abc"), "dwa", dwa_temperature=t, max_weight=None)
    epochs = [
        [{"a": 2.0, "b": 1.0, "c": 4.0}, {"a": 4.0, "b": 3.0, "c": 2.0}],  # means 3, 2, 3
        [{"a": 1.0, "b": 2.0, "c": 3.0}],  # means 1, 2, 3
        [{"a": 0.5, "b": 3.0, "c": 3.0}],
    ]
    seen = []
    for epoch in epochs:
        if len(seen) < 2:  # fewer than two recorded epochs: uniform
            assert criterion.task_weights() == dict.fromkeys("abc", 1.0)
        for losses in epoch:
            criterion(*_outputs(losses))
        criterion.eval()
        criterion(*_outputs({"a": 100.0, "b": 100.0, "c": 100.0}))  # eval: not recorded
        criterion.train()
        seen.append(criterion.step_epoch())
    assert seen[0] == {"a": 3.0, "b": 2.0, "c": 3.0}
    # epoch 2 -> 3: r = L(e-1) / L(e-2) from the last two epochs, w = K softmax(r / T)
    r = [0.5 / 1.0, 3.0 / 2.0, 3.0 / 3.0]
    z = sum(math.exp(ri / t) for ri in r)
    expected = {k: 3 * math.exp(ri / t) / z for k, ri in zip("abc", r)}
    _check_weights(criterion.task_weights(), expected)
    outputs, targets = _outputs({"a": 1.0, "b": 2.0, "c": 5.0})
    total, _ = criterion(outputs, targets)
    assert total.item() == pytest.approx(
        expected["a"] + 2 * expected["b"] + 5 * expected["c"], rel=1e-12
    )


def test_dwa_two_epochs_and_explicit_losses_and_cap():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "dwa", dwa_temperature=0.1, max_weight=1.5)
    criterion.step_epoch({"a": 1.0, "b": 1.0})
    assert criterion.task_weights() == {"a": 1.0, "b": 1.0}  # one epoch: still uniform
    criterion.step_epoch({"a": torch.tensor(3.0), "b": 1.0})
    # uncapped: a gets 2 e^{30} / (e^{30} + e^{10}) ~ 2; capped at 1.5 and b takes the rest
    _check_weights(criterion.task_weights(), {"a": 1.5, "b": 0.5})


# ----------------------------------------------------------------------------- metric-driven


@pytest.mark.parametrize("weighting", ["inverse_accuracy", "inverse_f1"])
def test_inverse_metric_weights_by_hand(weighting):
    criterion = MultiTaskLoss(_constant_tasks("abc"), weighting)
    assert criterion.task_weights() == dict.fromkeys("abc", 1.0)  # before any metric
    criterion.update_metrics({"a": 0.5, "b": 0.25, "c": torch.tensor(1.0)})
    # raw 1/m = 2, 4, 1 (sum 7) normalised to sum to 3
    _check_weights(criterion.task_weights(), {"a": 6 / 7, "b": 12 / 7, "c": 3 / 7})
    outputs, targets = _outputs({"a": 1.0, "b": 1.0, "c": 2.0})
    total, _ = criterion(outputs, targets)
    assert total.item() == pytest.approx(6 / 7 + 12 / 7 + 6 / 7, rel=1e-12)


def test_difficulty_weights_by_hand():
    gamma = 2.0
    criterion = MultiTaskLoss(_constant_tasks("abc"), "difficulty", gamma=gamma)
    metrics = {"a": 0.9, "b": 0.5, "c": 0.2}
    criterion.update_metrics(metrics)
    raw = {k: -((1 - m) ** gamma) * math.log(m) for k, m in metrics.items()}
    z = sum(raw.values())
    _check_weights(criterion.task_weights(), {k: 3 * v / z for k, v in raw.items()})
    criterion = MultiTaskLoss(_constant_tasks("ab"), "difficulty", gamma=0.0)
    criterion.update_metrics({"a": math.exp(-1), "b": math.exp(-3)})  # raw -log m = 1, 3
    _check_weights(criterion.task_weights(), {"a": 0.5, "b": 1.5})


@pytest.mark.parametrize("weighting", ["inverse_accuracy", "inverse_f1", "difficulty"])
def test_metric_weights_are_finite_at_zero_and_one(weighting):
    eps = 1e-6
    criterion = MultiTaskLoss(_constant_tasks("ab"), weighting, max_weight=None, eps=eps)
    criterion.update_metrics({"a": 0.0, "b": 1.0})
    weights = criterion.task_weights()
    assert all(math.isfinite(w) for w in weights.values())
    assert sum(weights.values()) == pytest.approx(2.0)
    if weighting == "difficulty":  # a: -(1 - eps)^2 log(eps); b: ~ eps^3, negligible
        _check_weights(weights, {"a": 2.0, "b": 0.0}, 1e-9)
    else:  # raw 1/eps and 1
        _check_weights(weights, {"a": 2 / (1 + eps), "b": 2 * eps / (1 + eps)})
    for value in (0.0, 1.0):  # all tasks equal: uniform
        criterion.update_metrics({"a": value, "b": value})
        _check_weights(criterion.task_weights(), {"a": 1.0, "b": 1.0})


def test_metric_momentum_smooths_updates():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "inverse_accuracy", metric_momentum=0.75)
    criterion.update_metrics({"a": 0.8, "b": 0.4})
    criterion.update_metrics({"a": 0.4, "b": 0.4})
    # a: 0.75 * 0.8 + 0.25 * 0.4 = 0.7 ; b: 0.4 -> raw 1/0.7, 1/0.4
    ra, rb = 1 / 0.7, 1 / 0.4
    _check_weights(criterion.task_weights(), {"a": 2 * ra / (ra + rb), "b": 2 * rb / (ra + rb)})


def test_caps_and_floors_redistribute_and_keep_the_sum():
    criterion = MultiTaskLoss(_constant_tasks("abcd"), "inverse_accuracy", max_weight=2.0)
    criterion.update_metrics({"a": 0.01, "b": 1.0, "c": 1.0, "d": 1.0})  # raw 100, 1, 1, 1
    _check_weights(criterion.task_weights(), {"a": 2.0, "b": 2 / 3, "c": 2 / 3, "d": 2 / 3})
    criterion = MultiTaskLoss(
        _constant_tasks("abcd"), "inverse_accuracy", max_weight=None, min_weight=0.5
    )
    criterion.update_metrics({"a": 0.01, "b": 1.0, "c": 1.0, "d": 1.0})
    _check_weights(criterion.task_weights(), {"a": 2.5, "b": 0.5, "c": 0.5, "d": 0.5})
    # default cap 10 binds with many tasks
    criterion = MultiTaskLoss(_constant_tasks("abcdefghijkl"), "inverse_accuracy")
    criterion.update_metrics(dict.fromkeys("abcdefghijk", 1.0) | {"l": 0.0})
    weights = criterion.task_weights()
    assert weights["l"] == pytest.approx(10.0)
    assert sum(weights.values()) == pytest.approx(12.0)


@given(
    raw=st.lists(
        st.floats(1e-8, 1e8, allow_nan=False, allow_infinity=False), min_size=1, max_size=8
    ),
    low=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    high=st.sampled_from([None, 1.0, 1.5, 3.0, 10.0]),
)
def test_projected_weights_properties(raw, low, high):
    weights = _project_weights(raw, low, high)
    k = len(raw)
    assert sum(weights) == pytest.approx(k, rel=1e-9)
    top = math.inf if high is None else high
    assert all(low - 1e-9 <= w <= top + 1e-9 for w in weights)
    for i in range(k):  # order is preserved
        for j in range(k):
            if raw[i] > raw[j]:
                assert weights[i] >= weights[j] - 1e-9
    free = [i for i, w in enumerate(weights) if low + 1e-6 < w < top - 1e-6]
    for i in free:  # weights strictly inside the bounds keep the raw proportions
        for j in free:
            assert weights[i] * raw[j] == pytest.approx(weights[j] * raw[i], rel=1e-6)


def test_project_weights_degenerate_input_is_uniform():
    assert _project_weights([0.0, 0.0], 0.0, None) == [1.0, 1.0]
    assert _project_weights([math.nan, 1.0], 0.0, None) == [1.0, 1.0]
    assert _project_weights([math.inf, 1.0], 0.0, 10.0) == [1.0, 1.0]


# ----------------------------------------------------------------------------- state, errors


def test_state_dict_round_trip_restores_history_and_metrics():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "dwa")
    criterion(*_outputs({"a": 1.0, "b": 2.0}))
    criterion.step_epoch()
    criterion(*_outputs({"a": 0.5, "b": 2.0}))
    criterion.step_epoch()
    criterion(*_outputs({"a": 9.0, "b": 9.0}))  # an unfinished epoch is saved too
    restored = MultiTaskLoss(_constant_tasks("ab"), "dwa")
    restored.load_state_dict(criterion.state_dict())
    assert restored.task_weights() == criterion.task_weights() != {"a": 1.0, "b": 1.0}
    assert restored.step_epoch() == {"a": 9.0, "b": 9.0}


def test_missing_task_keys_name_the_key():
    criterion = MultiTaskLoss(_constant_tasks(["action", "severity"]))
    outputs, targets = _outputs({"action": 1.0, "severity": 2.0})
    with pytest.raises(KeyError, match="outputs must have an entry for every task, missing 'sev"):
        criterion({"action": outputs["action"]}, targets)
    with pytest.raises(KeyError, match="targets must have an entry for every task, missing 'act"):
        criterion(outputs, {"severity": None})


def test_non_scalar_task_loss_is_refused():
    criterion = MultiTaskLoss({"a": ("mse", {"reduction": "none"})})
    with pytest.raises(
        ValueError, match=r"the loss of task 'a' must be a scalar tensor, got shape"
    ):
        criterion({"a": torch.randn(3)}, {"a": torch.randn(3)})
    criterion = MultiTaskLoss({"a": lambda out, tgt: 1.0})
    with pytest.raises(ValueError, match="the loss of task 'a' must be a scalar tensor, got 1.0"):
        criterion({"a": 0}, {"a": 0})


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (({},), {}, ValueError, "tasks must be a non-empty mapping"),
        (({"": "mse"},), {}, ValueError, "tasks must be keyed by non-empty task-name strings"),
        (({"a": "mse"}, "softmax"), {}, ValueError, "weighting must be one of 'uniform'"),
        (({"a": "no_such_loss"},), {}, ValueError, "name must be one of"),
        (({"a": 3},), {}, TypeError, r"tasks\['a'\] must be a loss callable"),
        (({"a": ("mse",)},), {}, ValueError, r"tasks\['a'\] must be a \(name, kwargs\) pair"),
        (({"a": {"gamma": 2}},), {}, ValueError, r"tasks\['a'\] must be a mapping with a 'name'"),
        (({"a": "mse"},), {"max_weight": 0.5}, ValueError, r"max_weight must be in \[1.0, inf\]"),
        (({"a": "mse"},), {"min_weight": 1.5}, ValueError, r"min_weight must be in \[0.0, 1.0\]"),
        (({"a": "mse"},), {"dwa_temperature": 0}, ValueError, "dwa_temperature must be"),
        (({"a": "mse"},), {"gamma": -1.0}, ValueError, "gamma must be a finite number >= 0"),
        (({"a": "mse"},), {"metric_momentum": 1.0}, ValueError, "metric_momentum must be in"),
        (({"a": "mse"},), {"eps": 0.0}, ValueError, r"eps must be in \(0.0, 0.5\)"),
        (({"a": "mse"},), {"uncertainty_form": "x"}, ValueError, "uncertainty_form must be"),
    ],
)
def test_constructor_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MultiTaskLoss(*args, **kwargs)


def test_update_and_step_errors():
    criterion = MultiTaskLoss(_constant_tasks("ab"), "difficulty")
    with pytest.raises(KeyError, match="metrics must contain every task .*missing 'b'"):
        criterion.update_metrics({"a": 0.5})
    with pytest.raises(KeyError, match="metrics must only contain tasks .*unknown 'z'"):
        criterion.update_metrics({"a": 0.5, "b": 0.5, "z": 0.1})
    with pytest.raises(ValueError, match=r"metrics\['a'\] must be in \[0.0, 1.0\], got 1.5"):
        criterion.update_metrics({"a": 1.5, "b": 0.5})
    with pytest.raises(ValueError, match=r"metrics\['b'\] must be in"):
        criterion.update_metrics({"a": 0.5, "b": math.nan})
    with pytest.raises(ValueError, match="metrics must be a mapping"):
        criterion.update_metrics([0.5, 0.5])
    with pytest.raises(RuntimeError, match="no forward in training mode"):
        criterion.step_epoch()
    with pytest.raises(ValueError, match="epoch loss of task 'b' must be finite"):
        criterion.step_epoch({"a": 1.0, "b": math.inf})
    with pytest.raises(KeyError, match="losses must contain every task"):
        criterion.step_epoch({"a": 1.0})


# ------------------------------------------------------------------- options per weighting

# Which weightings read each option, written out independently of the module's table.
_READERS = {
    "max_weight": {"uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty"},
    "min_weight": {"uncertainty", "dwa", "inverse_accuracy", "inverse_f1", "difficulty"},
    "dwa_temperature": {"dwa"},
    "gamma": {"difficulty"},
    "metric_momentum": {"inverse_accuracy", "inverse_f1", "difficulty"},
    "uncertainty_form": {"uncertainty"},
    "init_log_var": {"uncertainty"},
    "eps": {"dwa", "inverse_accuracy", "inverse_f1", "difficulty"},
    "class_counts": {"difficulty"},
}
_DEFAULTS = {
    "max_weight": 10.0,
    "min_weight": 0.0,
    "dwa_temperature": 2.0,
    "gamma": 2.0,
    "metric_momentum": 0.0,
    "uncertainty_form": "simple",
    "init_log_var": 0.0,
    "eps": 1e-6,
    "class_counts": None,
}
# A value for each option that changes the result of _drive() for every weighting reading it.
_OTHER = {
    "max_weight": 1.5,
    "min_weight": 0.5,
    "dwa_temperature": 1.0,
    "gamma": 1.0,
    "metric_momentum": 0.5,
    "uncertainty_form": "gaussian",
    "init_log_var": 0.5,
    "eps": 0.05,
    "class_counts": {"a": [1, 99], "b": [50, 50], "c": [30, 30, 40]},
}
_PAIRS = [(w, o) for w in WEIGHTINGS for o in _READERS]


def _drive(criterion: MultiTaskLoss) -> tuple[dict[str, float], float]:
    """Feed a fixed history to the criterion; return its weights and the weighted total."""
    if criterion.weighting == "uncertainty":
        with torch.no_grad():  # weights c e^{-s}: 20c, c, 0.05c before the bounds
            criterion.log_vars.add_(torch.tensor([-3.0, 0.0, 3.0]))
    criterion.step_epoch({"a": 0.0, "b": 1.0, "c": 1.0})
    criterion.step_epoch({"a": 1e-5, "b": 2.0, "c": 0.5})  # DWA: r_a = 1e-5 / max(0, eps)
    criterion.update_metrics({"a": 0.95, "b": 0.5, "c": 0.02})
    criterion.update_metrics({"a": 0.9, "b": 0.6, "c": 0.01})
    total, _ = criterion(*_outputs({"a": 1.0, "b": 2.0, "c": 3.0}))
    return criterion.task_weights(), total.item()


def test_option_table_is_complete():
    import inspect

    params = inspect.signature(MultiTaskLoss.__init__).parameters
    options = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert options == set(_READERS)
    assert {n: params[n].default for n in options} == _DEFAULTS


@pytest.mark.parametrize(("weighting", "option"), _PAIRS)
def test_option_not_read_by_the_weighting_is_refused(weighting, option):
    tasks = _constant_tasks("abc")
    MultiTaskLoss(tasks, weighting, **{option: _DEFAULTS[option]})  # the default is accepted
    if weighting in _READERS[option]:
        baseline = _drive(MultiTaskLoss(tasks, weighting))
        changed = _drive(MultiTaskLoss(tasks, weighting, **{option: _OTHER[option]}))
        assert changed != baseline  # the option is read: it changes the weights or the total
        return
    readers = [repr(w) for w in WEIGHTINGS if w in _READERS[option]]
    verb = "reads" if len(readers) == 1 else "read"
    message = (
        f"{option} must be left at its default {_DEFAULTS[option]!r} with "
        f"weighting={weighting!r} (only {', '.join(readers)} {verb} it), "
        f"got {_OTHER[option]!r}"
    )
    with pytest.raises(ValueError) as info:
        MultiTaskLoss(tasks, weighting, **{option: _OTHER[option]})
    assert str(info.value) == message


def test_uniform_refuses_removing_the_cap():
    with pytest.raises(
        ValueError,
        match=r"max_weight must be left at its default 10.0 with "
        r"weighting='uniform' .*got None",
    ):
        MultiTaskLoss(_constant_tasks("ab"), max_weight=None)


def test_short_loss_names_ce_and_bce_as_multi_task_scripts_spell_them():
    """``--loss-types action_class ce severity focal offence bce``: the registry's short names."""
    spec = "action_class ce severity focal offence bce".split()
    criterion = MultiTaskLoss(dict(zip(spec[::2], spec[1::2])))
    outputs = {
        "action_class": torch.randn(8, 5),
        "severity": torch.randn(8, 3),
        "offence": torch.randn(8, 2),
    }
    targets = {
        "action_class": torch.randint(0, 5, (8,)),
        "severity": torch.randint(0, 3, (8,)),
        "offence": torch.randint(0, 2, (8, 2)).float(),
    }
    _, per_task = criterion(outputs, targets)
    torch.testing.assert_close(
        per_task["action_class"], F.cross_entropy(outputs["action_class"], targets["action_class"])
    )
    torch.testing.assert_close(
        per_task["offence"],
        F.binary_cross_entropy_with_logits(outputs["offence"], targets["offence"]),
    )
    torch.testing.assert_close(
        per_task["severity"], softmax_focal_loss(outputs["severity"], targets["severity"])
    )
    for name, module in (("CE", torch.nn.CrossEntropyLoss), ("bce", torch.nn.BCEWithLogitsLoss)):
        assert type(get_loss(name)) is module
        assert name.lower() in available_losses()


def test_register_loss_refuses_an_empty_name():
    with pytest.raises(ValueError, match="name must be a non-empty string, got ''"):
        register_loss("", torch.nn.L1Loss)
    with pytest.raises(TypeError, match="name must be a str"):
        register_loss(3, torch.nn.L1Loss)


# ----------------------------------------------------------------- difficulty with class counts


def _imbalance(counts):
    from scipy.stats import entropy

    counts = np.asarray(counts, dtype=float)
    return 1.0 - entropy(counts / counts.sum()) / np.log(len(counts))


def _normalised(raw):
    raw = np.asarray(raw, dtype=float)
    return raw * len(raw) / raw.sum()


def test_difficulty_class_counts_alone_before_any_metric():
    counts = {"a": [50, 50], "b": [95, 5], "c": [80, 15, 5]}
    criterion = MultiTaskLoss(
        {t: "mse" for t in counts}, weighting="difficulty", class_counts=counts, max_weight=None
    )
    expected = _normalised([1 + _imbalance(c) for c in counts.values()])
    got = list(criterion.task_weights().values())
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[0] < got[2] < got[1]  # balanced < three skewed classes < 95:5


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_difficulty_combines_class_counts_and_performance(gamma):
    counts = {"a": [10, 990], "b": [400, 600]}
    metrics = {"a": 0.8, "b": 0.4}
    criterion = MultiTaskLoss(
        {"a": "mse", "b": "mse"},
        weighting="difficulty",
        class_counts=counts,
        gamma=gamma,
        max_weight=None,
    )
    criterion.update_metrics(metrics)
    raw = [
        -((1 - metrics[t]) ** gamma) * np.log(metrics[t]) * (1 + _imbalance(counts[t]))
        for t in ("a", "b")
    ]
    assert list(criterion.task_weights().values()) == pytest.approx(_normalised(raw), rel=1e-9)


def test_difficulty_with_balanced_counts_equals_plain_difficulty():
    plain = MultiTaskLoss({"a": "mse", "b": "mse"}, weighting="difficulty")
    counted = MultiTaskLoss(
        {"a": "mse", "b": "mse"},
        weighting="difficulty",
        class_counts={"a": [3, 3], "b": torch.tensor([7.0, 7.0, 7.0])},
    )
    for m in ({"a": 0.3, "b": 0.9}, {"a": 0.6, "b": 0.2}):
        plain.update_metrics(m)
        counted.update_metrics(m)
        assert counted.task_weights() == pytest.approx(plain.task_weights())


def test_difficulty_class_counts_survive_state_dict_round_trip():
    counts = {"a": [10, 90], "b": [50, 50]}
    first = MultiTaskLoss({"a": "mse", "b": "mse"}, weighting="difficulty", class_counts=counts)
    first.update_metrics({"a": 0.5, "b": 0.7})
    second = MultiTaskLoss({"a": "mse", "b": "mse"}, weighting="difficulty", class_counts=counts)
    second.load_state_dict(first.state_dict())
    assert second.task_weights() == pytest.approx(first.task_weights())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weighting": "inverse_f1", "class_counts": {"a": [1, 2], "b": [1, 2]}}, "class_counts"),
        ({"weighting": "difficulty", "class_counts": [[1, 2], [1, 2]]}, "mapping"),
        ({"weighting": "difficulty", "class_counts": {"a": [1, 2]}}, "missing \\['b'\\]"),
        ({"weighting": "difficulty", "class_counts": {"a": [1, 2], "b": [3]}}, "at least two"),
        ({"weighting": "difficulty", "class_counts": {"a": [1, -2], "b": [3, 1]}}, ">= 0"),
        ({"weighting": "difficulty", "class_counts": {"a": [0, 0], "b": [3, 1]}}, "positive"),
        ({"weighting": "difficulty", "class_counts": {"a": [1, 2], "b": [1, 2], "z": [1, 1]}}, "z"),
        (
            {"weighting": "difficulty", "class_counts": {"a": [1, float("nan")], "b": [1, 2]}},
            ">= 0",
        ),
    ],
)
def test_difficulty_class_count_options_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiTaskLoss({"a": "mse", "b": "mse"}, **kwargs)
