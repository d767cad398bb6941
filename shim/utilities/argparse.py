"""Building a Trainer (or a datamodule) from the command line, as Lightning 1.x did.

``add_argparse_args`` adds ``--<name>`` for every constructor argument whose type can come from a command line,
typed as Lightning 1.9 typed them; ``from_argparse_args`` keeps the arguments the constructor takes.
``PL_<CLASS>_<ARG>`` environment variables (``PL_TRAINER_MAX_EPOCHS=3``) change the defaults.
"""

import inspect
import os
import types
import typing
from argparse import ArgumentParser, ArgumentTypeError, Namespace, _ArgumentGroup
from ast import literal_eval
from collections.abc import Callable
from contextlib import suppress
from functools import wraps
from typing import Any, TypeVar

__all__ = [
    "add_argparse_args",
    "from_argparse_args",
    "get_init_arguments_and_types",
    "parse_argparser",
    "parse_env_variables",
    "str_to_bool",
    "str_to_bool_or_int",
    "str_to_bool_or_str",
]

T = TypeVar("T")

_COMMAND_LINE_TYPES = (str, int, float, bool)
_TRUE = ("y", "yes", "t", "true", "on", "1")
_FALSE = ("n", "no", "f", "false", "off", "0")


def str_to_bool(value: str) -> bool:
    """``"yes"``/``"true"``/``"1"``... -> True, ``"no"``/``"false"``/``"0"``... -> False.

    Raises:
        ValueError: For any other text.
    """
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"invalid truth value {value!r}: use one of {_TRUE + _FALSE}")


def str_to_bool_or_int(value: str) -> bool | int:
    """A truth value if ``value`` is one, else an int."""
    with suppress(ValueError):
        return str_to_bool(value)
    return int(value)


def str_to_bool_or_str(value: str) -> bool | str:
    """A truth value if ``value`` is one, else the text itself."""
    with suppress(ValueError):
        return str_to_bool(value)
    return value


def _int_or_float(value: str) -> int | float:
    return float(value) if "." in str(value) or "e" in str(value).lower() else int(value)


def _int_float_or_str(value: str) -> int | float | str:
    try:
        return _int_or_float(value)
    except ValueError:
        return value


def _gpus_type(value: str) -> int | str:
    """``"2"`` and ``"-1"`` are counts; ``"0,1"`` stays text (Lightning 1.9's ``gpus``/``tpu_cores``)."""
    _check_devices(value)
    return value if "," in value else int(value)


def _devices_type(value: str) -> str:
    """``devices`` stays text, as in Lightning 1.9 (``"2"``, ``"0,1"``, ``"-1"``, ``"auto"``), but must be one."""
    _check_devices(value)
    return value


def _check_devices(value: str) -> None:
    text = value.strip()
    if text == "auto" or (text.lstrip("-").isdigit() and int(text) >= -1) or _is_index_list(text):
        return
    raise ArgumentTypeError(f"invalid devices value {value!r}: use a count (1, 2, ...), -1 for all, '0,1' or 'auto'")


def _is_index_list(text: str) -> bool:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return "," in text and all(p.isdigit() for p in parts)


_PRECISIONS = ("64", "32", "16", "bf16", "64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")


def _precision_type(value: str) -> int | str:
    if value not in _PRECISIONS:
        raise ArgumentTypeError(f"invalid precision {value!r}: choose from {', '.join(_PRECISIONS)}")
    with suppress(ValueError):
        return int(value)
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ArgumentTypeError(f"invalid value {value!r}: must be an int >= 1")
    return number


def _types_of(annotation: Any) -> tuple[type, ...]:
    """The plain classes an annotation allows (``int | None`` -> (int,), ``list[int] | str`` -> (list, str))."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in _types_of(arg))
    if origin is not None:
        return (origin,)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return ()
    return (annotation,) if isinstance(annotation, type) else ()


def _init_owner(cls: type) -> type:
    """The class in ``cls``'s MRO that defines the ``__init__`` it uses."""
    return next(klass for klass in cls.__mro__ if "__init__" in vars(klass))


def get_init_arguments_and_types(cls: type) -> list[tuple[str, tuple[type, ...], Any]]:
    """``(name, allowed types, default)`` for every argument of ``cls.__init__``."""
    init = vars(_init_owner(cls))["__init__"]
    try:
        hints = typing.get_type_hints(inspect.unwrap(init))
    except Exception:  # annotations that cannot be evaluated here: fall back to the raw ones
        hints = {}
    # a class may say how an argument reads from a command line when its annotation cannot (objects or text)
    overrides: dict[str, tuple[type, ...]] = getattr(cls, "_command_line_types", {})
    result = []
    for name, parameter in inspect.signature(init).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        allowed = overrides.get(name) or _types_of(hints.get(name, parameter.annotation))
        result.append((name, allowed, parameter.default))
    return result


def _docstring_help(cls: type) -> dict[str, str]:
    """The one-line help of each argument from the ``Args:`` section of the constructor's docstring."""
    doc = inspect.getdoc(vars(_init_owner(cls))["__init__"]) or inspect.getdoc(cls) or ""
    helps: dict[str, str] = {}
    current = None
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args and stripped.endswith(":") and not line.startswith(" "):
            break
        if in_args and ":" in stripped and line.startswith(("    ", "\t")) and not line.startswith("        "):
            current, text = stripped.split(":", 1)
            helps[current.strip()] = text.strip()
        elif in_args and current and stripped:
            helps[current] += " " + stripped
    return helps


def _argument_type(name: str, allowed: tuple[type, ...]) -> tuple[Callable[[str], Any], dict[str, Any]]:
    """The argparse ``type`` (and extra keywords) for one constructor argument, by Lightning 1.9's rules."""
    extra: dict[str, Any] = {}
    if bool in allowed:
        extra = {"nargs": "?", "const": True}  # `--flag` alone means True
        if len(allowed) == 1:
            parse: Callable[[str], Any] = str_to_bool
        elif int in allowed:
            parse = str_to_bool_or_int
        elif str in allowed:
            parse = str_to_bool_or_str
        else:
            parse = next(t for t in allowed if t is not bool)
    else:
        parse = allowed[0]
    if name in ("gpus", "tpu_cores"):
        parse = _gpus_type
    if name == "devices":
        parse = _devices_type
    if name == "accumulate_grad_batches":
        parse = _positive_int
    if set(allowed) == {int, float}:
        parse = _int_or_float
    if name == "val_check_interval":  # a number as in 1.9, or a 2.x duration such as "00:00:10:00"
        parse = _int_float_or_str
    if name == "track_grad_norm":
        parse = float
    if name == "precision":
        parse = _precision_type
    return parse, extra


def add_argparse_args(cls: type, parent_parser: ArgumentParser, *, use_argument_group: bool = True) -> Any:
    """Add ``--<name>`` for each constructor argument of ``cls`` that a command line can give.

    Args:
        cls: The Trainer or LightningDataModule class.
        parent_parser: The parser to extend.
        use_argument_group: Put the arguments in a group named after ``cls`` (and return the same parser);
            otherwise return a new parser that has ``parent_parser`` as parent.

    Returns:
        The parser to call ``parse_args`` on.

    Raises:
        RuntimeError: If ``parent_parser`` is an argument group rather than an ``ArgumentParser``.
    """
    if isinstance(parent_parser, _ArgumentGroup):
        raise RuntimeError("add_argparse_args needs an ArgumentParser, not an argument group.")
    if use_argument_group:
        parser: Any = parent_parser.add_argument_group(cls.__name__)
    else:
        parser = ArgumentParser(parents=[parent_parser], add_help=False)
    helps = _docstring_help(cls)
    defaults = parse_env_variables(cls)
    for name, allowed, default in get_init_arguments_and_types(cls):
        allowed = tuple(t for t in _COMMAND_LINE_TYPES if t in allowed)
        if not allowed:
            continue  # objects (callbacks, loggers, strategies...) cannot come from a command line
        parse, extra = _argument_type(name, allowed)
        default = vars(defaults).get(name, default)
        parser.add_argument(
            f"--{name}",
            dest=name,
            default=default,
            type=parse,
            help=helps.get(name, f"{cls.__name__}({name}=...), default {default!r}"),
            required=default is inspect.Parameter.empty,
            **extra,
        )
    return parent_parser if use_argument_group else parser


def parse_argparser(cls: type, arg_parser: ArgumentParser | Namespace) -> Namespace:
    """Parse the command line (or take a Namespace) and turn ``"True"``/``"False"`` strings into booleans."""
    args = arg_parser.parse_args() if isinstance(arg_parser, ArgumentParser) else arg_parser
    fixed = {}
    for name, value in vars(args).items():
        if isinstance(value, str) and value in ("True", "False"):
            value = value == "True"
        fixed[name] = value
    return Namespace(**fixed)


def parse_env_variables(cls: type, template: str = "PL_%(cls_name)s_%(cls_argument)s") -> Namespace:
    """The ``PL_<CLASS>_<ARG>`` environment variables that set defaults, parsed as Python literals where possible."""
    values = {}
    for name, _, _ in get_init_arguments_and_types(cls):
        key = template % {"cls_name": cls.__name__.upper(), "cls_argument": name.upper()}
        text = os.environ.get(key)
        if text is None:
            continue
        with suppress(Exception):
            text = literal_eval(text)
        values[name] = text
    return Namespace(**values)


def from_argparse_args(cls: type[T], args: Namespace | ArgumentParser | dict[str, Any], **kwargs: Any) -> T:
    """Build ``cls`` from parsed arguments, keeping only those its constructor takes; ``kwargs`` win."""
    if isinstance(args, ArgumentParser):
        args = parse_argparser(cls, args)
    params = vars(args) if isinstance(args, Namespace) else dict(args)
    accepted = {name for name, _, _ in get_init_arguments_and_types(cls)}
    chosen = {name: value for name, value in params.items() if name in accepted}
    chosen.update(kwargs)
    return cls(**chosen)


def defaults_from_env_vars(fn: Callable[..., None]) -> Callable[..., None]:
    """Decorate ``__init__`` so ``PL_<CLASS>_<ARG>`` environment variables supply defaults (explicit values win)."""

    @wraps(fn)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        env = vars(parse_env_variables(type(self)))
        if env:
            kwargs = {**env, **kwargs}
        fn(self, *args, **kwargs)

    return init


class ArgparseConstructors:
    """The Lightning 1.x classmethods that build an object (the Trainer) from a command line."""

    @classmethod
    def add_argparse_args(cls, parent_parser: ArgumentParser, **kwargs: Any) -> ArgumentParser:
        """Add ``--<argument>`` for every Trainer argument a command line can give (Lightning 1.x API)."""
        return add_argparse_args(cls, parent_parser, **kwargs)

    @classmethod
    def from_argparse_args(cls, args: Namespace | ArgumentParser | dict[str, Any], **kwargs: Any) -> Any:
        """A Trainer from parsed command-line arguments; unknown names are ignored, ``kwargs`` win."""
        return from_argparse_args(cls, args, **kwargs)

    @classmethod
    def parse_argparser(cls, arg_parser: ArgumentParser | Namespace) -> Namespace:
        """Parse the command line (or take a Namespace), with ``"True"``/``"False"`` turned into booleans."""
        return parse_argparser(cls, arg_parser)

    @classmethod
    def get_init_arguments_and_types(cls) -> list[tuple[str, tuple[type, ...], Any]]:
        """``(name, allowed types, default)`` for each Trainer argument."""
        return get_init_arguments_and_types(cls)

    @classmethod
    def default_attributes(cls) -> dict[str, Any]:
        """Each Trainer argument's default value."""
        return {name: default for name, _, default in get_init_arguments_and_types(cls)}
