"""The training epoch loop builds the step outputs of ``on_train_batch_end`` only for listeners that read them."""

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.callbacks import ModelCheckpoint, RichProgressBar, TQDMProgressBar
from shim.callbacks.callback import _ignores_outputs


class _Module(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(4, 1)
        self.losses: list[torch.Tensor] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.losses.append(loss.detach())
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    return DataLoader(TensorDataset(torch.randn(8, 4, generator=generator), torch.randn(8, 1, generator=generator)),
                      batch_size=2)  # fmt: skip


def _fit(module: _Module, tmp_path: Path, callbacks: list[Any]) -> None:
    trainer = shim.Trainer(
        max_epochs=1, default_root_dir=str(tmp_path), logger=False, enable_model_summary=False, callbacks=callbacks
    )
    trainer.fit(module, _loader())


def _assert_outputs_are_the_losses(seen: list[Any], module: _Module) -> None:
    assert len(seen) == len(module.losses) == 4
    for outputs, loss in zip(seen, module.losses, strict=True):
        assert list(outputs) == ["loss"]
        torch.testing.assert_close(outputs["loss"], loss, rtol=0, atol=0)
        assert not outputs["loss"].requires_grad


def test_a_subclass_that_overrides_the_bars_batch_end_hook_gets_the_outputs(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Bar(TQDMProgressBar):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            seen.append(outputs)
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    module = _Module()
    _fit(module, tmp_path, [Bar()])  # with the default checkpoint callback, whose hook ignores the outputs
    _assert_outputs_are_the_losses(seen, module)


def test_the_modules_batch_end_hook_gets_the_outputs_next_to_shims_callbacks(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Module(_Module):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            seen.append(outputs)

    module = Module()
    _fit(module, tmp_path, [])  # the default progress bar and checkpoint callback listen too
    _assert_outputs_are_the_losses(seen, module)


def test_a_user_callback_gets_the_outputs_next_to_shims_callbacks(tmp_path: Path) -> None:
    seen: list[Any] = []

    class Callback(shim.Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            seen.append(outputs)

    module = _Module()
    _fit(module, tmp_path, [Callback()])
    _assert_outputs_are_the_losses(seen, module)


@pytest.mark.parametrize("owner", [TQDMProgressBar, RichProgressBar, ModelCheckpoint])
def test_hooks_that_ignore_the_outputs_get_none_when_nobody_else_reads_them(owner: Any, tmp_path: Path) -> None:
    # the bar's and the checkpoint callback's hooks are marked as not reading `outputs`; a marked spy in the place
    # of one of them sees what the loop hands over when only marked hooks listen
    seen: list[Any] = []
    original = owner.on_train_batch_end

    @_ignores_outputs
    def spy(self: Any, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        seen.append(outputs)
        original(self, trainer, pl_module, outputs, batch, batch_idx)

    assert getattr(original, "_ignores_outputs", False)
    if owner is RichProgressBar:
        pytest.importorskip("rich")
    bar = [owner()] if owner is not ModelCheckpoint else []  # the default bar depends on whether rich is installed
    with mock.patch.object(owner, "on_train_batch_end", spy):
        _fit(_Module(), tmp_path, bar)
    assert seen == [None] * 4


def test_a_mock_in_place_of_a_marked_hook_gets_the_outputs(tmp_path: Path) -> None:
    # a mock answers any attribute, the mark included: it must still count as a hook that reads the outputs
    module = _Module()
    with mock.patch.object(ModelCheckpoint, "on_train_batch_end") as hook:
        _fit(module, tmp_path, [])
    _assert_outputs_are_the_losses([call.args[2] for call in hook.call_args_list], module)
