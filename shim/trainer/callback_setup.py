"""The Trainer's callbacks (the user's, the defaults the flags ask for, the module's own) and its loggers."""

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shim.callbacks.callback import Callback
from shim.callbacks.checkpoint import Checkpoint
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.config import TrainerConfig

__all__ = ["add_model_callbacks", "build_callbacks", "build_loggers", "checkpoints_last"]


def checkpoints_last(callbacks: list[Callback]) -> list[Callback]:
    """Checkpoint callbacks run after the others, so they see every metric the others logged."""
    return [cb for cb in callbacks if not isinstance(cb, Checkpoint)] + [
        cb for cb in callbacks if isinstance(cb, Checkpoint)
    ]


def build_callbacks(config: "TrainerConfig", callbacks: list[Callback] | Callback | None) -> list[Callback]:
    """The user's callbacks plus the progress bar, model summary and accumulation schedule the flags ask for.

    Raises:
        TypeError: If an entry is not a Callback.
        MisconfigurationException: If a given callback contradicts a flag (a progress bar with
            ``enable_progress_bar=False``, two progress bars, a schedule both as flag and as callback).
    """
    from shim.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
    from shim.callbacks.model_summary import ModelSummary
    from shim.callbacks.progress.progress_bar import ProgressBar
    from shim.callbacks.progress.tqdm_progress import TQDMProgressBar
    from shim.utilities.imports import rich_usable

    given = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
    for cb in given:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}: {cb!r}")
    result = list(given)
    # the defaults in Lightning's order: checkpointing, time limit, progress bar, summary (checkpoints move last)
    checkpoints = [cb for cb in given if isinstance(cb, Checkpoint)]
    if checkpoints and not config.enable_checkpointing:
        raise MisconfigurationException(
            f"enable_checkpointing=False, but callbacks holds {type(checkpoints[0]).__name__}; remove one of them."
        )
    if not checkpoints and config.enable_checkpointing:
        from shim.callbacks.model_checkpoint import ModelCheckpoint

        result.append(ModelCheckpoint())
    if config.max_time is not None:
        from shim.callbacks.timer import Timer

        if any(isinstance(cb, Timer) for cb in given):
            rank_zero_info("Ignoring `Trainer(max_time=...)`: the callbacks already hold a Timer.")
        else:
            result.append(Timer(duration=config.max_time, interval="step"))
    bars = [cb for cb in given if isinstance(cb, ProgressBar)]
    if len(bars) > 1:
        raise MisconfigurationException(f"Only one progress bar callback is allowed; got {len(bars)}.")
    if bars and not config.enable_progress_bar:
        raise MisconfigurationException(
            f"callbacks holds a progress bar ({type(bars[0]).__name__}) but enable_progress_bar=False."
        )
    # as in Lightning, the defaults draw with rich when it is installed
    rich = rich_usable()
    if not bars and config.enable_progress_bar:
        if rich:
            from shim.callbacks.progress.rich_progress import RichProgressBar

            result.append(RichProgressBar())
        else:
            result.append(TQDMProgressBar())
    if config.enable_model_summary:
        summaries = [type(cb).__name__ for cb in given if isinstance(cb, ModelSummary)]
        if summaries:
            rank_zero_info(f"No default ModelSummary is added: the callbacks already hold {', '.join(summaries)}.")
        elif rich:
            from shim.callbacks.rich_model_summary import RichModelSummary

            result.append(RichModelSummary())
        else:
            result.append(ModelSummary())
    if config.accumulation_schedule is not None:
        if any(isinstance(cb, GradientAccumulationScheduler) for cb in given):
            raise MisconfigurationException(
                "accumulate_grad_batches was given as a dict and a GradientAccumulationScheduler is in callbacks;"
                " use one of them."
            )
        result.append(GradientAccumulationScheduler(config.accumulation_schedule))
    _check_state_keys(result)
    return checkpoints_last(result)


def _check_state_keys(callbacks: list[Callback]) -> None:
    """Callbacks with a state must have distinct ``state_key``s, or one's state would overwrite another's.

    Raises:
        RuntimeError: Naming the class and the shared key.
    """
    from shim.utilities.model_helpers import is_overridden

    seen: set[str] = set()
    for callback in callbacks:
        if not is_overridden("state_dict", instance=callback, parent=Callback):
            continue
        if callback.state_key in seen:
            raise RuntimeError(
                f"Two {type(callback).__name__} callbacks save their state under the same key"
                f" {callback.state_key!r}, so a checkpoint could keep only one of them. Configure them differently"
                " (for ModelCheckpoint: monitor, mode, every_n_train_steps, every_n_epochs or train_time_interval)."
            )
        seen.add(callback.state_key)


def add_model_callbacks(callbacks: list[Callback], extra: Any) -> list[Callback]:
    """Add what ``configure_callbacks`` returned; one of a type already present replaces the Trainer's."""
    if not extra:
        return callbacks
    extra = [extra] if isinstance(extra, Callback) else list(extra)
    extra_types = {type(cb) for cb in extra}
    replaced = sorted({type(cb).__name__ for cb in callbacks if type(cb) in extra_types})
    if replaced:
        rank_zero_info(f"`configure_callbacks` replaces the Trainer's callbacks of the same type: {replaced}")
    return checkpoints_last([cb for cb in callbacks if type(cb) not in extra_types] + extra)


def build_loggers(config: "TrainerConfig", logger: Any, default_root_dir: str) -> list[Any]:
    """``True``/``None``: TensorBoard in ``default_root_dir`` (CSV without tensorboard); ``False``: no logger."""
    from shim.loggers.logger import DummyLogger

    if logger is False or config.barebones:
        return []
    if config.fast_dev_run:
        return [DummyLogger()]
    if logger is None or logger is True:
        from shim.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE, TensorBoardLogger

        if _TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE:
            return [TensorBoardLogger(save_dir=default_root_dir, version=_slurm_job_id())]
        from shim.loggers.csv_logs import CSVLogger

        rank_zero_warn(
            "`logger=True` uses a CSVLogger because neither `tensorboard` nor `tensorboardX` is installed;"
            " install `tensorboard` to get the TensorBoard logger."
        )
        return [CSVLogger(save_dir=default_root_dir)]
    if isinstance(logger, Iterable):
        return list(logger)
    return [logger]


def _slurm_job_id() -> int | None:
    """The SLURM job id, which names the default logger's version under SLURM (outside interactive shells)."""
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    if job_id is None or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return None
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    try:
        return int(f"{job_id}{task}") if task else int(job_id)
    except ValueError:
        return None
