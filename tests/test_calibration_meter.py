"""CalibrationMeter: streaming equals one-shot, constant memory, DDP sync over gloo."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imbalance_kit.calibration import (
    CalibrationMeter,
    expected_calibration_error,
    reliability_curve,
)
from imbalance_kit.testing import run_distributed
from imbalance_kit.testing.references.calibration import ece_reference

VARIANTS = [("l1", False), ("l2", False), ("l2", True), ("max", False)]


def _data(n: int, c: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = 2.5 * torch.randn(n, c, generator=g, dtype=torch.float64)
    labels = torch.distributions.Categorical(logits=0.5 * logits).sample()
    return torch.softmax(logits, dim=1).to(dtype), labels


def _stream(meter: CalibrationMeter, probs, labels, sizes) -> CalibrationMeter:
    start = 0
    for size in sizes:
        meter.update(probs[start : start + size], labels[start : start + size])
        start += size
    if start < len(labels):
        meter.update(probs[start:], labels[start:])
    return meter


@pytest.mark.parametrize("norm,debias", VARIANTS)
@pytest.mark.parametrize("mode", ["top_label", "classwise"])
@pytest.mark.parametrize("binary", [False, True])
def test_streaming_equals_one_shot(norm, debias, mode, binary):
    probs, labels = _data(1003, 4, seed=1)
    if binary:
        probs, labels = probs[:, 0], (labels == 0).long()
    meter = CalibrationMeter(12, norm=norm, mode=mode, debias=debias)
    _stream(meter, probs, labels, [1, 100, 2, 500, 7])
    want = expected_calibration_error(probs, labels, 12, norm=norm, mode=mode, debias=debias)
    assert meter.num_samples == 1003
    torch.testing.assert_close(meter.compute(), want, rtol=1e-12, atol=1e-12)
    # and both equal the numpy reference
    ref = ece_reference(probs.numpy(), labels.numpy(), 12, norm, "uniform", mode, debias)
    assert meter.compute().item() == pytest.approx(ref, abs=1e-12)


@settings(max_examples=20)
@given(
    n=st.integers(1, 200),
    cuts=st.lists(st.integers(1, 50), max_size=6),
    n_bins=st.integers(1, 30),
    seed=st.integers(0, 1000),
)
def test_streaming_any_split_float32(n, cuts, n_bins, seed):
    probs, labels = _data(n, 3, seed, dtype=torch.float32)
    meter = _stream(CalibrationMeter(n_bins), probs, labels, cuts)
    want = expected_calibration_error(probs, labels, n_bins)
    assert meter.compute().dtype == torch.float32
    torch.testing.assert_close(meter.compute(), want, rtol=1e-5, atol=1e-6)


def test_memory_is_constant_in_the_number_of_predictions():
    meter = CalibrationMeter(15, mode="classwise", num_classes=5)
    state = meter.state
    assert state.shape == (3, 5, 15) and state.dtype == torch.float64
    for seed in range(20):
        probs, labels = _data(500, 5, seed, dtype=torch.float32)
        meter.update(probs, labels)
    assert meter.state.shape == (3, 5, 15)
    assert meter.state.data_ptr() == state.data_ptr()  # updated in place, never grown
    assert meter.num_samples == 10_000
    assert int(meter.state[0].sum()) == 5 * 10_000  # every class probability counted once
    top = CalibrationMeter(15)
    top.update(*_data(100, 5, 0))
    assert top.state.shape == (3, 1, 15)


def test_reset_and_compute_without_data():
    meter = CalibrationMeter()
    with pytest.raises(ValueError, match="no predictions"):
        meter.compute()
    meter.update(*_data(50, 3, 0))
    assert meter.compute() > 0
    meter.reset()
    assert meter.num_samples == 0
    with pytest.raises(ValueError, match="no predictions"):
        meter.reliability_curve()


def test_reliability_curve_of_the_meter():
    probs, labels = _data(400, 3, seed=3)
    meter = _stream(CalibrationMeter(10), probs, labels, [64, 64, 64])
    for got, want in zip(meter.reliability_curve(), reliability_curve(probs, labels, 10)):
        torch.testing.assert_close(got, want, equal_nan=True)
    classwise = _stream(CalibrationMeter(10, mode="classwise"), probs, labels, [200])
    conf, acc, count = classwise.reliability_curve()
    assert conf.shape == acc.shape == count.shape == (3, 10)
    assert (count.sum(dim=1) == 400).all()


def test_from_logits_and_numpy_batches():
    probs, labels = _data(300, 4, seed=4)
    meter = CalibrationMeter(from_logits=True)
    meter.update(torch.log(probs[:150]), labels[:150])
    meter.update(torch.log(probs[150:]).numpy(), labels[150:].numpy())
    torch.testing.assert_close(meter.compute(), expected_calibration_error(probs, labels))


def test_validate_args_false_gives_the_same_result():
    probs, labels = _data(300, 4, seed=5)
    fast = _stream(CalibrationMeter(validate_args=False), probs, labels, [100, 100])
    torch.testing.assert_close(fast.compute(), expected_calibration_error(probs, labels))


def test_options_and_batch_errors():
    with pytest.raises(ValueError, match="binning must be 'uniform' for CalibrationMeter"):
        CalibrationMeter(binning="quantile")
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        CalibrationMeter(0)
    with pytest.raises(ValueError, match="debias"):
        CalibrationMeter(debias=True)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        CalibrationMeter(mode="classwise", num_classes=1)
    meter = CalibrationMeter()
    with pytest.raises(ValueError, match="from_logits=True"):
        meter.update(torch.randn(10, 3), torch.zeros(10, dtype=torch.long))
    meter.update(*_data(10, 3, 0))
    with pytest.raises(ValueError, match=r"probs must be \(N, C\) like the first batch"):
        meter.update(torch.rand(5), torch.zeros(5, dtype=torch.long))
    classwise = CalibrationMeter(mode="classwise", num_classes=3)
    with pytest.raises(ValueError, match="3 classes like the meter"):
        classwise.update(*_data(10, 4, 0))


def test_inputs_on_device(device):
    probs, labels = _data(256, 3, seed=6, dtype=torch.float32)
    meter = CalibrationMeter(mode="classwise")
    meter.update(probs[:100].to(device), labels[:100].to(device))
    meter.update(probs[100:].to(device), labels[100:].to(device))
    assert meter.state.device.type == device.type
    want = expected_calibration_error(probs, labels, mode="classwise")
    torch.testing.assert_close(meter.compute().cpu(), want)


def test_sync_without_process_group_is_a_no_op():
    probs, labels = _data(100, 3, seed=7)
    meter = _stream(CalibrationMeter(), probs, labels, [50])
    before = meter.compute()
    meter.sync()
    torch.testing.assert_close(meter.compute(), before)
    assert meter.num_samples == 100


# ------------------------------------------------------------------ distributed
DDP_CASES = [("top_label", "l1", False), ("classwise", "l2", True), ("top_label", "max", False)]


def _ddp_worker(rank, world_size, probs, labels):
    """Every distributed scenario in one spawn (starting processes is the slow part)."""
    shard = slice(rank, None, world_size)  # uneven shards: 1001 rows over 2 ranks
    out = {}
    for mode, norm, debias in DDP_CASES:
        meter = CalibrationMeter(10, mode=mode, norm=norm, debias=debias)
        meter.update(probs[shard][:200], labels[shard][:200])
        meter.update(probs[shard][200:], labels[shard][200:])
        local = meter.compute().item()
        meter.sync()
        synced = meter.compute().item()
        meter.sync()  # a second sync must not count anything twice
        again = meter.compute().item()
        n_synced = meter.num_samples
        meter.update(probs[shard][:1], labels[shard][:1])  # back to the local state first
        out[mode, norm, debias] = (local, synced, again, n_synced, meter.num_samples)
    # a classwise meter that saw nothing can sync when it knows its classes
    known = CalibrationMeter(10, mode="classwise", num_classes=probs.shape[1])
    if rank == 0:
        known.update(probs, labels)
    known.sync()
    out["known"] = (known.compute().item(), known.num_samples)
    # ... and explains itself when it does not
    unknown = CalibrationMeter(mode="classwise")
    try:
        unknown.sync()
        out["unknown"] = None
    except ValueError as exc:
        out["unknown"] = str(exc)
    return out  # plain Python values: tensors from an exiting process do not survive a queue


@pytest.mark.distributed
def test_sync_over_two_gloo_processes():
    probs, labels = _data(1001, 4, seed=8)
    results = run_distributed(_ddp_worker, world_size=2, args=(probs, labels))
    for rank, out in enumerate(results):
        shard = slice(rank, None, 2)
        for mode, norm, debias in DDP_CASES:
            kw = dict(mode=mode, norm=norm, debias=debias)
            want = expected_calibration_error(probs, labels, 10, **kw).item()
            local_want = expected_calibration_error(probs[shard], labels[shard], 10, **kw).item()
            local, synced, again, n_synced, n_after = out[mode, norm, debias]
            assert local == pytest.approx(local_want, abs=1e-12)
            if norm != "max":  # the shards really differ (a max may come from one shard)
                assert local != pytest.approx(want, abs=1e-6)
            assert synced == pytest.approx(want, abs=1e-12)
            assert again == pytest.approx(want, abs=1e-12)
            assert n_synced == 1001
            assert n_after == len(labels[shard]) + 1
        everything = expected_calibration_error(probs, labels, 10, mode="classwise").item()
        # rank 1 saw no batch, so its result has the default float32 precision
        assert out["known"][0] == pytest.approx(everything, abs=1e-6)
        assert out["known"][1] == 1001
        assert out["unknown"] is not None and "num_classes" in out["unknown"]
