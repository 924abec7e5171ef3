"""CalibrationMeter: a torchmetrics.Metric; streaming equals one-shot and torchmetrics, constant
memory, DDP sync over gloo, self.log in Lightning."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchmetrics
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_calibration_error,
)
from torchmetrics.utilities.data import dim_zero_sum

from imbalance_kit.calibration import (
    CalibrationMeter,
    expected_calibration_error,
    reliability_curve,
)
from imbalance_kit.metrics import tail_recall
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
@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_streaming_equals_one_shot(norm, debias, mode, binary, binning):
    probs, labels = _data(1003, 4, seed=1)
    if binary:
        probs, labels = probs[:, 0], (labels == 0).long()
    kw = dict(norm=norm, mode=mode, debias=debias, binning=binning)
    meter = CalibrationMeter(12, **kw)
    _stream(meter, probs, labels, [1, 100, 2, 500, 7])
    want = expected_calibration_error(probs, labels, 12, **kw)
    assert meter.num_samples == 1003
    torch.testing.assert_close(meter.compute(), want, rtol=1e-12, atol=1e-12)
    # and both equal the numpy reference
    ref = ece_reference(probs.numpy(), labels.numpy(), 12, norm, binning, mode, debias)
    assert meter.compute().item() == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_streaming_equals_torchmetrics(norm):
    probs, labels = _data(2000, 5, seed=11, dtype=torch.float32)
    meter = _stream(CalibrationMeter(10, norm=norm), probs, labels, [300, 700])
    want = multiclass_calibration_error(probs, labels, num_classes=5, n_bins=10, norm=norm)
    torch.testing.assert_close(meter.compute(), want, rtol=1e-4, atol=1e-5)
    binary = _stream(CalibrationMeter(10, norm=norm), probs[:, 0], labels == 0, [999])
    want = binary_calibration_error(probs[:, 0], (labels == 0).long(), n_bins=10, norm=norm)
    torch.testing.assert_close(binary.compute(), want, rtol=1e-4, atol=1e-5)


def test_is_a_torchmetrics_metric_with_summed_states():
    meter = CalibrationMeter(8, mode="classwise", num_classes=3)
    assert isinstance(meter, torchmetrics.Metric) and isinstance(meter, torch.nn.Module)
    assert meter._reductions["stats"] is dim_zero_sum and meter._reductions["count"] is dim_zero_sum
    probs, labels = _data(64, 3, seed=2)
    # forward gives the batch's value and accumulates, as torchmetrics metrics do
    first = meter(probs[:32], labels[:32])
    torch.testing.assert_close(
        first, expected_calibration_error(probs[:32], labels[:32], 8, mode="classwise")
    )
    meter(probs[32:], labels[32:])
    torch.testing.assert_close(
        meter.compute(), expected_calibration_error(probs, labels, 8, mode="classwise")
    )
    # state_dict (persistent=False by torchmetrics default) and .to() of a Metric
    assert meter.to(torch.float64).state.dtype == torch.float64
    clone = meter.clone()
    torch.testing.assert_close(clone.compute(), meter.compute())


def test_quantile_state_keeps_every_score():
    probs, labels = _data(300, 3, seed=12)
    meter = _stream(CalibrationMeter(7, binning="quantile", mode="classwise"), probs, labels, [100])
    assert meter.state is None
    assert sum(s.shape[0] for s in meter.scores) == 300 and meter.scores[0].shape[1] == 3


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
    with pytest.raises(ValueError, match="binning must be one of"):
        CalibrationMeter(binning="log")
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
    with pytest.raises(ValueError, match=r"probs must be \(N, 3\) like the first batch"):
        meter.update(torch.rand(5), torch.zeros(5, dtype=torch.long))
    classwise = CalibrationMeter(mode="classwise", num_classes=3)
    with pytest.raises(ValueError, match="3 classes like num_classes=3"):
        classwise.update(*_data(10, 4, 0))
    # top-label meters check the layout too (they used to mix 4- and 3-class batches)
    top = CalibrationMeter()
    top.update(*_data(10, 4, 0))
    with pytest.raises(ValueError, match=r"probs must be \(N, 4\) like the first batch"):
        top.update(*_data(10, 3, 0))
    with pytest.raises(ValueError, match="probs must be 4 classes like num_classes=4"):
        CalibrationMeter(num_classes=4).update(*_data(10, 3, 0))
    with pytest.raises(ValueError, match="labels must be whole-number class labels"):
        CalibrationMeter().update(torch.tensor([0.2, 0.7]), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="meta device"):
        CalibrationMeter().update(torch.rand(3, device="meta"), torch.zeros(3, dtype=torch.long))


def test_inputs_on_device(device):
    probs, labels = _data(256, 3, seed=6, dtype=torch.float32)
    meter = CalibrationMeter(mode="classwise")
    meter.update(probs[:100].to(device), labels[:100].to(device))
    meter.update(probs[100:].to(device), labels[100:].to(device))
    assert meter.state.device.type == device.type
    want = expected_calibration_error(probs, labels, mode="classwise")
    torch.testing.assert_close(meter.compute().cpu(), want)


def test_sync_is_deprecated_and_changes_nothing():
    probs, labels = _data(100, 3, seed=7)
    meter = _stream(CalibrationMeter(), probs, labels, [50])
    before = meter.compute()
    with pytest.warns(DeprecationWarning, match="compute\\(\\) sums the state of every rank"):
        meter.sync()
    torch.testing.assert_close(meter.compute(), before)
    assert meter.num_samples == 100


# ------------------------------------------------------------------ distributed
DDP_CASES = [
    ("top_label", "l1", False, "uniform"),
    ("classwise", "l2", True, "uniform"),
    ("top_label", "max", False, "uniform"),
    ("classwise", "l1", False, "quantile"),
]


def _ddp_worker(rank, world_size, probs, labels):
    """Every distributed scenario in one spawn (starting processes is the slow part)."""
    import warnings

    shard = slice(rank, None, world_size)  # uneven shards: 1001 rows over 2 ranks
    out = {}
    for mode, norm, debias, binning in DDP_CASES:
        meter = CalibrationMeter(10, mode=mode, norm=norm, debias=debias, binning=binning)
        meter.update(probs[shard][:200], labels[shard][:200])
        meter.update(probs[shard][200:], labels[shard][200:])
        synced = meter.compute().item()  # torchmetrics gathers every rank's state
        local_count = meter.num_samples  # the local state is kept for later updates
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            meter.sync()  # the old API: a no-op now
        meter.update(probs[shard][:1], labels[shard][:1])
        again = meter.compute().item()
        out[mode, norm, debias, binning] = (synced, local_count, again)
    # a classwise meter that saw nothing on one rank learns C from the other
    for name, classes in (("known", probs.shape[1]), ("inferred", None)):
        meter = CalibrationMeter(10, mode="classwise", num_classes=classes)
        if rank == 0:
            meter.update(probs, labels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # compute before update on rank 1
            out[name] = meter.compute().item()
    return out  # plain Python values: tensors from an exiting process do not survive a queue


@pytest.mark.distributed
def test_sync_over_two_gloo_processes():
    probs, labels = _data(1001, 4, seed=8)
    results = run_distributed(_ddp_worker, world_size=2, args=(probs, labels))
    for rank, out in enumerate(results):
        shard = slice(rank, None, 2)
        for mode, norm, debias, binning in DDP_CASES:
            kw = dict(mode=mode, norm=norm, debias=debias, binning=binning)
            want = expected_calibration_error(probs, labels, 10, **kw).item()
            synced, local_count, again = out[mode, norm, debias, binning]
            assert synced == pytest.approx(want, abs=1e-12)
            assert local_count == len(labels[shard])
            first = torch.cat([probs[0:1], probs[1:2]]), torch.cat([labels[0:1], labels[1:2]])
            more = expected_calibration_error(
                torch.cat([probs, first[0]]), torch.cat([labels, first[1]]), 10, **kw
            ).item()
            assert again == pytest.approx(more, abs=1e-12)  # each rank added one row
        everything = expected_calibration_error(probs, labels, 10, mode="classwise").item()
        # rank 1 saw no batch, so its result has the default float32 precision
        assert out["known"] == pytest.approx(everything, abs=1e-6)
        assert out["inferred"] == pytest.approx(everything, abs=1e-6)


# ------------------------------------------------------------------ Lightning
def test_self_log_in_a_lightning_module():
    lightning = pytest.importorskip("lightning")
    from imbalance_kit.metrics import TailRecall

    probs, labels = _data(300, 4, seed=13, dtype=torch.float32)
    logits = probs.log()

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))
            self.ece = CalibrationMeter(10, from_logits=True)
            self.tail = TailRecall(num_classes=4)

        def validation_step(self, batch, batch_idx):
            z, y = batch
            out = z * self.scale
            self.ece.update(out, y)
            self.tail.update(out, y)
            self.log("val_ece", self.ece, on_epoch=True)
            self.log("val_tail_recall", self.tail, on_epoch=True)

    data = torch.utils.data.TensorDataset(logits, labels)
    loader = torch.utils.data.DataLoader(data, batch_size=64)
    trainer = lightning.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (logged,) = trainer.validate(Module(), loader, verbose=False)
    assert logged["val_ece"] == pytest.approx(expected_calibration_error(probs, labels, 10).item())
    want_tail = tail_recall(probs, labels).item()
    assert logged["val_tail_recall"] == pytest.approx(want_tail)
