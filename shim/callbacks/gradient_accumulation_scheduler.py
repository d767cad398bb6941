"""``GradientAccumulationScheduler``: change ``accumulate_grad_batches`` at given epochs."""

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["GradientAccumulationScheduler"]


class GradientAccumulationScheduler(Callback):
    """Accumulate gradients over ``scheduling[e]`` batches from epoch ``e`` on (1 before the first key).

    Example: ``GradientAccumulationScheduler({5: 3, 10: 20})`` steps every batch in epochs 0-4, every 3 batches in
    epochs 5-9 and every 20 batches from epoch 10.

    Raises:
        TypeError: If ``scheduling`` is empty.
        MisconfigurationException: If an epoch key is not an int >= 0 or a factor is not an int >= 1.
    """

    def __init__(self, scheduling: dict[int, int]) -> None:
        super().__init__()
        if not scheduling:
            raise TypeError("GradientAccumulationScheduler(scheduling={}) is empty: give at least one {epoch: factor}.")
        for epoch, factor in scheduling.items():
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise MisconfigurationException(
                    f"GradientAccumulationScheduler scheduling={scheduling!r}: epoch keys must be ints >= 0,"
                    f" got {epoch!r}."
                )
            if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
                raise MisconfigurationException(
                    f"GradientAccumulationScheduler scheduling={scheduling!r}: factors must be ints >= 1,"
                    f" got {factor!r} for epoch {epoch}."
                )
        schedule = dict(sorted(scheduling.items()))
        if 0 not in schedule:
            schedule = {0: 1, **schedule}
        self.scheduling = schedule
        self.epochs = sorted(schedule)

    def going_to_accumulate_grad_batches(self) -> bool:
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        factor = 1
        for start in self.epochs:
            if epoch >= start:
                factor = self.scheduling[start]
        return factor

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not pl_module.automatic_optimization:
            raise RuntimeError(
                "GradientAccumulationScheduler needs automatic optimization; under manual optimization accumulate"
                " gradients in `training_step` yourself."
            )
        if self.going_to_accumulate_grad_batches() and (
            is_overridden("optimizer_step", pl_module) or is_overridden("optimizer_zero_grad", pl_module)
        ):
            rank_zero_warn(
                "The LightningModule overrides `optimizer_step` or `optimizer_zero_grad`, and the"
                f" GradientAccumulationScheduler({self.scheduling}) accumulates gradients: those hooks run once per"
                " optimizer step, not after each batch."
            )
        if trainer.accumulate_grad_batches != 1 and not trainer._accumulation_from_schedule:
            raise ValueError(
                f"Trainer(accumulate_grad_batches={trainer.accumulate_grad_batches}) and a"
                " GradientAccumulationScheduler were both given; use one of them."
            )

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule", *args: Any) -> None:
        trainer.accumulate_grad_batches = self.get_accumulate_grad_batches(trainer.current_epoch)
