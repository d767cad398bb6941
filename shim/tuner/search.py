"""The frame every tuner search runs in: a checkpoint of the run beforehand, the trainer settings a search borrows,
out-of-memory detection, and the signal that ends a ``Tuner`` run once the search is done.
"""

import gc
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import TYPE_CHECKING, Any

import torch

from shim.trainer.checkpoint_files import load_checkpoint_file
from shim.trainer.checkpointing import restore_modules_and_callbacks, restore_training_state

if TYPE_CHECKING:
    from shim.callbacks.callback import Callback
    from shim.trainer.trainer import Trainer

__all__ = ["garbage_collection_cuda", "is_oom_error"]

# the messages of out-of-memory errors raised as plain RuntimeErrors (CUDA, cuDNN, the CPU allocator)
_OOM_MESSAGES = (
    ("CUDA", "out of memory"),
    ("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED.",),
    ("DefaultCPUAllocator: can't allocate memory",),
)


class _TunerExitException(Exception):
    """Raised by a finder callback that a ``Tuner`` added, to end the run once the search is done."""


def is_oom_error(exception: BaseException) -> bool:
    """Whether ``exception`` says the device (or the CPU allocator) ran out of memory."""
    if isinstance(exception, torch.cuda.OutOfMemoryError):
        return True
    if not isinstance(exception, RuntimeError) or len(exception.args) != 1 or not isinstance(exception.args[0], str):
        return False
    message = exception.args[0]
    return any(all(part in message for part in parts) for parts in _OOM_MESSAGES)


def garbage_collection_cuda() -> None:
    """Collect garbage and hand cached CUDA memory back, so the next trial starts from a clean device.

    Without CUDA this does nothing: a full collection costs up to a second in a large process, and on the CPU the
    tensors of a failed trial are freed by reference counting once its exception is dropped.
    """
    if not torch.cuda.is_available():
        return
    gc.collect()
    try:
        torch.cuda.empty_cache()
    except RuntimeError as exception:
        if not is_oom_error(exception):
            raise


def save_snapshot(trainer: "Trainer", prefix: str) -> str:
    """Save the run as it is now to a hidden checkpoint in ``default_root_dir``; returns its path."""
    path = os.path.join(trainer.default_root_dir, f".{prefix}_{uuid.uuid4()}.ckpt")
    path = trainer.strategy.broadcast(path)
    trainer.save_checkpoint(path)
    return path


def restore_snapshot(trainer: "Trainer", path: str) -> None:
    """Load the weights, optimizer, scheduler, callback and counter states saved by ``save_snapshot``; delete it."""
    try:
        # our own file, written moments ago: hyper-parameters may hold any picklable object
        checkpoint = load_checkpoint_file(path, weights_only=False)
        restore_modules_and_callbacks(trainer, checkpoint, path)
        restore_training_state(trainer, checkpoint, path)
    finally:
        if trainer.is_global_zero and os.path.exists(path):
            os.remove(path)
        trainer.strategy.barrier("tuner.restore_snapshot")
    # restoring is not resuming: the run goes on with the random state the search left, as in Lightning
    trainer.fit_loop._resume = None
    trainer.should_stop = False


@contextmanager
def borrowed_callbacks_and_loggers(trainer: "Trainer", callbacks: list["Callback"]) -> Iterator[None]:
    """Run a search with only ``callbacks`` and a logger that records nothing; give the real ones back after."""
    from shim.loggers.logger import DummyLogger

    saved_callbacks, saved_loggers = trainer.callbacks, trainer.loggers
    trainer.callbacks = callbacks
    trainer.loggers = [DummyLogger()] if saved_loggers else []
    trainer._hooks.reset()
    try:
        yield
    finally:
        trainer.callbacks, trainer.loggers = saved_callbacks, saved_loggers
        trainer._hooks.reset()


class LoopCounters:
    """The progress counters of the loop a search runs, to start every trial (and the real run) from them."""

    def __init__(self, trainer: "Trainer", loop: Any) -> None:
        self.trainer = trainer
        if loop is trainer.fit_loop:
            epoch_loop = loop.epoch_loop
            self.counters: list[Any] = [
                loop.epoch_progress,
                epoch_loop.batch_progress,
                epoch_loop.scheduler_progress,
                epoch_loop.automatic_optimization.optim_progress,
                epoch_loop.manual_optimization.optim_step_progress,
                epoch_loop.val_loop.batch_progress,
            ]
        else:
            self.counters = [loop.batch_progress]
        self.states = [deepcopy(counter.state_dict()) for counter in self.counters]
        self.batches_that_stepped = trainer.fit_loop.epoch_loop.batches_that_stepped

    def restore(self) -> None:
        for counter, state in zip(self.counters, self.states, strict=True):
            counter.load_state_dict(deepcopy(state))
        self.trainer.fit_loop.epoch_loop.batches_that_stepped = self.batches_that_stepped
        self.trainer.should_stop = False
