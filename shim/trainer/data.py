"""Where a run's data loaders come from, and how many batches of each the loops take."""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader

from shim.core.hooks import DataHooks
from shim.trainer.states import RunningStage
from shim.utilities.data import sized_len
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden
from shim.utilities.seed import pl_worker_init_function

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["DataSource", "parse_num_batches", "as_loader_list"]


@dataclass
class DataSource:
    """Loaders passed to an entry point, or the module/datamodule whose ``<name>()`` method returns them."""

    instance: Any
    name: str

    def is_method(self) -> bool:
        # modules and datamodules (both DataHooks) give loaders through methods; anything else is a loader
        return isinstance(self.instance, DataHooks)

    def is_defined(self) -> bool:
        """Whether asking this source would give loaders (a module's method counts only when overridden)."""
        if self.instance is None:
            return False
        if not self.is_method():
            return True
        return is_overridden(self.name, self.instance, DataHooks)

    def request(self, trainer: "Trainer") -> Any:
        from shim.core.module import LightningModule

        if isinstance(self.instance, LightningModule):
            return trainer._hooks.module(self.name)
        if self.is_method():
            return trainer._hooks.datamodule(self.name)
        return self.instance


def as_loader_list(loaders: Any) -> list[Any]:
    """One loader, or a list/tuple/dict of loaders, as a flat list (dict values in order)."""
    if loaders is None:
        return []
    if isinstance(loaders, Mapping):
        return list(loaders.values())
    if isinstance(loaders, (list, tuple)):
        return list(loaders)
    return [loaders]


def check_iterable(loader: Any, source: DataSource) -> None:
    if isinstance(loader, Iterable):
        return
    raise TypeError(
        f"`{source.name}` must give an iterable such as a `torch.utils.data.DataLoader`, got"
        f" {type(loader).__name__}: {loader!r}"
    )


def add_worker_seeding(loader: Any, rank: int) -> Any:
    """Give every worker of ``loader`` its own seed after ``seed_everything(..., workers=True)``."""
    if isinstance(loader, DataLoader) and int(os.environ.get("PL_SEED_WORKERS", "0")) and loader.worker_init_fn is None:
        loader.worker_init_fn = partial(pl_worker_init_function, rank=rank)
    return loader


def parse_num_batches(stage: RunningStage, length: int | float, limit: int | float) -> int | float:
    """How many batches a loader of ``length`` gives under ``limit_<stage>_batches`` (int: count, float: fraction)."""
    if length == 0:
        return 0
    prefix = stage.dataloader_prefix
    if isinstance(limit, int):
        return min(length, limit)
    if length == float("inf"):
        if limit != 1.0:
            raise MisconfigurationException(
                f"limit_{prefix}_batches={limit} is a fraction, but the {prefix} dataloader has no length;"
                f" pass an int number of batches instead."
            )
        return length
    num = int(length * limit)
    if num == 0 and limit > 0.0:
        raise MisconfigurationException(
            f"limit_{prefix}_batches={limit} of the {prefix} dataloader's {length} batches is less than one batch;"
            f" use at least limit_{prefix}_batches={1.0 / length}."
        )
    return num


def loader_length(loader: Any) -> int | float:
    length = sized_len(loader)
    return float("inf") if length is None else length
