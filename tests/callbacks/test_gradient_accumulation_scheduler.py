"""GradientAccumulationScheduler checks its schedule and its setting as Lightning's does."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest

import shim
from shim.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
from shim.demos.boring_classes import BoringModel
from shim.utilities.exceptions import MisconfigurationException


def test_an_empty_schedule_is_a_type_error(lightning: ModuleType) -> None:
    with pytest.raises(TypeError, match=r"scheduling=\{\}\) is empty"):
        GradientAccumulationScheduler({})
    with pytest.raises(TypeError):
        lightning.callbacks.GradientAccumulationScheduler({})


@pytest.mark.parametrize(
    ("scheduling", "match"),
    [({1: 2, -3: 4}, "epoch keys must be ints >= 0, got -3"), ({0: 2, 2: 0}, "factors must be ints >= 1, got 0")],
)
def test_bad_keys_and_factors_are_rejected(lightning: ModuleType, scheduling: Any, match: str) -> None:
    with pytest.raises(MisconfigurationException, match=match):
        GradientAccumulationScheduler(dict(scheduling))
    with pytest.raises(lightning.utilities.exceptions.MisconfigurationException):
        lightning.callbacks.GradientAccumulationScheduler(dict(scheduling))


def test_factors_per_epoch() -> None:
    scheduler = GradientAccumulationScheduler({5: 3, 2: 2})
    assert scheduler.scheduling == {0: 1, 2: 2, 5: 3}
    assert [scheduler.get_accumulate_grad_batches(e) for e in range(7)] == [1, 1, 2, 2, 2, 3, 3]
    assert scheduler.going_to_accumulate_grad_batches()
    assert not GradientAccumulationScheduler({0: 1, 4: 1}).going_to_accumulate_grad_batches()


class StepOverride(BoringModel):
    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)


class ZeroGradOverride(BoringModel):
    def optimizer_zero_grad(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_zero_grad(*args, **kwargs)


@pytest.mark.parametrize("model_class", [StepOverride, ZeroGradOverride])
def test_overridden_optimizer_hooks_warn_when_accumulating(model_class: type, tmp_path: Any) -> None:
    trainer = shim.Trainer(default_root_dir=tmp_path, logger=False)
    with pytest.warns(UserWarning, match=r"overrides `optimizer_step` or `optimizer_zero_grad`.*once per optimizer"):
        GradientAccumulationScheduler({1: 2}).on_train_start(trainer, model_class())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GradientAccumulationScheduler({1: 1}).on_train_start(trainer, model_class())  # nothing accumulates
        GradientAccumulationScheduler({1: 2}).on_train_start(trainer, BoringModel())


def test_lightning_warns_in_the_same_cases(lightning: ModuleType, tmp_path: Any) -> None:
    boring = importlib.import_module("pytorch_lightning.demos.boring_classes")

    class Overrides(boring.BoringModel):  # type: ignore[name-defined]
        def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
            super().optimizer_step(*args, **kwargs)

    trainer = lightning.Trainer(default_root_dir=tmp_path, logger=False)
    with pytest.warns(UserWarning, match="optimizer_"):
        lightning.callbacks.GradientAccumulationScheduler({1: 2}).on_train_start(trainer, Overrides())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lightning.callbacks.GradientAccumulationScheduler({1: 1}).on_train_start(trainer, Overrides())
