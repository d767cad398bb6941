"""Hyper-parameters: the ``AttributeDict`` container, and reading a constructor's arguments off the call stack.

``save_hyperparameters`` (the function behind ``LightningModule.save_hyperparameters``) walks outwards from the
frame that called it through the ``__init__`` frames of the object's class hierarchy, so a subclass's arguments and
its parents' arguments are all saved, the subclass's values winning.
"""

import copy
import inspect
import pickle
import types
from collections.abc import MutableMapping, Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.tuner.attributes import lightning_getattr, lightning_hasattr, lightning_setattr

__all__ = [
    "AttributeDict",
    "clean_namespace",
    "collect_init_args",
    "get_init_args",
    "is_picklable",
    "lightning_getattr",
    "lightning_hasattr",
    "lightning_setattr",
    "parse_class_init_keys",
    "save_hyperparameters",
]


_ATTRIBUTE_LOOKUPS = ("lightning_getattr", "lightning_hasattr", "lightning_setattr")


def __getattr__(name: str) -> Any:
    # the attribute lookups the tuner uses live in shim.tuner.attributes; read from there on first use, since
    # importing the tuner here would import the Trainer while the core classes are still being defined
    if name in _ATTRIBUTE_LOOKUPS:
        from shim.tuner import attributes

        return getattr(attributes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def is_picklable(obj: object) -> bool:
    """Whether ``pickle.dumps(obj)`` succeeds."""
    try:
        pickle.dumps(obj)
    except (pickle.PickleError, AttributeError, RuntimeError, TypeError):
        return False
    return True


def clean_namespace(hparams: MutableMapping[str, Any]) -> None:
    """Drop, with a warning each, the hyper-parameters that cannot be pickled (checkpoints could not hold them)."""
    for key in [key for key, value in hparams.items() if not is_picklable(value)]:
        rank_zero_warn(
            f"The hyper-parameter {key!r} cannot be pickled, so it was removed from `hparams` and will not be in"
            f" checkpoints; leave it out with `self.save_hyperparameters(ignore=[{key!r}])` to silence this."
        )
        del hparams[key]


def parse_class_init_keys(cls: type) -> tuple[str, str | None, str | None]:
    """The names ``cls.__init__`` gives to ``self``, to its ``*args`` and to its ``**kwargs`` (None when absent)."""
    params = list(inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    var_args = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    var_kwargs = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    return params[0].name, var_args, var_kwargs


def _init_frame_arguments(frame: types.FrameType) -> tuple[Any, dict[str, Any]]:
    """For the frame of an ``__init__`` call: its ``self`` and its named arguments with ``**kwargs`` spread in.

    As in Lightning, only an ``__init__`` written in a class body that refers to its class (``super()`` does) counts;
    any other frame gives ``(None, {})``. ``*args`` values have no names and are left out. The values are the
    frame's current ones, so an argument reassigned before the call to ``save_hyperparameters`` is saved as it is now.
    """
    code = frame.f_code
    if code.co_name != "__init__" or code.co_argcount == 0:
        return None, {}
    local = frame.f_locals
    if "__class__" not in local:
        return None, {}
    named = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    arguments = {name: local[name] for name in named[1:] if name in local}
    if code.co_flags & inspect.CO_VARKEYWORDS:
        index = len(named) + (1 if code.co_flags & inspect.CO_VARARGS else 0)
        arguments.update(local.get(code.co_varnames[index]) or {})
    return local.get(named[0]), arguments


def get_init_args(frame: types.FrameType) -> dict[str, Any]:
    """The named arguments (``**kwargs`` spread in) of the ``__init__`` call ``frame`` runs; ``{}`` for other frames."""
    return _init_frame_arguments(frame)[1]


def collect_init_args(
    frame: types.FrameType,
    path_args: list[dict[str, Any]],
    inside: bool = False,
    classes: tuple[type, ...] = (),
) -> list[dict[str, Any]]:
    """Append to ``path_args`` the arguments of each ``__init__`` frame of one class hierarchy, innermost first.

    Frames are read from ``frame`` outwards. Frames before the first ``__init__`` of an instance of ``classes`` (of
    anything when ``classes`` is empty) are skipped, so a helper method may call ``save_hyperparameters``; the walk
    stops at the first frame after it that is not such an ``__init__``. The outermost frame is never read.

    Args:
        frame: Where to start.
        path_args: The list to append to; it is returned.
        inside: Whether the walk already passed such an ``__init__`` frame (then the first other frame ends it).
        classes: Only ``__init__`` frames whose ``self`` is an instance of one of these count.
    """
    current: types.FrameType | None = frame
    while current is not None and current.f_back is not None:
        owner, arguments = _init_frame_arguments(current)
        if owner is not None and (not classes or isinstance(owner, classes)):
            path_args.append(arguments)
            inside = True
        elif inside:
            break
        current = current.f_back
    return path_args


def _same_value(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # a comparison that gives no single truth value (a tensor, an array) is not a match
        return False


def save_hyperparameters(
    obj: Any,
    *args: Any,
    ignore: Sequence[str] | str | None = None,
    frame: types.FrameType | None = None,
    given_hparams: dict[str, Any] | None = None,
) -> None:
    """Store hyper-parameters on ``obj`` (a ``HyperparametersMixin``); see ``LightningModule.save_hyperparameters``.

    Args:
        obj: The object to store them on.
        *args: Nothing, to save every ``__init__`` argument; argument names; or one dict-like object to save.
        ignore: Argument names to leave out (also removed when an earlier call saved them).
        frame: The frame to read the ``__init__`` arguments from; the caller's by default.
        given_hparams: The arguments to use instead of reading them from the stack.

    Raises:
        AttributeError: If no frame is available.
        KeyError: If a name in ``args`` is not an argument of ``__init__``.
        ValueError: If the object to save is a primitive or not a mapping or namespace.
    """
    if len(args) == 1 and not isinstance(args[0], str) and not args[0]:
        return  # an empty container: nothing to save
    if frame is None:
        current = inspect.currentframe()
        frame = current.f_back if current is not None else None
    if not isinstance(frame, types.FrameType):
        raise AttributeError("save_hyperparameters needs the frame of the `__init__` call, and none is available.")

    if given_hparams is not None:
        init_args = dict(given_hparams)
    elif is_dataclass(obj):
        init_args = {f.name: getattr(obj, f.name) for f in fields(obj) if f.init}
    else:
        from shim.core.mixins.hparams_mixin import HyperparametersMixin

        init_args = {}
        for level in collect_init_args(frame, [], classes=(HyperparametersMixin,)):
            init_args.update(level)  # outer frames are subclasses: their values win

    ignored = [ignore] if isinstance(ignore, str) else [name for name in ignore or () if isinstance(name, str)]
    init_args = {k: v for k, v in init_args.items() if k not in ignored}

    objects = [arg for arg in args if not isinstance(arg, str)]
    if not args:
        hp: Any = init_args
        obj._hparams_name = "kwargs" if hp else None
    elif len(objects) == 1:
        hp = objects[0]
        # remember which __init__ argument held the object, so load_from_checkpoint can pass it back under that name
        obj._hparams_name = next((k for k, v in init_args.items() if _same_value(v, hp)), None)
    else:
        names = [arg for arg in args if isinstance(arg, str)]
        missing = [name for name in names if name not in init_args]
        if missing:
            raise KeyError(
                f"save_hyperparameters{tuple(args)!r}: {missing} are not arguments of `__init__` (or were ignored);"
                f" the arguments are {sorted(init_args)}."
            )
        hp = {name: init_args[name] for name in names}
        obj._hparams_name = "kwargs"

    obj._set_hparams(hp)
    obj.remove_ignored_hparams(ignored)  # a subclass may leave out what its parent saved
    for key, value in obj._hparams.items():
        if isinstance(value, nn.Module):
            rank_zero_warn(
                f"The hyper-parameter {key!r} is an nn.Module, whose weights are saved in checkpoints anyway;"
                f" leave it out with `self.save_hyperparameters(ignore=[{key!r}])`."
            )
    obj._hparams_initial = copy.deepcopy(obj._hparams)
