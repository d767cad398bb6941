"""Which object's batch-transfer hooks run: the datamodule's only where its class overrides them, as in Lightning."""

import functools
from typing import Any

import torch

import shim
from shim.demos.boring_classes import BoringDataModule, BoringModel


class _Recording(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.calls.append("module")
        return batch


def _fit(model: BoringModel, datamodule: shim.LightningDataModule) -> None:
    trainer = shim.Trainer(
        max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=datamodule)


def test_a_datamodule_hook_wrapped_on_the_instance_does_not_take_over() -> None:
    datamodule = BoringDataModule()
    seen: list[str] = []

    def record(fn: Any, batch: Any, dataloader_idx: int) -> Any:
        seen.append("datamodule")
        return fn(batch, dataloader_idx)

    hook = datamodule.on_before_batch_transfer
    datamodule.on_before_batch_transfer = functools.update_wrapper(functools.partial(record, hook), hook)  # type: ignore[method-assign]
    model = _Recording()
    _fit(model, datamodule)
    assert model.calls == ["module", "module"]
    assert seen == []


def test_a_datamodule_class_override_is_used_instead_of_the_modules() -> None:
    class Data(BoringDataModule):
        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            self.seen = getattr(self, "seen", 0) + 1
            return batch * 0

    class Checking(_Recording):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            assert torch.count_nonzero(batch) == 0
            return super().training_step(batch, batch_idx)

    data, model = Data(), Checking()
    _fit(model, data)
    assert data.seen == 2
    assert model.calls == []
