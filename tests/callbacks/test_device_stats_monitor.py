"""DeviceStatsMonitor logs the accelerator's statistics (psutil's on the CPU) under Lightning's keys, at its cadence."""

import csv
import subprocess
import sys
from typing import Any

import pytest
import torch

import shim
from shim.callbacks import DeviceStatsMonitor
from shim.demos.boring_classes import BoringModel
from shim.loggers import CSVLogger, Logger
from shim.utilities.exceptions import MisconfigurationException

pytest.importorskip("psutil")

CPU_KEYS = {"cpu_percent", "cpu_vm_percent", "cpu_swap_percent"}


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call; ``separator`` is its ``group_separator``."""

    def __init__(self, separator: str = "/") -> None:
        super().__init__()
        self.calls: list[tuple[int | None, dict[str, float]]] = []
        self.separator = separator

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    @property
    def group_separator(self) -> str:
        return self.separator

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append((step, dict(metrics)))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def _trainer(logger: Any, monitor: DeviceStatsMonitor, **kwargs: Any) -> shim.Trainer:
    options: dict[str, Any] = {
        "max_epochs": 1,
        "limit_train_batches": 3,
        "limit_val_batches": 2,
        "log_every_n_steps": 1,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    return shim.Trainer(logger=logger, callbacks=[monitor], **options)


def test_cpu_stats_reach_the_csv_file_under_lightnings_keys(tmp_path: Any) -> None:
    logger = CSVLogger(tmp_path)
    trainer = _trainer(logger, DeviceStatsMonitor())
    trainer.fit(BoringModel())
    trainer.test(BoringModel(), verbose=False)
    with open(f"{logger.log_dir}/metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    header = set(rows[0])
    hooks = [f"on_{stage}_batch_{edge}" for stage in ("train", "validation", "test") for edge in ("start", "end")]
    expected = {f"DeviceStatsMonitor.{hook}/{key}" for hook in hooks for key in CPU_KEYS}
    assert expected <= header
    values = [float(row[k]) for row in rows for k in expected if row.get(k)]
    assert values
    assert all(0.0 <= v <= 100.0 for v in values)
    train_steps = sorted(
        {int(row["step"]) for row in rows if row.get("DeviceStatsMonitor.on_train_batch_end/cpu_percent")}
    )
    assert train_steps == [0, 1, 2]


def test_log_every_n_steps_and_steps_as_lightning() -> None:
    logger = RecordingLogger(separator="|")
    trainer = _trainer(logger, DeviceStatsMonitor(cpu_stats=True), limit_train_batches=4, limit_val_batches=0,
                       log_every_n_steps=2)  # fmt: skip
    trainer.fit(BoringModel())
    # a logging step is every second optimizer step: batches 2 and 4, logged at the step count before them
    seen = [(step, sorted({k.split("|")[0] for k in metrics})) for step, metrics in logger.calls]
    assert seen == [
        (1, ["DeviceStatsMonitor.on_train_batch_start"]),
        (1, ["DeviceStatsMonitor.on_train_batch_end"]),
        (3, ["DeviceStatsMonitor.on_train_batch_start"]),
        (3, ["DeviceStatsMonitor.on_train_batch_end"]),
    ]
    assert {k.split("|")[1] for _, metrics in logger.calls for k in metrics} == CPU_KEYS


def test_cpu_stats_false_logs_nothing_on_the_cpu() -> None:
    logger = RecordingLogger()
    trainer = _trainer(logger, DeviceStatsMonitor(cpu_stats=False))
    trainer.fit(BoringModel())
    assert not [m for _, m in logger.calls if any(k.startswith("DeviceStatsMonitor") for k in m)]


def test_fitting_without_a_logger_raises() -> None:
    trainer = _trainer(False, DeviceStatsMonitor())
    with pytest.raises(MisconfigurationException, match="has none"):
        trainer.fit(BoringModel())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_memory_stats_and_cpu_stats_on_a_gpu() -> None:
    logger = RecordingLogger()
    trainer = _trainer(logger, DeviceStatsMonitor(cpu_stats=True), accelerator="gpu", devices=1)
    trainer.fit(BoringModel())
    keys = {k.split("/", 1)[1] for _, metrics in logger.calls for k in metrics}
    assert {"allocated_bytes.all.peak", "reserved_bytes.all.current", "num_ooms"} <= keys
    assert keys >= CPU_KEYS
    peak = "DeviceStatsMonitor.on_train_batch_end/allocated_bytes.all.peak"
    peaks = [metrics[peak] for _, metrics in logger.calls if peak in metrics]
    assert len(peaks) == 3
    assert all(p > 0 for p in peaks)  # the model and its batch are on the GPU by the end of a batch


def _run_without_psutil(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys; sys.modules['psutil'] = None\n"  # makes `import psutil` fail as if it were not installed
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_missing_psutil_names_the_extra() -> None:
    code = (
        "import shim\n"
        "from shim.callbacks import DeviceStatsMonitor\n"
        "from shim.demos.boring_classes import BoringModel\n"
        "from shim.loggers import CSVLogger\n"
        "t = shim.Trainer(accelerator='cpu', logger=CSVLogger('.'), callbacks=[DeviceStatsMonitor()],"
        " max_steps=1, enable_progress_bar=False, enable_model_summary=False)\n"
        "try:\n"
        "    t.fit(BoringModel())\n"
        "except ModuleNotFoundError as error:\n"
        "    print('raised:', error)\n"
    )
    result = _run_without_psutil(code)
    assert "raised:" in result.stdout, result.stderr
    assert "pip install lightning-shim[psutil]" in result.stdout


def test_import_shim_does_not_import_psutil() -> None:
    code = "import sys, shim, shim.callbacks; print('psutil' in sys.modules, 'torch.utils.flop_counter' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stderr
