"""One run of an entry point (fit, validate, test, predict): setup, the stage's loop, teardown, and interruptions.

``call_and_handle_interrupt`` wraps the run as Lightning does: a finder callback's early exit ends it normally, a
``KeyboardInterrupt`` ends it gracefully and then exits the program with status 1, and any other exception reaches
the callbacks' ``on_exception`` before it propagates.
"""

import signal
from typing import TYPE_CHECKING, Any

import torch

from shim.core.module import LightningModule
from shim.loggers.utilities import log_hyperparams
from shim.trainer.callback_setup import add_model_callbacks
from shim.trainer.checkpointing import resolve_ckpt_path, restore_modules_and_callbacks, restore_training_state
from shim.trainer.configuration import verify_loop_configuration
from shim.trainer.data import decide_batch_transfer
from shim.trainer.states import RunningStage, TrainerFn, TrainerStatus
from shim.tuner.search import _TunerExitException
from shim.utilities.model_helpers import is_overridden
from shim.utilities.parsing import clean_namespace
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_info, rank_zero_warn
from shim.utilities.seed import isolate_rng

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["call_and_handle_interrupt", "run", "teardown", "teardown_hooks"]


def call_and_handle_interrupt(trainer: "Trainer", fn: Any, *args: Any) -> Any:
    """``fn(trainer, *args)``, through the strategy's launcher when it has one, with Lightning's error handling."""
    launcher = trainer.strategy.launcher
    try:
        if launcher is not None:
            return launcher.launch(fn, trainer, *args, trainer=trainer)
        return fn(trainer, *args)
    except _TunerExitException:
        # a finder callback ended this run on purpose: a normal end, without on_exception
        teardown(trainer)
        teardown_hooks(trainer, trainer.state.fn)  # type: ignore[arg-type]
        trainer.state.status = TrainerStatus.FINISHED
        trainer._set_stage(None)
        return None
    except KeyboardInterrupt as exception:
        # as Lightning: a Ctrl+C ends the run gracefully (hooks, teardown) and then the program, with status 1
        rank_zero_info("\nKeyboardInterrupt: ending the run (callbacks, teardown), then the program.")
        _ignore_further_interrupts()
        interrupt(trainer, exception)
        teardown(trainer)
        if launcher is not None:
            launcher.kill(signal.SIGKILL)
        raise SystemExit(1) from exception
    except BaseException as exception:
        if launcher is not None:
            # ranks this process started would otherwise wait for it inside a collective until the timeout
            launcher.kill(signal.SIGKILL)
        interrupt(trainer, exception)
        teardown(trainer)
        trainer._set_stage(None)
        raise


def interrupt(trainer: "Trainer", exception: BaseException) -> None:
    """Mark the run interrupted and let the callbacks, datamodule, strategy and loggers react to ``exception``."""
    trainer.state.status = TrainerStatus.INTERRUPTED
    if trainer._model is not None and trainer._model._trainer is trainer:
        trainer._hooks.callbacks("on_exception", exception)
        trainer._hooks.datamodule("on_exception", exception)
        trainer.strategy.on_exception(exception)
        for logger in trainer.loggers:
            logger.finalize("failed")


def run(
    trainer: "Trainer", model: LightningModule, ckpt_path: Any, model_provided: bool, weights_only: bool | None
) -> Any:
    fn = trainer.state.fn
    assert fn is not None
    trainer.ckpt_path = resolve_ckpt_path(trainer, fn, ckpt_path, model_provided)
    if fn == TrainerFn.FITTING and trainer._config.max_epochs is None:
        from shim.callbacks.timer import Timer

        # a Timer among the callbacks (from `max_time` or given by the user) bounds the run, as max_steps does
        has_timer = any(isinstance(callback, Timer) for callback in trainer.callbacks)
        max_epochs = 1000 if trainer.max_steps == -1 and not has_timer else -1
        if max_epochs == 1000:
            rank_zero_warn(
                "No `max_epochs` was given: training stops after 1000 epochs. Set `max_epochs=-1` to train without"
                " an epoch limit.",
                category=PossibleUserWarning,
            )
        trainer.fit_loop.max_epochs = max_epochs
    # as Lightning: an unpicklable hyper-parameter is dropped (with a warning) before checkpoints could need it
    clean_namespace(model.hparams)
    model.trainer = trainer
    trainer.strategy.connect(model)
    trainer.callbacks = add_model_callbacks(trainer.callbacks, trainer._hooks.module("configure_callbacks"))
    for callback in trainer.callbacks:  # as in Lightning, a callback can call `self.log` / `self.log_dict`
        callback.log = model.log  # type: ignore[attr-defined]
        callback.log_dict = model.log_dict  # type: ignore[attr-defined]
    trainer._hooks.reset()
    trainer._module_overrides_cache = {}
    verify_loop_configuration(trainer, model)
    trainer.strategy.setup_environment()
    if trainer._hooks.profiled:
        setup_profiler(trainer)
    prepare_data(trainer)
    setup_hooks(trainer, fn)
    trainer._hooks.module("configure_sharded_model") if is_overridden("configure_sharded_model", model) else None
    trainer._hooks.module("configure_model")
    checkpoint = None
    if trainer.ckpt_path is not None:
        checkpoint = trainer.strategy.load_checkpoint(trainer.ckpt_path, weights_only=weights_only)
        restore_modules_and_callbacks(trainer, checkpoint, trainer.ckpt_path)
    trainer._metrics.reset_results()
    trainer._metrics.reset_metrics()
    trainer.strategy.setup(trainer)
    decide_batch_transfer(trainer)
    if fn == TrainerFn.FITTING:
        trainer._hooks.call("on_fit_start")
    if trainer.enable_autolog_hparams:
        log_hyperparams(trainer)
    if checkpoint is not None:
        restore_training_state(trainer, checkpoint, trainer.ckpt_path)  # type: ignore[arg-type]
        del checkpoint
    results = run_stage(trainer)
    teardown(trainer)
    if fn == TrainerFn.FITTING:
        trainer._hooks.call("on_fit_end")
    teardown_hooks(trainer, fn)
    trainer.state.status = TrainerStatus.FINISHED
    trainer._set_stage(None)
    return results


def run_stage(trainer: "Trainer") -> Any:
    fn = trainer.state.fn
    module = trainer.lightning_module
    module.zero_grad()
    if fn == TrainerFn.FITTING:
        with isolate_rng():
            run_sanity_check(trainer)
        with torch.autograd.set_detect_anomaly(trainer._config.detect_anomaly):
            trainer.fit_loop.run()
        return None
    if fn == TrainerFn.VALIDATING:
        return trainer.validate_loop.run()
    if fn == TrainerFn.TESTING:
        return trainer.test_loop.run()
    return trainer.predict_loop.run()


def run_sanity_check(trainer: "Trainer") -> None:
    val_loop = trainer.fit_loop.epoch_loop.val_loop
    if not (trainer.enable_validation and trainer.num_sanity_val_steps > 0):
        return
    stage = trainer.state.stage
    trainer._set_stage(RunningStage.SANITY_CHECKING)
    trainer._metrics.reset_results()
    trainer._metrics.reset_metrics()
    trainer._hooks.callbacks("on_sanity_check_start")
    val_loop.run()
    trainer._hooks.callbacks("on_sanity_check_end")
    trainer._metrics.reset_results()
    trainer._metrics.reset_metrics()
    val_loop.batch_progress.reset()
    val_loop._seen_batches_per_dataloader = {}
    assert stage is not None
    trainer._set_stage(stage)


def prepare_data(trainer: "Trainer") -> None:
    local_zero = trainer.local_rank == 0
    global_zero = trainer.global_rank == 0
    for obj in (trainer.datamodule, trainer.lightning_module):
        if obj is None:
            continue
        per_node = getattr(obj, "prepare_data_per_node", True)
        if (per_node and local_zero) or (not per_node and global_zero):
            if obj is trainer.datamodule:
                trainer._hooks.datamodule("prepare_data")
            else:
                trainer._hooks.module("prepare_data")
    trainer.strategy.barrier("prepare_data")


def setup_hooks(trainer: "Trainer", fn: TrainerFn) -> None:
    # Lightning creates each logger's experiment (its folder, TensorBoard's event file) before the setup hooks, so
    # they see the log folder in place (ModelCheckpoint's warning about a non-empty folder counts on it). W&B runs
    # start first: a run with sync_tensorboard=True only sees the TensorBoard writers created after it.
    from shim.loggers.wandb import WandbLogger

    for logger in sorted(trainer.loggers, key=lambda logger: not isinstance(logger, WandbLogger)):
        getattr(logger, "experiment", None)
    trainer.strategy.barrier("pre_setup")
    trainer._hooks.datamodule("setup", stage=fn)
    trainer._hooks.callbacks("setup", stage=fn)
    trainer._hooks.module("setup", stage=fn)
    trainer.strategy.barrier("post_setup")


def teardown_hooks(trainer: "Trainer", fn: TrainerFn) -> None:
    trainer._hooks.datamodule("teardown", stage=fn)
    trainer._hooks.callbacks("teardown", stage=fn)
    trainer._hooks.module("teardown", stage=fn)
    module = trainer.lightning_module
    module._current_fx_name = None
    module._metric_attributes = None
    for logger in trainer.loggers:
        logger.finalize("success")
    if trainer._hooks.profiled:
        trainer.profiler.describe()  # the report of this stage, then the profiler's teardown


def setup_profiler(trainer: "Trainer") -> None:
    """Start the profiler's stage (its report file is named after the stage, and the rank when there are several),
    and wrap the strategy's step methods so that they are recorded."""
    from shim.trainer.profiling import instrument_loops, instrument_strategy

    fn = trainer.state.fn
    assert fn is not None
    profiler = trainer.profiler
    profiler._lightning_module = trainer.lightning_module
    profiler.setup(stage=fn.value, local_rank=trainer.local_rank if trainer.world_size > 1 else None,
                   log_dir=trainer.log_dir)  # fmt: skip
    instrument_strategy(trainer)
    instrument_loops(trainer)


def teardown(trainer: "Trainer") -> None:
    trainer.strategy.teardown()
    loop = trainer._active_loop
    if loop is not None:
        loop.teardown()
    trainer._metrics.teardown()


def _ignore_further_interrupts() -> None:
    """A user may press Ctrl+C again while the run shuts down; ignore it (only the main thread may set this)."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
