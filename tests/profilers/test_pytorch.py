"""``PyTorchProfiler``: actions as ``record_function`` ranges, module labels, the operator table and the trace."""

import json
from pathlib import Path

import pytest
import torch

import shim
from shim.demos.boring_classes import BoringModel
from shim.profilers import PyTorchProfiler
from shim.profilers.pytorch import RegisterRecordFunction, warning_cache
from shim.utilities.exceptions import MisconfigurationException


def test_actions_and_operators_are_recorded(tmp_path: Path) -> None:
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="perf", schedule=None)  # no schedule: record everything
    with profiler.profile("a"):
        x = torch.ones(8)
        with profiler.profile("b"):
            _ = x + x
    profiler.describe()
    names = {event.name for event in profiler.function_events}
    assert {"[pl][profile]a", "[pl][profile]b", "aten::ones", "aten::add"} <= names
    assert "aten::add" in (tmp_path / "perf.txt").read_text()
    trace = json.loads((tmp_path / "perf.pt.trace.json").read_text())
    assert any(event.get("name") == "[pl][profile]b" for event in trace["traceEvents"])


def test_register_record_function_labels_submodules() -> None:
    profiler = PyTorchProfiler(export_to_chrome=False, schedule=None)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with profiler.profile("forward"), RegisterRecordFunction(model):
        model(torch.rand(1, 2))
    profiler.summary()
    names = {event.name for event in profiler.function_events}
    assert "[pl][module]torch.nn.modules.linear.Linear: 0" in names
    assert "[pl][module]torch.nn.modules.activation.ReLU: 1" in names
    assert not model[0]._forward_pre_hooks  # the hooks are removed on exit


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(MisconfigurationException, match="sort_by_key"):
        PyTorchProfiler(sort_by_key="nope")
    with pytest.raises(MisconfigurationException, match="schedule"):
        PyTorchProfiler(schedule=3)
    with pytest.raises(KeyError, match="row_limit"):
        PyTorchProfiler(table_kwargs={"row_limit": 3})
    with pytest.raises(KeyError, match="unknown"):
        PyTorchProfiler(table_kwargs={"unknown": 1})


def test_table_kwargs_reach_the_table() -> None:
    widths = []
    for width in (5, 40):
        profiler = PyTorchProfiler(export_to_chrome=False, schedule=None, table_kwargs={"max_name_column_width": width})
        with profiler.profile("a"):
            torch.ones(1)
        widths.append(profiler.summary().count("-"))
    assert widths[0] < widths[1]


def _trainer(tmp_path: Path, profiler: object, **kwargs: object) -> shim.Trainer:
    defaults: dict[str, object] = {
        "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "limit_test_batches": 2,
        "logger": False, "enable_progress_bar": False, "enable_model_summary": False, "enable_checkpointing": False,
    }  # fmt: skip
    return shim.Trainer(default_root_dir=tmp_path, profiler=profiler, **{**defaults, **kwargs})


@pytest.mark.parametrize(("fn", "step"), [("fit", "training_step"), ("test", "test_step")])
def test_too_few_steps_for_the_default_window_records_them_all(tmp_path: Path, fn: str, step: str) -> None:
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="perf")
    trainer = _trainer(tmp_path, profiler)
    warning_cache.clear()
    # a fit checks the validation steps of its sanity check first: 1 + 1 of them
    expected = "2 validation_step calls" if fn == "fit" else "2 test_step calls"
    with pytest.warns(UserWarning, match=expected):
        getattr(trainer, fn)(BoringModel())
    names = [event.name for event in profiler.function_events]
    # recording starts when the first step of the run ends (torch's profiler moves on at its `step()`): in a fit
    # that is a sanity-check step, so both training steps are recorded; in a test only the second step is
    assert names.count(f"[pl][profile][Strategy]SingleDeviceStrategy.{step}") == (2 if fn == "fit" else 1)
    assert "[pl][module]torch.nn.modules.linear.Linear: layer" in names  # record_module_names
    assert (tmp_path / f"{fn}-perf.txt").read_text()
    assert len(list(tmp_path.glob(f"{fn}-perf-*.pt.trace.json"))) == 1  # named after the last step action


def test_the_default_window_records_three_training_steps(tmp_path: Path) -> None:
    profiler = PyTorchProfiler(dirpath=tmp_path, filename="perf")
    trainer = _trainer(tmp_path, profiler, limit_train_batches=8, limit_val_batches=0)
    trainer.fit(BoringModel())
    # steps 1 (skipped) and 2 (warm-up) are not in the trace; 3, 4 and 5 are, and the window's trace is written
    trace = tmp_path / "fit-perf-[Strategy]SingleDeviceStrategy.training_step.pt.trace.json"
    events = json.loads(trace.read_text())["traceEvents"]
    steps = [e for e in events if e.get("name") == "[pl][profile][Strategy]SingleDeviceStrategy.training_step"]
    assert len(steps) == 3
    assert (tmp_path / "fit-perf.txt").read_text()


def test_trainer_takes_the_profiler_by_name(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, "pytorch", max_steps=1, limit_val_batches=0)
    assert isinstance(trainer.profiler, PyTorchProfiler)
    with pytest.warns(UserWarning, match="default schedule"):
        trainer.fit(BoringModel())
    assert list(tmp_path.glob("fit*.pt.trace.json"))  # dirpath falls back to the log dir
