"""Trainer entry points: init_module, and calling an evaluation without a model."""

import warnings
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

import shim
from shim.demos.boring_classes import BoringModel
from shim.strategies.single_device import SingleDeviceStrategy
from shim.utilities.rank_zero import PossibleUserWarning


def _trainer(**kwargs: Any) -> shim.Trainer:
    return shim.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, **kwargs)


@pytest.mark.parametrize(("precision", "dtype"), [("32-true", torch.float32), ("64-true", torch.float64)])
def test_init_module_builds_on_the_device_in_the_precisions_dtype(precision: str, dtype: torch.dtype) -> None:
    with _trainer(accelerator="cpu", precision=precision).init_module():
        model = BoringModel()
    assert (model.device, model.layer.weight.device, model.layer.weight.dtype) == (torch.device("cpu"),) * 2 + (dtype,)
    assert torch.get_default_dtype() == torch.float32  # restored after the block


def test_init_module_empty_init_skips_weight_initialization() -> None:
    torch.manual_seed(0)
    with _trainer().init_module(empty_init=False):
        initialized = torch.nn.Linear(4, 4)
    torch.manual_seed(0)
    reference = torch.nn.Linear(4, 4)
    assert torch.equal(initialized.weight, reference.weight)
    # skipped initialization draws no random numbers: the generator is where it was
    torch.manual_seed(0)
    with _trainer().init_module(empty_init=True):
        torch.nn.Linear(4, 4)
    after_skipped = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after_skipped, torch.rand(1))
    torch.manual_seed(0)
    torch.nn.Linear(4, 4)
    assert not torch.equal(torch.rand(1), after_skipped)


def test_init_module_warns_for_a_strategy_that_shards_in_its_own_context() -> None:
    class Sharding(SingleDeviceStrategy):
        @contextmanager
        def model_sharded_context(self) -> Generator[None, None, None]:
            yield

    trainer = _trainer(strategy=Sharding("cpu"))
    with pytest.warns(PossibleUserWarning, match="configure_model"), trainer.init_module():
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _trainer().init_module():
            pass


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_evaluating_without_any_model_raises_type_error(fn: str) -> None:
    with pytest.raises(TypeError, match=rf"`trainer\.{fn}\(\)` needs a model"):
        getattr(_trainer(), fn)()
