"""``BasePredictionWriter``: the base of callbacks that store what ``trainer.predict`` produces, batch by batch or
once at the end."""

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["BasePredictionWriter", "WriteInterval"]


class WriteInterval(str, Enum):
    """When a prediction writer writes: after each batch, once after all batches, or both."""

    BATCH = "batch"
    EPOCH = "epoch"
    BATCH_AND_EPOCH = "batch_and_epoch"

    @property
    def on_batch(self) -> bool:
        return self in (WriteInterval.BATCH, WriteInterval.BATCH_AND_EPOCH)

    @property
    def on_epoch(self) -> bool:
        return self in (WriteInterval.EPOCH, WriteInterval.BATCH_AND_EPOCH)


class BasePredictionWriter(Callback):
    """Write predictions as ``trainer.predict`` makes them; subclasses say how and where.

    With ``write_interval="batch"``, ``write_on_batch_end`` gets each batch's prediction and the dataset indices
    of its samples; with ``"epoch"``, ``write_on_epoch_end`` gets all predictions (one list per data loader when
    there are several) and the indices of every batch, per data loader. ``"batch_and_epoch"`` calls both. The
    indices are known for DataLoaders over map-style datasets; for others they are empty lists.

    With several processes each one writes its own share; include ``trainer.global_rank`` in the file names.

    Args:
        write_interval: ``"batch"``, ``"epoch"`` or ``"batch_and_epoch"``.

    Raises:
        MisconfigurationException: If ``write_interval`` is not one of these.
        ValueError: If it is one of them in another letter case.
    """

    def __init__(self, write_interval: Literal["batch", "epoch", "batch_and_epoch"] = "batch") -> None:
        allowed = [interval.value for interval in WriteInterval]
        if not isinstance(write_interval, str) or write_interval.lower() not in allowed:
            raise MisconfigurationException(
                f"BasePredictionWriter(write_interval={write_interval!r}) is not valid: use one of {allowed}."
            )
        # another letter case passes the check above but not the lookup (a ValueError), as in Lightning
        self.interval = WriteInterval(write_interval)

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if is_param_in_hook_signature(pl_module.predict_step, "dataloader_iter", explicit=True):
            raise NotImplementedError(
                f"{type(self).__name__} cannot write predictions of a `predict_step` that takes `dataloader_iter`:"
                " the batches and their indices are not known to the Trainer."
            )

    def write_on_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write the prediction of one batch; ``batch_indices`` are the dataset indices of its samples."""
        raise NotImplementedError

    def write_on_epoch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Write all predictions; ``batch_indices`` holds, per data loader, the sample indices of each batch."""
        raise NotImplementedError

    @override
    def on_predict_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.interval.on_batch:
            indices = trainer.predict_loop.current_batch_indices
            self.write_on_batch_end(trainer, pl_module, outputs, indices, batch, batch_idx, dataloader_idx)

    @override
    def on_predict_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self.interval.on_epoch:
            loop = trainer.predict_loop
            self.write_on_epoch_end(trainer, pl_module, loop.predictions, loop.epoch_batch_indices)
