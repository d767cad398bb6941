"""``LightningDataModule``: the data side of a project (download, split, loaders) in one object."""

import inspect
import os
from collections.abc import Iterable, Mapping, Sized
from typing import Any

from torch.utils.data import DataLoader, Dataset, IterableDataset

from shim.core.hooks import DataHooks
from shim.core.mixins.hparams_mixin import HyperparametersMixin
from shim.utilities.model_helpers import _restricted_classmethod

__all__ = ["LightningDataModule"]


class LightningDataModule(DataHooks, HyperparametersMixin):
    """Groups ``prepare_data``, ``setup``, the four ``*_dataloader`` methods and ``teardown``."""

    name: str | None = None
    CHECKPOINT_HYPER_PARAMS_KEY = "datamodule_hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "datamodule_hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "datamodule_hparams_type"

    def __init__(self) -> None:
        super().__init__()
        self.trainer: Any = None

    @classmethod
    def add_argparse_args(cls, parent_parser: Any, **kwargs: Any) -> Any:
        """Add ``--<argument>`` for each constructor argument a command line can give (Lightning 1.x API)."""
        from shim.utilities.argparse import add_argparse_args

        return add_argparse_args(cls, parent_parser, **kwargs)

    @classmethod
    def from_argparse_args(cls, args: Any, **kwargs: Any) -> Any:
        """Build the datamodule from parsed command-line arguments; unknown names are ignored, ``kwargs`` win."""
        from shim.utilities.argparse import from_argparse_args

        return from_argparse_args(cls, args, **kwargs)

    @classmethod
    def get_init_arguments_and_types(cls) -> list[tuple[str, tuple[type, ...], Any]]:
        """``(name, allowed types, default)`` for each constructor argument."""
        from shim.utilities.argparse import get_init_arguments_and_types

        return get_init_arguments_and_types(cls)

    @classmethod
    def from_datasets(
        cls,
        train_dataset: Dataset | Iterable[Dataset] | None = None,
        val_dataset: Dataset | Iterable[Dataset] | None = None,
        test_dataset: Dataset | Iterable[Dataset] | None = None,
        predict_dataset: Dataset | Iterable[Dataset] | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        **datamodule_kwargs: Any,
    ) -> "LightningDataModule":
        """Build a datamodule whose loaders wrap the given datasets (train shuffled, the others not, memory pinned).

        Each argument may be one dataset, a sequence of datasets or a mapping of names to datasets. ``batch_size`` and
        ``num_workers`` are also passed to the datamodule's constructor where it has them (or takes ``**kwargs``);
        ``datamodule_kwargs`` always are.
        """

        def loader(ds: Dataset, shuffle: bool) -> DataLoader:
            shuffle &= not isinstance(ds, IterableDataset)
            return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, pin_memory=True)

        def loaders(ds: Any, shuffle: bool) -> Any:
            if isinstance(ds, Dataset):
                return loader(ds, shuffle)
            if isinstance(ds, Mapping):
                return {key: loaders(d, shuffle) for key, d in ds.items()}
            if isinstance(ds, (list, tuple)):
                return type(ds)(loaders(d, shuffle) for d in ds)
            return ds  # as in Lightning, only datasets become loaders

        # batch_size and num_workers also go to the constructor where it takes them
        parameters = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        special = {
            name: value
            for name, value in (("batch_size", batch_size), ("num_workers", num_workers))
            if takes_any or name in parameters
        }
        datamodule = cls(**datamodule_kwargs, **special)
        if train_dataset is not None:
            datamodule.train_dataloader = lambda: loaders(train_dataset, True)  # type: ignore[method-assign]
        if val_dataset is not None:
            datamodule.val_dataloader = lambda: loaders(val_dataset, False)  # type: ignore[method-assign]
        if test_dataset is not None:
            datamodule.test_dataloader = lambda: loaders(test_dataset, False)  # type: ignore[method-assign]
        if predict_dataset is not None:
            datamodule.predict_dataloader = lambda: loaders(predict_dataset, False)  # type: ignore[method-assign]
        return datamodule

    def __str__(self) -> str:
        """One line per loader method: ``{Train dataloader: size=64}``, ``size=NA`` for a dataset without a length,
        ``None`` where the method gives no loader (not set up yet, say), ``1. size=16 ; 2. size=NA`` for several."""
        lines = []
        for title, method in (
            ("Train dataloader", "train_dataloader"),
            ("Validation dataloader", "val_dataloader"),
            ("Test dataloader", "test_dataloader"),
            ("Predict dataloader", "predict_dataloader"),
        ):
            try:
                loaders = getattr(self, method)()
            except Exception:  # not implemented, or not set up yet: Lightning reports it as None too
                loaders = None
            if isinstance(loaders, DataLoader):
                text = _dataset_size(loaders)
            elif isinstance(loaders, (Mapping, list, tuple)):
                items = loaders.values() if isinstance(loaders, Mapping) else loaders
                text = " ; ".join(
                    f"{i}. {_dataset_size(item)}" if isinstance(item, DataLoader) else "None"
                    for i, item in enumerate(items, start=1)
                )
            else:
                text = "None"
            lines.append(f"{{{title}: {text}}}")
        return os.linesep.join(lines)

    @_restricted_classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build the datamodule from the hyper-parameters (and state) saved in a checkpoint; ``kwargs`` win.

        ``weights_only`` chooses torch's loader as in ``LightningModule.load_from_checkpoint``.
        """
        from shim.core.saving import load_from_checkpoint

        return load_from_checkpoint(cls, checkpoint_path, map_location, hparams_file, None, weights_only, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        """State to save in checkpoints."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def on_exception(self, exception: BaseException) -> None:
        """Called when fit, validate, test or predict raises."""


def _dataset_size(loader: DataLoader) -> str:
    dataset = loader.dataset
    return f"size={len(dataset)}" if isinstance(dataset, Sized) else "size=NA"
