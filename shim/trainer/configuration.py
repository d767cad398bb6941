"""Checks that a model and its data can run the requested entry point, before anything runs."""

from typing import TYPE_CHECKING

from shim.trainer.data import switched_off_loader_error
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["verify_loop_configuration"]


def verify_loop_configuration(trainer: "Trainer", model: "LightningModule") -> None:
    """Raise if ``model`` lacks what ``trainer.state.fn`` needs (steps, optimizers, loaders); warn on half-configs.

    Raises:
        MisconfigurationException: naming the missing method or loader.
    """
    fn = trainer.state.fn
    if fn == TrainerFn.FITTING:
        if not trainer._module_overrides("training_step"):
            raise MisconfigurationException(
                "The model has no `training_step()`: `trainer.fit` needs `training_step`, a train dataloader and"
                " `configure_optimizers`."
            )
        if not trainer.fit_loop.source.is_defined():
            raise switched_off_loader_error(trainer.fit_loop.source, fn.value) or MisconfigurationException(
                "No train dataloader: pass `train_dataloaders` to fit, a datamodule, or implement"
                " `train_dataloader()` on the model."
            )
        if not trainer._module_overrides("configure_optimizers"):
            raise MisconfigurationException(
                "The model has no `configure_optimizers()`: `trainer.fit` needs it to build the optimizer."
            )
        if model.automatic_optimization is False and trainer.gradient_clip_val:
            raise MisconfigurationException(
                f"gradient_clip_val={trainer.gradient_clip_val} needs automatic optimization; under manual"
                " optimization call `trainer.clip_gradients(...)` in `training_step`."
            )
        val_source = trainer.fit_loop.epoch_loop.val_loop.source
        has_val_step = trainer._module_overrides("validation_step")
        if has_val_step and not val_source.is_defined():
            rank_zero_warn(
                "The module has a `validation_step` but there is no val dataloader: fit runs without validation.",
                category=PossibleUserWarning,
            )
        elif val_source.is_defined() and not has_val_step:
            rank_zero_warn(
                "A val dataloader was given but the module has no `validation_step`: fit runs without validation."
            )
    elif fn in (TrainerFn.VALIDATING, TrainerFn.TESTING):
        name = "validation" if fn == TrainerFn.VALIDATING else "test"
        if not trainer._module_overrides(f"{name}_step"):
            raise MisconfigurationException(f"The model has no `{name}_step()` for `trainer.{fn.value}`.")
        loop = trainer.validate_loop if fn == TrainerFn.VALIDATING else trainer.test_loop
        if not loop.source.is_defined():
            prefix = "val" if name == "validation" else "test"
            raise switched_off_loader_error(loop.source, fn.value) or MisconfigurationException(
                f"No {prefix} dataloader: pass `dataloaders`, a datamodule, or implement `{prefix}_dataloader()`."
            )
    else:
        if not trainer._module_overrides("predict_step") and not trainer._module_overrides("forward"):
            raise MisconfigurationException("`trainer.predict` needs `predict_step` or `forward` on the model.")
        if not trainer.predict_loop.source.is_defined():
            raise switched_off_loader_error(trainer.predict_loop.source, "predict") or MisconfigurationException(
                "No predict dataloader: pass `dataloaders`, a datamodule, or implement `predict_dataloader()`."
            )
