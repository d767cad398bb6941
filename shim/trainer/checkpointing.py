"""Checkpoint dicts with Lightning 2.x's keys, and writing them to disk atomically.

The layout (``epoch``, ``global_step``, ``pytorch-lightning_version``, ``state_dict``, ``loops``, ``callbacks``,
``optimizer_states``, ``lr_schedulers``, hyper-parameters) is the one Lightning writes, so both can read it.
"""

import os
import tempfile
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["dump_checkpoint", "save_checkpoint_file", "LIGHTNING_LAYOUT_VERSION"]

# the Lightning release whose checkpoint layout shim writes; Lightning reads it without migrating
LIGHTNING_LAYOUT_VERSION = "2.6.6"


def _loops_state(trainer: "Trainer") -> dict[str, Any]:
    fit = trainer.fit_loop
    epoch_loop = fit.epoch_loop
    return {
        "fit_loop": {
            "state_dict": {},
            "epoch_loop.state_dict": {"_batches_that_stepped": epoch_loop.batches_that_stepped},
            "epoch_loop.batch_progress": epoch_loop.batch_progress.state_dict(),
            "epoch_loop.scheduler_progress": epoch_loop.scheduler_progress.state_dict(),
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": (
                epoch_loop.automatic_optimization.optim_progress.state_dict()
            ),
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": (
                epoch_loop.manual_optimization.optim_step_progress.state_dict()
            ),
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": epoch_loop.val_loop.batch_progress.state_dict(),
            "epoch_progress": fit.epoch_progress.state_dict(),
        },
        "validate_loop": {"state_dict": {}, "batch_progress": trainer.validate_loop.batch_progress.state_dict()},
        "test_loop": {"state_dict": {}, "batch_progress": trainer.test_loop.batch_progress.state_dict()},
        "predict_loop": {"state_dict": {}, "batch_progress": trainer.predict_loop.batch_progress.state_dict()},
    }


def dump_checkpoint(trainer: "Trainer", weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint of the trainer's current state; ``weights_only`` leaves out optimizers, schedulers, callbacks."""
    model = trainer.lightning_module
    datamodule = trainer.datamodule
    checkpoint: dict[str, Any] = {
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "pytorch-lightning_version": LIGHTNING_LAYOUT_VERSION,
        "state_dict": model.state_dict(),
        "loops": _loops_state(trainer),
    }
    if not weights_only:
        checkpoint["callbacks"] = {cb.state_key: state for cb in trainer.callbacks if (state := cb.state_dict())}
        checkpoint["optimizer_states"] = [opt.state_dict() for opt in trainer.optimizers]
        checkpoint["lr_schedulers"] = [config.scheduler.state_dict() for config in trainer.lr_scheduler_configs]
        precision_state = trainer.precision_plugin.state_dict()
        if precision_state:
            checkpoint[type(trainer.precision_plugin).__qualname__] = precision_state
    for obj in (model, datamodule):
        if obj is not None and obj.hparams:
            if hasattr(obj, "_hparams_name"):
                checkpoint[obj.CHECKPOINT_HYPER_PARAMS_NAME] = obj._hparams_name
            checkpoint[obj.CHECKPOINT_HYPER_PARAMS_KEY] = dict(obj.hparams)
    if datamodule is not None:
        state = datamodule.state_dict()
        if state:
            checkpoint[type(datamodule).__qualname__] = state
    if not weights_only:
        for cb in trainer.callbacks:
            cb.on_save_checkpoint(trainer, model, checkpoint)
    trainer._hooks.module("on_save_checkpoint", checkpoint)
    return checkpoint


def save_checkpoint_file(checkpoint: dict[str, Any], filepath: str | os.PathLike) -> None:
    """Write ``checkpoint`` to ``filepath`` through a temporary file, so a crash never leaves half a file."""
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
