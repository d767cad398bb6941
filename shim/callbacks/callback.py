"""``Callback``: the base class of every callback; each hook does nothing until overridden."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from torch import Tensor
from torch.optim import Optimizer

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["Callback"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _ignores_outputs(hook: _F) -> _F:
    """Mark a batch-end hook that never reads its ``outputs`` argument.

    When every listener of ``on_train_batch_end`` is marked (and the module does not override it), the training loop
    does not build the step's outputs and passes None. A subclass that overrides the hook is not marked.
    """
    hook._ignores_outputs = True  # type: ignore[attr-defined]
    return hook


class Callback:
    """Code that runs at the Trainer's hook points, kept apart from the model."""

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint; unique per class unless overridden."""
        return type(self).__qualname__

    def _generate_state_key(self, **kwargs: Any) -> str:
        return f"{type(self).__qualname__}{repr(kwargs)}"

    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        """Called when fit, validate, test or predict begins."""

    def teardown(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        """Called when fit, validate, test or predict ends."""

    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when fit begins."""

    def on_fit_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when fit ends."""

    def on_sanity_check_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called before the few validation batches that run ahead of training."""

    def on_sanity_check_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called after the few validation batches that run ahead of training."""

    def on_train_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int
    ) -> None:
        """Called before a training batch."""

    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Called after a training batch."""

    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a training epoch begins."""

    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a training epoch ends."""

    def on_validation_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a validation epoch begins."""

    def on_validation_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a validation epoch ends."""

    def on_test_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a test epoch begins."""

    def on_test_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when a test epoch ends."""

    def on_predict_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when predicting begins."""

    def on_predict_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when predicting ends."""

    def on_validation_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called before a validation batch."""

    def on_validation_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after a validation batch."""

    def on_test_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called before a test batch."""

    def on_test_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after a test batch."""

    def on_predict_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called before a predict batch."""

    def on_predict_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after a predict batch."""

    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when training begins."""

    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when training ends."""

    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when validation begins."""

    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when validation ends."""

    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when testing begins."""

    def on_test_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when testing ends."""

    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when predicting begins."""

    def on_predict_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called when predicting ends."""

    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        """Called when fit, validate, test or predict raises."""

    def state_dict(self) -> dict[str, Any]:
        """State to save in checkpoints under ``state_key``."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def on_save_checkpoint(self, trainer: "Trainer", pl_module: "LightningModule", checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is saved."""

    def on_load_checkpoint(self, trainer: "Trainer", pl_module: "LightningModule", checkpoint: dict[str, Any]) -> None:
        """Called when a checkpoint is loaded."""

    def on_before_backward(self, trainer: "Trainer", pl_module: "LightningModule", loss: Tensor) -> None:
        """Called before ``loss.backward()``."""

    def on_after_backward(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Called after ``loss.backward()`` and before optimizers step."""

    def on_before_optimizer_step(self, trainer: "Trainer", pl_module: "LightningModule", optimizer: Optimizer) -> None:
        """Called before ``optimizer.step()``."""

    def on_before_zero_grad(self, trainer: "Trainer", pl_module: "LightningModule", optimizer: Optimizer) -> None:
        """Called before ``optimizer.zero_grad()``."""
