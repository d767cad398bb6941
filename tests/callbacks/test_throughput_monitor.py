"""ThroughputMonitor and Throughput: totals and rolling rates under Lightning's keys; measure_flops counts as torch."""

import warnings
from typing import Any

import pytest
import torch
from torch import nn

import shim
from shim.callbacks import ThroughputMonitor
from shim.demos.boring_classes import BoringModel
from shim.fabric.utilities.throughput import Throughput, get_available_flops, measure_flops
from tests.callbacks.test_device_stats_monitor import RecordingLogger


def test_measure_flops_of_a_linear_layer() -> None:
    batch, n_in, n_out = 4, 32, 8
    layer = nn.Linear(n_in, n_out)
    x = torch.randn(batch, n_in)
    forward = measure_flops(layer, lambda: layer(x))
    assert forward == 2 * n_in * n_out * batch
    with_backward = measure_flops(layer, lambda: layer(x), lambda y: y.sum())
    assert with_backward == 2 * forward  # the weight's gradient is one more matmul of the same size; x needs none
    assert isinstance(with_backward, int)


def test_measure_flops_on_the_meta_device() -> None:
    with torch.device("meta"):
        model = BoringModel()
        x = torch.randn(2, 32)
    assert measure_flops(model, lambda: model(x)) == 2 * 32 * 2 * 2
    assert shim.utilities.measure_flops is measure_flops


def test_throughput_rates_over_the_window() -> None:
    throughput = Throughput(available_flops=100, window_size=3, separator="|")
    for i in range(1, 4):
        throughput.update(time=2.0 * i, batches=i, samples=4 * i, lengths=12 * i, flops=50)
        if i < 3:
            assert throughput.compute() == {"time": 2.0 * i, "batches": i, "samples": 4 * i, "lengths": 12 * i}
    assert throughput.compute() == {
        "time": 6.0,
        "batches": 3,
        "samples": 12,
        "lengths": 36,
        "device|batches_per_sec": 0.5,
        "device|samples_per_sec": 2.0,
        "device|items_per_sec": 6.0,
        "device|flops_per_sec": 25.0,  # two intervals of 50 FLOPs in 4 seconds
        "device|mfu": 0.25,
    }


def test_throughput_with_several_devices_adds_the_global_rates() -> None:
    throughput = Throughput(world_size=2, window_size=2)
    throughput.update(time=1.0, batches=1, samples=2, flops=10)
    throughput.update(time=2.0, batches=2, samples=4, flops=10)
    metrics = throughput.compute()
    assert metrics["device/samples_per_sec"] == 2.0
    assert metrics["samples_per_sec"] == 4.0
    assert metrics["batches_per_sec"] == 2.0
    assert metrics["flops_per_sec"] == 20.0
    assert metrics["device/flops_per_sec"] == 10.0
    assert "device/mfu" not in metrics


def test_throughput_rejects_inconsistent_totals() -> None:
    throughput = Throughput(window_size=2)
    throughput.update(time=1.0, batches=1, samples=1)
    with pytest.raises(ValueError, match="grow"):
        throughput.update(time=1.0, batches=2, samples=2)
    with pytest.raises(ValueError, match="samples"):
        throughput.update(time=3.0, batches=3, samples=2)
    with pytest.raises(ValueError, match="window_size"):
        Throughput(window_size=1)
    throughput.reset()
    throughput.update(time=0.5, batches=1, samples=1)  # a reset window starts over
    assert throughput.compute()["time"] == 0.5


def test_no_peak_flops_on_the_cpu() -> None:
    assert get_available_flops(torch.device("cpu"), torch.float32) is None


def _fit(monitor: ThroughputMonitor, model: Any, logger: Any, **kwargs: Any) -> shim.Trainer:
    options: dict[str, Any] = {
        "max_epochs": 1,
        "limit_train_batches": 5,
        "limit_val_batches": 0,
        "log_every_n_steps": 1,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    trainer = shim.Trainer(logger=logger, callbacks=[monitor], **options)
    trainer.fit(model)
    return trainer


def test_training_throughput_logged_per_step() -> None:
    logger = RecordingLogger()
    model = BoringModel()
    model.flops_per_batch = 1000  # type: ignore[assignment]
    monitor = ThroughputMonitor(batch_size_fn=lambda batch: batch.shape[0], length_fn=lambda b: 3 * len(b),
                                window_size=3)  # fmt: skip
    trainer = _fit(monitor, model, logger)
    assert [step for step, _ in logger.calls] == [0, 1, 2, 3, 4]
    first, last = logger.calls[0][1], logger.calls[-1][1]
    assert set(first) == {"train/time", "train/batches", "train/samples", "train/lengths", "epoch"}
    assert set(last) == set(first) | {f"train/device/{k}_per_sec" for k in ("batches", "samples", "items", "flops")}
    assert (last["train/batches"], last["train/samples"], last["train/lengths"]) == (
        5,
        5,
        15,
    )  # BoringModel: batches of 1
    rate = last["train/device/batches_per_sec"]
    assert rate > 0
    assert last["train/device/samples_per_sec"] == pytest.approx(rate)
    assert last["train/device/items_per_sec"] == pytest.approx(3 * rate)
    assert last["train/device/flops_per_sec"] == pytest.approx(1000 * rate)
    times = [metrics["train/time"] for _, metrics in logger.calls]
    assert times == sorted(times)
    assert times[0] > 0
    assert trainer.logged_metrics["train/batches"] == 5


def test_accumulation_logs_after_each_optimizer_step_and_validation_has_its_own_keys() -> None:
    logger = RecordingLogger()
    monitor = ThroughputMonitor(batch_size_fn=lambda batch: 1, window_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(monitor, BoringModel(), logger, accumulate_grad_batches=2, limit_val_batches=2, num_sanity_val_steps=1)
    flops_warnings = [w for w in caught if "flops_per_batch" in str(w.message)]
    assert len(flops_warnings) == 1
    train = [(step, m["train/batches"]) for step, m in logger.calls if "train/batches" in m]
    assert train == [(0, 2), (1, 4), (2, 5)]  # after batches 2 and 4, and the epoch's last batch 5
    validate = [(step, m["validate/batches"]) for step, m in logger.calls if "validate/batches" in m]
    assert validate == [(1, 1), (2, 2)]  # counted from the loop's batches; the sanity check is not measured


@pytest.mark.filterwarnings("ignore:ThroughputMonitor logs no FLOPs")
@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_evaluation_entry_points_keep_counting_across_runs(fn: str) -> None:
    logger = RecordingLogger()
    monitor = ThroughputMonitor(batch_size_fn=lambda batch: 2, window_size=2)
    trainer = shim.Trainer(logger=logger, callbacks=[monitor], limit_val_batches=3, limit_test_batches=3,
                           limit_predict_batches=3, log_every_n_steps=1, enable_progress_bar=False,
                           enable_model_summary=False)  # fmt: skip
    run = getattr(trainer, fn)
    run(BoringModel())
    run(BoringModel())
    counted = [(step, m[f"{fn}/batches"], m[f"{fn}/samples"]) for step, m in logger.calls if f"{fn}/batches" in m]
    assert counted == [(i, i, 2 * i) for i in range(1, 7)]
    rates = [m for _, m in logger.calls if f"{fn}/device/batches_per_sec" in m]
    assert len(rates) == 4  # the window of 2 fills again after the second run's first batch


def test_peak_flops_of_known_and_unknown_gpus() -> None:
    from shim.fabric.utilities.throughput import _peak_flops

    assert _peak_flops("NVIDIA H100 80GB HBM3", torch.bfloat16, tf32=True) == int(9.894e14)
    assert _peak_flops("NVIDIA H100 PCIe", torch.float32, tf32=False) == int(5.12e13)
    assert _peak_flops("NVIDIA A100-SXM4-40GB", torch.float32, tf32=True) == int(1.56e14)
    assert _peak_flops("NVIDIA L40", torch.float16, tf32=True) == int(1.81e14)
    assert _peak_flops("NVIDIA L4", torch.float16, tf32=True) == int(1.21e14)
    with pytest.warns(UserWarning, match="not known"):
        assert _peak_flops("Tesla T4", torch.bfloat16, tf32=False) is None
    with pytest.warns(UserWarning, match="not known"):
        assert _peak_flops("Some Future GPU", torch.float32, tf32=True) is None
