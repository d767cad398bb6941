"""Facts about batches and data loaders: batch-size extraction, lengths."""

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from shim.utilities.rank_zero import rank_zero_warn

__all__ = ["extract_batch_size", "has_len", "sized_len"]


def _tensor_sizes(batch: Any) -> Iterable[int]:
    if isinstance(batch, torch.Tensor):
        yield 1 if batch.ndim == 0 else batch.size(0)
    elif isinstance(batch, (str, bytes)):
        yield len(batch)
    elif isinstance(batch, Mapping):
        for value in batch.values():
            yield from _tensor_sizes(value)
    elif isinstance(batch, Iterable):
        for value in batch:
            yield from _tensor_sizes(value)


def extract_batch_size(batch: Any) -> int:
    """Return the size of the first dimension of the first tensor found in ``batch``.

    Warns when the batch holds tensors of different first dimensions, because the choice is then a guess.

    Raises:
        RuntimeError: If the batch holds no tensor.
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
    sizes = iter(_tensor_sizes(batch))
    size = next(sizes, None)
    if size is None:
        raise RuntimeError(
            "Could not determine the batch size: the batch holds no tensor. Pass `self.log(..., batch_size=N)`."
        )
    if any(other != size for other in sizes):
        rank_zero_warn(
            f"The batch size was inferred as {size} from the first tensor of an ambiguous batch. To avoid mistakes"
            " in epoch-level means, pass `self.log(..., batch_size=batch_size)`."
        )
    return size


def sized_len(dataloader: object) -> int | None:
    """Return ``len(dataloader)``, or ``None`` when it has no length (for example an iterable dataset)."""
    try:
        return len(dataloader)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return None


def has_len(dataloader: object) -> bool:
    """Whether ``len(dataloader)`` is defined."""
    return sized_len(dataloader) is not None
