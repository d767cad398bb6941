"""``Tuner`` (Lightning 2.x) and ``trainer.tune`` (Lightning 1.x): run a batch-size or learning-rate search as a
short fit/validate/test/predict that ends once the search is done.
"""

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast

from shim.trainer.states import TrainerFn, TrainerStatus
from shim.tuner.search import _TunerExitException
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.seed import isolate_rng

if TYPE_CHECKING:
    from shim.callbacks.batch_size_finder import BatchSizeFinder
    from shim.callbacks.lr_finder import LearningRateFinder
    from shim.core.datamodule import LightningDataModule
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer
    from shim.tuner.lr_finder import _LRFinder

__all__ = ["Tuner"]

_Method = Literal["fit", "validate", "test", "predict"]
_METHODS = ("fit", "validate", "test", "predict")


class Tuner:
    """Finds a batch size or a learning rate for ``trainer``'s next run.

    Args:
        trainer: The Trainer whose settings (devices, precision, limits) the searches run with.
    """

    def __init__(self, trainer: "Trainer") -> None:
        self._trainer = trainer
        # set by `trainer.tune`: search by Lightning 1.9's rules (see BatchSizeSearch)
        self._lightning_1x = False

    def scale_batch_size(
        self,
        model: "LightningModule",
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: "LightningDataModule | None" = None,
        method: _Method = "fit",
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> int | None:
        """Find the largest batch size that runs ``steps_per_trial`` steps of ``method`` without running out of memory.

        The model (or datamodule) must hold the batch size as ``batch_arg_name`` (attribute or hparams entry) and
        build its loaders from it. The found size is left there; weights, optimizers and counters are restored.

        Args:
            model: The model to tune.
            train_dataloaders: Training loaders or a datamodule (``method="fit"``).
            val_dataloaders: Validation loaders (``method="fit"``).
            dataloaders: Loaders for ``method`` ``"validate"``, ``"test"`` or ``"predict"``.
            datamodule: A datamodule that gives the loaders.
            method: The entry point whose loop the trials run.
            mode: ``"power"`` (double until a failure) or ``"binsearch"`` (then bisect).
            steps_per_trial: Steps to run at each size.
            init_val: The batch size to start from.
            max_trials: At most this many increases.
            batch_arg_name: The attribute that holds the batch size.
            margin: ``"binsearch"`` only: lower the result by this fraction (0 <= margin < 1).
            max_val: The largest batch size to try.

        Returns:
            The batch size found, or None under ``fast_dev_run``.

        Raises:
            ValueError: For an unknown ``method`` or ``mode``, a distributed run, or a ``BatchSizeFinder`` callback
                already on the Trainer.
            MisconfigurationException: If loaders are passed to the wrong argument for ``method``, or no
                ``batch_arg_name`` exists.
        """
        from shim.callbacks.batch_size_finder import BatchSizeFinder

        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        trainer = self._trainer
        if trainer.world_size > 1:
            raise ValueError(
                f"The batch size search runs in a single process; this Trainer has {trainer.world_size} (world size)."
            )
        _check_no_finder_callback(trainer, BatchSizeFinder)
        finder = BatchSizeFinder(mode, steps_per_trial, init_val, max_trials, batch_arg_name, margin, max_val)
        finder._search = replace(finder._search, lightning_1x=self._lightning_1x)
        self._run_with(finder, method, model, train_dataloaders, val_dataloaders, dataloaders, datamodule)
        return finder.optimal_batch_size

    def lr_find(
        self,
        model: "LightningModule",
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: "LightningDataModule | None" = None,
        method: _Method = "fit",
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> "_LRFinder | None":
        """Run a learning-rate range test: ``num_training`` steps with the learning rate rising from ``min_lr`` to
        ``max_lr``, recording the smoothed loss. Weights, optimizers and counters are restored afterwards.

        Args:
            model: The model to tune (one optimizer).
            train_dataloaders: Training loaders or a datamodule.
            val_dataloaders: Validation loaders.
            dataloaders: Must be None (the test trains).
            datamodule: A datamodule that gives the loaders.
            method: Must be ``"fit"``.
            min_lr: The first learning rate.
            max_lr: The last learning rate.
            num_training: The number of steps (learning rates) to test.
            mode: ``"exponential"`` or ``"linear"`` growth of the learning rate.
            early_stop_threshold: Stop once the smoothed loss exceeds this multiple of the best; None never stops.
            update_attr: Write the suggestion to the model's ``lr``/``learning_rate`` (or ``attr_name``).
            attr_name: The learning-rate attribute, when it is not ``lr`` or ``learning_rate``.

        Returns:
            The finder (``results``, ``suggestion()``, ``plot()``), or None under ``fast_dev_run``.

        Raises:
            MisconfigurationException: If ``method`` is not ``"fit"``, loaders are passed to the wrong argument, or
                the model has more than one optimizer.
            ValueError: For an unknown ``mode``, or a ``LearningRateFinder`` callback already on the Trainer.
            AttributeError: If ``update_attr`` is set and no learning-rate attribute exists.
        """
        from shim.callbacks.lr_finder import LearningRateFinder

        if method != "fit":
            raise MisconfigurationException(f"lr_find(method={method!r}): the learning rate finder runs in fit only.")
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        _check_no_finder_callback(self._trainer, LearningRateFinder)
        finder = LearningRateFinder(min_lr, max_lr, num_training, mode, early_stop_threshold, update_attr, attr_name)
        finder._lightning_1x = self._lightning_1x
        self._run_with(finder, "fit", model, train_dataloaders, val_dataloaders, None, datamodule)
        return finder.optimal_lr

    def _run_with(
        self,
        finder: "BatchSizeFinder | LearningRateFinder",
        method: _Method,
        model: "LightningModule",
        train_dataloaders: Any,
        val_dataloaders: Any,
        dataloaders: Any,
        datamodule: "LightningDataModule | None",
    ) -> None:
        """Run ``method`` with ``finder`` first among the callbacks; the finder ends the run after its search."""
        trainer = self._trainer
        finder._early_exit = True
        trainer.callbacks = [finder, *trainer.callbacks]
        try:
            if method == "fit":
                trainer.fit(model, train_dataloaders, val_dataloaders, datamodule)
            elif method == "validate":
                trainer.validate(model, dataloaders, datamodule=datamodule)
            elif method == "test":
                trainer.test(model, dataloaders, datamodule=datamodule)
            else:
                trainer.predict(model, dataloaders, datamodule=datamodule)
        except _TunerExitException:
            _finish_after_search(trainer)
        finally:
            trainer.callbacks = [cb for cb in trainer.callbacks if cb is not finder]
            trainer._hooks.reset()


def _finish_after_search(trainer: "Trainer") -> None:
    """End a run that a finder stopped as Lightning does: teardown hooks, then FINISHED (no fit/train end hooks).

    The Trainer's interrupt handling has already torn the loops down; what it did not do is run the teardown
    hooks and mark the run finished rather than interrupted.
    """
    from shim.trainer.run import teardown_hooks

    fn = trainer.state.fn
    if fn is not None:
        teardown_hooks(trainer, TrainerFn(fn))
    trainer.state.status = TrainerStatus.FINISHED


def _check_tuner_configuration(train_dataloaders: Any, val_dataloaders: Any, dataloaders: Any, method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not valid: use one of {list(_METHODS)}.")
    if method == "fit":
        if dataloaders is not None:
            raise MisconfigurationException(
                f"The tuner got `dataloaders` with method={method!r}, which reads `train_dataloaders` and"
                " `val_dataloaders`: pass those instead."
            )
    elif train_dataloaders is not None or val_dataloaders is not None:
        raise MisconfigurationException(
            f"The tuner got `train_dataloaders`/`val_dataloaders` with method={method!r}, which reads `dataloaders`:"
            " pass that instead."
        )


def _check_no_finder_callback(trainer: "Trainer", finder_type: type) -> None:
    if any(isinstance(cb, finder_type) for cb in trainer.callbacks):
        raise ValueError(
            f"The Trainer's callbacks already hold a `{finder_type.__name__}`; the Tuner runs its own search, so remove"
            " the callback to use the Tuner."
        )


def tune(
    trainer: "Trainer",
    model: "LightningModule",
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    dataloaders: Any = None,
    datamodule: "LightningDataModule | None" = None,
    scale_batch_size_kwargs: dict[str, Any] | None = None,
    lr_find_kwargs: dict[str, Any] | None = None,
    method: str = "fit",
) -> dict[str, Any]:
    """Lightning 1.x's ``trainer.tune``: the searches that ``Trainer(auto_scale_batch_size=..., auto_lr_find=...)``
    asked for, batch size first, with the random state left untouched.

    Returns:
        ``{"scale_batch_size": size}`` and/or ``{"lr_find": finder}`` for the searches that ran (empty when none).
    """
    from shim.core.datamodule import LightningDataModule

    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not valid: use one of {list(_METHODS)}.")
    checked_method = cast(_Method, method)
    scale_kwargs = dict(scale_batch_size_kwargs or {})
    lr_kwargs = dict(lr_find_kwargs or {})
    result: dict[str, Any] = {}
    tuner = Tuner(trainer)
    tuner._lightning_1x = True
    with isolate_rng():
        if trainer.auto_scale_batch_size:
            if isinstance(trainer.auto_scale_batch_size, str):
                scale_kwargs.setdefault("mode", trainer.auto_scale_batch_size)
            result["scale_batch_size"] = tuner.scale_batch_size(
                model, train_dataloaders, val_dataloaders, dataloaders, datamodule, checked_method, **scale_kwargs
            )
            trainer.auto_scale_batch_size = False
        if trainer.auto_lr_find:
            if isinstance(train_dataloaders, LightningDataModule):
                datamodule, train_dataloaders = train_dataloaders, None
            if datamodule is not None and (train_dataloaders is not None or val_dataloaders is not None):
                raise MisconfigurationException(
                    "You cannot pass `train_dataloader` or `val_dataloaders` to `trainer.tune()` if datamodule is"
                    " already passed."
                )
            lr_kwargs.setdefault("update_attr", True)
            if isinstance(trainer.auto_lr_find, str):
                lr_kwargs.setdefault("attr_name", trainer.auto_lr_find)
            result["lr_find"] = tuner.lr_find(
                model, train_dataloaders, val_dataloaders, dataloaders, datamodule, checked_method, **lr_kwargs
            )
            trainer.auto_lr_find = False
    return result
