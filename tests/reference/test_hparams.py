"""save_hyperparameters collects the same arguments under shim and Lightning, in every class shape."""

import dataclasses
import functools
import importlib
from argparse import Namespace
from types import ModuleType
from typing import Any

import pytest
import torch

import shim


def _shapes(pkg: ModuleType) -> dict[str, Any]:
    """Each entry builds a module (or mixin object) and returns it; the class shapes of Lightning's own tests."""
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    mixins = importlib.import_module(f"{pkg.__name__}.core.mixins")

    class Custom(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, batch_size: int = 64) -> None:
            super().__init__()
            self.save_hyperparameters()

    class Sub(Custom):
        def __init__(self, *args: Any, subclass_arg: int = 1200, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.save_hyperparameters()

    class NonSaving(Custom):
        def __init__(self, *args: Any, subclass_arg: int = 1200, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    class Mixin:
        def __init__(self, *args: Any, mixin_arg: int = 7, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.save_hyperparameters()  # type: ignore[attr-defined]

    class WithMixin(Mixin, Custom):
        pass

    class Unconventional(Custom):
        def __init__(obj, *more: Any, other_arg: int = 300, **more_kwargs: Any) -> None:  # noqa: N805
            super().__init__(*more, **more_kwargs)
            obj.save_hyperparameters()

    class Reassigned(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, arg1: Any, arg2: Any, **kwargs: Any) -> None:
            super().__init__()
            arg1 = "overwritten"  # noqa: F841 - the value save_hyperparameters must read
            local_var = 1234  # noqa: F841
            self.save_hyperparameters()

    class Child(mixins.HyperparametersMixin):  # type: ignore[misc, name-defined]
        def __init__(self, dropout: float, init_method: str) -> None:
            super().__init__()
            self.save_hyperparameters(ignore=["dropout"])

    class Parent(mixins.HyperparametersMixin):  # type: ignore[misc, name-defined]
        def __init__(self, batch_size: int, optimizer: str) -> None:
            super().__init__()
            self.child = Child(dropout=0.1, init_method="xavier")

    class Outside:
        def __init__(self, outer: str = "x") -> None:
            self.parent = Parent(batch_size=64, optimizer="adam")

    class IgnoreInSubclass(Custom):
        def __init__(self, batch_size: int = 3, other: int = 4) -> None:
            super().__init__(batch_size)
            self.save_hyperparameters(ignore="batch_size")

    class Named(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, a: int, b: int, c: int) -> None:
            super().__init__()
            self.save_hyperparameters("a", "c")

    class FromContainer(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, config: Any, extra: int = 1) -> None:
            super().__init__()
            self.save_hyperparameters(config)

    class FromKwargs(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            self.save_hyperparameters(kwargs)

    class Helper(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self._save()

        def _save(self) -> None:
            self.save_hyperparameters()

    def decorate(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        return wrapper

    class Decorated(boring.BoringModel):  # type: ignore[misc, name-defined]
        @decorate
        def __init__(self, hparams: Any, *my_args: Any, **my_kwargs: Any) -> None:
            super().__init__()
            self.save_hyperparameters(hparams)

    class Meta(type):
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return super().__call__(*args, **kwargs)

    class WithMeta(Custom, metaclass=Meta):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.save_hyperparameters()

    @dataclasses.dataclass
    class Data(boring.BoringModel):  # type: ignore[misc, name-defined]
        mandatory: int
        optional: str = "optional"
        hidden: int = dataclasses.field(default=9, init=False)

        def __post_init__(self) -> None:
            super().__init__()
            self.save_hyperparameters()

    return {
        "custom": lambda: Custom(batch_size=5),
        "subclass": lambda: Sub(batch_size=179),
        "non_saving_subclass": lambda: NonSaving(batch_size=3, subclass_arg=2),
        "mixin": lambda: WithMixin(batch_size=1, mixin_arg=2),
        "unconventional_names": lambda: Unconventional(batch_size=8, other_arg=1),
        "reassigned_argument": lambda: Reassigned(1, 2, more=3),
        "composition": lambda: Outside().parent.child,
        "ignore_in_subclass": lambda: IgnoreInSubclass(),
        "named": lambda: Named(1, 2, 3),
        "namespace": lambda: FromContainer(Namespace(x=1, y="z")),
        "dict": lambda: FromContainer({"x": 1}),
        "kwargs_dict": lambda: FromKwargs(a=1, b=2),
        "helper_method": lambda: Helper(lr=0.5),
        "dataclass": lambda: Data(3, optional="o"),
        "decorated_init": lambda: Decorated({"test_arg": 14}),
        "metaclass": lambda: WithMeta(batch_size=2),
    }


@pytest.mark.parametrize("shape", sorted(_shapes(shim)))
def test_collected_hparams_match_lightning(lightning: ModuleType, shape: str) -> None:
    def collect(pkg: ModuleType) -> tuple[Any, ...]:
        torch.manual_seed(0)
        obj = _shapes(pkg)[shape]()
        return dict(obj.hparams), type(obj.hparams).__name__, getattr(obj, "_hparams_name", "unset")

    assert collect(shim) == collect(lightning)


def test_the_composition_case_collects_the_parents_arguments(lightning: ModuleType) -> None:
    # a pinned value, so the comparison above cannot pass by both being empty
    assert dict(_shapes(shim)["composition"]().hparams) == {
        "init_method": "xavier",
        "batch_size": 64,
        "optimizer": "adam",
    }
