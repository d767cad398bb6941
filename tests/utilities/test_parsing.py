"""Reading constructor arguments off the stack, and the helpers that clean hyper-parameters."""

import inspect
import pickle
from typing import Any

import pytest

from shim.utilities.parsing import (
    AttributeDict,
    clean_namespace,
    collect_init_args,
    get_init_args,
    is_picklable,
    parse_class_init_keys,
)


def test_attribute_dict_reads_writes_and_prints_like_lightnings() -> None:
    hparams = AttributeDict(key2="abc", key1=1)
    hparams.key1 = 2
    hparams.update({"my-key": 3.14})
    assert (hparams.key1, hparams["my-key"]) == (2, 3.14)
    assert repr(hparams) == '"key1":   2\n"key2":   abc\n"my-key": 3.14'
    assert pickle.loads(pickle.dumps(hparams)) == hparams
    with pytest.raises(AttributeError, match="missing"):
        _ = hparams.missing


def test_is_picklable() -> None:
    assert is_picklable({"a": [1, 2]})
    assert not is_picklable(lambda x: x)


def test_clean_namespace_drops_what_cannot_be_pickled() -> None:
    hparams = {"keep": 1, "fn": lambda x: x}
    with pytest.warns(UserWarning, match=r"'fn' cannot be pickled.*ignore=\['fn'\]"):
        clean_namespace(hparams)
    assert hparams == {"keep": 1}


def test_parse_class_init_keys() -> None:
    class Model:
        def __init__(this, hparams: Any, *my_args: Any, anykw: int = 42, **my_kwargs: Any) -> None:  # noqa: N805
            pass

    class Plain:
        def __init__(self, a: int) -> None:
            pass

    assert parse_class_init_keys(Model) == ("this", "my_args", "my_kwargs")
    assert parse_class_init_keys(Plain) == ("self", None, None)


class Base:
    def __init__(self, a: int, *args: Any, b: int = 2, **kwargs: Any) -> None:
        self.frame = inspect.currentframe()
        self.args = collect_init_args(self.frame, [], classes=(Base,))  # type: ignore[arg-type]
        self.own = get_init_args(self.frame)  # type: ignore[arg-type]
        super().__init__()  # as in Lightning, only an __init__ that refers to its class (super() does) is read


class Sub(Base):
    def __init__(self, c: int = 3, **kwargs: Any) -> None:
        c = 30  # noqa: F841 - the value the frame holds now is the one read
        super().__init__(**kwargs)


def test_get_init_args_reads_named_arguments_and_spreads_kwargs() -> None:
    assert Base(1, 9, b=5, extra=6).own == {"a": 1, "b": 5, "extra": 6}


def test_collect_init_args_walks_the_hierarchy_innermost_first() -> None:
    assert Sub(a=1, z=0).args == [{"a": 1, "b": 2, "z": 0}, {"c": 30, "a": 1, "z": 0}]


def test_an_init_that_does_not_refer_to_its_class_is_not_read() -> None:
    class NoSuper(Base):
        def __init__(self, d: int = 1, **kwargs: Any) -> None:
            Base.__init__(self, **kwargs)

    assert NoSuper(a=2).args == [{"a": 2, "b": 2}]


def test_collect_init_args_stops_at_a_frame_of_another_class() -> None:
    class Owner:
        def __init__(self, outer: int = 1) -> None:
            self.child = Base(5)

    assert Owner().child.args == [{"a": 5, "b": 2}]


def test_the_tuners_attribute_lookups_are_importable_from_parsing() -> None:
    from shim.tuner import attributes
    from shim.utilities import parsing

    assert parsing.lightning_hasattr is attributes.lightning_hasattr
    assert parsing.lightning_getattr is attributes.lightning_getattr
    assert parsing.lightning_setattr is attributes.lightning_setattr
    with pytest.raises(AttributeError, match="no attribute 'lightning_delattr'"):
        _ = parsing.lightning_delattr
