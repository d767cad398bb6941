"""Facts about batches and data loaders: batch-size extraction, lengths, worker counts."""

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch

from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache, rank_zero_warn

if TYPE_CHECKING:
    from shim.strategies.strategy import Strategy

__all__ = [
    "extract_batch_size",
    "has_iterable_dataset",
    "has_len",
    "has_len_all_ranks",
    "sized_len",
    "suggested_max_num_workers",
]


warning_cache = WarningCache()


def _batch_sizes(batch: Any) -> Iterator[int | None]:
    """The first dimension of every tensor in ``batch``, in order; ``None`` for every other leaf (strings too)."""
    if isinstance(batch, torch.Tensor):
        yield 1 if batch.ndim == 0 else batch.size(0)
    elif isinstance(batch, (Iterable, Mapping)) and not isinstance(batch, str):
        for value in batch.values() if isinstance(batch, Mapping) else batch:
            yield from _batch_sizes(value)
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        for field in dataclasses.fields(batch):
            yield from _batch_sizes(getattr(batch, field.name))
    else:
        yield None


def extract_batch_size(batch: Any) -> int:
    """The size of the first dimension of the first tensor in ``batch`` (collections and dataclasses are searched).

    Warns (once per message) when a later tensor, or a leaf that is not a tensor, disagrees, because the choice is
    then a guess.

    Raises:
        MisconfigurationException: If the batch holds no tensor, or is nested too deeply to search.
    """
    if isinstance(batch, (list, tuple)) and batch:
        # the common batch, a few tensors of one first dimension, without walking it generator by generator
        size = None
        for item in batch:
            if not isinstance(item, torch.Tensor):
                break
            item_size = 1 if item.ndim == 0 else item.size(0)
            if size is None:
                size = item_size
            elif item_size != size:
                break
        else:
            return size  # type: ignore[return-value]
    found: int | None = None
    try:
        for size in _batch_sizes(batch):
            if found is None:
                found = size
            elif size != found:
                warning_cache.warn(
                    f"The batch size was inferred as {found} from the first tensor of an ambiguous batch. To avoid"
                    " mistakes in epoch-level means, pass `self.log(..., batch_size=batch_size)`."
                )
                break
    except RecursionError:
        raise MisconfigurationException(_NO_BATCH_SIZE) from None
    if found is None:
        raise MisconfigurationException(_NO_BATCH_SIZE)
    return found


_NO_BATCH_SIZE = (
    "Could not determine the batch size: the batch holds no tensor that could be found. Pass"
    " `self.log(..., batch_size=batch_size)`, or give the batch a simpler structure."
)


def sized_len(dataloader: object) -> int | None:
    """Return ``len(dataloader)``, or ``None`` when it has no length (for example an iterable dataset)."""
    try:
        return len(dataloader)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return None


def has_len(dataloader: object) -> bool:
    """Whether ``len(dataloader)`` is defined."""
    return sized_len(dataloader) is not None


def has_iterable_dataset(dataloader: object) -> bool:
    """Whether ``dataloader`` reads an ``IterableDataset`` (through its ``dataset`` attribute)."""
    from torch.utils.data import IterableDataset

    return isinstance(getattr(dataloader, "dataset", None), IterableDataset)


def has_len_all_ranks(
    dataloader: object, strategy: "Strategy", allow_zero_length_dataloader_with_multiple_devices: bool = False
) -> bool:
    """Whether ``len(dataloader)`` is defined; the lengths of all processes are summed to check them.

    Warns when no process has a batch, when one process has none while others have some (if allowed), and when an
    ``IterableDataset`` defines ``__len__`` (with several workers each may yield the whole dataset).

    Raises:
        RuntimeError: If this process's loader is empty while others are not, and
            ``allow_zero_length_dataloader_with_multiple_devices`` is False.
    """
    local_length = sized_len(dataloader)
    if local_length is None:
        return False
    name = type(dataloader).__name__
    total_length = strategy.reduce(torch.tensor(local_length, device=strategy.root_device), reduce_op="sum")
    if total_length == 0:
        rank_zero_warn(
            f"The `{name}` has no batches on any process (its length, summed across ranks, is zero);"
            " make sure that is what you want."
        )
    elif local_length == 0:
        if not allow_zero_length_dataloader_with_multiple_devices:
            raise RuntimeError(
                f"The `{name}` of this process has zero length while other processes have batches: give every"
                " process at least one batch, or set `allow_zero_length_dataloader_with_multiple_devices = True`"
                " on the LightningModule or LightningDataModule."
            )
        rank_zero_warn(
            f"The `{name}` of one process has zero length while the others have batches; the processes will run"
            " different numbers of steps."
        )
    if has_iterable_dataset(dataloader):
        rank_zero_warn(
            f"The `{name}` reads an `IterableDataset` that defines `__len__`; with several worker processes that"
            " length can be wrong unless each worker yields its own share of the data."
        )
    return True


def suggested_max_num_workers(local_world_size: int) -> int:
    """The most ``DataLoader`` workers worth using per process: the CPUs this process may use, shared between the
    ``local_world_size`` processes of this machine, less one for the main process (at least 1).

    Raises:
        ValueError: If ``local_world_size`` is less than 1.
    """
    if local_world_size < 1:
        raise ValueError(f"local_world_size={local_world_size} is not valid: it must be an int >= 1.")
    return max(1, _num_cpus_available() // local_world_size - 1)


def _num_cpus_available() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
