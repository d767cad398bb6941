"""``lightning_fabric.utilities.data``: ``AttributeDict`` (which checkpoints pickle) and loader helpers."""

from shim.utilities.data import has_iterable_dataset, has_len, sized_len, suggested_max_num_workers
from shim.utilities.parsing import AttributeDict

__all__ = ["AttributeDict", "has_iterable_dataset", "has_len", "sized_len", "suggested_max_num_workers"]
