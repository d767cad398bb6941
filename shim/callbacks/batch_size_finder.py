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
            raise ValueError(f"BatchSizeFinder(mode={mode!r}) is not valid: use one of {list(self.SUPPORTED_MODES)}.")
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"BatchSizeFinder(margin={margin!r}) is not valid: use a fraction in [0, 1).")
        self.optimal_batch_size: int | None = init_val
        self._search = BatchSizeSearch(mode, steps_per_trial, init_val, max_trials, batch_arg_name, margin, max_val)
        self._early_exit = False

    @property
    def _batch_arg_name(self) -> str:
        return self._search.batch_arg_name

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if trainer.world_size > 1:
            raise MisconfigurationException(
                f"BatchSizeFinder runs in a single process; this run has {trainer.world_size} processes (world size)."
            )
        if stage == TrainerFn.FITTING and not trainer.fit_loop.source.is_method():
            raise MisconfigurationException(
                "BatchSizeFinder rebuilds the train dataloader with each size it tries, so it needs the loader from"
                " the module's or datamodule's `train_dataloader()`, not one passed to `.fit()`."
            )
        if stage != TrainerFn.FITTING:
            loop = trainer._active_loop
            loop.setup_data()
            if len(loop.loaders or []) > 1:
                prefix = trainer.state.stage.dataloader_prefix if trainer.state.stage is not None else stage
                raise MisconfigurationException(
                    f"BatchSizeFinder scales one {prefix} dataloader; this run has {len(loop.loaders or [])}."
                )
        name = self._batch_arg_name
        if not lightning_hasattr(pl_module, name):
            raise MisconfigurationException(
                f"BatchSizeFinder(batch_arg_name={name!r}): no attribute {name!r} on the model, its `hparams`, the"
                " datamodule or the datamodule's `hparams`."
            )
        if hasattr(pl_module, name) and name in pl_module.hparams:
            rank_zero_warn(
                f"Both `model.{name}` and `model.hparams.{name}` are set; the search starts from `model.{name}`."
                " Keep only one of them to avoid the ambiguity."
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
