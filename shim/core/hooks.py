"""The hooks a LightningModule (and partly a LightningDataModule) can override, with their default behaviour."""

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from shim.utilities.apply_func import move_data_to_device
from shim.utilities.exceptions import MisconfigurationException

__all__ = ["ModelHooks", "DataHooks", "CheckpointHooks"]


class ModelHooks:
    """Hooks called around training, evaluation and prediction; all do nothing unless overridden."""

    def on_fit_start(self) -> None:
        """Called at the very beginning of fit."""

    def on_fit_end(self) -> None:
        """Called at the very end of fit."""

    def on_train_start(self) -> None:
        """Called at the beginning of training after the sanity check."""

    def on_train_end(self) -> None:
        """Called when training is over, while the loggers are still open."""

    def on_validation_start(self) -> None:
        """Called at the beginning of validation."""

    def on_validation_end(self) -> None:
        """Called at the end of validation."""

    def on_test_start(self) -> None:
        """Called at the beginning of testing."""

    def on_test_end(self) -> None:
        """Called at the end of testing."""

    def on_predict_start(self) -> None:
        """Called at the beginning of predicting."""

    def on_predict_end(self) -> None:
        """Called at the end of predicting."""

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        """Called before a training batch; returning -1 skips the rest of the epoch."""
        return None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Called after a training batch, with what ``training_step`` returned (as a dict with ``loss``)."""

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before a validation batch."""

    def on_validation_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after a validation batch."""

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before a test batch."""

    def on_test_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after a test batch."""

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before a predict batch."""

    def on_predict_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after a predict batch."""

    def on_validation_model_zero_grad(self) -> None:
        """Called before validation inside fit; clears the gradients so they do not sit in memory meanwhile."""
        self.zero_grad()  # type: ignore[attr-defined]

    def on_validation_model_eval(self) -> None:
        """Called when validation starts: puts the model in eval mode."""
        self.trainer.model.eval()  # type: ignore[attr-defined]

    def on_validation_model_train(self) -> None:
        """Called when validation ends: puts the model back in train mode."""
        self.trainer.model.train()  # type: ignore[attr-defined]

    def on_test_model_eval(self) -> None:
        """Called when testing starts: puts the model in eval mode."""
        self.trainer.model.eval()  # type: ignore[attr-defined]

    def on_test_model_train(self) -> None:
        """Called when testing ends: puts the model back in train mode."""
        self.trainer.model.train()  # type: ignore[attr-defined]

    def on_predict_model_eval(self) -> None:
        """Called when predicting starts: puts the model in eval mode."""
        self.trainer.model.eval()  # type: ignore[attr-defined]

    def on_train_epoch_start(self) -> None:
        """Called at the start of a training epoch."""

    def on_train_epoch_end(self) -> None:
        """Called at the end of a training epoch, before the checkpoint and early-stopping callbacks."""

    def on_validation_epoch_start(self) -> None:
        """Called at the start of a validation epoch."""

    def on_validation_epoch_end(self) -> None:
        """Called at the end of a validation epoch."""

    def on_test_epoch_start(self) -> None:
        """Called at the start of a test epoch."""

    def on_test_epoch_end(self) -> None:
        """Called at the end of a test epoch."""

    def on_predict_epoch_start(self) -> None:
        """Called at the start of predicting."""

    def on_predict_epoch_end(self) -> None:
        """Called at the end of predicting."""

    def on_before_zero_grad(self, optimizer: Optimizer) -> None:
        """Called before ``optimizer.zero_grad()``."""

    def on_before_backward(self, loss: Tensor) -> None:
        """Called before ``loss.backward()``."""

    def on_after_backward(self) -> None:
        """Called after ``loss.backward()`` and before the optimizer steps."""

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Called before ``optimizer.step()``, after gradients were unscaled and before they are clipped."""

    def configure_sharded_model(self) -> None:
        """Deprecated name of ``configure_model``."""

    def configure_model(self) -> None:
        """Create modules here to build them directly on the target device or strategy."""


class DataHooks:
    """Hooks that provide data and move batches to the device."""

    prepare_data_per_node: bool = True
    allow_zero_length_dataloader_with_multiple_devices: bool = False

    def prepare_data(self) -> None:
        """Download or prepare data; called once per node (or once in total), before ``setup``."""

    def setup(self, stage: str) -> None:
        """Called at the beginning of fit, validate, test and predict with the stage name."""

    def teardown(self, stage: str) -> None:
        """Called at the end of fit, validate, test and predict with the stage name."""

    def train_dataloader(self) -> Any:
        """Return the training data loader."""
        raise MisconfigurationException(
            "`train_dataloader` is not defined: override it, or give the loader to the Trainer method that needs it"
        )

    def val_dataloader(self) -> Any:
        """Return the validation data loader(s)."""
        raise MisconfigurationException(
            "`val_dataloader` is not defined: override it, or give the loader to the Trainer method that needs it"
        )

    def test_dataloader(self) -> Any:
        """Return the test data loader(s)."""
        raise MisconfigurationException(
            "`test_dataloader` is not defined: override it, or give the loader to the Trainer method that needs it"
        )

    def predict_dataloader(self) -> Any:
        """Return the predict data loader(s)."""
        raise MisconfigurationException(
            "`predict_dataloader` is not defined: override it, or give the loader to the Trainer method that needs it"
        )

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move a batch to ``device``; handles tensors in nested lists, tuples, dicts, namedtuples and dataclasses."""
        return move_data_to_device(batch, device)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Change a batch before it is moved to the device."""
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Change a batch after it was moved to the device."""
        return batch


class CheckpointHooks:
    """Hooks that add to or read from a checkpoint."""

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is loaded, with the whole checkpoint dict."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is saved; add what you need to restore to ``checkpoint``."""
