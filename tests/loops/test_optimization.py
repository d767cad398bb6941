"""Automatic optimization: the direct path (shim's own strategy, precision and optimizer methods run without the
calls between them) does what the layered path does, and any override of those methods takes the layered path."""

import warnings
from typing import Any
from unittest import mock

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.core.optimizer import LightningOptimizer
from shim.plugins.precision import MixedPrecision, Precision
from shim.strategies import SingleDeviceStrategy, Strategy
from shim.utilities.exceptions import MisconfigurationException

_CALLBACK_HOOKS = (
    "on_train_batch_start",
    "on_before_zero_grad",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_train_batch_end",
)


class _Recorder(shim.Callback):
    """Records the per-batch callback hooks, and whether the gradients exist when each runs."""

    def __init__(self) -> None:
        self.calls: list[str] = []


def _recording_hook(name: str) -> Any:
    def hook(self: _Recorder, trainer: Any, pl_module: Any, *args: Any) -> None:
        self.calls.append(f"{name}:{'grad' if pl_module.layer.weight.grad is not None else 'none'}")

    hook.__name__ = name
    return hook


for _name in _CALLBACK_HOOKS:
    setattr(_Recorder, _name, _recording_hook(_name))


class _Module(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


class _CountingPrecision(Precision):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pre_backward(self, tensor: torch.Tensor, module: Any) -> torch.Tensor:
        self.calls.append("pre_backward")
        return super().pre_backward(tensor, module)

    def optimizer_step(self, optimizer: Any, model: Any, closure: Any, **kwargs: Any) -> Any:
        self.calls.append("optimizer_step")
        return super().optimizer_step(optimizer, model, closure, **kwargs)


class _CountingStrategy(SingleDeviceStrategy):
    def __init__(self) -> None:
        super().__init__("cpu")
        self.calls: list[str] = []

    def training_step(self, *args: Any) -> Any:
        self.calls.append("training_step")
        return super().training_step(*args)

    def backward(self, closure_loss: torch.Tensor, optimizer: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.calls.append("backward")
        return super().backward(closure_loss, optimizer, *args, **kwargs)


def _fit(recorder: _Recorder | None = None, **kwargs: Any) -> tuple[shim.Trainer, _Module]:
    generator = torch.Generator().manual_seed(1)
    data = DataLoader(TensorDataset(torch.randn(12, 4, generator=generator), torch.randn(12, 1, generator=generator)),
                      batch_size=2)  # fmt: skip
    trainer = shim.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[recorder] if recorder else None, **kwargs,
    )  # fmt: skip
    module = _Module()
    trainer.fit(module, data)
    return trainer, module


@pytest.mark.parametrize(
    "settings",
    [{}, {"accumulate_grad_batches": 2, "gradient_clip_val": 0.05}, {"precision": "bf16-mixed"}],
)
def test_direct_and_layered_paths_train_the_same(settings: dict[str, Any]) -> None:
    direct_recorder, layered_recorder = _Recorder(), _Recorder()
    direct, direct_module = _fit(direct_recorder, **settings)
    layered, layered_module = _fit(layered_recorder, strategy=_CountingStrategy(), **settings)
    assert direct.fit_loop.epoch_loop.automatic_optimization._direct
    assert not layered.fit_loop.epoch_loop.automatic_optimization._direct
    # the same hooks in the same order, seeing the same gradients, and bit-identical weights and logged values
    assert direct_recorder.calls == layered_recorder.calls
    if "accumulate_grad_batches" not in settings:  # (with accumulation the first batch has no optimizer step)
        assert direct_recorder.calls[:6] == [
            "on_train_batch_start:none",
            "on_before_zero_grad:none",
            "on_before_backward:none",
            "on_after_backward:grad",
            "on_before_optimizer_step:grad",
            "on_train_batch_end:grad",
        ]
    for direct_param, layered_param in zip(direct_module.parameters(), layered_module.parameters(), strict=True):
        assert torch.equal(direct_param, layered_param)
    assert torch.equal(direct.callback_metrics["loss"], layered.callback_metrics["loss"])
    assert direct.global_step == layered.global_step


def test_overridden_strategy_and_precision_methods_are_called() -> None:
    strategy = _CountingStrategy()
    trainer, _ = _fit(strategy=strategy)
    assert not trainer.fit_loop.epoch_loop.automatic_optimization._direct
    assert strategy.calls == ["training_step", "backward"] * 12

    precision = _CountingPrecision()
    trainer, _ = _fit(precision=precision)
    assert trainer.precision_plugin is precision
    assert precision.calls == ["optimizer_step", "pre_backward"] * 12


def test_mixed_precision_takes_the_direct_path_only_without_a_scaler_and_overrides() -> None:
    contexts: list[str] = []

    class Recording(MixedPrecision):
        def forward_context(self) -> Any:
            contexts.append("forward_context")
            return super().forward_context()

    trainer, module = _fit(precision="bf16-mixed")
    assert trainer.fit_loop.epoch_loop.automatic_optimization._direct
    assert module.layer.weight.dtype == torch.float32

    trainer, _ = _fit(precision=Recording("bf16-mixed", "cpu"))
    assert not trainer.fit_loop.epoch_loop.automatic_optimization._direct
    assert contexts == ["forward_context"] * 12

    # a plugin with a gradient scaler (16-mixed) scales the loss and steps through the scaler: the layered path
    trainer, _ = _fit(precision=MixedPrecision("16-mixed", "cpu"))
    assert trainer.precision_plugin.scaler is not None
    assert not trainer.fit_loop.epoch_loop.automatic_optimization._direct


def test_the_direct_path_runs_training_step_under_the_plugins_autocast() -> None:
    dtypes: list[torch.dtype] = []

    class Module(_Module):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            dtypes.append(self.layer(batch[0]).dtype)
            return super().training_step(batch, batch_idx)

    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        precision="bf16-mixed",
    )  # fmt: skip
    trainer.fit(Module(), DataLoader(TensorDataset(torch.randn(6, 4), torch.randn(6, 1)), batch_size=2))
    assert trainer.fit_loop.epoch_loop.automatic_optimization._direct
    assert dtypes == [torch.bfloat16] * 3
    assert not torch.is_autocast_enabled("cpu")


def test_a_method_replaced_on_the_strategy_instance_is_called() -> None:
    calls: list[str] = []

    class Replacing(shim.Callback):
        def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
            original = trainer.strategy.training_step

            def training_step(*args: Any) -> Any:
                calls.append("training_step")
                return original(*args)

            trainer.strategy.training_step = training_step

    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[Replacing()],
    )  # fmt: skip
    data = DataLoader(TensorDataset(torch.randn(6, 4), torch.randn(6, 1)), batch_size=2)
    trainer.fit(_Module(), data)
    assert calls == ["training_step"] * 3


@pytest.mark.parametrize(
    ("base", "name"),
    [(Strategy, "backward"), (Strategy, "training_step"), (Precision, "backward"), (LightningOptimizer, "step")],
)
def test_a_method_patched_on_shims_base_class_is_called(base: type, name: str) -> None:
    # `mock.patch.object` on the base class: the instance's class then still looks like the base, method for method
    original = getattr(base, name)
    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    data = DataLoader(TensorDataset(torch.randn(6, 4), torch.randn(6, 1)), batch_size=2)
    with mock.patch.object(base, name, autospec=True, side_effect=original) as patched:
        trainer.fit(_Module(), data)
    assert patched.call_count == 3


class _OrderModule(_Module):
    """Records when ``training_step`` runs, and whether gradients were enabled for it."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.events.append(f"training_step(grad={torch.is_grad_enabled()})")
        return super().training_step(batch, batch_idx)


def _fit_recording(events: list[str], callbacks: list[shim.Callback]) -> shim.Trainer:
    trainer = shim.Trainer(
        max_epochs=1, limit_train_batches=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=callbacks,
    )  # fmt: skip
    data = DataLoader(TensorDataset(torch.randn(6, 4), torch.randn(6, 1)), batch_size=2)
    trainer.fit(_OrderModule(events), data)
    return trainer


def test_step_pre_hooks_run_before_the_closure_as_inside_optimizer_step() -> None:
    events: list[str] = []

    class Registering(shim.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            trainer.optimizers[0].register_step_pre_hook(lambda optimizer, args, kwargs: events.append("pre_hook"))

    _fit_recording(events, [Registering()])
    assert events == ["pre_hook", "training_step(grad=True)"] * 2


def test_global_step_pre_hooks_run_before_the_closure() -> None:
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    events: list[str] = []
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: events.append("global_pre_hook"))
    try:
        _fit_recording(events, [])
    finally:
        handle.remove()
    assert events == ["global_pre_hook", "training_step(grad=True)"] * 2


def test_a_step_replaced_on_the_optimizer_instance_gets_the_closure() -> None:
    events: list[str] = []

    class Replacing(shim.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            optimizer = trainer.optimizers[0]
            original = optimizer.step

            def step(closure: Any = None) -> Any:
                events.append(f"step(closure={'yes' if closure is not None else 'no'})")
                return original(closure)

            optimizer.step = step

    _fit_recording(events, [Replacing()])
    assert events == ["step(closure=yes)", "training_step(grad=True)"] * 2


def test_a_mocked_optimizer_step_that_skips_the_closure_is_an_error() -> None:
    # as in Lightning: a `step` that never calls the closure leaves training_step unrun, which the loop reports
    events: list[str] = []
    with (
        mock.patch.object(torch.optim.SGD, "step") as step,
        pytest.raises(MisconfigurationException, match="did not run the closure"),
    ):
        _fit_recording(events, [])
    assert step.call_count == 1
    assert events == []


def test_training_step_runs_with_gradients_when_a_hook_disabled_them() -> None:
    events: list[str] = []

    class NoGrad(shim.Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            torch.set_grad_enabled(False)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            torch.set_grad_enabled(True)

    _fit_recording(events, [NoGrad()])
    assert events == ["training_step(grad=True)"] * 2


def test_lbfgs_calls_the_closure_as_often_as_it_needs() -> None:
    events: list[str] = []

    class WithLBFGS(_OrderModule):
        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=3)

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(4, 4), torch.randn(4, 1)), batch_size=2)
    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    module = WithLBFGS(events)
    trainer.fit(module, data)
    assert not trainer.fit_loop.epoch_loop.automatic_optimization._closure_first
    # by hand: the same optimizer, stepped with a closure that zeroes the gradients and backpropagates
    by_hand = _Module()
    optimizer = torch.optim.LBFGS(by_hand.parameters(), lr=0.1, max_iter=3)
    calls = 0
    for x, y in data:

        def closure(x: torch.Tensor = x, y: torch.Tensor = y) -> torch.Tensor:
            nonlocal calls
            calls += 1
            loss = torch.nn.functional.mse_loss(by_hand.layer(x), y)
            optimizer.zero_grad()
            loss.backward()
            return loss

        optimizer.step(closure)
    assert len(events) == calls > 2
    for param, expected in zip(module.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(param, expected)


def test_a_training_step_returning_none_is_pointed_out_once() -> None:
    # as in Lightning: a warning cache on the closure, which a test (or user) can clear to see it again
    from shim.demos.boring_classes import BoringModel
    from shim.loops.optimization.automatic import Closure

    class Skips(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            return None

    def fit() -> int:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            shim.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         ).fit(Skips())  # fmt: skip
        return sum("returned `None`" in str(w.message) for w in record)

    Closure.warning_cache.clear()
    assert fit() == 1
    assert fit() == 0
    Closure.warning_cache.clear()
    assert fit() == 1
