"""``EarlyStopping``: end training once a monitored metric stops improving, crosses a threshold or goes non-finite."""

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import get_logger, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

log = get_logger(__name__)

__all__ = ["EarlyStopping", "EarlyStoppingReason"]


class EarlyStoppingReason(Enum):
    """Why an ``EarlyStopping`` callback asked the Trainer to stop (``NOT_STOPPED`` until it does)."""

    NOT_STOPPED = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE_THRESHOLD = 2
    PATIENCE_EXHAUSTED = 3
    NON_FINITE_METRIC = 4


class EarlyStopping(Callback):
    """Stop training when the ``monitor`` metric has not improved for ``patience`` checks.

    One check runs per validation run (at ``on_validation_end``), or per training epoch (at ``on_train_epoch_end``)
    when ``check_on_train_epoch_end`` is True. Left at None, it is True exactly when validation runs once at the end
    of every epoch (``val_check_interval=1.0`` and ``check_val_every_n_epoch=1``, the defaults). ``min_epochs`` and
    ``min_steps`` of the Trainer can delay the stop the callback asks for.

    Args:
        monitor: Name of the logged metric to watch.
        min_delta: How much the metric must improve on the best value for the check to count as an improvement;
            a change of at most ``min_delta`` is no improvement.
        patience: How many checks in a row without improvement stop training. It counts checks, not epochs.
        verbose: Log each improvement and the reason for stopping, and warn about a missing metric when
            ``strict=False``.
        mode: ``"min"`` when lower is better, ``"max"`` when higher is better.
        strict: Raise when ``monitor`` is missing from the metrics at a check; when False the check is skipped.
        check_finite: Stop as soon as the metric is NaN or infinite.
        stopping_threshold: Stop as soon as the metric is better than this value.
        divergence_threshold: Stop as soon as the metric is worse than this value.
        check_on_train_epoch_end: Check at the end of the training epoch (True) or after validation (False).
        log_rank_zero_only: With several processes, log the messages on global rank zero only.

    Attributes:
        wait_count: Checks in a row without improvement so far.
        stopped_epoch: The epoch in which the callback stopped training; 0 while it has not.
        best_score: The best value seen so far (a tensor, ``inf`` or ``-inf`` before the first check).
        stopping_reason: An ``EarlyStoppingReason``.
        stopping_reason_message: The stop message, None while training was not stopped.

    Raises:
        MisconfigurationException: If ``mode`` is not ``"min"`` or ``"max"``.
        RuntimeError: At a check, if ``strict`` and ``monitor`` was not logged.
    """

    # run after the LightningModule's `on_train_epoch_end`, so the check sees what the module logged there
    _is_monitoring_callback = True

    mode_dict: dict[str, Callable[..., Tensor]] = {"min": torch.lt, "max": torch.gt}
    order_dict: dict[str, str] = {"min": "<", "max": ">"}

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
        log_rank_zero_only: bool = False,
    ) -> None:
        super().__init__()
        if mode not in self.mode_dict:
            raise MisconfigurationException(
                f"EarlyStopping(mode={mode!r}) is not valid: use one of {', '.join(map(repr, self.mode_dict))}."
            )
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.log_rank_zero_only = log_rank_zero_only
        self._check_on_train_epoch_end = check_on_train_epoch_end
        # stored with the sign that makes `current - min_delta` the value an improvement has to beat
        self.min_delta = min_delta if mode == "max" else -min_delta
        self.best_score: Tensor = torch.tensor(torch.inf if mode == "min" else -torch.inf)
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: str | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    @property
    def monitor_op(self) -> Callable[..., Tensor]:
        """``torch.lt`` in ``"min"`` mode, ``torch.gt`` in ``"max"`` mode: whether the first value is better."""
        return self.mode_dict[self.mode]

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            # validating more or less often than once an epoch: the check follows validation instead
            self._check_on_train_epoch_end = trainer.val_check_interval == 1.0 and trainer.check_val_every_n_epoch == 1

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._check_on_train_epoch_end and self._is_fitting(trainer):
            self._run_early_stopping_check(trainer)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not self._check_on_train_epoch_end and self._is_fitting(trainer):
            self._run_early_stopping_check(trainer)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.value,
            "stopping_reason_message": self.stopping_reason_message,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = state_dict["wait_count"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_score = state_dict["best_score"]
        self.patience = state_dict["patience"]
        # checkpoints written before the reason was saved have neither key
        self.stopping_reason = EarlyStoppingReason(
            state_dict.get("stopping_reason", EarlyStoppingReason.NOT_STOPPED.value)
        )
        self.stopping_reason_message = state_dict.get("stopping_reason_message")

    @staticmethod
    def _is_fitting(trainer: "Trainer") -> bool:
        return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking

    def _has_monitored_metric(self, metrics: dict[str, Tensor]) -> bool:
        if self.monitor in metrics:
            return True
        message = (
            f"EarlyStopping monitors {self.monitor!r}, but no metric of that name was logged. Logged metrics:"
            f" {list(metrics)}. Log {self.monitor!r} with `self.log` or monitor one of these."
        )
        if self.strict:
            raise RuntimeError(message)
        if self.verbose:
            rank_zero_warn(message, category=RuntimeWarning)
        return False

    def _run_early_stopping_check(self, trainer: "Trainer") -> None:
        """Compare the monitored metric with the best so far, and ask the Trainer to stop when it is time."""
        metrics = trainer.callback_metrics
        # fast_dev_run runs a few batches to find bugs; stopping early there would hide nothing but confuse
        if trainer.fast_dev_run or not self._has_monitored_metric(metrics):
            return
        current = metrics[self.monitor].squeeze()
        should_stop, reason = self._evaluate_stopping_criteria(current)
        # with several processes all stop when any one decides to, so none waits alone in a collective
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch
            self.stopping_reason_message = reason
        if reason and self.verbose:
            self._log_info(trainer, reason, self.log_rank_zero_only)

    def _evaluate_stopping_criteria(self, current: Tensor) -> tuple[bool, str | None]:
        """Decide on one value of the metric; returns whether to stop and the message to log (if any)."""
        better = self.monitor_op
        order = self.order_dict[self.mode]
        if self.check_finite and not torch.isfinite(current):
            self.stopping_reason = EarlyStoppingReason.NON_FINITE_METRIC
            return True, (
                f"Monitored metric {self.monitor} = {current} is not finite."
                f" Previous best value was {self.best_score:.3f}. Signaling Trainer to stop."
            )
        if self.stopping_threshold is not None and better(current, self.stopping_threshold):
            self.stopping_reason = EarlyStoppingReason.STOPPING_THRESHOLD
            return True, (
                f"Stopping threshold reached: {self.monitor} = {current} {order} {self.stopping_threshold}."
                " Signaling Trainer to stop."
            )
        # "worse than the divergence threshold" is "better" with both signs flipped
        if self.divergence_threshold is not None and better(-current, -self.divergence_threshold):
            self.stopping_reason = EarlyStoppingReason.DIVERGENCE_THRESHOLD
            return True, (
                f"Divergence threshold reached: {self.monitor} = {current} {order} {self.divergence_threshold}."
                " Signaling Trainer to stop."
            )
        if better(current - self.min_delta, self.best_score.to(current.device)):
            message = self._improvement_message(current)
            self.best_score = current
            self.wait_count = 0
            return False, message
        self.wait_count += 1
        if self.wait_count < self.patience:
            return False, None
        self.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
        return True, (
            f"Monitored metric {self.monitor} did not improve in the last {self.wait_count} records."
            f" Best score: {self.best_score:.3f}. Signaling Trainer to stop."
        )

    def _improvement_message(self, current: Tensor) -> str:
        if not torch.isfinite(self.best_score):
            return f"Metric {self.monitor} improved. New best score: {current:.3f}"
        return (
            f"Metric {self.monitor} improved by {abs(self.best_score - current):.3f} >="
            f" min_delta = {abs(self.min_delta)}. New best score: {current:.3f}"
        )

    @staticmethod
    def _log_info(trainer: "Trainer", message: str, log_rank_zero_only: bool) -> None:
        """Log ``message``; with several processes, prefixed with the rank, and on rank zero only if asked."""
        rank = trainer.global_rank if trainer.world_size > 1 else None
        if rank is None:
            log.info(message)
        elif not log_rank_zero_only or rank == 0:
            log.info(f"[rank: {rank}] {message}")
