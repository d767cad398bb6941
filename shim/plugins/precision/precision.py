"""``Precision``: full 32-bit precision, and the interface the other precision plugins implement."""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from shim.utilities.apply_func import apply_to_collection

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = ["DefaultDtype", "Precision", "convert_floating_tensors"]

_NO_CONTEXT = nullcontext()  # reusable, and cheaper than a generator-based context per step


class DefaultDtype:
    """Sets ``torch``'s default floating-point dtype inside a ``with`` block and restores the previous one after."""

    __slots__ = ("dtype", "_previous")

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._previous: list[torch.dtype] = []  # a stack, so one instance can be entered again while inside

    def __enter__(self) -> None:
        self._previous.append(torch.get_default_dtype())
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc_info: object) -> None:
        torch.set_default_dtype(self._previous.pop())


def convert_floating_tensors(data: Any, dtype: torch.dtype) -> Any:
    """Return ``data`` with every floating-point tensor in it cast to ``dtype``; other tensors and values are kept."""
    return apply_to_collection(data, Tensor, _cast_if_floating, dtype)


def _cast_if_floating(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor.to(dtype) if torch.is_floating_point(tensor) else tensor


class Precision:
    """Plain float32 training: no autocast, no scaling. Subclasses change dtypes, contexts and the step."""

    precision: str = "32-true"
    # True when the last optimizer step was skipped (a gradient scaler found inf/NaN); step schedulers then wait
    is_last_step_skipped: bool = False

    def convert_module(self, module: nn.Module) -> nn.Module:
        """Cast the module's parameters for this precision (nothing at 32-true)."""
        return module

    def convert_input(self, data: Any) -> Any:
        """Cast floating-point inputs for this precision (nothing at 32-true)."""
        return data

    def tensor_init_context(self) -> AbstractContextManager[Any]:
        """The context new tensors are created in (the default dtype of this precision); nothing at 32-true."""
        return _NO_CONTEXT

    def module_init_context(self) -> AbstractContextManager[Any]:
        """The context a module is built in; by default the same as :meth:`tensor_init_context`."""
        return self.tensor_init_context()

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
        hooks = module._trainer._hooks  # type: ignore[union-attr]
        if "on_before_backward" not in hooks.silent:  # tested here too: this runs for every step
            hooks.call("on_before_backward", tensor)
        return tensor

    def backward(self, tensor: Tensor, model: "LightningModule", optimizer: Any, *args: Any, **kwargs: Any) -> None:
        trainer = model._trainer
        assert trainer is not None
        if trainer._module_overrides("backward"):
            trainer._hooks.module("backward", tensor, *args, **kwargs)
        else:  # what LightningModule.backward does, without the dispatcher around it
            tensor.backward(*args, **kwargs)

    def post_backward(self, tensor: Tensor, module: "LightningModule") -> Tensor:
        hooks = module._trainer._hooks  # type: ignore[union-attr]
        if "on_after_backward" not in hooks.silent:
            hooks.call("on_after_backward")
        return tensor

    def _after_closure(self, model: "LightningModule", optimizer: Optimizer) -> None:
        trainer = model._trainer
        assert trainer is not None
        hooks = trainer._hooks
        if "on_before_optimizer_step" not in hooks.silent:  # tested here too: this runs for every step
            hooks.call("on_before_optimizer_step", optimizer)
        if trainer.track_grad_norm != -1:  # Lightning 1.x `Trainer(track_grad_norm=p)`, before clipping
            _log_grad_norm(model)
        if (trainer.gradient_clip_val or trainer._clipping_overridden) and model.automatic_optimization:
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


def _log_grad_norm(model: "LightningModule") -> None:
    from shim.utilities.grads import grad_norm

    trainer = model.trainer
    separator = getattr(trainer.loggers[0], "group_separator", "/") if len(trainer.loggers) == 1 else "/"
    # Lightning 1.x logged these as numbers rounded to 4 decimals, from on_before_optimizer_step
    norms = {k: round(v.item(), 4) for k, v in grad_norm(model, trainer.track_grad_norm, separator).items()}
    if norms:
        previous = model._current_fx_name
        object.__setattr__(model, "_current_fx_name", "on_before_optimizer_step")
        try:
            model.log_grad_norm(norms)
        finally:
            object.__setattr__(model, "_current_fx_name", previous)
