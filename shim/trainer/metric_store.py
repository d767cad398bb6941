"""``MetricStore``: the trainer's callback, logged and progress-bar metrics, made from the loops' results.

It reads each loop's ``ResultCollection`` (``shim.trainer.metrics``) at the moments Lightning does (after each
batch, after each epoch) and forwards the logger-bound metrics to the loggers.
"""

from typing import TYPE_CHECKING, Any

from torch import Tensor

from shim.trainer.metrics import ResultCollection
from shim.utilities.apply_func import convert_tensors_to_scalars

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["MetricStore"]


class MetricStore:
    """The trainer's ``callback_metrics``, ``logged_metrics`` and ``progress_bar_metrics``, kept up to date."""

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.callback: dict[str, Tensor] = {}
        self.logged: dict[str, Tensor] = {}
        self.pbar: dict[str, Any] = {}
        # None outside a loop's batches; True on the first batch of an epoch, then False
        self.first_loop_iter: bool | None = None
        # the hook that logged last: `self.log` clears a hook's old values when it logs first in a new epoch
        self.current_fx: str | None = None
        # step values not yet copied into the three dicts; copied when read, or before they could change
        self._step_pending = False
        # the result collection of the loop running now (None in prediction and between runs); the trainer sets
        # it whenever the stage changes
        self.results: ResultCollection | None = None

    # -- views -----------------------------------------------------------------------------------------
    def _current(self) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
        assert self.results is not None
        return self.results.metrics(on_step=self.first_loop_iter is not None)

    def _absorb(self) -> None:
        callback, log, pbar = self._current()
        self.callback.update(callback)
        self.logged.update(log)
        self.pbar.update(pbar)

    def flush(self) -> None:
        """Copy the latest step values into the dicts (batch ends defer this until somebody could notice)."""
        if self._step_pending:
            self._step_pending = False
            if self.results is not None:
                self._absorb()

    def callback_metrics(self) -> dict[str, Tensor]:
        self.flush()
        if self.results is not None:
            self.callback.update(self._current()[0])
        return self.callback

    def logged_metrics(self) -> dict[str, Tensor]:
        self.flush()
        if self.results is not None:
            self.logged.update(self._current()[1])
        return self.logged

    def progress_bar_metrics(self) -> dict[str, float]:
        self.flush()
        if self.results is not None:
            self.pbar.update(self._current()[2])
        return convert_tensors_to_scalars(self.pbar)

    # -- loop events -----------------------------------------------------------------------------------
    def on_batch_start(self, batch: Any, dataloader_idx: int | None = None) -> None:
        self.first_loop_iter = self.first_loop_iter is None
        assert self.results is not None
        self.results.batch = batch
        self.results.batch_size = None
        self.results.dataloader_idx = dataloader_idx

    def on_batch_end(self) -> None:
        self._step_pending = True
        assert self.results is not None
        self.results.batch = None
        self.results.batch_size = None

    def epoch_end_reached(self) -> None:
        self.flush()
        self.first_loop_iter = None

    def on_epoch_end(self) -> None:
        self._absorb()
        self.current_fx = None

    def reset_results(self) -> None:
        self.flush()
        if self.results is not None:
            self.results.reset()
        self.first_loop_iter = None
        self.current_fx = None

    def reset_metrics(self) -> None:
        self._step_pending = False
        self.callback = {}
        self.logged = {}
        self.pbar = {}

    # -- to the loggers --------------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, Tensor], step: int | None = None) -> None:
        trainer = self.trainer
        if not trainer.loggers or not metrics:
            return
        self.logged.update(metrics)
        scalars = convert_tensors_to_scalars(metrics)
        if step is None:
            step_metric = scalars.pop("step", None)
            if step_metric is not None:
                step = int(step_metric)
            else:
                scalars.setdefault("epoch", trainer.current_epoch)
                step = trainer.fit_loop.epoch_loop.batches_that_stepped
        for logger in trainer.loggers:
            logger.log_metrics(metrics=scalars, step=step)
            logger.save()

    def should_update_logs(self) -> bool:
        trainer = self.trainer
        loop = trainer._active_loop
        if loop is None:
            return trainer.log_every_n_steps != 0
        # the step that counts: optimizer steps (and skipped batches) in fit, batches in the evaluation loops
        step = (
            loop.epoch_loop.batches_that_stepped + 1 if loop is trainer.fit_loop else loop.batch_progress.current.ready
        )
        return self._is_log_step(step)

    def _is_log_step(self, step: int) -> bool:
        """Whether ``step`` (counted from 1) sends metrics to the loggers: every ``log_every_n_steps``, and on stop."""
        trainer = self.trainer
        every = trainer.log_every_n_steps
        return every != 0 and (step % every == 0 or trainer.should_stop)

    def update_train_step_metrics(self, accumulating: bool) -> None:
        """After a training batch: send the step metrics to the loggers when a logging step is due.

        ``accumulating``: the batch only accumulated gradients (no optimizer step), so nothing is logged yet. The
        training loop calls this only when there are loggers.
        """
        trainer = self.trainer
        if accumulating and trainer.lightning_module.automatic_optimization:
            return
        # `should_update_logs` in the fit loop, without finding the active loop: this runs after every batch
        if self._is_log_step(trainer.fit_loop.epoch_loop.batches_that_stepped + 1) or trainer.fast_dev_run:
            self.flush()
            self.log_metrics(self._current()[1])

    def update_train_epoch_metrics(self) -> None:
        if self.trainer.loggers:
            self.log_metrics(self._current()[1])
        self.reset_results()

    def update_eval_step_metrics(self, step: int) -> None:
        if self.trainer.loggers:
            self.flush()
            self.log_metrics(self._current()[1], step=step)

    def update_eval_epoch_metrics(self) -> dict[str, Tensor]:
        if self.trainer.sanity_checking:
            return {}
        callback, log, pbar = self._current()
        self.pbar.update(pbar)
        self.callback.update(callback)
        self.logged.update(log)
        return log

    def log_eval_end_metrics(self, metrics: dict[str, Tensor]) -> None:
        if not self.trainer.sanity_checking:
            self.log_metrics(metrics)

    def teardown(self) -> None:
        def to_cpu(d: dict[str, Any]) -> dict[str, Any]:
            return {k: v.cpu() if isinstance(v, Tensor) else v for k, v in d.items()}

        self.callback = to_cpu(self.callback)
        self.logged = to_cpu(self.logged)
        self.pbar = to_cpu(self.pbar)
