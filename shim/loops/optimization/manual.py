"""One training batch under manual optimization: ``training_step`` steps the optimizers itself; the loop counts."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor

from shim.core.optimizer import _do_nothing
from shim.loops.optimization.automatic import _detach
from shim.loops.progress import Progress, ReadyCompletedTracker
from shim.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["ManualOptimization"]


class ManualOptimization:
    """Runs ``training_step`` when the module steps its own optimizers; counts their steps."""

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.optim_step_progress = Progress.of(ReadyCompletedTracker)

    def _on_before_step(self) -> None:
        self.optim_step_progress.increment_ready()

    def _on_after_step(self) -> None:
        self.optim_step_progress.increment_completed()

    def run(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Run one batch given ``training_step``'s arguments by name (``{"batch": ..., "batch_idx": ...}``).

        Returns what ``training_step`` returned, as a dict (``{}`` for None). The epoch loop calls ``run_batch``.
        """
        return self.run_batch(tuple(kwargs.values()))

    def run_batch(self, step_args: tuple[Any, ...]) -> dict[str, Any]:
        """Run ``training_step`` on ``step_args``, counting the optimizer steps it takes."""
        trainer = self.trainer
        optimizers = trainer.strategy._lightning_optimizers
        for opt in optimizers:
            opt._on_before_step = self._on_before_step
            opt._on_after_step = self._on_after_step
        try:
            output = trainer.strategy.training_step(*step_args)
            if trainer._module_overrides("training_step_end"):  # Lightning 1.x hook
                output = trainer._hooks.module("training_step_end", output)
        finally:
            for opt in optimizers:
                opt._on_before_step = opt._on_after_step = _do_nothing
        if isinstance(output, Mapping):
            return {k: _detach(v) for k, v in output.items() if k != "hiddens"}
        if isinstance(output, Tensor):
            return {"loss": output.detach()}
        if output is not None:
            raise MisconfigurationException(
                f"`training_step` returned {type(output).__name__}; under manual optimization it must return a"
                " tensor, a dict, or nothing."
            )
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"optim_step_progress": self.optim_step_progress.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optim_step_progress.load_state_dict(state["optim_step_progress"])
