"""A LightningModule knows its device and dtype: from where it was built, and after every move or cast."""

import pytest
import torch
from torch import nn

from shim.demos.boring_classes import BoringModel


class Outer(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.inner = BoringModel()
        self.plain = nn.Linear(1, 1)


def test_casts_update_every_lightning_module_in_the_tree() -> None:
    model = Outer()
    assert (model.device, model.dtype) == (torch.device("cpu"), torch.float32)
    model.double()
    assert (model.dtype, model.inner.dtype, model.plain.weight.dtype) == (torch.float64, torch.float64, torch.float64)
    model.to(torch.float16)
    assert model.inner.dtype == torch.float16
    model.float()
    model.type(torch.bfloat16)
    assert model.dtype == torch.bfloat16


def test_a_module_built_under_a_device_context_knows_its_device() -> None:
    with torch.device("meta"):
        model = BoringModel()
    assert model.device == torch.device("meta")
    assert model.layer.weight.device == torch.device("meta")


def test_dtype_cannot_be_assigned() -> None:
    model = BoringModel()
    with pytest.raises(RuntimeError, match=r"\.to\(torch\.float64\)"):
        model.dtype = torch.float64
    assert model.dtype == torch.float32
