"""``TrainingEpochLoop``: the batches of one training epoch, with validation when it is due."""

import math
import time
from typing import TYPE_CHECKING, Any

from shim.loops.evaluation_loop import EvaluationLoop
from shim.loops.fetcher import BatchFetcher
from shim.loops.optimization import AutomaticOptimization, ManualOptimization
from shim.loops.progress import BatchProgress, SchedulerProgress
from shim.trainer.data import transfer_batch
from shim.trainer.metrics import ResultCollection
from shim.trainer.states import RunningStage, TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache, rank_zero_warn
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["TrainingEpochLoop", "is_max_limit_reached", "val_check_batch"]


def is_max_limit_reached(current: int, maximum: int = -1) -> bool:
    return maximum != -1 and current >= maximum


class TrainingEpochLoop:
    """Runs the training batches of one epoch; owns the in-fit validation loop and the step counters."""

    def __init__(self, trainer: "Trainer", min_steps: int | None = None, max_steps: int = -1) -> None:
        if max_steps < -1:
            raise MisconfigurationException(
                f"max_steps={max_steps} is not valid: it must be a non-negative integer, or -1 for no limit."
            )
        self.trainer = trainer
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.batch_progress = BatchProgress()
        self.scheduler_progress = SchedulerProgress()
        self.automatic_optimization = AutomaticOptimization(trainer)
        self.manual_optimization = ManualOptimization(trainer)
        self.val_loop = EvaluationLoop(trainer, TrainerFn.FITTING, RunningStage.VALIDATING, verbose=False)
        self.results = ResultCollection(training=True)
        self._warning_cache = WarningCache()  # the min_epochs/min_steps notice is given once per Trainer
        # the step used for logging: optimizer steps, but also counting batches that returned None
        self.batches_that_stepped = 0
        self._takes_batch_idx = True
        # whether the current batch only accumulates gradients (`should_accumulate`), worked out once per batch
        self._accumulating = False
        # the step outputs handed to a Lightning 1.x `training_epoch_end(outputs)`, kept only when it exists
        self.epoch_outputs: list[Any] = []
        self._keep_outputs = False
        # whether the step's outputs are built for each batch: kept for `training_epoch_end`, or read by a listener
        # of `on_train_batch_end` (None is passed otherwise); worked out once per epoch in `run`
        self._build_outputs = False
        # worked out once per epoch in `run`, read for every batch: the module's `automatic_optimization`, and
        # whether this epoch validates at all (`should_check_val_epoch`)
        self._automatic = True
        self._validates_this_epoch = False

    @property
    def total_batch_idx(self) -> int:
        return self.batch_progress.total.ready - 1

    @property
    def batch_idx(self) -> int:
        return self.batch_progress.current.ready - 1

    @property
    def global_step(self) -> int:
        if self.trainer.lightning_module is not None and not self.trainer.lightning_module.automatic_optimization:
            return self.manual_optimization.optim_step_progress.total.completed
        return self.automatic_optimization.optim_progress.optimizer_steps

    def _num_ready_batches_reached(self) -> bool:
        progress = self.batch_progress
        return progress.current.ready == self.trainer.fit_loop.max_batches or progress.is_last_batch

    def should_accumulate(self) -> bool:
        """True when this batch only accumulates gradients; the epoch's last batch always steps."""
        if self.batch_progress.current.ready % self.trainer.accumulate_grad_batches == 0:
            return False
        return not self._num_ready_batches_reached()

    def done(self) -> bool:
        if self.max_steps != -1 and self.global_step >= self.max_steps:
            return True
        if self._num_ready_batches_reached():
            return True
        trainer = self.trainer
        if trainer.should_stop:
            can_stop = trainer.fit_loop.can_stop_early
            if not can_stop:
                self._warning_cache.info(
                    "Training goes on although `trainer.should_stop` is set:"
                    f" `min_epochs={trainer.fit_loop.min_epochs!r}` and `min_steps={self.min_steps!r}` are not both"
                    " reached yet."
                )
            return can_stop
        return False

    def run(self, fetcher: BatchFetcher, resume: str | None = None) -> None:
        """Run the epoch's batches; ``resume`` continues one interrupted after a batch.

        ``resume="batch_end"``: the checkpoint was saved in ``on_train_batch_end``, so what followed that batch
        (validation when due, scheduler and step bookkeeping) runs first. ``"validation_end"``: it was saved during
        that validation, so only the bookkeeping runs.
        """
        self.epoch_outputs = []
        if resume is None:
            self.batch_progress.reset_on_run()
            self.scheduler_progress.reset_on_run()
            self.automatic_optimization.optim_progress.reset_on_run()
            self.val_loop.batch_progress.total.reset()
        module = self.trainer.lightning_module
        self._takes_batch_idx = is_param_in_hook_signature(module.training_step, "batch_idx", min_args=2)
        self.automatic_optimization.on_run_start()
        self._keep_outputs = self.trainer._module_overrides("training_epoch_end")
        self._build_outputs = self._keep_outputs or self.trainer._hooks.reads_outputs("on_train_batch_end")
        self._automatic = module.automatic_optimization
        self._validates_this_epoch = self.should_check_val_epoch()
        if resume is not None:
            self._accumulating = self.should_accumulate()
            if resume == "batch_end":
                self.on_advance_end()
            else:
                self.finish_batch()
        while not self.done():
            try:
                self.advance(fetcher)
                self.on_advance_end()
            except StopIteration:
                break

    def advance(self, fetcher: BatchFetcher) -> None:
        """Run one training batch."""
        trainer = self.trainer
        hooks = trainer._hooks
        # the batch counters are incremented in place (`total` and `current` of `batch_progress`): this runs for
        # every batch, and a method call per counter would cost more than the counting
        progress = self.batch_progress
        total, current = progress.total, progress.current
        batch = next(fetcher)
        batch_idx = current.ready  # the index of this batch: the count of the batches before it
        progress.is_last_batch = fetcher.done
        if trainer._needs_batch_transfer:
            batch = transfer_batch(trainer, batch, 0)
        total.ready += 1
        current.ready += 1
        # without accumulation no batch accumulates: the common case is decided without the call
        self._accumulating = accumulating = trainer.accumulate_grad_batches != 1 and self.should_accumulate()
        trainer._metrics.on_batch_start(batch)
        output: Any = None
        skip_rest_of_epoch = False
        if batch is None:
            rank_zero_warn("train_dataloader yielded None; the batch is skipped.")
        else:
            # the callbacks' hook, then the module's, whose -1 ends the epoch
            if "on_train_batch_start" not in hooks.silent:
                skip_rest_of_epoch = hooks.call("on_train_batch_start", batch, batch_idx) == -1
            if skip_rest_of_epoch:
                progress.is_last_batch = True
            else:
                total.started += 1
                current.started += 1
                step_args = (batch, batch_idx) if self._takes_batch_idx else (batch,)
                if self._automatic:
                    optimizer = trainer.strategy._lightning_optimizers[0]
                    result = self.automatic_optimization.run_batch(optimizer, batch_idx, step_args, accumulating)
                    if self._build_outputs:
                        output = result.outputs()
                else:
                    output = self.manual_optimization.run_batch(step_args)
        total.processed += 1
        current.processed += 1
        if trainer.strategy.lr_scheduler_configs:
            # non-plateau schedulers step before validation, so checkpoints saved there see the updated state
            self.update_lr_schedulers("step", update_plateau_schedulers=False)
            if self._num_ready_batches_reached():
                self.update_lr_schedulers("epoch", update_plateau_schedulers=False)
        if skip_rest_of_epoch:
            raise StopIteration
        if "on_train_batch_end" not in hooks.silent:
            hooks.call("on_train_batch_end", output, batch, batch_idx)
        if output and self._keep_outputs:
            self.epoch_outputs.append(output)
        trainer._metrics.on_batch_end()
        total.completed += 1
        current.completed += 1
        if trainer.loggers:  # nothing to send otherwise
            trainer._metrics.update_train_step_metrics(accumulating)

    def on_advance_end(self) -> None:
        """After a batch: validate when due, then finish the batch."""
        if self._validates_this_epoch and self._should_check_val():
            self._validate()
        self.finish_batch()

    def _validate(self) -> None:
        trainer = self.trainer
        trainer._set_stage(RunningStage.VALIDATING)
        first_loop_iter = trainer._metrics.first_loop_iter
        if not self._accumulating:
            trainer._hooks.module("on_validation_model_zero_grad")
        self.val_loop.run()
        trainer._set_stage(RunningStage.TRAINING)
        trainer._metrics.first_loop_iter = first_loop_iter

    def finish_batch(self) -> None:
        """Step the plateau schedulers of the ``step`` interval, count the step, check the time limit."""
        trainer = self.trainer
        if trainer.strategy.lr_scheduler_configs:
            self.update_lr_schedulers("step", update_plateau_schedulers=True)
        if not self._accumulating:
            self.batches_that_stepped += 1
        if trainer.should_stop:
            for logger in trainer.loggers:
                logger.save()

    # -- schedulers --------------------------------------------------------------------------------------
    def update_lr_schedulers(self, interval: str, update_plateau_schedulers: bool) -> None:
        trainer = self.trainer
        # a step the gradient scaler skipped (inf/NaN gradients) did not happen for the step schedulers either
        if interval == "step" and (self.should_accumulate() or trainer.precision_plugin.is_last_step_skipped):
            return
        if not trainer.lr_scheduler_configs or not trainer.lightning_module.automatic_optimization:
            return
        for config in trainer.lr_scheduler_configs:
            if update_plateau_schedulers != config.reduce_on_plateau:
                continue
            current_idx = (self.batch_idx if interval == "step" else trainer.current_epoch) + 1
            if config.interval != interval or current_idx % config.frequency != 0:
                continue
            monitor_value = None
            if config.reduce_on_plateau:
                assert config.monitor is not None
                monitor_value = trainer.callback_metrics.get(config.monitor)
                if monitor_value is None:
                    available = list(trainer.callback_metrics)
                    if config.strict:
                        raise MisconfigurationException(
                            f"ReduceLROnPlateau monitors {config.monitor!r}, which was not logged; logged metrics"
                            f" are {available}. Set the scheduler dict's 'monitor' to one of them."
                        )
                    rank_zero_warn(
                        f"ReduceLROnPlateau monitors {config.monitor!r}, which was not logged; with 'strict': False"
                        " the scheduler is not stepped.",
                        category=RuntimeWarning,
                    )
                    continue
            self.scheduler_progress.increment_ready()
            trainer._hooks.module("lr_scheduler_step", config.scheduler, monitor_value)
            self.scheduler_progress.increment_completed()

    # -- validation cadence ------------------------------------------------------------------------------
    def should_check_val_epoch(self) -> bool:
        trainer = self.trainer
        every = trainer.check_val_every_n_epoch
        return trainer.enable_validation and (every is None or (trainer.current_epoch + 1) % every == 0)

    def _should_check_val(self) -> bool:
        """Whether validation is due after this batch, in an epoch that validates (``should_check_val_epoch``)."""
        trainer = self.trainer
        val_check_batch = trainer.val_check_batch
        is_infinite = val_check_batch == float("inf")
        is_last_batch = self.batch_progress.is_last_batch
        if is_last_batch and is_infinite:
            return True
        if trainer.should_stop and trainer.fit_loop.can_stop_early:
            return True
        seconds = trainer._config.val_check_seconds
        if seconds is not None:
            return time.monotonic() - trainer._last_val_time >= seconds
        if isinstance(trainer.limit_train_batches, int) and is_infinite:
            return (self.batch_idx + 1) % trainer.limit_train_batches == 0
        if val_check_batch is not None and not is_infinite:
            iteration = self.total_batch_idx if trainer.check_val_every_n_epoch is None else self.batch_idx
            return (iteration + 1) % int(val_check_batch) == 0
        return is_last_batch

    def estimated_steps_per_epoch(self) -> float:
        return math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches)

    @property
    def restarting(self) -> bool:
        """Whether this epoch resumes from a checkpoint saved inside it (until the epoch ends)."""
        fit = self.trainer.fit_loop
        return (fit._resume is not None and fit._resume.mid_epoch) or fit._restarting_mid_epoch

    def state_dict(self) -> dict[str, Any]:
        return {
            "state_dict": {"_batches_that_stepped": self.batches_that_stepped},
            "batch_progress": self.batch_progress.state_dict(),
            "scheduler_progress": self.scheduler_progress.state_dict(),
            "automatic_optimization": {"optim_progress": self.automatic_optimization.optim_progress.state_dict()},
            "manual_optimization": self.manual_optimization.state_dict(),
            "val_loop": {"batch_progress": self.val_loop.batch_progress.state_dict()},
        }


def val_check_batch(trainer: "Trainer", max_batches: int | float) -> int | float | None:
    """The batch count after which validation runs inside an epoch, from ``val_check_interval`` (a fraction of the
    epoch or a count of batches); None when the interval is a duration (validation is then due by the clock, which
    starts now).
    """
    interval = trainer.val_check_interval
    if trainer._config.val_check_seconds is not None:
        trainer._last_val_time = time.monotonic()
        return None
    if isinstance(interval, int):
        if interval > max_batches and trainer.check_val_every_n_epoch is not None and trainer.limit_val_batches > 0:
            raise ValueError(
                f"val_check_interval={interval} is larger than the {max_batches} training batches of an epoch;"
                " give at most that many, set limit_val_batches=0 to turn validation off, or set"
                " check_val_every_n_epoch=None to count batches across epochs."
            )
        return interval
    if max_batches == float("inf"):
        if interval != 1.0:
            raise MisconfigurationException(
                f"val_check_interval={interval} is a fraction of an epoch, but the train dataloader has no length;"
                " give an int number of batches instead."
            )
        return float("inf")
    assert isinstance(interval, float)
    return max(1, int(max_batches * interval))
