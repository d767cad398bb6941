"""Bad Trainer arguments raise an error that a user's ``except`` written for Lightning 2.6.6 still catches."""

import warnings
from types import ModuleType
from typing import Any

import pytest

import shim
from shim.utilities.exceptions import MisconfigurationException

CASES: list[dict[str, Any]] = [
    {"accelerator": "banana"},
    {"accelerator": 3},
    {"accelerator": None},
    {"accelerator": "tpu"},
    {"accelerator": "cuda"},
    {"strategy": "banana"},
    {"strategy": 3},
    {"strategy": "xla"},
    {"strategy": "deepspeed"},
    {"devices": "banana"},
    {"devices": -2},
    {"devices": -1},
    {"devices": "-1"},
    {"devices": 0},
    {"devices": 1.5},
    {"devices": [0]},
    {"devices": "1,2"},
    {"num_nodes": 0},
    {"num_nodes": "2"},
    {"precision": "banana"},
    {"precision": 8},
    {"fast_dev_run": -1},
    {"fast_dev_run": "banana"},
    {"max_epochs": -2},
    {"max_steps": -2},
    {"max_steps": "banana"},
    {"max_time": "banana"},
    {"limit_train_batches": -1},
    {"limit_train_batches": 1.5},
    {"limit_val_batches": "banana"},
    {"overfit_batches": -1},
    {"overfit_batches": "banana"},
    {"val_check_interval": -1},
    {"val_check_interval": "banana"},
    {"check_val_every_n_epoch": 1.5},
    {"gradient_clip_val": "banana"},
    {"gradient_clip_val": (1, 2)},
    {"gradient_clip_algorithm": "banana"},
    {"plugins": "banana"},
]


def _error(pkg: ModuleType, kwargs: dict[str, Any]) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pkg.Trainer(logger=False, **kwargs)
        except Exception as error:  # what is under test
            return error
    raise AssertionError(f"{pkg.__name__}.Trainer(**{kwargs}) raised nothing")


@pytest.mark.parametrize("kwargs", CASES, ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()))
def test_shim_raises_an_instance_of_lightnings_error_class(lightning: ModuleType, kwargs: dict[str, Any]) -> None:
    expected = _error(lightning, kwargs)
    actual = _error(shim, kwargs)
    if type(expected).__name__ == "MisconfigurationException":
        assert isinstance(actual, MisconfigurationException), actual
    else:
        # a builtin class: ValueError, TypeError, ModuleNotFoundError
        assert type(expected).__module__ == "builtins", expected
        assert isinstance(actual, type(expected)), f"{type(actual).__name__}: {actual}"
    # shim's own message names the argument it is about
    name = next(iter(kwargs))
    assert name in str(actual) or name.replace("_", " ") in str(actual), str(actual)
