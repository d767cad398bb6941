"""Checkpoints: the dict Lightning 2.x writes, which file a run loads, and restoring a run from one.

The layout (``epoch``, ``global_step``, ``pytorch-lightning_version``, ``state_dict``, ``loops``, ``callbacks``,
``optimizer_states``, ``lr_schedulers``, hyper-parameters) is Lightning's, so either can read the other's files.
shim adds one key Lightning ignores, ``shim``, with the random-generator states that make a resumed run continue
exactly as an uninterrupted one would (also with shuffled data and dropout). Reading and writing the files is
``checkpoint_files``'s job.
"""

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from shim.plugins.precision.amp import MixedPrecision
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import get_logger, rank_zero_info, rank_zero_warn
from shim.utilities.seed import collect_rng_states

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = [
    "LIGHTNING_LAYOUT_VERSION",
    "check_state_dict",
    "dump_checkpoint",
    "resolve_ckpt_path",
    "restore_modules_and_callbacks",
    "restore_training_state",
]

log = get_logger(__name__)

# the Lightning release whose checkpoint layout shim writes; Lightning reads it without migrating
LIGHTNING_LAYOUT_VERSION = "2.6.6"


# ----------------------------------------------------------------------------------------------------------------
# saving
# ----------------------------------------------------------------------------------------------------------------
def _loops_state(trainer: "Trainer") -> dict[str, Any]:
    return {
        "fit_loop": trainer.fit_loop.state_dict(),
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


def dump_checkpoint(trainer: "Trainer", weights_only: bool | None = None) -> dict[str, Any]:
    """The checkpoint of the trainer's current state; ``weights_only`` leaves out optimizers, schedulers, callbacks.

    ``None`` saves everything, and says so in the log.
    """
    if weights_only is None:
        weights_only = False
        log.info("`save_checkpoint` got no `weights_only`: the whole training state is saved (`weights_only=False`).")
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
            checkpoint[obj.CHECKPOINT_HYPER_PARAMS_KEY] = _saved_hparams(obj, checkpoint)
    if datamodule is not None:
        state = trainer._hooks.datamodule("state_dict")
        if state:
            checkpoint[type(datamodule).__qualname__] = state
    if not weights_only:
        # what an exact resume needs beyond Lightning's counters, kept in the fit loop's own (free-form) state so
        # that the checkpoint has Lightning's keys: the random states, and the metrics the steps after the save
        # read (plateau schedulers)
        checkpoint["loops"]["fit_loop"]["state_dict"]["shim"] = {
            "rng": collect_rng_states(),
            "rng_at_epoch_start": trainer.fit_loop.epoch_start_rng,
            "callback_metrics": {k: v.detach().cpu() for k, v in trainer.callback_metrics.items()},
        }
        trainer._hooks.callbacks("on_save_checkpoint", checkpoint)
    trainer._hooks.module("on_save_checkpoint", checkpoint)
    return checkpoint


def _saved_hparams(obj: Any, checkpoint: dict[str, Any]) -> Any:
    """The hyper-parameters as a checkpoint holds them: a plain dict, or an OmegaConf config kept with its type."""
    omegaconf = sys.modules.get("omegaconf")  # a config can only exist once omegaconf has been imported
    if omegaconf is not None and isinstance(obj.hparams, omegaconf.Container):
        checkpoint[obj.CHECKPOINT_HYPER_PARAMS_TYPE] = type(obj.hparams)
        return obj.hparams
    return dict(obj.hparams)


# ----------------------------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------------------------
def check_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool, source: str) -> None:
    """Raise before loading anything if ``state_dict`` does not fit ``module`` (so it is never half loaded).

    Raises:
        RuntimeError: Naming ``source`` and, in the lines torch's ``load_state_dict`` uses, the missing, unexpected
            (both only with ``strict``) and mis-shaped keys.
    """
    own = module.state_dict()
    problems = []
    if strict:
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if missing:
            problems.append(f"Missing key(s) in state_dict: {_quoted(missing)}.")
        if unexpected:
            problems.append(f"Unexpected key(s) in state_dict: {_quoted(unexpected)}.")
    problems += [
        f"size mismatch for {k}: {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model."
        for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    if problems:
        lines = "".join(f"\n\t{line}" for line in problems)
        raise RuntimeError(f"The checkpoint {source} does not fit {type(module).__name__}; nothing was loaded:{lines}")


def _quoted(keys: list[str]) -> str:
    return ", ".join(f'"{key}"' for key in keys)


def resolve_ckpt_path(trainer: "Trainer", fn: TrainerFn, ckpt_path: Any, model_provided: bool) -> str | None:
    """Turn ``ckpt_path`` (a path, ``"best"``, ``"last"`` or None) into the file a run loads, or None for none.

    Without a path, ``fit`` resumes from the newest last checkpoint when an ``OnExceptionCheckpoint`` is present,
    and ``validate``/``test``/``predict`` called without a model load the best checkpoint of the previous ``fit``.

    Raises:
        ValueError: For ``"best"`` without a ``ModelCheckpoint`` or before it saved a best model.
    """
    name = fn.value
    # no OnExceptionCheckpoint exists unless its module was imported; a run without one does not import it
    home = sys.modules.get("shim.callbacks.on_exception_checkpoint")
    on_exception = [cb for cb in trainer.callbacks if isinstance(cb, home.OnExceptionCheckpoint)] if home else []
    if ckpt_path is None and on_exception and fn == TrainerFn.FITTING:
        ckpt_path = "last"
        rank_zero_warn(
            f"`.{name}(ckpt_path=None)` with an `OnExceptionCheckpoint` callback resumes from the newest last"
            f" checkpoint (the on-exception one included). Pass `.{name}(ckpt_path='last')` or an exact path to"
            " silence this warning."
        )
    if ckpt_path is None and model_provided:
        return None
    if ckpt_path is None:  # no model passed: the trainer's own, with the weights the previous fit chose
        ckpt_path = "best"
        also = (
            " An `OnExceptionCheckpoint` file may exist too; only `fit` picks it up without being asked."
            if on_exception
            else ""
        )
        rank_zero_warn(
            f"`.{name}(ckpt_path=None)` was called without a model: the best model of the previous `fit` call is"
            f" used.{also} Pass `.{name}(ckpt_path='best')` or `'last'` to choose and silence this warning."
        )
    if ckpt_path == "best":
        return _best_checkpoint(trainer, name)
    if ckpt_path == "last":
        return _last_checkpoint(trainer, name, [cb.ckpt_path for cb in on_exception])
    return os.fspath(ckpt_path)


def _best_checkpoint(trainer: "Trainer", name: str) -> str:
    callbacks = trainer.checkpoint_callbacks
    if not callbacks:
        raise ValueError(f'`.{name}(ckpt_path="best")` needs a `ModelCheckpoint`, and the Trainer has none.')
    callback = callbacks[0]
    best = getattr(callback, "best_model_path", None)
    if len(callbacks) > 1:
        rank_zero_warn(
            f'`.{name}(ckpt_path="best")` with {len(callbacks)} checkpoint callbacks: the best checkpoint path from'
            f" the first one, {type(callback).__name__}, is used ({best!r})."
        )
    if not best:
        if trainer.fast_dev_run:
            raise ValueError(f'`.{name}(ckpt_path="best")` cannot work with `fast_dev_run`, which saves nothing.')
        raise ValueError(f'`.{name}(ckpt_path="best")`: the `ModelCheckpoint` has not saved a best model (yet).')
    return os.fspath(best)


def _last_checkpoint(trainer: "Trainer", name: str, on_exception_paths: list[str]) -> str | None:
    candidates = set(on_exception_paths)
    for callback in trainer.checkpoint_callbacks:
        finder = getattr(callback, "_find_last_checkpoints", None)
        if callable(finder):
            candidates |= finder(trainer)
    existing = {p: os.path.getmtime(p) for p in candidates if os.path.exists(p)}
    if not existing:
        # a warning, not an error: `ckpt_path="last"` may be set before the first run ever saved one
        rank_zero_warn(
            f'`.{name}(ckpt_path="last")`: there is no last checkpoint, so none is loaded. Set'
            " `ModelCheckpoint(save_last=True)` to keep one."
        )
        return None
    return max(existing, key=lambda p: existing[p])


# ----------------------------------------------------------------------------------------------------------------
# restoring
# ----------------------------------------------------------------------------------------------------------------
def restore_modules_and_callbacks(trainer: "Trainer", checkpoint: dict[str, Any], path: str) -> None:
    """Load the module weights (after its ``on_load_checkpoint``), the datamodule state and the callbacks' states.

    As in Lightning 2.6, callbacks are restored in every stage, not only when fitting.
    """
    rank_zero_info(f"Reading the checkpoint {path}")
    model = trainer.lightning_module
    trainer._hooks.module("on_load_checkpoint", checkpoint)
    strict = model.strict_loading
    check_state_dict(model, checkpoint["state_dict"], strict, path)
    model.load_state_dict(checkpoint["state_dict"], strict=strict)
    datamodule = trainer.datamodule
    if datamodule is not None:
        key = type(datamodule).__qualname__
        if key in checkpoint:
            trainer._hooks.datamodule("load_state_dict", checkpoint[key])
        trainer._hooks.datamodule("on_load_checkpoint", checkpoint)
    _restore_callbacks(trainer, checkpoint)


def _restore_callbacks(trainer: "Trainer", checkpoint: dict[str, Any]) -> None:
    """Callbacks' ``on_load_checkpoint`` and their saved states; a weights-only checkpoint has none of either."""
    import copy

    states = checkpoint.get("callbacks")
    if states is None:
        return
    known = {key for cb in trainer.callbacks for key in (cb.state_key, type(cb).__qualname__)}
    absent = [key for key in states if key not in known]
    if absent:
        rank_zero_warn(
            f"The checkpoint holds the state of callbacks this Trainer does not have: {absent}. Pass the callbacks"
            " that wrote the checkpoint to `Trainer(callbacks=...)` to restore them too."
        )
    trainer._hooks.callbacks("on_load_checkpoint", checkpoint)
    for callback in trainer.callbacks:
        state = states.get(callback.state_key) or states.get(type(callback).__qualname__)
        if state:
            callback.load_state_dict(copy.deepcopy(state))


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
        rank_zero_info(f"Using the model weights of the checkpoint {path}")
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
    fit_state = checkpoint.get("loops", {}).get("fit_loop") or {}
    # checkpoints of earlier shim versions kept this under a top-level "shim" key
    shim_state = (fit_state.get("state_dict") or {}).get("shim") or checkpoint.get("shim") or {}
    trainer._metrics.callback.update(shim_state.get("callback_metrics", {}))
    trainer.fit_loop.load_state_dict(checkpoint.get("loops", {}).get("fit_loop"), shim_state)
    rank_zero_info(f"Resuming from the checkpoint {path}: weights, optimizers, schedulers and loop counters restored")
