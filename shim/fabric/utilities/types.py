"""``lightning_fabric.utilities.types``: the type aliases Lightning code annotates with."""

from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

__all__ = ["Optimizable", "Steppable", "_DEVICE", "_MAP_LOCATION_TYPE", "_PATH", "_Stateful"]

_PATH = str | Path
_DEVICE = torch.device | str | int
_MAP_LOCATION_TYPE = _DEVICE | dict[_DEVICE, _DEVICE] | Any | None
_DictKey = TypeVar("_DictKey")


@runtime_checkable
class _Stateful(Protocol[_DictKey]):
    """Something with ``state_dict()`` / ``load_state_dict()`` (a loader that can resume, say)."""

    def state_dict(self) -> dict[_DictKey, Any]: ...

    def load_state_dict(self, state_dict: dict[_DictKey, Any]) -> None: ...


@runtime_checkable
class Steppable(Protocol):
    """Something with ``step(closure=None)``: an optimizer."""

    def step(self, closure: Any = None) -> Any: ...


@runtime_checkable
class Optimizable(Steppable, Protocol):
    """An optimizer with ``param_groups``, ``defaults`` and ``state``."""

    param_groups: list[dict[Any, Any]]
    defaults: dict[Any, Any]
    state: Any

    def state_dict(self) -> dict[str, dict[Any, Any]]: ...

    def load_state_dict(self, state_dict: dict[str, dict[Any, Any]]) -> None: ...
