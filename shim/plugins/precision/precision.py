"""``Precision``: full 32-bit precision, and the interface the other precision plugins implement."""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = ["Precision"]

_NO_CONTEXT = nullcontext()  # reusable, and cheaper than a generator-based context per step


class Precision:
    """Plain float32 training: no autocast, no scaling. Subclasses change dtypes, contexts and the step."""

    precision: str = "32-true"

    def convert_module(self, module: nn.Module) -> nn.Module:
        """Cast the module's parameters for this precision (nothing at 32-true)."""
        return module

    def convert_input(self, data: Any) -> Any:
        """Cast floating-point inputs for this precision (nothing at 32-true)."""
        return data

    def forward_context(self) -> AbstractContextManager[Any]:
        """The context every step runs in (autocast for mixed precision); nothing at 32-true."""
        return _NO_CONTEXT

    def train_step_context(self) -> AbstractContextManager[Any]:
        return self.forward_context()

    def val_step_context(self) -> AbstractContextManager[Any]:
        return self.forward_context()

    def test_step_context(self) -> AbstractContextManager[Any]:
        return self.forward_context()

    def predict_step_context(self) -> AbstractContextManager[Any]:
        return self.forward_context()

    def pre_backward(self, tensor: Tensor, module: "LightningModule") -> Tensor:
        module.trainer._hooks.call("on_before_backward", tensor)
        return tensor

    def backward(self, tensor: Tensor, model: "LightningModule", optimizer: Any, *args: Any, **kwargs: Any) -> None:
        model.trainer._hooks.module("backward", tensor, *args, **kwargs)

    def post_backward(self, tensor: Tensor, module: "LightningModule") -> Tensor:
        module.trainer._hooks.call("on_after_backward")
        return tensor

    def _after_closure(self, model: "LightningModule", optimizer: Optimizer) -> None:
        trainer = model.trainer
        trainer._hooks.call("on_before_optimizer_step", optimizer)
        if model.automatic_optimization and (trainer.gradient_clip_val or trainer._clipping_overridden):
            trainer._hooks.module(
                "configure_gradient_clipping",
                optimizer,
                gradient_clip_val=trainer.gradient_clip_val,
                gradient_clip_algorithm=trainer.gradient_clip_algorithm,
            )

    def _wrap_closure(self, model: "LightningModule", optimizer: Optimizer, closure: Callable[[], Any]) -> Any:
        # The optimizer calls this closure inside `step`: training_step, backward, then the hooks that must see
        # the final gradients (on_before_optimizer_step, clipping) before the parameters change.
        result = closure()
        self._after_closure(model, optimizer)
        return result

    def optimizer_step(
        self, optimizer: Optimizer, model: "LightningModule", closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        """Step ``optimizer``; the closure computes the loss and gradients."""
        return optimizer.step(closure=partial(self._wrap_closure, model, optimizer, closure), **kwargs)

    def clip_gradients(self, optimizer: Optimizer, clip_val: int | float, algorithm: str) -> None:
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, clip_value=clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, max_norm=clip_val)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass

    def teardown(self) -> None:
        pass
