"""``Timer``: measure the time spent training, validating and testing, and stop training after a time limit."""

import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.callback import Callback, _ignores_outputs
from shim.trainer.states import RunningStage
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_info

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["Timer"]

_INTERVALS = ("step", "epoch")


def parse_duration(duration: str | timedelta | dict[str, int] | None) -> timedelta | None:
    """``"DD:HH:MM:SS"``, a ``timedelta`` or ``timedelta`` keyword arguments, as a ``timedelta``.

    Raises:
        MisconfigurationException: If a string is not in the ``DD:HH:MM:SS`` format.
    """
    if isinstance(duration, str):
        match = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", duration.strip())
        if match is None:
            raise MisconfigurationException(
                f"Timer(duration={duration!r}) is not valid: give days:hours:minutes:seconds as 'DD:HH:MM:SS'"
                " (e.g. '00:12:00:00'), a datetime.timedelta or a dict of timedelta arguments."
            )
        days, hours, minutes, seconds = (int(part) for part in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if isinstance(duration, dict):
        return timedelta(**duration)
    return duration


class Timer(Callback):
    """Track the wall-clock time of the training, validation and test loops, and stop training after ``duration``.

    Times come from ``time.monotonic()``. The elapsed training time is saved in checkpoints, so a resumed run
    counts the time the earlier run spent towards ``duration``.

    Args:
        duration: The training time limit: ``"DD:HH:MM:SS"``, a ``datetime.timedelta``, or a dict of ``timedelta``
            keyword arguments (``{"hours": 2}``). None measures time without a limit.
        interval: When to check the limit: after every training batch (``"step"``) or at the end of every
            training epoch (``"epoch"``).
        verbose: Log a message when the limit is reached.

    Raises:
        MisconfigurationException: If ``duration`` is a string in the wrong format or ``interval`` is not
            ``"step"`` or ``"epoch"``.
    """

    def __init__(
        self,
        duration: str | timedelta | dict[str, int] | None = None,
        interval: str = "step",
        verbose: bool = True,
    ) -> None:
        super().__init__()
        limit = parse_duration(duration)
        if interval not in _INTERVALS:
            raise MisconfigurationException(
                f"Timer(interval={interval!r}) is not valid: use one of {', '.join(map(repr, _INTERVALS))}."
            )
        self._duration = limit.total_seconds() if limit is not None else None
        self._interval = interval
        self._verbose = verbose
        self._start_time: dict[RunningStage, float | None] = dict.fromkeys(RunningStage)
        self._end_time: dict[RunningStage, float | None] = dict.fromkeys(RunningStage)
        # training time spent by an earlier run, restored from a checkpoint
        self._offset: float = 0

    def start_time(self, stage: str = RunningStage.TRAINING) -> float | None:
        """When ``stage`` (``"train"``, ``"validate"``, ``"test"``) last started, in ``time.monotonic()`` seconds."""
        return self._start_time[RunningStage(stage)]

    def end_time(self, stage: str = RunningStage.TRAINING) -> float | None:
        """When ``stage`` last ended, in ``time.monotonic()`` seconds; None while it runs or before it ran."""
        return self._end_time[RunningStage(stage)]

    def time_elapsed(self, stage: str = RunningStage.TRAINING) -> float:
        """Seconds spent in ``stage`` so far (for training, including what a restored checkpoint had spent)."""
        stage = RunningStage(stage)
        start, end = self._start_time[stage], self._end_time[stage]
        offset = self._offset if stage == RunningStage.TRAINING else 0
        if start is None:
            return offset
        return (time.monotonic() if end is None else end) - start + offset

    def time_remaining(self, stage: str = RunningStage.TRAINING) -> float | None:
        """Seconds left of ``duration`` for ``stage`` (negative once exceeded); None without a duration."""
        if self._duration is None:
            return None
        return self._duration - self.time_elapsed(stage)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        # a checkpoint may restore a timer whose time is already up: then training should not even start
        if self._duration is not None:
            self._check_time_remaining(trainer)

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start_time[RunningStage.TRAINING] = time.monotonic()

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._end_time[RunningStage.TRAINING] = time.monotonic()

    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start_time[RunningStage.VALIDATING] = time.monotonic()

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._end_time[RunningStage.VALIDATING] = time.monotonic()

    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._start_time[RunningStage.TESTING] = time.monotonic()

    @override
    def on_test_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._end_time[RunningStage.TESTING] = time.monotonic()

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._interval == "step" and self._duration is not None:
            self._check_time_remaining(trainer)

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._interval == "epoch" and self._duration is not None:
            self._check_time_remaining(trainer)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {stage.value: self.time_elapsed(stage) for stage in RunningStage}}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._offset = state_dict.get("time_elapsed", {}).get(RunningStage.TRAINING.value, 0)

    def _check_time_remaining(self, trainer: "Trainer") -> None:
        assert self._duration is not None
        # TODO(distributed): broadcast rank zero's decision so every process stops at the same batch
        should_stop = self.time_elapsed() >= self._duration
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop and self._verbose:
            elapsed = timedelta(seconds=int(self.time_elapsed(RunningStage.TRAINING)))
            rank_zero_info(f"Time limit reached. Elapsed time is {elapsed}. Signaling Trainer to stop.")
