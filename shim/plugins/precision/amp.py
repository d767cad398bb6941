"""``MixedPrecision``: steps under ``torch.autocast`` (16-mixed, bf16-mixed), with a gradient scaler for float16."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.optim import LBFGS, Optimizer
from typing_extensions import override

from shim.plugins.precision.precision import Precision
from shim.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = ["MixedPrecision"]

_MIXED_DTYPES = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}


def _unscales_in_step(optimizer: Optimizer) -> bool:
    # fused optimizers unscale inside their own `step` (a private flag, set by torch's built-in optimizers only)
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


class MixedPrecision(Precision):
    """Automatic mixed precision: float32 weights, steps under ``torch.autocast`` in float16 or bfloat16.

    With ``"16-mixed"`` a :class:`torch.amp.GradScaler` multiplies the loss before backward, divides the gradients
    back before ``on_before_optimizer_step`` and clipping, and skips the optimizer step when a gradient is inf or NaN.
    bfloat16 has float32's range, so ``"bf16-mixed"`` needs no scaler.

    Args:
        precision: ``"16-mixed"`` for float16 or ``"bf16-mixed"`` for bfloat16.
        device: The device type autocast runs for (``"cuda"``, ``"cpu"`` or ``"mps"``).
        scaler: The gradient scaler for ``"16-mixed"``; when None, a new ``torch.amp.GradScaler`` for ``device``.

    Raises:
        ValueError: If ``precision`` is not ``"16-mixed"`` or ``"bf16-mixed"``.
        MisconfigurationException: If a ``scaler`` is given with ``"bf16-mixed"``.
    """

    def __init__(
        self,
        precision: Literal["16-mixed", "bf16-mixed"],
        device: str,
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        if precision not in _MIXED_DTYPES:
            raise ValueError(
                f"MixedPrecision(precision={precision!r}) is not supported; use '16-mixed' or 'bf16-mixed'."
            )
        if precision == "bf16-mixed" and scaler is not None:
            raise MisconfigurationException(
                f"MixedPrecision(precision='bf16-mixed') takes no gradient scaler, but got scaler={scaler!r}."
            )
        if precision == "16-mixed" and scaler is None:
            scaler = torch.amp.GradScaler(device=device)
        self.precision = precision
        self.device = device
        self.scaler = scaler
        self._dtype = _MIXED_DTYPES[precision]

    def autocast_context_manager(self) -> torch.autocast:
        """A new ``torch.autocast`` for this plugin's device and dtype."""
        # no weight-cast cache: it would keep stale low-precision copies of weights the optimizer has changed
        return torch.autocast(self.device, dtype=self._dtype, cache_enabled=False)

    @override
    def forward_context(self) -> torch.autocast:
        return self.autocast_context_manager()

    @override
    def pre_backward(self, tensor: torch.Tensor, module: "LightningModule") -> torch.Tensor:
        if self.scaler is not None:
            tensor = self.scaler.scale(tensor)
        return super().pre_backward(tensor, module)

    @override
    def optimizer_step(
        self, optimizer: Optimizer, model: "LightningModule", closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        scaler = self.scaler
        if scaler is None:
            return super().optimizer_step(optimizer, model, closure, **kwargs)
        if isinstance(optimizer, LBFGS):
            raise MisconfigurationException(
                "precision='16-mixed' scales gradients, which LBFGS cannot work with (it re-evaluates the loss"
                " inside `step`). Use another optimizer, or precision='bf16-mixed' or '32-true'."
            )
        self.is_last_step_skipped = False
        # GradScaler.step takes no closure, so the closure (training_step and backward) runs first
        closure_result = closure()
        # training_step returned None under automatic optimization: no backward ran, nothing to unscale or step
        has_gradients = closure_result is not None or not model.automatic_optimization
        if has_gradients and not _unscales_in_step(optimizer):
            scaler.unscale_(optimizer)  # so on_before_optimizer_step and clipping see the true gradients
        self._after_closure(model, optimizer)
        if not has_gradients:
            return closure_result
        scale = scaler.get_scale()
        output = scaler.step(optimizer, **kwargs)  # skips optimizer.step when a gradient is inf or NaN
        scaler.update()
        # update() lowers the scale exactly when it found inf/NaN, that is when the step was skipped
        self.is_last_step_skipped = scaler.get_scale() < scale
        return output

    @override
    def clip_gradients(self, optimizer: Optimizer, clip_val: int | float, algorithm: str) -> None:
        if clip_val > 0 and _unscales_in_step(optimizer):
            raise RuntimeError(
                f"Gradient clipping needs unscaled gradients, but {type(optimizer).__qualname__} unscales them inside"
                " its own `step` (a fused optimizer?). Turn off clipping or use a non-fused optimizer."
            )
        super().clip_gradients(optimizer, clip_val, algorithm)

    @override
    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.scaler is not None:
            self.scaler.load_state_dict(state_dict)
