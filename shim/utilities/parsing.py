"""Hyper-parameter containers and reading a constructor's arguments from its frame."""

import inspect
from types import FrameType
from typing import Any

__all__ = ["AttributeDict", "collect_init_args"]


class AttributeDict(dict[str, Any]):
    """A dict whose keys are also attributes: ``hparams.lr`` and ``hparams["lr"]`` are the same value."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(f"'{type(self).__name__}' has no attribute '{key}'") from e

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __repr__(self) -> str:
        if not self:
            return ""
        width = max(len(str(k)) for k in self)
        return "\n".join(f'"{k}":{" " * (width - len(str(k)) + 1)}{v}' for k, v in sorted(self.items()))


def _frame_init_args(frame: FrameType) -> dict[str, Any]:
    """The named arguments (and ``**kwargs`` entries) an ``__init__`` frame was called with, without ``self``."""
    code = frame.f_code
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    local = frame.f_locals
    args = {name: local[name] for name in names[1:] if name in local}
    flags_varargs, flags_varkw = inspect.CO_VARARGS, inspect.CO_VARKEYWORDS
    index = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & flags_varargs:
        index += 1  # *args values have no names to save
    if code.co_flags & flags_varkw:
        kwargs_name = code.co_varnames[index]
        args.update(local.get(kwargs_name, {}))
    return args


def collect_init_args(frame: FrameType, obj: object) -> dict[str, Any]:
    """Merge the arguments of every ``__init__`` of ``obj`` on the stack, from ``frame`` outwards.

    A subclass ``__init__`` further out overrides the values its parent received.
    """
    collected: dict[str, Any] = {}
    current: FrameType | None = frame
    while current is not None and current.f_code.co_name == "__init__":
        code = current.f_code
        if code.co_argcount == 0 or current.f_locals.get(code.co_varnames[0]) is not obj:
            break
        collected.update(_frame_init_args(current))
        current = current.f_back
    return collected
