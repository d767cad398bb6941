"""Checkpoints: the dict Lightning 2.x writes, atomic files, safe loading, and restoring a run from them.

The layout (``epoch``, ``global_step``, ``pytorch-lightning_version``, ``state_dict``, ``loops``, ``callbacks``,
``optimizer_states``, ``lr_schedulers``, hyper-parameters) is Lightning's, so either can read the other's files.
shim adds one key Lightning ignores, ``shim``, with the random-generator states that make a resumed run continue
exactly as an uninterrupted one would (also with shuffled data and dropout).
"""

import argparse
import os
import pickle
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from shim.plugins.precision.amp import MixedPrecision
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.parsing import AttributeDict
from shim.utilities.rank_zero import rank_zero_warn
from shim.utilities.seed import collect_rng_states

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = [
    "LIGHTNING_LAYOUT_VERSION",
    "check_state_dict",
    "dump_checkpoint",
    "load_checkpoint_file",
    "resolve_ckpt_path",
    "restore_modules_and_callbacks",
    "restore_training_state",
    "save_checkpoint_file",
]

# the Lightning release whose checkpoint layout shim writes; Lightning reads it without migrating
LIGHTNING_LAYOUT_VERSION = "2.6.6"

# types besides tensors and primitives that our own checkpoints may contain, allowed in a safe load
SAFE_GLOBALS: list[Any] = [AttributeDict, argparse.Namespace]


# ----------------------------------------------------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------------------------------------------------
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
        # Lightning's prediction loop counts batches without an is_last_batch flag
        "predict_loop": {
            "state_dict": {},
            "batch_progress": _without_last_flag(trainer.predict_loop.batch_progress.state_dict()),
        },
    }


def _without_last_flag(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "is_last_batch"}


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
        checkpoint["shim"] = {
            "rng": collect_rng_states(),
            "rng_at_epoch_start": trainer.fit_loop.epoch_start_rng,
            # what a resumed run needs to repeat the steps that follow the save (plateau schedulers)
            "callback_metrics": {k: v.detach().cpu() for k, v in trainer.callback_metrics.items()},
        }
        for cb in trainer.callbacks:
            cb.on_save_checkpoint(trainer, model, checkpoint)
    trainer._hooks.module("on_save_checkpoint", checkpoint)
    return checkpoint


def save_checkpoint_file(checkpoint: dict[str, Any], filepath: str | os.PathLike) -> None:
    """Write ``checkpoint`` to ``filepath`` through a temporary file, so a crash never leaves half a file."""
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # the temporary name does not end in .ckpt, so a leftover is never taken for a checkpoint
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".ckpt.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ----------------------------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------------------------
def load_checkpoint_file(
    path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None
) -> dict[str, Any]:
    """Load a checkpoint dict; by default with ``torch.load(weights_only=True)`` and shim's allow-list.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        pickle.UnpicklingError: If the file holds objects a safe load refuses (pass ``weights_only=False`` for
            files you trust).
        RuntimeError: If the file is truncated, corrupted or not written by ``torch.save``.
        ValueError: If the file loads but is not a checkpoint (no ``state_dict``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Checkpoint path {path} is a directory, not a checkpoint file")
    safe = weights_only is not False
    try:
        with open(path, "rb") as f:
            if safe:
                with torch.serialization.safe_globals(SAFE_GLOBALS):
                    checkpoint = torch.load(f, map_location=map_location, weights_only=True)
            else:
                checkpoint = torch.load(f, map_location=map_location, weights_only=False)
    except pickle.UnpicklingError as e:
        if safe and "Weights only load failed" in str(e) and _is_torch_zip(path):
            raise pickle.UnpicklingError(
                f"Checkpoint {path} holds objects that a safe load refuses: {_first_line(e)}. Nothing was executed."
                " If you trust this file, load it with `weights_only=False` (for example"
                " `Model.load_from_checkpoint(path, weights_only=False)` or `trainer.fit(..., weights_only=False)`)."
            ) from None
        raise RuntimeError(f"Checkpoint {path} is not a readable checkpoint file: {_first_line(e)}") from None
    except Exception as e:  # torch raises many types for damaged files (RuntimeError, EOFError, KeyError, ...)
        raise RuntimeError(
            f"Checkpoint {path} cannot be read; it is truncated, corrupted or not a torch checkpoint: {_first_line(e)}"
        ) from None
    if not isinstance(checkpoint, Mapping) or "state_dict" not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ValueError(f"{path} is not a Lightning checkpoint: it has no 'state_dict' entry (found {found})")
    return dict(checkpoint)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _is_torch_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def check_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool, source: str) -> None:
    """Raise before loading anything if ``state_dict`` does not fit ``module`` (so it is never half loaded).

    Raises:
        RuntimeError: naming ``source`` and the missing, unexpected or mis-shaped keys.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mis_shaped = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    problems = []
    if strict and missing:
        problems.append(f"missing keys {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if mis_shaped:
        problems.append(f"shape mismatches {mis_shaped}")
    if problems:
        raise RuntimeError(
            f"The checkpoint {source} does not fit {type(module).__name__}: {'; '.join(problems)}."
            " The model was left unchanged."
        )


def resolve_ckpt_path(trainer: "Trainer", fn: TrainerFn, ckpt_path: Any, model_provided: bool) -> str | None:
    """Turn ``ckpt_path`` (a path, ``"best"``, ``"last"`` or None) into a file to load, or None."""
    name = fn.value
    if ckpt_path is None and not model_provided and fn != TrainerFn.FITTING and trainer.checkpoint_callback:
        ckpt_path = "best"
        rank_zero_warn(
            f"`.{name}(ckpt_path=None)` was called without a model: the best model of the previous `fit` call is"
            f" used. Pass `.{name}(ckpt_path='best')` or `'last'` to choose and silence this warning."
        )
    if ckpt_path is None:
        return None
    if ckpt_path == "best":
        callback = trainer.checkpoint_callback
        if callback is None:
            raise ValueError(f'`.{name}(ckpt_path="best")` needs a `ModelCheckpoint`, and the Trainer has none.')
        best = getattr(callback, "best_model_path", None)
        if not best:
            if trainer.fast_dev_run:
                raise ValueError(f'`.{name}(ckpt_path="best")` cannot work with `fast_dev_run`, which saves nothing.')
            raise ValueError(f'`.{name}(ckpt_path="best")`: the `ModelCheckpoint` has not saved a best model (yet).')
        return str(best)
    if ckpt_path == "last":
        candidates: set[str] = set()
        for callback in trainer.checkpoint_callbacks:
            finder = getattr(callback, "_find_last_checkpoints", None)
            if callable(finder):
                candidates |= finder(trainer)
        existing = {p: os.path.getmtime(p) for p in candidates if os.path.exists(p)}
        if not existing:
            rank_zero_warn(
                f'`.{name}(ckpt_path="last")`: there is no last checkpoint, so none is loaded. Set'
                " `ModelCheckpoint(save_last=True)` to keep one."
            )
            return None
        return max(existing, key=lambda p: existing[p])
    return os.fspath(ckpt_path)


# ----------------------------------------------------------------------------------------------------------------
# restoring
# ----------------------------------------------------------------------------------------------------------------
def restore_modules_and_callbacks(trainer: "Trainer", checkpoint: dict[str, Any], path: str) -> None:
    """Load the module weights (after its ``on_load_checkpoint``), the datamodule state and, when fitting, callbacks."""
    model = trainer.lightning_module
    trainer._hooks.module("on_load_checkpoint", checkpoint)
    strict = model.strict_loading
    check_state_dict(model, checkpoint["state_dict"], strict, path)
    model.load_state_dict(checkpoint["state_dict"], strict=strict)
    datamodule = trainer.datamodule
    if datamodule is not None:
        key = type(datamodule).__qualname__
        if key in checkpoint:
            datamodule.load_state_dict(checkpoint[key])
        trainer._hooks.datamodule("on_load_checkpoint", checkpoint)
    if trainer.state.fn != TrainerFn.FITTING:
        return
    for callback in trainer.callbacks:
        callback.on_load_checkpoint(trainer, model, checkpoint)
    states = checkpoint.get("callbacks") or {}
    for callback in trainer.callbacks:
        state = states.get(callback.state_key) or states.get(type(callback).__qualname__)
        if state:
            callback.load_state_dict(dict(state))


def _check_max_epochs(trainer: "Trainer", checkpoint: dict[str, Any], path: str) -> None:
    """Refuse to resume a run that already completed more epochs than ``max_epochs`` allows (Lightning's check).

    Raises:
        MisconfigurationException: If the checkpoint's completed epochs exceed a ``max_epochs`` other than -1.
    """
    max_epochs = trainer.max_epochs
    fit_state = checkpoint.get("loops", {}).get("fit_loop") or {}
    completed = fit_state.get("epoch_progress", {}).get("current", {}).get("completed")
    if completed is None or max_epochs is None or max_epochs == -1 or completed <= max_epochs:
        return
    raise MisconfigurationException(
        f"The checkpoint {path} was saved with current_epoch={completed}, past Trainer(max_epochs={max_epochs}):"
        f" training cannot resume from it. Set max_epochs to at least {completed}, or -1 for no limit."
    )


def restore_training_state(trainer: "Trainer", checkpoint: dict[str, Any], path: str) -> None:
    """Restore precision, loop counters, optimizers and schedulers (fit only), to continue where it stopped.

    Raises:
        MisconfigurationException: If the checkpoint completed more epochs than ``max_epochs``.
        KeyError: If the checkpoint lacks optimizer or scheduler states (saved with ``save_weights_only``).
    """
    plugin = trainer.precision_plugin
    precision_key = type(plugin).__qualname__
    if precision_key in checkpoint:
        plugin.load_state_dict(checkpoint[precision_key])
    if "native_amp_scaling_state" in checkpoint and isinstance(plugin, MixedPrecision):  # a Lightning 1.x file
        plugin.load_state_dict(checkpoint["native_amp_scaling_state"])
    if trainer.state.fn != TrainerFn.FITTING:
        return
    _check_max_epochs(trainer, checkpoint, path)
    if "optimizer_states" not in checkpoint or "lr_schedulers" not in checkpoint:
        raise KeyError(
            f"The checkpoint {path} has no optimizer or scheduler states (it was probably saved with"
            " `save_weights_only=True`), so training cannot resume from it; load its weights with"
            " `load_from_checkpoint` instead."
        )
    optimizer_states = checkpoint["optimizer_states"]
    if len(optimizer_states) != len(trainer.optimizers):
        raise ValueError(
            f"The checkpoint {path} holds {len(optimizer_states)} optimizer states, but `configure_optimizers`"
            f" returned {len(trainer.optimizers)} optimizers."
        )
    for optimizer, state in zip(trainer.optimizers, optimizer_states, strict=True):
        optimizer.load_state_dict(state)
    for config, state in zip(trainer.lr_scheduler_configs, checkpoint["lr_schedulers"], strict=False):
        config.scheduler.load_state_dict(state)
    shim_state = checkpoint.get("shim") or {}
    trainer._metrics.callback.update(shim_state.get("callback_metrics", {}))
    trainer.fit_loop.load_state_dict(checkpoint.get("loops", {}).get("fit_loop"), shim_state)
