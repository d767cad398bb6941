"""``lightning_fabric.utilities.apply_func``: mapping a function over nested collections, moving them to a device."""

from shim.utilities.apply_func import apply_to_collection, convert_tensors_to_scalars, move_data_to_device

__all__ = ["apply_to_collection", "convert_tensors_to_scalars", "move_data_to_device"]
