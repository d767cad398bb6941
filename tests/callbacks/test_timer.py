"""Timer stops training at the same batch as Lightning's under a scripted clock, and measures each stage."""

import importlib
import time
import warnings
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks.timer import Timer
from shim.trainer.states import RunningStage
from shim.utilities.exceptions import MisconfigurationException


class ScriptedClock:
    """A ``time.monotonic`` replacement that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ScriptedClock:
    scripted = ScriptedClock()
    monkeypatch.setattr(time, "monotonic", scripted)
    return scripted


def _fit(pkg: ModuleType, timer: Any, clock: ScriptedClock, **trainer_kwargs: Any) -> tuple[Any, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class OneSecondPerStep(boring.BoringModel):  # type: ignore[name-defined]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            clock.now += 1.0
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            clock.now += 0.25
            return super().validation_step(batch, batch_idx)

    torch.manual_seed(0)
    trainer = pkg.Trainer(
        **{
            "max_epochs": 5,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "callbacks": [timer],
            **trainer_kwargs,
        }
    )
    model = OneSecondPerStep()
    trainer.fit(model, DataLoader(boring.RandomDataset(32, 4)), DataLoader(boring.RandomDataset(32, 2)))
    return trainer, model


def _outcome(trainer: Any, timer: Any) -> dict[str, Any]:
    return {
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "should_stop": trainer.should_stop,
        "train": (timer.time_elapsed("train"), timer.time_remaining("train")),
        "validate": (timer.time_elapsed("validate"), timer.time_remaining("validate")),
        "state": timer.state_dict(),
        "weights": [p.tolist() for p in trainer.lightning_module.parameters()],
    }


TIMER_CASES: list[dict[str, Any]] = [
    {"duration": timedelta(seconds=2.5)},
    {"duration": {"seconds": 6}, "interval": "step"},
    {"duration": {"seconds": 6}, "interval": "epoch"},
    {"duration": "00:00:00:09", "interval": "epoch"},
    {"duration": None},
    {"duration": "00:01:00:00"},
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kwargs", TIMER_CASES, ids=str)
def test_stops_like_lightning(lightning: ModuleType, clock: ScriptedClock, kwargs: dict[str, Any]) -> None:
    outcomes = []
    for pkg in (lightning, shim):
        clock.now = 1000.0
        timer = importlib.import_module(f"{pkg.__name__}.callbacks.timer").Timer(**kwargs)
        trainer, _ = _fit(pkg, timer, clock)
        outcomes.append(_outcome(trainer, timer))
    assert outcomes[1] == outcomes[0]


@pytest.mark.filterwarnings("ignore")
def test_restored_timer_that_ran_out_trains_nothing(lightning: ModuleType, clock: ScriptedClock) -> None:
    outcomes = []
    for pkg in (lightning, shim):
        timer = importlib.import_module(f"{pkg.__name__}.callbacks.timer").Timer(duration={"seconds": 5})
        timer.load_state_dict({"time_elapsed": {"train": 7.0}})
        trainer, _ = _fit(pkg, timer, clock)
        outcomes.append(_outcome(trainer, timer))
    assert outcomes[1] == outcomes[0]
    assert outcomes[1]["global_step"] == 0


@pytest.mark.filterwarnings("ignore")
def test_restored_time_counts_towards_the_limit(clock: ScriptedClock) -> None:
    timer = Timer(duration={"seconds": 5})
    timer.load_state_dict({"time_elapsed": {"train": 3.0, "validate": 100.0}})
    trainer, _ = _fit(shim, timer, clock)
    assert trainer.global_step == 2
    # a stop request runs validation before training ends, as in Lightning: 2 batches of 0.25 s
    assert timer.time_elapsed("train") == 5.5
    assert timer.time_elapsed("validate") == 0.5


@pytest.mark.filterwarnings("ignore")
def test_measures_validate_and_test(clock: ScriptedClock) -> None:
    timer = Timer()
    assert timer.time_elapsed() == 0
    assert timer.start_time("train") is None
    assert timer.time_remaining() is None
    trainer, model = _fit(shim, timer, clock, max_epochs=1)
    assert timer.start_time("train") == 1000.0
    assert timer.end_time("train") == 1000.0 + 4 + 0.5
    assert timer.time_elapsed("train") == 4.5
    assert timer.time_elapsed("validate") == 0.5

    class TimedTest(type(model)):  # type: ignore[misc]
        def test_step(self, batch: Any, batch_idx: int) -> Any:
            clock.now += 2.0
            return super().test_step(batch, batch_idx)

    boring = importlib.import_module("shim.demos.boring_classes")
    trainer.test(TimedTest(), DataLoader(boring.RandomDataset(32, 3)), verbose=False)
    assert timer.time_elapsed("test") == 6.0
    assert timer.end_time("test") == timer.start_time("test") + 6.0  # type: ignore[operator]
    assert timer.state_dict() == {
        "time_elapsed": {"train": 4.5, "sanity_check": 0, "validate": 0.5, "test": 6.0, "predict": 0}
    }


def test_time_elapsed_while_running(clock: ScriptedClock) -> None:
    timer = Timer(duration={"minutes": 1})
    timer._start_time[RunningStage.TRAINING] = clock.now
    clock.now += 15
    assert timer.time_elapsed() == 15
    assert timer.time_remaining() == 45


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("00:00:00:01", 1),
        (" 01:02:03:04 ", 93784),
        ("123:00:00:00", 123 * 86400),
        (timedelta(hours=2), 7200),
        ({"minutes": 3, "seconds": 1}, 181),
        (None, None),
    ],
)
def test_duration_formats(duration: Any, seconds: float | None) -> None:
    assert Timer(duration)._duration == seconds


@pytest.mark.parametrize("duration", ["1:00", "00:00:00", "00:1:00:00", "aa:bb:cc:dd", "00:00:00:01:00"])
def test_bad_duration(duration: str) -> None:
    with pytest.raises(MisconfigurationException, match="DD:HH:MM:SS"):
        Timer(duration)


@pytest.mark.parametrize("interval", ["hour", "batch", "STEP"])
def test_bad_interval(interval: str) -> None:
    with pytest.raises(MisconfigurationException, match=f"interval={interval!r}"):
        Timer(interval=interval)


def test_state_dict_matches_lightning(lightning: ModuleType) -> None:
    theirs = lightning.callbacks.Timer()
    ours = Timer()
    assert ours.state_dict() == theirs.state_dict()
    assert ours.state_key == theirs.state_key == "Timer"


@pytest.mark.parametrize("timer_from", ["callbacks", "max_time"])
def test_timer_lifts_the_default_epoch_limit(lightning: ModuleType, clock: ScriptedClock, timer_from: str) -> None:
    """Without `max_epochs`, a Timer bounds the run: no 1000-epoch default and no warning about it, as in Lightning."""
    limits = []
    for pkg in (lightning, shim):
        timer_cls = importlib.import_module(f"{pkg.__name__}.callbacks.timer").Timer
        kwargs: dict[str, Any] = {"max_epochs": None, "max_time": None, "callbacks": []}
        if timer_from == "callbacks":
            kwargs["callbacks"] = [timer_cls(duration={"seconds": 3}, interval="step")]
        else:
            kwargs["max_time"] = {"seconds": 3}
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            trainer, _ = _fit(pkg, None, clock, **kwargs)
        assert not [w for w in record if "max_epochs" in str(w.message)]
        limits.append((trainer.max_epochs, trainer.global_step))
    assert limits[1] == limits[0] == (-1, 3)
