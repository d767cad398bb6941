"""``LearningRateFinder``: when fit starts, run a learning-rate range test and (optionally) use its suggestion."""

from typing import TYPE_CHECKING

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.tuner.lr_finder import _LRFinder, lr_find
from shim.tuner.search import _TunerExitException
from shim.utilities.seed import isolate_rng

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["LearningRateFinder"]


class LearningRateFinder(Callback):
    """Runs a learning-rate range test at the start of fit, leaving the random state as it found it.

    Subclass and call ``lr_find`` from other hooks to test at other times (for example at fine-tuning milestones).

    Args:
        min_lr: The learning rate of the first step.
        max_lr: The learning rate of the last step.
        num_training_steps: The number of steps, one learning rate each.
        mode: ``"exponential"`` grows the learning rate by a constant factor, ``"linear"`` by a constant amount.
        early_stop_threshold: Stop once the smoothed loss exceeds this multiple of the best one; None never stops.
        update_attr: Write the suggested learning rate to the model's ``lr``/``learning_rate`` (or ``attr_name``).
        attr_name: The attribute holding the learning rate, when it is not ``lr`` or ``learning_rate``.

    Raises:
        ValueError: If ``mode`` is not ``"linear"`` or ``"exponential"``.
    """

    SUPPORTED_MODES = ("linear", "exponential")

    def __init__(
        self,
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training_steps: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> None:
        mode = mode.lower()
        if mode not in self.SUPPORTED_MODES:
            raise ValueError(
                f"LearningRateFinder(mode={mode!r}) is not valid: use one of {list(self.SUPPORTED_MODES)}."
            )
        self._min_lr = min_lr
        self._max_lr = max_lr
        self._num_training_steps = num_training_steps
        self._mode = mode
        self._early_stop_threshold = early_stop_threshold
        self._update_attr = update_attr
        self._attr_name = attr_name
        self._early_exit = False
        self._lightning_1x = False  # set by `trainer.tune`
        self.optimal_lr: _LRFinder | None = None

    def lr_find(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Run the range test now and keep the finder in ``optimal_lr``."""
        with isolate_rng():
            self.optimal_lr = lr_find(
                trainer,
                pl_module,
                min_lr=self._min_lr,
                max_lr=self._max_lr,
                num_training=self._num_training_steps,
                mode=self._mode,
                early_stop_threshold=self._early_stop_threshold,
                update_attr=self._update_attr,
                attr_name=self._attr_name,
                lightning_1x=self._lightning_1x,
            )
        if self._early_exit:
            raise _TunerExitException()

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.lr_find(trainer, pl_module)
