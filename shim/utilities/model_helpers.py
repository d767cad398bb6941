"""Does a module, datamodule or callback define its own version of a hook?"""

import functools
import os
import sys
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

__all__ = ["is_overridden"]


def is_overridden(method_name: str, instance: object | None = None, parent: type | None = None) -> bool:
    """Whether ``instance``'s ``method_name`` runs other code than ``parent``'s.

    As in Lightning, a wrapper is looked through before comparing: a function wrapped with ``functools.wraps``, a
    ``functools.partial`` and a ``Mock(wraps=...)`` count as the function they wrap, so wrapping a hook to record its
    calls does not make it overridden. A hook set to ``None`` on the instance, and a mock that wraps nothing, do not
    count as overridden.

    ``parent`` defaults to whichever of LightningModule, LightningDataModule or Callback ``instance`` is.

    A method that ``parent`` does not have counts as overridden wherever the instance has it.

    Raises:
        ValueError: If no parent is given for an object that is not a module, datamodule or callback.
    """
    if instance is None:
        return False
    if parent is None:
        parent = _default_parent(instance, method_name)
    method = _unwrap(getattr(instance, method_name, None))
    if method is None:
        return False
    original = getattr(parent, method_name, None)
    if original is None:  # a hook the parent does not declare (Lightning 1.x's `validation_step_end`, say)
        return True
    original = getattr(original, "__wrapped__", original)
    return getattr(method, "__code__", method) != getattr(original, "__code__", original)


def _unwrap(method: Any) -> Any:
    """The function behind a ``functools.wraps`` wrapper, a ``Mock(wraps=...)`` or a ``functools.partial``."""
    if method is None:
        return None
    method = getattr(method, "__wrapped__", method)
    if is_mock(method):
        return method._mock_wraps
    if isinstance(method, partial):
        return method.func
    return method


def runs_other_code(method_name: str, instance: object | None, parent: type) -> bool:
    """Whether calling ``instance``'s ``method_name`` might do something ``parent``'s would not.

    Stricter than :func:`is_overridden`, for deciding which hooks must be called at all: any replacement counts,
    a wrapper around the parent's own method included (a test that records calls wraps every hook), and so does a
    mock patched on the class or on ``parent`` itself, and every hook of a mock standing in for the instance. A hook
    set to ``None`` on the instance or its class is switched off.
    """
    if instance is None:
        return False
    if is_mock(instance):
        return True  # a mock in place of a callback or module records every call made to it
    assigned = getattr(instance, "__dict__", {})
    if method_name in assigned:
        return assigned[method_name] is not None
    method = getattr(type(instance), method_name, None)
    if method is None:
        return False  # set to None on the class (`validation_step = None`): switched off, as on the instance
    if is_mock(method):
        return True  # patched on the class or on the parent, which the comparison below would miss
    return method is not getattr(parent, method_name, None)


def is_mock(obj: Any) -> bool:
    """Whether ``obj`` is a ``unittest.mock`` object (without importing ``unittest.mock``)."""
    mock = sys.modules.get("unittest.mock")  # only a program that imported it can hold a mock
    return mock is not None and isinstance(obj, mock.NonCallableMock)


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


def _called_from_torch_jit() -> bool:
    """Whether TorchScript is on the call stack (it inspects every attribute of a module it compiles)."""
    marker = os.path.join("torch", "jit")
    frame = sys._getframe(1)
    while frame is not None:
        if marker in frame.f_code.co_filename:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


class _RestrictedClassmethod(classmethod):
    """A classmethod that raises TypeError when called on an instance instead of the class.

    For constructors such as ``load_from_checkpoint``: ``model.load_from_checkpoint(path)`` builds a new object and
    leaves ``model`` as it was, which is almost always a mistake. Reading the attribute on an instance still works,
    so ``inspect.getmembers`` and TorchScript can look at it.
    """

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        method = self.__func__
        cls = owner if owner is not None else type(instance)

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if instance is not None and not _called_from_torch_jit():
                raise TypeError(
                    f"`{cls.__name__}.{method.__name__}` is a classmethod that returns a new object; call it on the"
                    f" class (`{cls.__name__}.{method.__name__}(...)`) and use what it returns, not on an instance."
                )
            return method(cls, *args, **kwargs)

        call.__func__ = method  # type: ignore[attr-defined]
        return call


if TYPE_CHECKING:
    _restricted_classmethod = classmethod  # type checkers see a plain classmethod
else:
    _restricted_classmethod = _RestrictedClassmethod
