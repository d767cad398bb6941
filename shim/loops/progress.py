"""Progress counters of the loops, kept as data so checkpoints can save and restore them.

Each counter tracks how many items became ready, started, were processed and completed, in total and in the
current run (epoch). Field names and nesting follow Lightning's checkpoints (``loops`` key) so both directions load.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "ReadyCompletedTracker",
    "StartedTracker",
    "ProcessedTracker",
    "Progress",
    "BatchProgress",
    "SchedulerProgress",
    "OptimizerProgress",
    "OptimizationProgress",
]


@dataclass
class ReadyCompletedTracker:
    ready: int = 0
    completed: int = 0

    def reset(self) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, 0)

    def reset_on_restart(self) -> None:
        self.ready = self.completed

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.__dataclass_fields__:
            if name in state:
                setattr(self, name, state[name])


@dataclass
class StartedTracker(ReadyCompletedTracker):
    started: int = 0

    def reset_on_restart(self) -> None:
        super().reset_on_restart()
        self.started = self.completed


@dataclass
class ProcessedTracker(StartedTracker):
    processed: int = 0

    def reset_on_restart(self) -> None:
        super().reset_on_restart()
        self.processed = self.completed


T = TypeVar("T", bound=ReadyCompletedTracker)


@dataclass
class Progress(Generic[T]):
    """A tracker for the whole run (``total``) and one for the current epoch or run (``current``)."""

    total: T
    current: T

    @classmethod
    def of(cls, tracker: type[T]) -> "Progress[T]":
        return cls(total=tracker(), current=tracker())

    def increment_ready(self) -> None:
        self.total.ready += 1
        self.current.ready += 1

    def increment_started(self) -> None:
        self.total.started += 1  # type: ignore[attr-defined]
        self.current.started += 1  # type: ignore[attr-defined]

    def increment_processed(self) -> None:
        self.total.processed += 1  # type: ignore[attr-defined]
        self.current.processed += 1  # type: ignore[attr-defined]

    def increment_completed(self) -> None:
        self.total.completed += 1
        self.current.completed += 1

    def reset(self) -> None:
        self.total.reset()
        self.current.reset()

    def reset_on_run(self) -> None:
        self.current.reset()

    def reset_on_restart(self) -> None:
        self.current.reset_on_restart()

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total.load_state_dict(state["total"])
        self.current.load_state_dict(state["current"])


@dataclass
class BatchProgress(Progress[ProcessedTracker]):
    """Batch counters, plus whether the current batch is the last of its epoch."""

    total: ProcessedTracker = field(default_factory=ProcessedTracker)
    current: ProcessedTracker = field(default_factory=ProcessedTracker)
    is_last_batch: bool = False

    def reset_on_run(self) -> None:
        super().reset_on_run()
        self.is_last_batch = False

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.is_last_batch = state.get("is_last_batch", False)


@dataclass
class SchedulerProgress(Progress[ReadyCompletedTracker]):
    """How often the LR schedulers stepped."""

    total: ReadyCompletedTracker = field(default_factory=ReadyCompletedTracker)
    current: ReadyCompletedTracker = field(default_factory=ReadyCompletedTracker)


@dataclass
class OptimizerProgress:
    """How often the optimizer stepped and zeroed its gradients."""

    step: Progress[ReadyCompletedTracker] = field(default_factory=lambda: Progress.of(ReadyCompletedTracker))
    zero_grad: Progress[StartedTracker] = field(default_factory=lambda: Progress.of(StartedTracker))

    def reset(self) -> None:
        self.step.reset()
        self.zero_grad.reset()

    def reset_on_run(self) -> None:
        self.step.reset_on_run()
        self.zero_grad.reset_on_run()

    def reset_on_restart(self) -> None:
        self.step.reset_on_restart()
        self.zero_grad.reset_on_restart()

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step.load_state_dict(state["step"])
        self.zero_grad.load_state_dict(state["zero_grad"])


@dataclass
class OptimizationProgress:
    """The optimizer counters of automatic or manual optimization."""

    optimizer: OptimizerProgress = field(default_factory=OptimizerProgress)

    @property
    def optimizer_steps(self) -> int:
        return self.optimizer.step.total.completed

    def reset(self) -> None:
        self.optimizer.reset()

    def reset_on_run(self) -> None:
        self.optimizer.reset_on_run()

    def reset_on_restart(self) -> None:
        self.optimizer.reset_on_restart()

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
