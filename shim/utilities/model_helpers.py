"""Does a module, datamodule or callback define its own version of a hook?"""

import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["is_overridden"]


def is_overridden(method_name: str, instance: object | None = None, parent: type | None = None) -> bool:
    """Whether ``instance`` replaces ``parent``'s ``method_name``: in its class, assigned on the instance itself, or
    patched with a mock (on its class or on ``parent``).

    ``parent`` defaults to whichever of LightningModule, LightningDataModule or Callback ``instance`` is.
    """
    if instance is None:
        return False
    if parent is None:
        parent = _default_parent(instance, method_name)
    if method_name in getattr(instance, "__dict__", ()):
        return True
    method = getattr(type(instance), method_name, None)
    mock = sys.modules.get("unittest.mock")  # only a program that imported it can hold a mock
    if mock is not None and isinstance(method, mock.NonCallableMock):
        return True  # patched with a mock, on the class or on the parent (which the comparison below would miss)
    return method is not getattr(parent, method_name, None)


def _default_parent(instance: object, method_name: str) -> type:
    from shim.callbacks.callback import Callback
    from shim.core.datamodule import LightningDataModule
    from shim.core.module import LightningModule

    for base in (LightningModule, LightningDataModule, Callback):
        if isinstance(instance, base):
            return base
    raise ValueError(
        f"is_overridden({method_name!r}) got an instance of {type(instance).__name__}: pass `parent`, or an instance"
        " of LightningModule, LightningDataModule or Callback"
    )


def own_methods(base: type, names: tuple[str, ...]) -> dict[str, Any]:
    """``base``'s implementations of the methods ``names``, to compare with later (see ``runs_own_methods``)."""
    return {name: getattr(base, name) for name in names}


def runs_own_methods(instance: object, own: Mapping[str, Any]) -> bool:
    """Whether ``instance`` runs the implementations in ``own`` (from ``own_methods``, taken at import).

    Not if a method is replaced on the instance, in its class, or on the base class itself after ``own`` was taken
    (as ``mock.patch.object`` does), which comparing the instance's class with the base would miss.
    """
    assigned = getattr(instance, "__dict__", {})
    cls = type(instance)
    return all(name not in assigned and getattr(cls, name, None) is method for name, method in own.items())
