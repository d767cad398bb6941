"""``DoublePrecision``: training in float64 ("64-true")."""

from typing import Any

import torch
from torch import nn
from typing_extensions import override

from shim.plugins.precision.precision import DefaultDtype, Precision, convert_floating_tensors

__all__ = ["DoublePrecision"]


class DoublePrecision(Precision):
    """Float64 weights and inputs; tensors created during a step default to float64 too."""

    precision: str = "64-true"

    @override
    def convert_module(self, module: nn.Module) -> nn.Module:
        return module.double()

    @override
    def convert_input(self, data: Any) -> Any:
        return convert_floating_tensors(data, torch.float64)

    @override
    def tensor_init_context(self) -> DefaultDtype:
        return DefaultDtype(torch.float64)

    @override
    def forward_context(self) -> DefaultDtype:
        return DefaultDtype(torch.float64)
