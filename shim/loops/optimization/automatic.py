"""One training batch under automatic optimization: the closure, accumulation and the optimizer step.

Automatic optimization follows Lightning's order, which is also the order of a careful hand-written loop:
``optimizer.step(closure)`` runs the closure first, and the closure runs ``training_step``, zeroes the
gradients on the first batch of an accumulation window, and calls ``backward``; the precision plugin then
runs ``on_before_optimizer_step`` and clipping before the parameters change. On a batch that only
accumulates, the closure runs without a step.

When nothing between the loop and torch's optimizer is overridden (the module's ``optimizer_step``, the strategy's,
the precision plugin's and the optimizer wrapper's step methods), the loop runs what those layers would run itself
(for full precision, and for mixed precision without a gradient scaler, whose steps differ only by their autocast);
and for torch's own single-closure optimizers, with no step pre-hook registered, it calls the closure and then
``step()``, which is what ``step(closure)`` does.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim import optimizer as _torch_optimizer

from shim.core.optimizer import LightningOptimizer
from shim.loops.progress import OptimizationProgress
from shim.plugins.precision.amp import MixedPrecision
from shim.plugins.precision.precision import _NO_CONTEXT, Precision
from shim.strategies.strategy import Strategy
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_mock, own_methods, runs_own_methods
from shim.utilities.rank_zero import WarningCache

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["AutomaticOptimization", "Closure", "ClosureResult"]

# the methods a batch goes through between the loop and the torch optimizer; when the strategy, the precision plugin
# and the optimizer wrapper all run shim's own, the loop does what they would do without the calls between them
_STRATEGY_STEP = own_methods(Strategy, ("optimizer_step", "training_step", "backward", "_step"))
_PRECISION_STEP_METHODS = (
    "optimizer_step",
    "_wrap_closure",
    "train_step_context",
    "forward_context",
    "pre_backward",
    "backward",
    "post_backward",
)
_PRECISION_STEP = own_methods(Precision, _PRECISION_STEP_METHODS)
# without a gradient scaler (bf16-mixed), MixedPrecision's step methods do what Precision's do, inside its autocast
_MIXED_PRECISION_STEP = own_methods(MixedPrecision, _PRECISION_STEP_METHODS)
_OPTIMIZER_STEP = own_methods(LightningOptimizer, ("step",))


# torch's optimizers whose `step(closure)` calls the closure once, under `torch.enable_grad()`, before anything
# the closure could observe except the step pre-hooks. LBFGS, which calls it many times, is not one of them
_CLOSURE_FIRST = frozenset(
    getattr(torch.optim, name)
    for name in (
        "SGD", "Adam", "AdamW", "Adamax", "Adadelta", "Adagrad", "ASGD", "NAdam", "RAdam", "RMSprop", "Rprop",
        "SparseAdam", "Adafactor",
    )
    if hasattr(torch.optim, name)
)  # fmt: skip


# torch's global step pre-hooks (None if this torch keeps them elsewhere: the closure then always runs inside step)
_GLOBAL_STEP_PRE_HOOKS: dict[Any, Any] | None = getattr(_torch_optimizer, "_global_optimizer_pre_hooks", None)


def _detach(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, Mapping):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    return value


class ClosureResult:
    """What ``training_step`` returned: the (accumulation-normalised) loss to backpropagate and the extras.

    Made from the step's ``output``: a loss tensor, a dict with the loss under ``"loss"`` and extras (kept
    detached), or None to skip the batch; the loss is divided by ``normalize`` (the accumulation window).
    """

    __slots__ = ("closure_loss", "_loss", "extra")

    def __init__(self, output: Any, normalize: int = 1) -> None:
        closure_loss: Tensor | None = None
        self.extra: dict[str, Any] = {}
        if isinstance(output, Tensor):
            closure_loss = output
        elif isinstance(output, Mapping):
            closure_loss = output.get("loss")
            if closure_loss is None:
                raise MisconfigurationException(
                    f"`training_step` returned a dict without a 'loss' key (keys: {sorted(output)}); under automatic"
                    " optimization the dict must hold the loss to minimise under 'loss'."
                )
            self.extra = {k: _detach(v) for k, v in output.items() if k != "loss"}
        elif output is not None:
            raise MisconfigurationException(
                f"`training_step` returned {type(output).__name__}; under automatic optimization it must return a"
                " loss tensor, a dict with a 'loss' key, or None to skip the batch."
            )
        if closure_loss is not None and normalize != 1:
            # not in place: the user may hold on to the tensor they returned (x / 1 would be x: skipped)
            closure_loss = closure_loss / normalize
        self.closure_loss = closure_loss
        self._loss: Tensor | None = None

    @property
    def loss(self) -> Tensor | None:
        """The loss detached, for the closure's caller and the step outputs; made on first use.

        Lightning also copies it, a guard from when AMP scaled the loss in place; nothing changes it in place now,
        and a hand-written loop would not pay for the copy either.
        """
        if self._loss is None and self.closure_loss is not None:
            self._loss = self.closure_loss.detach()
        return self._loss

    def outputs(self) -> dict[str, Any]:
        """The step's outputs as the batch-end hooks get them: ``{"loss": ..., **extras}``, or ``{}`` without a loss."""
        loss = self.loss
        if loss is None:
            return {}
        return {"loss": loss, **self.extra} if self.extra else {"loss": loss}


class Closure:
    """The closure handed to ``optimizer_step``: runs training_step, zero_grad (first in the window), backward.

    One per batch; the optimizer calls it (more than once for optimizers such as LBFGS), and ``result`` keeps what
    the last call's ``training_step`` returned.
    """

    __slots__ = ("_loop", "_step_args", "_optimizer", "_zero_grad_batch_idx", "_direct_step", "result")

    # as in Lightning, a `training_step` that returns None is pointed out once per process (clear it to see it again)
    warning_cache = WarningCache()

    def __init__(
        self,
        loop: "AutomaticOptimization",
        step_args: tuple[Any, ...],
        optimizer: "LightningOptimizer",
        zero_grad_batch_idx: int | None,
        direct_step: bool = False,
    ) -> None:
        self._loop = loop
        self._step_args = step_args
        self._optimizer = optimizer
        self._zero_grad_batch_idx = zero_grad_batch_idx  # None: this batch does not zero the gradients
        # handed straight to the torch optimizer: run what the precision plugin runs after the closure, too
        self._direct_step = direct_step
        self.result: ClosureResult | None = None

    def __call__(self) -> Tensor | None:
        self.result = self._loop._closure(
            self._step_args, self._optimizer, self._zero_grad_batch_idx, self._direct_step
        )
        return self.result.loss


class AutomaticOptimization:
    """Optimizes one batch when ``automatic_optimization`` is True.

    ``on_run_start`` records, once per epoch, which of the module's optimization hooks keep Lightning's default;
    those defaults are run directly (``optimizer.zero_grad()``, ``optimizer.step(closure=...)``), which is what they
    would do, without the dispatcher around them.
    """

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.optim_progress = OptimizationProgress()
        self._skip_backward = False
        self._step_end = False
        self._custom_optimizer_step = True
        self._custom_zero_grad = True
        self._custom_backward = True
        # True: the strategy, precision plugin and optimizer wrapper keep shim's step methods (see `_STRATEGY_STEP`)
        self._direct = False
        self._module: Any = None
        self._precision: Any = None
        # the torch optimizer is one of `_CLOSURE_FIRST`: the closure may run before `step()` instead of inside it
        self._closure_first = False
        # on the direct path, what makes the context `training_step` runs in: None for the empty one (full
        # precision), the plugin's `train_step_context` for mixed precision without a scaler
        self._step_context: Callable[[], Any] | None = None
        # the strategy's backward, off the direct path: recorded as an action on a profiled run (as in Lightning,
        # only automatic optimization's backward is; `manual_backward` calls the strategy's own)
        self._backward: Callable[..., Any] | None = None

    def on_run_start(self) -> None:
        trainer = self.trainer
        overrides = trainer._module_overrides
        self._step_end = overrides("training_step_end")  # Lightning 1.x hook
        # a profiled run calls (and records) these module hooks even when they are Lightning's defaults
        profiled = trainer._hooks.profiled
        self._custom_optimizer_step = profiled or overrides("optimizer_step")
        self._custom_zero_grad = profiled or overrides("optimizer_zero_grad")
        self._custom_backward = overrides("backward")
        strategy = trainer.strategy
        self._backward = strategy.backward
        if profiled:
            from shim.trainer.profiling import timed

            self._backward = timed(trainer.profiler, f"[Strategy]{type(strategy).__name__}.backward", strategy.backward)
        optimizers = strategy._lightning_optimizers
        self._module = strategy._lightning_module
        self._precision = strategy.precision_plugin
        single = len(optimizers) == 1
        torch_optimizer = optimizers[0]._optimizer if single else None
        self._closure_first = (
            single
            and type(torch_optimizer) in _CLOSURE_FIRST
            and _GLOBAL_STEP_PRE_HOOKS is not None
            and hasattr(torch_optimizer, "_optimizer_step_pre_hooks")
            # torch's own `step`: not replaced on the instance, nor patched with a mock (which may not run a closure)
            and "step" not in vars(torch_optimizer)
            and not is_mock(getattr(type(torch_optimizer), "step", None))
        )
        precision = self._precision
        self._step_context = None
        if isinstance(precision, MixedPrecision) and precision.scaler is None:
            direct_precision = runs_own_methods(precision, _MIXED_PRECISION_STEP)
            self._step_context = precision.train_step_context
        else:
            direct_precision = runs_own_methods(precision, _PRECISION_STEP)
        self._direct = (
            single
            and direct_precision
            and runs_own_methods(strategy, _STRATEGY_STEP)
            and runs_own_methods(optimizers[0], _OPTIMIZER_STEP)
        )

    def _closure(
        self,
        step_args: tuple[Any, ...],
        optimizer: "LightningOptimizer",
        zero_grad_batch_idx: int | None,
        direct_step: bool,
    ) -> ClosureResult:
        """The closure's work: ``training_step``, ``zero_grad`` when ``zero_grad_batch_idx`` is given, ``backward``.

        ``direct_step``: the torch optimizer steps next, without the precision plugin around it, so the hooks it
        would run after the closure run here.
        """
        trainer = self.trainer
        strategy = trainer.strategy
        if self._direct:  # what `Strategy.training_step` does, with the plugin's context known in advance
            context = _NO_CONTEXT if self._step_context is None else self._step_context()
            output = strategy._step("training_step", context, step_args)
        else:
            output = strategy.training_step(*step_args)
        if self._step_end:  # Lightning 1.x hook
            output = trainer._hooks.module("training_step_end", output)
        result = ClosureResult(output, trainer.accumulate_grad_batches)
        loss = result.closure_loss
        if loss is None:
            Closure.warning_cache.warn(
                "`training_step` returned `None`: no backward pass and no optimizer step for this batch (fine if it"
                " is on purpose, for batches you want to skip)."
            )
        if zero_grad_batch_idx is not None:
            self._zero_grad(zero_grad_batch_idx, optimizer)
        if loss is not None and not self._skip_backward:
            if self._direct:  # what `Strategy.backward` and the precision plugin's backward methods do
                hooks = trainer._hooks
                silent = hooks.silent
                if "on_before_backward" not in silent:
                    hooks.call("on_before_backward", loss)
                if self._custom_backward:
                    hooks.module("backward", loss)
                else:
                    loss.backward()
                if "on_after_backward" not in silent:
                    hooks.call("on_after_backward")
            else:
                assert self._backward is not None
                self._backward(loss, optimizer._optimizer)
        if direct_step:
            self._precision._after_closure(self._module, optimizer._optimizer)
        return result

    def run(self, optimizer: Optimizer, batch_idx: int, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Optimize one batch given ``training_step``'s arguments by name (``{"batch": ..., "batch_idx": ...}``).

        Returns the outputs the batch-end hooks get: ``{"loss": ..., **extras}``, or ``{}`` when ``training_step``
        returned None. Whether the batch only accumulates is read from the epoch loop's position. The epoch loop
        calls ``run_batch``, which takes the arguments and the accumulation it already has at hand.
        """
        trainer = self.trainer
        strategy = trainer.strategy
        wrapped = next((o for o in strategy._lightning_optimizers if optimizer in (o, o._optimizer)), None)
        if wrapped is None:
            wrapped = LightningOptimizer._to_lightning_optimizer(optimizer, strategy)
        accumulating = trainer.accumulate_grad_batches != 1 and trainer.fit_loop.epoch_loop.should_accumulate()
        return self.run_batch(wrapped, batch_idx, tuple(kwargs.values()), accumulating).outputs()

    def run_batch(
        self, optimizer: "LightningOptimizer", batch_idx: int, step_args: tuple[Any, ...], accumulating: bool
    ) -> ClosureResult:
        """Optimize one batch; what ``training_step`` returned (``outputs()`` makes the hooks' outputs from it)."""
        zero_grad_batch_idx = (
            batch_idx if not self._skip_backward and batch_idx % self.trainer.accumulate_grad_batches == 0 else None
        )
        if accumulating:  # the closure's work without a step
            return self._closure(step_args, optimizer, zero_grad_batch_idx, False)
        # counters incremented in place, as in the epoch loop: once per batch, cheaper than method calls
        step = self.optim_progress.optimizer.step
        step.total.ready += 1
        step.current.ready += 1
        direct_step = self._direct and not self._custom_optimizer_step
        torch_optimizer = optimizer._optimizer
        result: ClosureResult | None
        if (
            direct_step
            and self._closure_first
            and not torch_optimizer._optimizer_step_pre_hooks  # these run before the closure in `step`
            and not _GLOBAL_STEP_PRE_HOOKS
            and torch.is_grad_enabled()  # `step` enables gradients for the closure
        ):
            # what LightningOptimizer.step, the strategy, the precision plugin and then `step(closure)` would do,
            # without the `enable_grad` context around the closure (no closure object is needed)
            result = self._closure(step_args, optimizer, zero_grad_batch_idx, True)
            torch_optimizer.step()
        else:
            closure = Closure(self, step_args, optimizer, zero_grad_batch_idx, direct_step)
            if self._custom_optimizer_step:
                trainer = self.trainer
                trainer._hooks.module("optimizer_step", trainer.current_epoch, batch_idx, optimizer, closure)
            elif direct_step:  # what LightningOptimizer.step, the strategy and the precision plugin would do
                torch_optimizer.step(closure=closure)  # type: ignore[arg-type]  # (hinted as returning float)
            else:  # what LightningModule.optimizer_step does
                optimizer.step(closure=closure)
            result = closure.result
        step.total.completed += 1
        step.current.completed += 1
        if result is None:
            raise MisconfigurationException(
                "`optimizer_step` did not run the closure it was given: pass `optimizer_closure` on, as in"
                " `optimizer.step(closure=optimizer_closure)`."
            )
        return result

    def _zero_grad(self, batch_idx: int, optimizer: "LightningOptimizer") -> None:
        trainer = self.trainer
        progress = self.optim_progress.optimizer.zero_grad
        total, current = progress.total, progress.current
        total.ready += 1
        current.ready += 1
        torch_optimizer = optimizer._optimizer
        hooks = trainer._hooks
        if "on_before_zero_grad" not in hooks.silent:
            hooks.call("on_before_zero_grad", torch_optimizer)
        total.started += 1
        current.started += 1
        if self._custom_zero_grad:
            trainer._hooks.module("optimizer_zero_grad", trainer.current_epoch, batch_idx, torch_optimizer)
        else:
            torch_optimizer.zero_grad()
        total.completed += 1
        current.completed += 1
