"""``trainer.profiler`` and the ``Profiler`` interface: what user code calls on them, and a custom profiler's report."""

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import shim
from shim.demos.boring_classes import BoringModel
from shim.profilers import PassThroughProfiler, Profiler


class _Recording(Profiler):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[str] = []

    def start(self, action_name: str) -> None:
        self.events.append(f"start {action_name}")

    def stop(self, action_name: str) -> None:
        self.events.append(f"stop {action_name}")

    def summary(self) -> str:
        return ", ".join(self.events)


@pytest.mark.parametrize("kwargs", [{}, {"barebones": True}])
def test_trainer_holds_the_profiler_lightning_holds(lightning: ModuleType, kwargs: dict[str, Any]) -> None:
    theirs = lightning.Trainer(logger=False, **kwargs).profiler
    ours = shim.Trainer(logger=False, **kwargs).profiler
    assert isinstance(ours, PassThroughProfiler)
    assert type(ours).__name__ == type(theirs).__name__
    lightning_profilers = importlib.import_module("pytorch_lightning.profilers")
    assert isinstance(theirs, lightning_profilers.Profiler)
    assert isinstance(ours, Profiler)


def test_user_code_profiles_blocks_through_the_trainer(tmp_path: Path) -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            with self.trainer.profiler.profile("my_step") as name:
                assert name == "my_step"
                return super().training_step(batch, batch_idx)

    trainer = shim.Trainer(
        default_root_dir=tmp_path, max_steps=2, limit_val_batches=0, logger=False, enable_checkpointing=False
    )
    trainer.fit(Model())
    assert trainer.global_step == 2


def test_profile_stops_the_action_when_the_block_raises() -> None:
    profiler = _Recording()
    with pytest.raises(RuntimeError), profiler.profile("load"):
        raise RuntimeError("boom")
    with profiler.profile("step"):
        pass
    assert profiler.events == ["start load", "stop load", "start step", "stop step"]


def test_describe_logs_the_summary_or_appends_it_to_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profiler = _Recording()
    with profiler.profile("a"):
        pass
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.profilers"):
        profiler.describe()
    assert "start a, stop a" in caplog.text

    to_file = _Recording(filename="perf")
    to_file.setup("fit", local_rank=0, log_dir=str(tmp_path))
    with to_file.profile("b"):
        pass
    to_file.describe()
    to_file.describe()
    assert (tmp_path / "fit-perf-0.txt").read_text() == "start b, stop b" * 2
    assert PassThroughProfiler().summary() == ""
