"""``BatchSizeFinder``: before fit/validate/test/predict runs, search the largest batch size that fits in memory."""

from typing import TYPE_CHECKING

from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.trainer.states import TrainerFn
from shim.tuner.attributes import lightning_hasattr
from shim.tuner.batch_size_scaling import BatchSizeSearch, scale_batch_size
from shim.tuner.search import _TunerExitException
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["BatchSizeFinder"]


class BatchSizeFinder(Callback):
    """Finds the largest batch size that runs without an out-of-memory error, then lets the run continue with it.

    The search starts when the run starts (``on_fit_start``, ``on_validation_start`` of ``trainer.validate``,
    ``on_test_start``, ``on_predict_start``); subclass and call ``scale_batch_size`` from other hooks to search at
    other times. The size is read from and written to the attribute ``batch_arg_name`` of the model, its
    ``hparams``, the datamodule or its ``hparams``, and the loaders are rebuilt with every size tried.

    Args:
        mode: ``"power"`` doubles the size until a trial fails; ``"binsearch"`` then bisects between the last size
            that worked and the one that failed.
        steps_per_trial: Steps (batches) to run at each size.
        init_val: The batch size the search starts from.
        max_trials: At most this many increases before the search stops.
        batch_arg_name: The attribute that holds the batch size.
        margin: ``"binsearch"`` only: lower the found size by this fraction as a safety buffer (0 <= margin < 1).
        max_val: The largest batch size to try.

    Raises:
        ValueError: If ``mode`` is not ``"power"`` or ``"binsearch"``, or ``margin`` is outside [0, 1).
    """

    SUPPORTED_MODES = ("power", "binsearch")

    def __init__(
        self,
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> None:
        mode = mode.lower()
        if mode not in self.SUPPORTED_MODES:
            raise ValueError(f"`mode` should be either of {self.SUPPORTED_MODES}, got {mode!r}")
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"`margin` should be between 0 and 1. Found margin={margin}")
        self.optimal_batch_size: int | None = init_val
        self._search = BatchSizeSearch(mode, steps_per_trial, init_val, max_trials, batch_arg_name, margin, max_val)
        self._early_exit = False

    @property
    def _batch_arg_name(self) -> str:
        return self._search.batch_arg_name

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if trainer.world_size > 1:
            raise MisconfigurationException("The Batch size finder is not supported with distributed strategies.")
        if stage == TrainerFn.FITTING and not trainer.fit_loop.source.is_method():
            raise MisconfigurationException(
                "The Batch size finder cannot be used with dataloaders passed directly to `.fit()`. Please disable"
                " the feature or incorporate the dataloader into your LightningModule or LightningDataModule."
            )
        if stage != TrainerFn.FITTING:
            loop = trainer._active_loop
            loop.setup_data()
            if len(loop.loaders or []) > 1:
                prefix = trainer.state.stage.dataloader_prefix if trainer.state.stage is not None else stage
                raise MisconfigurationException(
                    f"The Batch size finder cannot be used with multiple {prefix} dataloaders."
                )
        name = self._batch_arg_name
        if not lightning_hasattr(pl_module, name):
            raise MisconfigurationException(
                f"Field {name} not found in `model`, `datamodule`, nor their `hparams` attributes."
            )
        if hasattr(pl_module, name) and name in pl_module.hparams:
            rank_zero_warn(
                f"Field `model.{name}` and `model.hparams.{name}` are mutually exclusive! `model.{name}` will be used"
                " as the initial batch size for scaling. If this is not the intended behavior, please remove either"
                " one."
            )

    def scale_batch_size(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Run the search now and store its result in ``optimal_batch_size``."""
        self.optimal_batch_size = scale_batch_size(trainer, self._search)
        if self._early_exit:
            raise _TunerExitException()

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.scale_batch_size(trainer, pl_module)

    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.VALIDATING:
            return
        self.scale_batch_size(trainer, pl_module)

    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.scale_batch_size(trainer, pl_module)

    @override
    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self.scale_batch_size(trainer, pl_module)
