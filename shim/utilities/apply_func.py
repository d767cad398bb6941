"""Apply a function to every tensor in a nested batch: lists, tuples, namedtuples, dicts and dataclasses."""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["apply_to_collection", "move_data_to_device", "convert_tensors_to_scalars"]


def apply_to_collection(
    data: Any, dtype: type | tuple[type, ...], function: Callable, *args: Any, **kwargs: Any
) -> Any:
    """Return ``data`` with ``function(x, *args, **kwargs)`` applied to every element of type ``dtype``.

    Containers keep their type: namedtuples and dataclasses are rebuilt, mappings keep their class and order.
    """
    if isinstance(data, dtype):
        return function(data, *args, **kwargs)
    if isinstance(data, Mapping):
        items = [(k, apply_to_collection(v, dtype, function, *args, **kwargs)) for k, v in data.items()]
        if isinstance(data, dict) and type(data) is dict:
            return dict(items)
        try:
            return type(data)(items)  # type: ignore[call-arg]
        except TypeError:  # mappings whose constructor takes something else (e.g. defaultdict)
            copied = data.copy()  # type: ignore[attr-defined]
            copied.update(items)
            return copied
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(apply_to_collection(v, dtype, function, *args, **kwargs) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(apply_to_collection(v, dtype, function, *args, **kwargs) for v in data)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return [apply_to_collection(v, dtype, function, *args, **kwargs) for v in data]
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        changes = {}
        for field in dataclasses.fields(data):
            if field.init:
                changes[field.name] = apply_to_collection(getattr(data, field.name), dtype, function, *args, **kwargs)
        result = dataclasses.replace(data, **changes)
        for field in dataclasses.fields(data):
            if not field.init:
                value = apply_to_collection(getattr(data, field.name), dtype, function, *args, **kwargs)
                object.__setattr__(result, field.name, value)
        return result
    return data


class _TransferableDataType:
    """Anything with a ``to(device)`` method that returns the moved object is moved like a tensor."""

    @classmethod
    def __subclasshook__(cls, subclass: Any) -> bool:
        if cls is _TransferableDataType:
            to = getattr(subclass, "to", None)
            return callable(to)
        return NotImplemented


def move_data_to_device(batch: Any, device: torch.device | str | int) -> Any:
    """Move every tensor (and every object with a ``.to`` method) in ``batch`` to ``device``."""
    if isinstance(device, str):
        device = torch.device(device)

    def move(data: Any) -> Any:
        kwargs = (
            {"non_blocking": True} if isinstance(data, torch.Tensor) and torch.device(device).type == "cuda" else {}
        )
        moved = data.to(device, **kwargs)
        # objects whose `.to` works in place and returns None keep their identity
        return data if moved is None else moved

    return apply_to_collection(batch, dtype=_TransferableDataType, function=move)


def convert_tensors_to_scalars(data: Any) -> Any:
    """Turn every one-element tensor in ``data`` into a Python number."""

    def to_item(value: torch.Tensor) -> int | float | bool:
        if value.numel() != 1:
            raise ValueError(f"only one-element tensors can become scalars, got a tensor of shape {tuple(value.shape)}")
        return value.item()

    return apply_to_collection(data, torch.Tensor, to_item)
