"""``Trainer(profiler=...)``: which profiler it holds, what a run records and reports, and that without one the
plain call path is untouched."""

import logging
from pathlib import Path
from typing import Any

import pytest

import shim
from shim.demos.boring_classes import BoringDataModule, BoringModel, ManualOptimBoringModel
from shim.profilers import AdvancedProfiler, PassThroughProfiler, Profiler, PyTorchProfiler, SimpleProfiler
from shim.trainer.hooks import HookCaller
from shim.trainer.profiling import ProfiledHookCaller
from shim.utilities.exceptions import MisconfigurationException


def _trainer(tmp_path: Path, profiler: Any, **kwargs: Any) -> shim.Trainer:
    defaults: dict[str, Any] = {
        "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "limit_test_batches": 1,
        "logger": False, "enable_progress_bar": False, "enable_model_summary": False,
    }  # fmt: skip
    return shim.Trainer(default_root_dir=tmp_path, profiler=profiler, **{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, PassThroughProfiler), ("simple", SimpleProfiler), ("Advanced", AdvancedProfiler),
     ("PYTORCH", PyTorchProfiler)],
)  # fmt: skip
def test_profiler_by_name(tmp_path: Path, given: Any, expected: type) -> None:
    assert type(_trainer(tmp_path, given).profiler) is expected


def test_a_profiler_instance_is_kept_and_bad_values_refused(tmp_path: Path) -> None:
    profiler = SimpleProfiler()
    assert _trainer(tmp_path, profiler).profiler is profiler
    with pytest.raises(MisconfigurationException, match="simple"):
        _trainer(tmp_path, "fast")
    with pytest.raises(MisconfigurationException, match="int"):
        _trainer(tmp_path, 3)


def test_without_a_profiler_nothing_is_wrapped(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, None)
    trainer.fit(BoringModel())
    assert type(trainer._hooks) is HookCaller
    assert not {"training_step", "batch_to_device"} & set(vars(trainer.strategy))
    assert "run_batch" not in vars(trainer.fit_loop.epoch_loop.automatic_optimization)


def test_the_report_is_logged_at_the_end_of_each_entry_point(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    trainer = _trainer(tmp_path, "simple")
    assert type(trainer._hooks) is ProfiledHookCaller
    model = BoringModel()
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.profilers"):
        trainer.fit(model)
        trainer.validate(model)
        trainer.test(model)
    assert caplog.text.count("Profiler Report") == 3


def test_reports_go_to_one_file_per_stage(tmp_path: Path) -> None:
    profiler = SimpleProfiler(filename="perf")
    trainer = _trainer(tmp_path, profiler)
    model = BoringModel()
    trainer.fit(model)
    trainer.test(model)
    assert profiler.dirpath == str(tmp_path)  # the log dir, as no dirpath was given
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == ["fit-perf.txt", "test-perf.txt"]
    fit_report = (tmp_path / "fit-perf.txt").read_text()
    assert "run_training_batch" in fit_report
    assert "[Strategy]SingleDeviceStrategy.training_step" in fit_report
    assert "[Strategy]SingleDeviceStrategy.test_step" in (tmp_path / "test-perf.txt").read_text()


def test_a_profiled_fit_records_the_hooks_and_steps(tmp_path: Path) -> None:
    class DataModule(BoringDataModule):
        def prepare_data(self) -> None:
            pass

    profiler = SimpleProfiler()
    trainer = _trainer(tmp_path, profiler, max_epochs=2)
    trainer.fit(BoringModel(), datamodule=DataModule())
    counts = {name: len(durations) for name, durations in profiler.recorded_durations.items()}
    assert counts["run_training_epoch"] == 2
    assert counts["run_training_batch"] == 4
    assert counts["[_TrainingEpochLoop].train_dataloader_next"] == 4
    assert counts["[_EvaluationLoop].val_next"] == 3  # one sanity-check batch, one per epoch
    assert counts["[LightningModule]BoringModel.optimizer_zero_grad"] == 4  # a default hook is recorded too
    assert counts["[Strategy]SingleDeviceStrategy.backward"] == 4
    assert counts["[Strategy]SingleDeviceStrategy.on_train_batch_start"] == 4
    assert counts["save_checkpoint"] == 2
    assert counts["[LightningDataModule]DataModule.prepare_data"] == 1
    assert counts["[LightningDataModule]DataModule.state_dict"] == 2
    assert any(name.startswith("[Callback]ModelCheckpoint{") for name in counts)
    assert profiler.current_actions == {}  # every action was stopped


def test_manual_optimization_records_each_optimizer_step(tmp_path: Path) -> None:
    profiler = SimpleProfiler()
    _trainer(tmp_path, profiler, limit_val_batches=0).fit(ManualOptimBoringModel())
    assert len(profiler.recorded_durations["optimizer_step"]) == 2
    assert "[Strategy]SingleDeviceStrategy.backward" not in profiler.recorded_durations  # as in Lightning


def test_a_custom_profiler_sees_balanced_actions(tmp_path: Path) -> None:
    class Recording(Profiler):
        def __init__(self) -> None:
            super().__init__()
            self.open: list[str] = []
            self.seen: set[str] = set()

        def start(self, action_name: str) -> None:
            self.open.append(action_name)
            self.seen.add(action_name)

        def stop(self, action_name: str) -> None:
            assert self.open.pop() == action_name  # actions nest: the last one started stops first

    profiler = Recording()
    _trainer(tmp_path, profiler).fit(BoringModel())
    assert profiler.open == []
    assert "[Strategy]SingleDeviceStrategy.validation_step" in profiler.seen
