"""The evaluation loop calls the module's step directly when the strategy and the precision plugin run shim's own
step methods, and through them when either is replaced: in a subclass, on the instance, or by patching the base."""

from typing import Any
from unittest import mock

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.plugins.precision import Precision
from shim.strategies import SingleDeviceStrategy, Strategy


class _Module(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)
        self.seen: list[tuple[str, int, bool]] = []  # (hook, batch_idx, gradients enabled)

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.seen.append((self._current_fx_name, batch_idx, torch.is_grad_enabled()))
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.seen.append((self._current_fx_name, batch_idx, torch.is_grad_enabled()))
        self.log("test_loss", self._loss(batch))


class _CountingStrategy(SingleDeviceStrategy):
    def __init__(self) -> None:
        super().__init__("cpu")
        self.calls: list[str] = []

    def validation_step(self, *args: Any) -> Any:
        self.calls.append("validation_step")
        return super().validation_step(*args)

    def test_step(self, *args: Any) -> Any:
        self.calls.append("test_step")
        return super().test_step(*args)


def _data() -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(10, 4, generator=generator), torch.randn(10, 1, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=4)  # batches of 4, 4 and 2: the epoch mean is weighted


def _trainer(**kwargs: Any) -> shim.Trainer:
    return shim.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, **kwargs)


def _expected() -> float:
    module = _Module()
    with torch.no_grad():
        losses = [(module._loss(batch).item(), len(batch[0])) for batch in _data()]
    return sum(loss * size for loss, size in losses) / sum(size for _, size in losses)


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_direct_step_gives_the_hand_computed_metrics(stage: str) -> None:
    module = _Module()
    result = getattr(_trainer(), stage)(module, _data(), verbose=False)
    name = "val_loss" if stage == "validate" else "test_loss"
    assert result[0][name] == pytest.approx(_expected(), rel=1e-6)
    fx = "validation_step" if stage == "validate" else "test_step"
    assert module.seen == [(fx, 0, False), (fx, 1, False), (fx, 2, False)]


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_a_strategy_that_overrides_the_step_is_called(stage: str) -> None:
    strategy = _CountingStrategy()
    module = _Module()
    result = getattr(_trainer(strategy=strategy), stage)(module, _data(), verbose=False)
    assert strategy.calls == ["validation_step" if stage == "validate" else "test_step"] * 3
    assert next(iter(result[0].values())) == pytest.approx(_expected(), rel=1e-6)


@pytest.mark.parametrize(
    ("base", "name"),
    [
        (Strategy, "validation_step"),
        (Strategy, "_step"),
        (Precision, "val_step_context"),
        (Precision, "forward_context"),
    ],
)
def test_a_method_patched_on_shims_base_class_is_called(base: type, name: str) -> None:
    original = getattr(base, name)
    with mock.patch.object(base, name, autospec=True, side_effect=original) as patched:
        _trainer().validate(_Module(), _data(), verbose=False)
    assert patched.call_count == 3


def test_a_step_context_replaced_on_the_precision_instance_is_entered() -> None:
    entered: list[str] = []

    class Recording:
        def __enter__(self) -> None:
            entered.append("enter")

        def __exit__(self, *args: Any) -> None:
            entered.append("exit")

    trainer = _trainer()
    trainer.precision_plugin.val_step_context = Recording  # type: ignore[method-assign]
    trainer.validate(_Module(), _data(), verbose=False)
    assert entered == ["enter", "exit"] * 3
