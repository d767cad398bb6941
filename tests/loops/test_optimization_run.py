"""The optimization objects' ``run``, called with ``training_step``'s arguments by name, outside the epoch loop."""

from typing import Any

import torch

import shim
from shim.demos.boring_classes import BoringModel
from shim.trainer.states import RunningStage


class _SkipEven(BoringModel):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self.step(batch)
        return {"loss": loss, "idx": torch.tensor(batch_idx)} if batch_idx % 2 else None


def _fitted(model: shim.LightningModule, tmp_path: Any, **kwargs: Any) -> shim.Trainer:
    trainer = shim.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )
    trainer.fit(model)
    trainer.state.stage = RunningStage.TRAINING
    return trainer


def test_automatic_run_takes_named_arguments_and_steps(tmp_path: Any) -> None:
    model = _SkipEven()
    trainer = _fitted(model, tmp_path)
    automatic = trainer.fit_loop.epoch_loop.automatic_optimization
    optimizer = trainer.optimizers[0]  # the torch optimizer, as Lightning's loop API takes it
    batch = next(iter(model.train_dataloader()))

    assert automatic.run(optimizer, 0, {"batch": batch, "batch_idx": 0}) == {}

    before = model.layer.weight.detach().clone()
    steps = automatic.optim_progress.optimizer.step.total.completed
    out = automatic.run(optimizer, 1, {"batch": batch, "batch_idx": 1})
    assert set(out) == {"loss", "idx"}
    assert not out["loss"].requires_grad
    assert out["idx"].item() == 1
    assert automatic.optim_progress.optimizer.step.total.completed == steps + 1
    assert not torch.equal(model.layer.weight, before)


def test_manual_run_takes_named_arguments(tmp_path: Any) -> None:
    class Manual(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            opt = self.optimizers()
            loss = self.step(batch)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            return {"loss": loss, "idx": batch_idx}

    model = Manual()
    trainer = _fitted(model, tmp_path)
    manual = trainer.fit_loop.epoch_loop.manual_optimization
    steps = manual.optim_step_progress.total.completed
    batch = next(iter(model.train_dataloader()))
    out = manual.run({"batch": batch, "batch_idx": 5})
    assert out["idx"] == 5
    assert not out["loss"].requires_grad
    assert manual.optim_step_progress.total.completed == steps + 1
