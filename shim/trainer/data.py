"""Where a run's data loaders come from, and how many batches of each the loops take."""

import os
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, SequentialSampler

from shim.core.datamodule import LightningDataModule
from shim.core.hooks import DataHooks
from shim.plugins.precision.precision import Precision
from shim.trainer.distributed_sampler import rebuild_loader
from shim.trainer.states import RunningStage
from shim.utilities.combined_loader import CombinedLoader, flatten_iterables
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden, own_methods, runs_other_code, runs_own_methods
from shim.utilities.rank_zero import rank_zero_warn
from shim.utilities.seed import pl_worker_init_function

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = [
    "DataSource",
    "add_worker_seeding",
    "as_loader_list",
    "attach_data",
    "check_iterable",
    "data_hook_owner",
    "decide_batch_transfer",
    "in_given_structure",
    "loader_argument",
    "parse_num_batches",
    "read_in_order",
    "switched_off_loader_error",
    "transfer_batch",
]

_BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
_OWN_CONVERT_INPUT = own_methods(Precision, ("convert_input",))  # the base plugin leaves the batch as it is


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
        return runs_other_code(self.name, self.instance, DataHooks)

    def request(self, trainer: "Trainer") -> Any:
        from shim.core.module import LightningModule

        if isinstance(self.instance, LightningModule):
            return trainer._hooks.module(self.name)
        if self.is_method():
            return trainer._hooks.datamodule(self.name)
        return self.instance


def as_loader_list(loaders: Any) -> list[Any]:
    """The single loaders in ``loaders``: one loader, a (nested) list, tuple or dict of them (dict values in order),
    or the loaders of a ``CombinedLoader``.

    ``None`` counts as one (invalid) loader, so that the check of each loader reports it.
    """
    if isinstance(loaders, CombinedLoader):
        return list(loaders.flattened)
    return flatten_iterables(loaders)[0]


def in_given_structure(given: Any, loaders: list[Any]) -> Any:
    """``loaders`` (``given`` flattened by ``as_loader_list``, then prepared) arranged as ``given`` was.

    A ``CombinedLoader`` takes the prepared loaders in place of its own, and its collection of them is returned.
    """
    if isinstance(given, CombinedLoader):
        given.flattened = loaders
        return given.iterables
    return flatten_iterables(given)[1].arrange(loaders) if loaders else None


def check_iterable(loader: Any, source: DataSource, fn: str) -> None:
    """Raise unless ``loader`` can be iterated; ``fn`` is the entry point that runs (``"fit"``, ``"test"``, ...).

    Raises:
        TypeError: Naming where the loader came from (an argument of ``fn`` or a ``*_dataloader()`` method).
    """
    if isinstance(loader, DataLoader):
        return  # iter() on a DataLoader may start worker processes: it is known to be iterable
    try:
        iter(loader)
    except TypeError:
        pass
    else:
        return
    if source.is_method():
        raise TypeError(
            f"`{type(source.instance).__name__}.{source.name}()` returned {loader!r}, which is not iterable: return a"
            " `DataLoader` or another iterable of batches (or a list or dict of them)."
        )
    raise TypeError(
        f"`Trainer.{fn}({loader_argument(source, fn)}=...)` got {loader!r}, which is not iterable: pass a"
        " `DataLoader` or another iterable of batches (or a list or dict of them)."
    )


def loader_argument(source: DataSource, fn: str) -> str:
    """The argument of ``Trainer.<fn>`` that gives ``source``'s loaders."""
    if fn != "fit":
        return "dataloaders"
    return "train_dataloaders" if source.name == "train_dataloader" else "val_dataloaders"


def switched_off_loader_error(source: DataSource, fn: str) -> TypeError | None:
    """The error for a run whose loader method was set to None (and no loader was passed), else None."""
    if source.instance is None or not source.is_method() or getattr(source.instance, source.name, None) is not None:
        return None
    return TypeError(
        f"`Trainer.{fn}({loader_argument(source, fn)}=None)` has no loader to use and"
        f" `{type(source.instance).__name__}.{source.name}` is None: pass a `DataLoader` to `{fn}()`, or implement"
        f" `{source.name}()`."
    )


def add_worker_seeding(loader: Any, rank: int) -> Any:
    """Give every worker of ``loader`` its own seed after ``seed_everything(..., workers=True)``."""
    if isinstance(loader, DataLoader) and int(os.environ.get("PL_SEED_WORKERS", "0")) and loader.worker_init_fn is None:
        loader.worker_init_fn = partial(pl_worker_init_function, rank=rank)
    return loader


def read_in_order(loaders: list[Any], stage: RunningStage, overfit_batches: int | float) -> list[Any]:
    """The loaders ``overfit_batches`` trains (or validates) on: each reads its dataset in order.

    Loaders with a sampler that is not a ``SequentialSampler`` are rebuilt with one, with a warning, so every epoch
    sees the same first batches.
    """
    if all(isinstance(dl.sampler, SequentialSampler) for dl in loaders if hasattr(dl, "sampler")):
        return loaders
    prefix = stage.dataloader_prefix
    rank_zero_warn(
        f"Trainer(overfit_batches={overfit_batches!r}) needs the same batches every epoch, but the {prefix}"
        f" dataloader may shuffle (its sampler is not a SequentialSampler): shim turns the {prefix} dataloader's"
        " shuffling off, so it reads its dataset in order."
    )
    return [_in_order(dl) if isinstance(dl, DataLoader) else dl for dl in loaders]


def _in_order(loader: DataLoader[Any]) -> DataLoader[Any]:
    return rebuild_loader(loader, SequentialSampler(loader.dataset))  # type: ignore[arg-type]


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


def attach_data(
    trainer: "Trainer", model: "LightningModule", datamodule: LightningDataModule | None, loaders: dict[str, Any]
) -> None:
    """Point each of the trainer's loops at the given loaders, else the datamodule, else the module."""
    trainer._model = model
    trainer.datamodule = datamodule
    if datamodule is not None:
        datamodule.trainer = trainer
    owner: Any = datamodule if datamodule is not None else model
    sources: dict[str, DataSource] = {
        "train": trainer.fit_loop.source,
        "val": trainer.fit_loop.epoch_loop.val_loop.source,
        "validate": trainer.validate_loop.source,
        "test": trainer.test_loop.source,
        "predict": trainer.predict_loop.source,
    }
    for key, given in loaders.items():
        targets = ["val", "validate"] if key in ("val", "validate") else [key]
        for target in targets:
            source = sources[target]
            source.instance = given if given is not None else owner
    # every entry point forgets all loaders, as Lightning does: a new run requests its loaders again
    trainer.fit_loop.loader = None
    trainer.fit_loop.epoch_loop.val_loop.loaders = None
    trainer.validate_loop.loaders = None
    trainer.test_loop.loaders = None
    trainer.predict_loop.loaders = []


def data_hook_owner(trainer: "Trainer", name: str) -> Any:
    """The module or datamodule whose batch hook ``name`` runs: the datamodule's when it overrides the hook."""
    owner = trainer._data_hook_owners.get(name)
    if owner is None:
        owner = trainer.lightning_module
        # as Lightning decides it: a datamodule's hook is used only when its class overrides it
        if is_overridden(name, trainer.datamodule, LightningDataModule):
            if is_overridden(name, trainer.lightning_module):
                rank_zero_warn(
                    f"`{name}` is overridden in both the LightningModule and the LightningDataModule; the"
                    " datamodule's is used."
                )
            owner = trainer.datamodule
        trainer._data_hook_owners[name] = owner
    return owner


def decide_batch_transfer(trainer: "Trainer") -> None:
    """Decide once per run what reads batch by batch: whether batches need the transfer hooks, clipping, validation."""
    profiled = trainer._hooks.profiled  # a profiled run calls (and records) every hook below, as Lightning does
    trainer._clipping_overridden = profiled or trainer._module_overrides("configure_gradient_clipping")
    trainer._validation_enabled = None
    trainer._data_hook_owners = {}
    overridden = any(
        trainer._module_overrides(h) or is_overridden(h, trainer.datamodule, LightningDataModule) for h in _BATCH_HOOKS
    )
    precision_converts = not runs_own_methods(trainer.precision_plugin, _OWN_CONVERT_INPUT)
    # on the CPU with no hook overridden the transfer is an identity: skip its recursion on every batch
    trainer._needs_batch_transfer = (
        profiled or overridden or precision_converts or trainer.strategy.root_device.type != "cpu"
    )


def transfer_batch(trainer: "Trainer", batch: Any, dataloader_idx: int) -> Any:
    """The batch after the precision plugin's conversion, the batch hooks and the move to the device."""
    if not trainer._needs_batch_transfer:
        return batch
    batch = trainer.precision_plugin.convert_input(batch)
    module = trainer.lightning_module
    batch = module._on_before_batch_transfer(batch, dataloader_idx=dataloader_idx)
    return trainer.strategy.batch_to_device(batch, dataloader_idx=dataloader_idx)
