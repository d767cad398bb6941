"""``HalfPrecision``: training entirely in float16 ("16-true") or bfloat16 ("bf16-true"), without autocast."""

from typing import Any, Literal

import torch
from torch import nn
from typing_extensions import override

from shim.plugins.precision.precision import DefaultDtype, Precision, convert_floating_tensors

__all__ = ["HalfPrecision"]

_HALF_DTYPES = {"16-true": torch.float16, "bf16-true": torch.bfloat16}


class HalfPrecision(Precision):
    """Weights, inputs and tensors created during a step all in one half dtype.

    Args:
        precision: ``"16-true"`` for float16 or ``"bf16-true"`` for bfloat16.

    Raises:
        ValueError: If ``precision`` is not ``"16-true"`` or ``"bf16-true"``.
    """

    def __init__(self, precision: Literal["16-true", "bf16-true"] = "16-true") -> None:
        if precision not in _HALF_DTYPES:
            raise ValueError(f"HalfPrecision(precision={precision!r}) is not supported; use '16-true' or 'bf16-true'.")
        self.precision = precision
        self._dtype = _HALF_DTYPES[precision]

    @override
    def convert_module(self, module: nn.Module) -> nn.Module:
        return module.to(dtype=self._dtype)

    @override
    def convert_input(self, data: Any) -> Any:
        return convert_floating_tensors(data, self._dtype)

    @override
    def tensor_init_context(self) -> DefaultDtype:
        return DefaultDtype(self._dtype)

    @override
    def forward_context(self) -> DefaultDtype:
        return DefaultDtype(self._dtype)
