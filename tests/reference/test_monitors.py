"""DeviceStatsMonitor and ThroughputMonitor send the same keys, at the same steps, as Lightning's; Throughput and
measure_flops compute the same numbers."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import shim
from shim.fabric.utilities.throughput import Throughput, measure_flops

pytest.importorskip("psutil")

# Wall-clock values differ between runs; everything else must match.
_TIMED = ("time", "_per_sec", "mfu", "cpu_percent", "cpu_vm_percent", "cpu_swap_percent")


def _recording_logger(pkg: ModuleType) -> Any:
    base = importlib.import_module(f"{pkg.__name__}.loggers").Logger

    class RecordingLogger(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[int | None, dict[str, Any]]] = []

        @property
        def name(self) -> str:
            return "recording"

        @property
        def version(self) -> int:
            return 0

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            shown = {k: "timed" if k.endswith(_TIMED) else v for k, v in metrics.items()}
            self.calls.append((step, shown))

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return RecordingLogger()


def _trainer(pkg: ModuleType, callback: Any, logger: Any, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "max_epochs": 2,
        "limit_train_batches": 5,
        "limit_val_batches": 2,
        "limit_test_batches": 3,
        "limit_predict_batches": 3,
        "num_sanity_val_steps": 2,
        "accelerator": "cpu",
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    return pkg.Trainer(logger=logger, callbacks=[callback], **options)


def _device_stats_run(pkg: ModuleType, log_every_n_steps: int, cpu_stats: bool | None) -> list[Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    monitor = importlib.import_module(f"{pkg.__name__}.callbacks").DeviceStatsMonitor(cpu_stats=cpu_stats)
    logger = _recording_logger(pkg)
    trainer = _trainer(pkg, monitor, logger, log_every_n_steps=log_every_n_steps, accumulate_grad_batches=2)
    trainer.fit(boring.BoringModel())
    trainer.test(boring.BoringModel(), verbose=False)
    return logger.calls


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("log_every_n_steps", "cpu_stats"), [(1, None), (2, True), (3, False)])
def test_device_stats_keys_and_steps_match_lightning(
    lightning: ModuleType, log_every_n_steps: int, cpu_stats: bool | None
) -> None:
    expected = _device_stats_run(lightning, log_every_n_steps, cpu_stats)
    assert _device_stats_run(shim, log_every_n_steps, cpu_stats) == expected
    if cpu_stats is not False:
        assert any("DeviceStatsMonitor.on_test_batch_end/cpu_percent" in metrics for _, metrics in expected)


def _throughput_run(pkg: ModuleType, log_every_n_steps: int) -> list[Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    callbacks = importlib.import_module(f"{pkg.__name__}.callbacks")
    monitor = callbacks.ThroughputMonitor(
        batch_size_fn=lambda batch: batch.shape[0], length_fn=lambda batch: batch.numel(), window_size=3
    )
    logger = _recording_logger(pkg)
    trainer = _trainer(pkg, monitor, logger, log_every_n_steps=log_every_n_steps, accumulate_grad_batches=2)
    model = boring.BoringModel()
    model.flops_per_batch = 128
    trainer.fit(model)
    trainer.validate(model, verbose=False)
    trainer.test(model, verbose=False)
    trainer.predict(model)
    trainer.test(model, verbose=False)  # a second run of an entry point keeps counting its batches
    return logger.calls


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("log_every_n_steps", [1, 2])
def test_throughput_rows_match_lightning(lightning: ModuleType, log_every_n_steps: int) -> None:
    expected = _throughput_run(lightning, log_every_n_steps)
    assert _throughput_run(shim, log_every_n_steps) == expected
    assert any("predict/batches" in metrics for _, metrics in expected)
    assert any("train/device/flops_per_sec" in metrics for _, metrics in expected)


def test_throughput_and_measure_flops_compute_as_lightning() -> None:
    fabric_throughput = pytest.importorskip("lightning_fabric.utilities.throughput")
    updates = [
        {"time": 0.5 * i + 0.1 * (i % 3), "batches": i, "samples": 3 * i + i % 2, "lengths": 10 * i, "flops": 7 + i}
        for i in range(1, 9)
    ]
    for world_size, window in ((1, 3), (2, 4), (3, 2)):
        ours = Throughput(available_flops=50.0, world_size=world_size, window_size=window, separator="|")
        theirs = fabric_throughput.Throughput(
            available_flops=50.0, world_size=world_size, window_size=window, separator="|"
        )
        for update in updates:
            ours.update(**update)
            theirs.update(**update)
            assert ours.compute() == pytest.approx(theirs.compute())

    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x = torch.randn(5, 16, requires_grad=True)
    for loss in (None, torch.Tensor.sum):
        assert measure_flops(model, lambda: model(x), loss) == fabric_throughput.measure_flops(
            model, lambda: model(x), loss
        )


# Device names from Lightning's own test of its table, and the dtypes a Trainer's precision maps to
_GPU_NAMES = [
    "NVIDIA H200 SXM1", "NVIDIA H200 NVL1", "h100-nvl", "h100-hbm3", "NVIDIA H100 PCIe", "h100-hbm2e",
    "NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4080", "NVIDIA GeForce RTX 4080 SUPER", "Tesla L40", "NVIDIA L4",
    "NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-40GB", "NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090 Ti",
    "NVIDIA GeForce RTX 3080", "NVIDIA GeForce RTX 3080 Ti", "NVIDIA GeForce RTX 3070", "NVIDIA GeForce RTX 3070 Ti",
    "NVIDIA GeForce RTX 3060", "NVIDIA A6000", "NVIDIA A40", "NVIDIA A10G", "NVIDIA GeForce RTX 2080 SUPER",
    "NVIDIA GeForce RTX 2080 Ti", "NVIDIA GeForce RTX 2080", "NVIDIA GeForce RTX 2070 Super",
    "Quadro RTX 5000 with Max-Q Design", "Tesla T4", "TITAN RTX", "Tesla V100-SXm2-32GB", "Tesla V100-PCIE-32GB",
    "Tesla V100S-PCIE-32GB", "CocoNut",
]  # fmt: skip


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", _GPU_NAMES)
def test_peak_flops_table_matches_lightnings(name: str) -> None:
    from unittest import mock

    fabric_throughput = pytest.importorskip("lightning_fabric.utilities.throughput")
    from shim.fabric.utilities.throughput import _peak_flops

    cases = [(dtype, False) for dtype in (torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.int8)]
    cases.append((torch.float32, True))  # an Ampere or later GPU with TF32 matmuls allowed
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        for dtype, ampere in cases:
            # Lightning's answer for a GPU of that name; ours from the name alone
            with (
                mock.patch("torch.cuda.get_device_name", return_value=name),
                mock.patch("lightning_fabric.accelerators.cuda._is_ampere_or_later", return_value=ampere),
            ):
                expected = fabric_throughput.get_available_flops(torch.device("cuda"), dtype)
            assert _peak_flops(name, dtype, tf32=ampere) == expected, (dtype, ampere)
    finally:
        torch.set_float32_matmul_precision(before)
