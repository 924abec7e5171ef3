"""Bad-input battery of the core's non-loss modules: weights, sampling, augment, calibration and
metrics.

Every public function and class gets the standard malformed variants of each tensor
argument (wrong type, dtype and shape, empty, NaN, +-inf, out-of-range and huge labels,
the meta device; see :func:`imbalance_kit.testing.bad_input.mutations`) and bad values
of each option. Each call must raise a ``ValueError`` or ``TypeError`` whose message
names the argument: never return a number, crash with another exception or hang. A
meta-device argument must say "device".

Run ``python tests/test_bad_input.py`` for the counts (tried / clear / unclear /
wrong / crash / hang).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import imbalance_kit.augment as A
import imbalance_kit.calibration as C
import imbalance_kit.metrics as M
import imbalance_kit.sampling as S
import imbalance_kit.weights as W
from imbalance_kit.testing.bad_input import BadCall, assert_clear, battery, tally

# ------------------------------------------------------------------------ good data
LABELS = torch.tensor([0, 0, 0, 1, 1, 2])
COUNTS = torch.tensor([3.0, 2.0, 1.0])
MULTI = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
PROBS = torch.softmax(torch.arange(18.0).reshape(6, 3).sin() * 2, dim=1)
SCORES = torch.tensor([0.1, 0.8, 0.3, 0.7, 0.2, 0.6])
BINARY = torch.tensor([0, 1, 0, 1, 0, 1])
LOGITS = torch.arange(18.0).reshape(6, 3).cos() * 3
X = (
    torch.tensor([[float(i % 5), float(i // 5)] for i in range(12)])
    + 0.1 * torch.arange(24.0).reshape(12, 2).sin()
)
Y = torch.tensor([0] * 8 + [1] * 4)
Y_MULTI = torch.zeros(12, 2)
Y_MULTI[:, 0] = 1
Y_MULTI[:4, 1] = 1

LABEL_KINDS_SKIPPED_FOR_AUGMENT = ("y/negative", "y/huge")  # class names, any integers


def _call(fn: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    return lambda **kw: fn(**fixed, **kw)


def _options(prefix: str, make: Callable[..., Any], good: dict, bad: dict) -> list[BadCall]:
    """One call per bad option value: ``bad = {option: [values]}``."""
    cases = []
    for name, values in bad.items():
        for i, value in enumerate(values):
            arguments = {**good, name: value}
            cases.append(
                BadCall(f"{prefix}/{name}={value!r}#{i}", lambda a=arguments: make(**a), (name,))
            )
    return cases


def _case(cid: str, call: Callable[[], Any], *names: str) -> BadCall:
    return BadCall(cid, call, names)


# --------------------------------------------------------------------------- weights
def weight_cases() -> list[BadCall]:
    cases: list[BadCall] = []
    labels = {"labels": "labels"}
    for name, fn in [
        ("class_counts", W.class_counts),
        ("balanced_weights", W.balanced_weights),
        ("describe_distribution", W.describe_distribution),
    ]:
        cases += battery(name, fn, {"labels": LABELS}, labels)
        cases += _options(name, fn, {"labels": LABELS}, {"num_classes": [0, -1, 2.5, "3", 2]})
    cases += battery("plot_distribution", W.plot_distribution, {"labels": LABELS}, labels)
    cases += [
        _case("class_counts/empty-no-num_classes", lambda: W.class_counts([]), "labels"),
        _case(
            "describe_distribution/class_names length",
            lambda: W.describe_distribution(LABELS, ["a", "b"]),
            "class_names",
        ),
        _case(
            "describe_distribution/beta",
            lambda: W.describe_distribution(LABELS, beta=1.0),
            "beta",
        ),
    ]
    for name, fn in [
        ("inverse_frequency_weights", W.inverse_frequency_weights),
        ("effective_number_weights", W.effective_number_weights),
    ]:
        cases += battery(name, fn, {"counts": COUNTS}, {"counts": "counts"})
    cases += _options(
        "inverse_frequency_weights",
        W.inverse_frequency_weights,
        {"counts": COUNTS},
        {"power": [-1.0, math.nan, "1"]},
    )
    cases += _options(
        "effective_number_weights",
        W.effective_number_weights,
        {"counts": COUNTS},
        {"beta": [1.0, -0.1, math.nan, "0.9"]},
    )
    cases += battery(
        "positive_weights",
        W.positive_weights,
        {"multilabel_targets": MULTI},
        {"multilabel_targets": "binary"},
        skip=("multilabel_targets/float",),  # soft targets in [0, 1]: documented
    )
    cases += _options(
        "positive_weights",
        W.positive_weights,
        {"multilabel_targets": MULTI},
        {
            "max_weight": [0.0, -1.0, math.nan],
            "class_names": [["a"], "ab", ["a", "a"]],
            "overrides": [{5: 1.0}, {0: -1.0}, {0: math.nan}, {"z": 1.0}, [1.0]],
        },
    )
    cases += battery(
        "compute_class_weights", W.compute_class_weights, {"labels_or_counts": LABELS},
        {"labels_or_counts": "labels"},
    )  # fmt: skip
    cases += battery(
        "compute_class_weights(from_counts)",
        _call(W.compute_class_weights, from_counts=True),
        {"labels_or_counts": COUNTS},
        {"labels_or_counts": "counts"},
    )
    cases += _options(
        "compute_class_weights",
        W.compute_class_weights,
        {"labels_or_counts": LABELS},
        {
            "method": ["bogus", None],
            "beta": [1.0, math.nan],
            "max_weight": [0.0, math.inf],
            "class_names": [["a", "b"], "abc", ["a", "a", "b"]],
            "overrides": [{7: 1.0}, {0: -2.0}, {"nope": 1.0}],
            "num_classes": [0, 2, "3"],
            "from_counts": ["yes"],
        },
    )
    cases += [
        _case(
            "warn_if_double_correction/loss_weight=str",
            lambda: W.warn_if_double_correction(
                S.ClassBalancedSampler(LABELS), loss_weight="heavy"
            ),
            "loss_weight",
        ),
        _case(
            "warn_if_double_correction/loss_weight=meta",
            lambda: W.warn_if_double_correction(
                S.ClassBalancedSampler(LABELS), loss_weight=COUNTS.to("meta")
            ),
            "loss_weight",
        ),
        _case(
            "warn_if_double_correction/pos_weight=meta",
            lambda: W.warn_if_double_correction(
                S.ClassBalancedSampler(LABELS), pos_weight=COUNTS.to("meta")
            ),
            "pos_weight",
        ),
    ]
    return cases


# -------------------------------------------------------------------------- sampling
def sampling_cases() -> list[BadCall]:
    cases: list[BadCall] = []
    shard_options = {
        "seed": [-1, 1.5, "0"],
        "num_replicas": [0, -2],
        "rank": [2, -1, 0.5],
    }
    cases += battery(
        "ClassBalancedSampler", S.ClassBalancedSampler, {"labels": LABELS}, {"labels": "labels"}
    )
    cases += _options(
        "ClassBalancedSampler",
        S.ClassBalancedSampler,
        {"labels": LABELS, "num_replicas": 2},
        {"num_samples": [0, -3, 2.5, "6"], "power": [-1.0, math.nan, "0"], **shard_options},
    )
    cases.append(
        _case(
            "ClassBalancedSampler/num_samples>N without replacement",
            lambda: S.ClassBalancedSampler(LABELS, num_samples=7, replacement=False),
            "num_samples",
        )
    )
    cases += battery(
        "WeightedSampler",
        _call(S.WeightedSampler, num_samples=4),
        {"weights": COUNTS},
        {"weights": "counts"},
    )
    cases += _options(
        "WeightedSampler",
        S.WeightedSampler,
        {"weights": COUNTS, "num_samples": 4},
        {"num_samples": [0, -1, 2.5, None]},
    )
    cases += [
        _case(
            "WeightedSampler/all zero",
            lambda: S.WeightedSampler(torch.zeros(3), num_samples=2),
            "weights",
        ),
        _case(
            "WeightedSampler/num_samples>nonzero without replacement",
            lambda: S.WeightedSampler(torch.tensor([1.0, 0.0]), 2, replacement=False),
            "num_samples",
        ),
    ]
    pk = {"classes_per_batch": 2, "samples_per_class": 2}
    cases += battery(
        "BalancedBatchSampler",
        _call(S.BalancedBatchSampler, **pk),
        {"labels": LABELS},
        {"labels": "labels"},
    )
    cases += _options(
        "BalancedBatchSampler",
        S.BalancedBatchSampler,
        {"labels": LABELS, **pk},
        {
            "classes_per_batch": [0, 4, 1.5],
            "samples_per_class": [0, -1, "2"],
            "num_batches": [0, -1, 2.5],
            **shard_options,
        },
    )
    cases += battery(
        "MultiLabelBalancedSampler",
        S.MultiLabelBalancedSampler,
        {"targets": MULTI},
        {"targets": "binary"},
        skip=("targets/float",),  # soft targets in [0, 1]: documented
    )
    cases += _options(
        "MultiLabelBalancedSampler",
        S.MultiLabelBalancedSampler,
        {"targets": MULTI},
        {"num_samples": [0, 1.5], "power": [-0.5, math.inf]},
    )
    cases += [
        _case(
            "MultiLabelBalancedSampler/targets 1-D",
            lambda: S.MultiLabelBalancedSampler(BINARY),
            "targets",
        ),
        _case("set_epoch(-1)", lambda: S.ClassBalancedSampler(LABELS).set_epoch(-1), "epoch"),
    ]
    return cases


# --------------------------------------------------------------------------- augment
FUNCTIONAL = [
    ("smote", A.smote, {"k_neighbors": 2}),
    ("borderline_smote", A.borderline_smote, {"k_neighbors": 2, "m_neighbors": 3}),
    ("adasyn", A.adasyn, {"n_neighbors": 2}),
    ("noise_oversample", A.noise_oversample, {}),
    ("random_oversample", A.random_oversample, {}),
]


def augment_cases() -> list[BadCall]:
    cases: list[BadCall] = []
    for name, fn, options in FUNCTIONAL:
        make = _call(fn, **options)
        cases += battery(
            name,
            make,
            {"X": X, "y": Y},
            {"X": "features", "y": "labels"},
            skip=LABEL_KINDS_SKIPPED_FOR_AUGMENT,
        )
        cases += _options(
            name,
            make,
            {"X": X, "y": Y},
            {"sampling_strategy": ["bogus", 2.0, {5: 10}, {1: 2}], "generator": ["seed"]},
        )
        cases.append(_case(f"{name}/y wrong length", lambda f=make: f(X=X, y=Y[:-1]), "y"))
        cases.append(_case(f"{name}/one class", lambda f=make: f(X=X, y=Y * 0), "y"))
    mls = _call(A.mlsmote, k_neighbors=2)
    cases += battery("mlsmote", mls, {"X": X, "y": Y_MULTI}, {"X": "features", "y": "binary"})
    cases += _options(
        "mlsmote", mls, {"X": X, "y": Y_MULTI}, {"sampling_strategy": ["bogus", {9: 3}]}
    )
    cases += _options("smote", A.smote, {"X": X, "y": Y}, {"k_neighbors": [0, 4, "2", 2.5]})
    cases += _options("smote", A.smote, {"X": X, "y": Y, "k_neighbors": 2}, {"chunk_size": [0]})
    cases += _options(
        "borderline_smote",
        A.borderline_smote,
        {"X": X, "y": Y, "k_neighbors": 2},
        {"m_neighbors": [0, 12], "kind": ["borderline-3"]},
    )
    cases += _options("adasyn", A.adasyn, {"X": X, "y": Y}, {"n_neighbors": [0, 5]})
    cases += _options(
        "noise_oversample",
        A.noise_oversample,
        {"X": X, "y": Y},
        {"noise_std": [-1.0, math.nan], "return_indices": ["yes"]},
    )
    cases += _options(
        "random_oversample", A.random_oversample, {"X": X, "y": Y}, {"return_indices": [1]}
    )
    X_np, y_np = X.numpy().astype(np.float64), Y.numpy()
    estimators = [
        ("SMOTE", A.SMOTE, {"k_neighbors": 2}),
        ("BorderlineSMOTE", A.BorderlineSMOTE, {"k_neighbors": 2, "m_neighbors": 3}),
        ("ADASYN", A.ADASYN, {"n_neighbors": 2}),
        ("NoiseOversampler", A.NoiseOversampler, {}),
        ("MLSMOTE", A.MLSMOTE, {"k_neighbors": 2}),
    ]
    nan_X = X_np.copy()
    nan_X[0, 0] = np.nan
    inf_X = X_np.copy()
    inf_X[1, 1] = np.inf
    for name, cls, options in estimators:

        def fit(X_in=X_np, y_in=y_np, cls=cls, options=options, **params):
            return cls(**{**options, **params}).fit_resample(X_in, y_in)

        cases += [
            _case(f"{name}/X nan", lambda f=fit: f(X_in=nan_X), "X"),
            _case(f"{name}/X inf", lambda f=fit: f(X_in=inf_X), "X"),
            _case(f"{name}/X strings", lambda f=fit: f(X_in=X_np.astype(str)), "X"),
            _case(f"{name}/X 1-D", lambda f=fit: f(X_in=X_np[:, 0]), "X"),
            _case(f"{name}/X empty", lambda f=fit: f(X_in=X_np[:0], y_in=y_np[:0]), "X", "y"),
            _case(f"{name}/X meta", lambda f=fit: f(X_in=X.to("meta")), "X"),
            _case(f"{name}/y length", lambda f=fit: f(y_in=y_np[:-1]), "y"),
            _case(f"{name}/y continuous", lambda f=fit: f(y_in=y_np + 0.5), "y"),
            _case(f"{name}/y nan", lambda f=fit: f(y_in=np.where(y_np == 1, np.nan, 0.0)), "y"),
            _case(
                f"{name}/sampling_strategy",
                lambda f=fit: f(sampling_strategy="x"),
                "sampling_strategy",
            ),  # fmt: skip
            _case(f"{name}/random_state", lambda f=fit: f(random_state="seed"), "random_state"),
            _case(f"{name}/device", lambda f=fit: f(device="nodevice"), "device"),
        ]
    cases += [
        _case(
            "SMOTE/k_neighbors=0",
            lambda: A.SMOTE(k_neighbors=0).fit_resample(X_np, y_np),
            "k_neighbors",
        ),  # fmt: skip
        _case(
            "SMOTE/chunk_size=0",
            lambda: A.SMOTE(k_neighbors=2, chunk_size=0).fit_resample(X_np, y_np),
            "chunk_size",
        ),  # fmt: skip
        _case(
            "BorderlineSMOTE/kind",
            lambda: A.BorderlineSMOTE(k_neighbors=2, kind="x").fit_resample(X_np, y_np),
            "kind",
        ),  # fmt: skip
        _case(
            "NoiseOversampler/noise_std",
            lambda: A.NoiseOversampler(noise_std=-1.0).fit_resample(X_np, y_np),
            "noise_std",
        ),  # fmt: skip
    ]
    return cases


# ----------------------------------------------------------------------- calibration
def calibration_cases() -> list[BadCall]:
    cases: list[BadCall] = []
    curve_fns = [
        ("expected_calibration_error", C.expected_calibration_error),
        ("maximum_calibration_error", C.maximum_calibration_error),
        ("brier_score", C.brier_score),
        ("reliability_curve", C.reliability_curve),
        ("plot_reliability_diagram", C.plot_reliability_diagram),
    ]
    for name, fn in curve_fns:
        cases += battery(
            name, fn, {"probs": PROBS, "labels": LABELS}, {"probs": "probs", "labels": "labels"}
        )
        cases += battery(
            f"{name}(binary)",
            fn,
            {"probs": SCORES, "labels": BINARY},
            {"probs": "probs", "labels": "binary"},
        )
        cases.append(_case(f"{name}/length", lambda f=fn: f(PROBS, LABELS[:-1]), "labels", "probs"))
    for name, fn in curve_fns[:2] + curve_fns[3:4]:
        cases += _options(
            name, fn, {"probs": PROBS, "labels": LABELS}, {"n_bins": [0, -1, 2.5, "15"]}
        )
    cases += _options(
        "expected_calibration_error",
        C.expected_calibration_error,
        {"probs": PROBS, "labels": LABELS},
        {
            "norm": ["l3", None],
            "binning": ["log"],
            "mode": ["classes"],
            "debias": ["yes", True],
            "from_logits": ["yes"],
        },
    )
    # CalibrationMeter: options, then bad batches
    cases += _options(
        "CalibrationMeter",
        C.CalibrationMeter,
        {},
        {
            "n_bins": [0, 2.5],
            "norm": ["l0"],
            "mode": ["x"],
            "binning": ["log"],
            "debias": [1, True],
            "num_classes": [1, 0, 2.5],
        },
    )

    def meter_update(probs, labels, **options):
        meter = C.CalibrationMeter(**options)
        meter.update(probs, labels)
        return meter.compute()

    for mode in ("top_label", "classwise"):
        cases += battery(
            f"CalibrationMeter.update({mode})",
            _call(meter_update, mode=mode),
            {"probs": PROBS, "labels": LABELS},
            {"probs": "probs", "labels": "labels"},
            skip=("probs/empty", "labels/empty"),
        )

    def two_batches(first: int, second: int, **options):
        meter = C.CalibrationMeter(**options)
        for c in (first, second):
            meter.update(torch.full((4, c), 1.0 / c), torch.arange(4) % c)
        return meter.compute()

    def fixed_classes(c: int, mode: str):
        meter = C.CalibrationMeter(num_classes=4, mode=mode)
        meter.update(torch.full((4, c), 1.0 / c), torch.arange(4) % c)
        return meter.compute()

    for mode in ("top_label", "classwise"):
        cases += [
            _case(
                f"CalibrationMeter({mode})/4 then 3 classes",
                lambda m=mode: two_batches(4, 3, mode=m),
                "probs",
            ),  # fmt: skip
            _case(
                f"CalibrationMeter({mode})/num_classes=4, 3-class batch",
                lambda m=mode: fixed_classes(3, m),
                "probs",
                "num_classes",
            ),  # fmt: skip
        ]
    # TemperatureScaling
    cases += battery(
        "TemperatureScaling.fit",
        lambda logits, labels: C.TemperatureScaling().fit(logits, labels),
        {"logits": LOGITS, "labels": LABELS},
        {"logits": "scores", "labels": "labels"},
    )
    cases += _options(
        "TemperatureScaling",
        lambda **p: C.TemperatureScaling(**p).fit(LOGITS, LABELS),
        {},
        {
            "min_temperature": [0.0, -1.0, 2.0],
            "max_temperature": [0.5, math.inf],
            "max_iter": [0, 1.5],
            "tol": [0.0, math.nan],
        },
    )
    cases += [
        _case(
            "TemperatureScaling/transform before fit",
            lambda: C.TemperatureScaling().transform(LOGITS),
            "fit",
        ),
    ]
    return cases


# --------------------------------------------------------------------------- metrics
def metric_cases() -> list[BadCall]:
    cases: list[BadCall] = []
    pred = PROBS.argmax(1)
    for name, fn in [("per_class_recall", M.per_class_recall), ("tail_recall", M.tail_recall)]:
        cases += battery(
            name, fn, {"preds": pred, "target": LABELS}, {"preds": "labels", "target": "labels"}
        )
        cases += battery(
            f"{name}(scores)", fn, {"preds": PROBS, "target": LABELS}, {"preds": "probs"},
            skip=("preds/ndim+1", "preds/five"),
        )  # fmt: skip
        cases += _options(
            name, fn, {"preds": pred, "target": LABELS}, {"num_classes": [0, 2, "3", 1.5]}
        )
        cases.append(_case(f"{name}/length", lambda f=fn: f(pred[:-1], LABELS), "preds", "target"))
        cases.append(
            _case(f"{name}/swapped (target, scores)", lambda f=fn: f(LABELS, PROBS), "preds")
        )
    cases += battery(
        "tail_recall(class_counts)",
        M.tail_recall,
        {"preds": pred, "target": LABELS, "class_counts": COUNTS},
        {"class_counts": "counts"},
    )
    cases += _options(
        "tail_recall",
        M.tail_recall,
        {"preds": pred, "target": LABELS},
        {
            "tail_classes": [[], [5], [-1], [0.5], "0"],
            "tail_fraction": [0.0, 1.5, math.nan],
            "class_counts": [[3, math.nan, 1], [3, 2], [-1, 2, 3]],
        },
    )
    cases.append(
        _case(
            "tail_recall/tail_classes and class_counts",
            lambda: M.tail_recall(pred, LABELS, [1], class_counts=COUNTS),
            "class_counts",
            "tail_classes",
        )
    )
    cases += battery(
        "best_threshold",
        M.best_threshold,
        {"scores": SCORES, "target": BINARY},
        {"scores": "scores", "target": "binary"},
        skip=("scores/int",),  # integer scores (e.g. votes) are scores: documented
    )
    cases += _options(
        "best_threshold",
        M.best_threshold,
        {"scores": SCORES, "target": BINARY},
        {"target_recall": [0.0, 1.5, math.nan, "0.5"]},
    )
    cases += [
        _case("best_threshold/one class", lambda: M.best_threshold(SCORES, BINARY * 0), "target"),
        _case("best_threshold/swapped", lambda: M.best_threshold(BINARY, SCORES), "scores"),
    ]
    cases += battery(
        "probability_clustering", M.probability_clustering, {"probs": PROBS}, {"probs": "probs"}
    )
    cases += battery(
        "probability_clustering(1-D)",
        M.probability_clustering,
        {"probs": SCORES},
        {"probs": "probs"},
        skip=("probs/int",),  # integer scores are rounded values: documented
    )
    cases += _options(
        "probability_clustering",
        M.probability_clustering,
        {"probs": SCORES},
        {"min_repeats": [1, 2.5], "decimals": [-1, 1.5]},
    )
    cases.append(
        _case(
            "probability_clustering/all NaN",
            lambda: M.probability_clustering(torch.full((5,), math.nan)),
            "probs",
        )
    )
    for name, probs, target, kinds in [
        ("imbalance_report", PROBS, LABELS, ("probs", "labels")),
        ("imbalance_report(binary)", SCORES, BINARY, ("probs", "binary")),
    ]:
        cases += battery(
            name,
            M.imbalance_report,
            {"probs": probs, "target": target},
            {"probs": kinds[0], "target": kinds[1]},
        )
    cases += _options(
        "imbalance_report",
        M.imbalance_report,
        {"probs": SCORES, "target": BINARY},
        {"threshold": [1.5, -0.1, math.nan], "class_names": [["a"], ["a", "b", "c"]],
         "n_bins": [0]},
    )  # fmt: skip
    cases += [
        _case(
            "imbalance_report/threshold with (N, C)",
            lambda: M.imbalance_report(PROBS, LABELS, threshold=0.5),
            "threshold",
        ),  # fmt: skip
        _case(
            "imbalance_report/swapped", lambda: M.imbalance_report(LABELS, PROBS), "probs"
        ),  # fmt: skip
    ]
    cases += streaming_metric_cases(pred)
    return cases


def streaming_metric_cases(pred: torch.Tensor) -> list[BadCall]:
    """The torchmetrics forms: options and bad batches."""
    cases: list[BadCall] = []
    if not hasattr(M, "PerClassRecall"):
        return cases

    def update(cls, preds, target, **options):
        metric = cls(**options)
        metric.update(preds, target)
        return metric.compute()

    for name in ("PerClassRecall", "TailRecall", "ImbalanceReport"):
        cls = getattr(M, name)
        good = (
            {"preds": PROBS, "target": LABELS}
            if name == "ImbalanceReport"
            else {"preds": pred, "target": LABELS}
        )
        kinds = {"preds": "probs" if name == "ImbalanceReport" else "labels", "target": "labels"}
        report = name == "ImbalanceReport"
        cases += battery(
            f"{name}.update",
            _call(update, cls=cls, num_classes=3),
            good,
            kinds,
            skip=("preds/huge",) if report else (),
            names={"preds": ("probs",)} if report else None,  # update(probs, target)
        )
        cases += _options(name, cls, {}, {"num_classes": [0, 1, 2.5, "3", None]})
        cases.append(
            _case(
                f"{name}/4 classes into num_classes=3",
                lambda c=cls: update(
                    c, PROBS.new_full((2, 4), 0.25), torch.tensor([0, 3]), num_classes=3
                ),
                "preds",
                "target",
                "probs",
            ),  # fmt: skip
        )
    return cases


def all_cases() -> list[BadCall]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            weight_cases() + sampling_cases() + augment_cases() + calibration_cases()
            + metric_cases()
        )  # fmt: skip


CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_a_clear_error(case: BadCall):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detail = assert_clear(case, time_limit=60.0)
    if case.id.endswith("/meta") or " meta" in case.id:
        assert "device" in detail, detail


def test_the_battery_covers_every_public_name():
    covered = " ".join(case.id for case in CASES)
    for module in (W, S, A, C, M):
        for name in module.__all__:
            if name in (
                "DistributionSummary",  # a dict subclass made by describe_distribution
                "DoubleCorrectionWarning",  # a warning category
                "ProbabilityClustering",  # result tuples
                "ThresholdChoice",
            ):
                continue
            assert name in covered, f"{module.__name__}.{name} has no bad-input case"


if __name__ == "__main__":  # pragma: no cover - the counts for a report
    import sys

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = tally(CASES, time_limit=60.0, memory_headroom=3 * 2**30)
    print(report if "-v" in sys.argv else report.counts)
