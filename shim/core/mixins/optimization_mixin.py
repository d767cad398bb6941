"""The optimization API of a LightningModule: its optimizers and schedulers, manual backward, clipping, toggling.

The Trainer calls the hooks here (``backward``, ``optimizer_step``, ``optimizer_zero_grad``, ``lr_scheduler_step``,
``configure_gradient_clipping``) during automatic optimization; ``training_step`` calls the rest under manual
optimization. Under Lightning Fabric, backward and clipping go through Fabric.
"""

from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn
from torch.optim import Optimizer

from shim.core.optimizer import LightningOptimizer
from shim.utilities.enums import GradClipAlgorithmType
from shim.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["OptimizationMixin"]


class OptimizationMixin(nn.Module):
    """What a LightningModule offers and overrides around ``optimizer.step()``."""

    _fabric: Any
    _fabric_optimizers: list[Any]
    _param_requires_grad_state: dict[Tensor, bool]

    if TYPE_CHECKING:

        @property
        def trainer(self) -> "Trainer": ...

        @property
        def automatic_optimization(self) -> bool: ...

    def optimizers(self, use_pl_optimizer: bool = True) -> Any:
        """The optimizer (or list of optimizers) from ``configure_optimizers``, wrapped for manual stepping.

        Args:
            use_pl_optimizer: Return the ``LightningOptimizer`` wrappers (True) or the torch optimizers themselves.
        """
        optimizers: Any
        if self._fabric is not None:
            optimizers = self._fabric_optimizers
        elif use_pl_optimizer:
            optimizers = self.trainer.strategy._lightning_optimizers
        else:
            optimizers = self.trainer.optimizers
        if (
            isinstance(optimizers, list)
            and len(optimizers) == 1
            and isinstance(optimizers[0], Optimizer | LightningOptimizer)
        ):
            return optimizers[0]
        return optimizers

    def lr_schedulers(self) -> Any:
        """The scheduler (or list of schedulers) from ``configure_optimizers``; ``None`` if there is none."""
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        schedulers = [config.scheduler for config in configs]
        return schedulers[0] if len(schedulers) == 1 else schedulers

    def manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward pass under manual optimization, with precision scaling and the backward hooks.

        Raises:
            MisconfigurationException: Under automatic optimization.
        """
        if self._fabric is not None:
            self._fabric.backward(loss, *args, **kwargs)
            return
        if self.automatic_optimization:
            raise MisconfigurationException(
                "`manual_backward` needs manual optimization: set `self.automatic_optimization = False`."
            )
        self.trainer.strategy.backward(loss, None, *args, **kwargs)

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Compute the gradients of ``loss``; override for a custom backward."""
        if self._fabric is not None:
            self._fabric.backward(loss, *args, **kwargs)
        else:
            loss.backward(*args, **kwargs)

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: Optimizer | LightningOptimizer,
        optimizer_closure: Callable[[], Any] | None = None,
    ) -> None:
        """Step the optimizer; the closure runs ``training_step``, ``zero_grad`` and ``backward``."""
        optimizer.step(closure=optimizer_closure)

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Optimizer) -> None:
        """Clear the gradients before the backward pass of a new accumulation window."""
        optimizer.zero_grad()

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Step a learning-rate scheduler (with the monitored value for ``ReduceLROnPlateau``)."""
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients before the optimizer steps; by default as the Trainer's flags ask."""
        self.clip_gradients(
            optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm
        )

    def clip_gradients(
        self,
        optimizer: Optimizer,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters by norm or by value.

        A value or algorithm left as None comes from the Trainer's flags; one given here must agree with the flag
        when that is set. Under Fabric, Fabric clips.

        Raises:
            MisconfigurationException: If a value given disagrees with the Trainer's flag, or the algorithm is not
                ``"norm"`` or ``"value"``.
            TypeError: If the clipping value is not an int or a float.
        """
        if self._fabric is not None:
            by_value = gradient_clip_algorithm == GradClipAlgorithmType.VALUE
            self._fabric.clip_gradients(
                self,
                optimizer,
                clip_val=gradient_clip_val if by_value else None,
                max_norm=None if by_value else gradient_clip_val,
            )
            return
        trainer = self.trainer
        if gradient_clip_val is None:
            gradient_clip_val = trainer.gradient_clip_val or 0.0
        elif trainer.gradient_clip_val is not None and trainer.gradient_clip_val != gradient_clip_val:
            raise MisconfigurationException(
                f"clip_gradients(gradient_clip_val={gradient_clip_val!r}) contradicts"
                f" `Trainer(gradient_clip_val={trainer.gradient_clip_val!r})`; set the value in one place only."
            )
        trainer_algorithm = trainer.gradient_clip_algorithm
        if gradient_clip_algorithm is None:
            gradient_clip_algorithm = trainer_algorithm or GradClipAlgorithmType.NORM
        else:
            gradient_clip_algorithm = gradient_clip_algorithm.lower()
            if trainer_algorithm is not None and trainer_algorithm != gradient_clip_algorithm:
                raise MisconfigurationException(
                    f"clip_gradients(gradient_clip_algorithm={gradient_clip_algorithm!r}) contradicts"
                    f" `Trainer(gradient_clip_algorithm={trainer_algorithm.lower()!r})`; set the algorithm in one"
                    " place only."
                )
        if not isinstance(gradient_clip_val, int | float):
            raise TypeError(f"gradient_clip_val={gradient_clip_val!r} is not valid: it must be an int or a float.")
        if not GradClipAlgorithmType.supported_type(gradient_clip_algorithm.lower()):
            raise MisconfigurationException(
                f"gradient_clip_algorithm={gradient_clip_algorithm!r} is not supported; allowed values are"
                f" {GradClipAlgorithmType.supported_types()}."
            )
        if gradient_clip_val <= 0:
            return  # clipping is off
        algorithm = GradClipAlgorithmType(gradient_clip_algorithm.lower())
        trainer.precision_plugin.clip_gradients(optimizer, gradient_clip_val, algorithm)

    def toggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Switch off the gradients of every parameter that ``optimizer`` does not optimize.

        For several optimizers under manual optimization: the other optimizers' parameters get no gradients from
        the next backward pass. Parameters that had ``requires_grad=False`` keep it. Undo with
        :meth:`untoggle_optimizer`, or use :meth:`toggled_optimizer`.
        """
        state: dict[Tensor, bool] = {}
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                for param in group["params"]:
                    if param not in state:
                        state[param] = param.requires_grad
                        param.requires_grad = False
        for group in optimizer.param_groups:  # type: ignore[union-attr]
            for param in group["params"]:
                param.requires_grad = state[param]
        self._param_requires_grad_state = state

    def untoggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Give the other optimizers' parameters back the ``requires_grad`` flags ``toggle_optimizer`` found."""
        state = self._param_requires_grad_state
        toggled = optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer
        for opt in self.trainer.optimizers:
            if opt is optimizer or opt is toggled:
                continue
            for group in opt.param_groups:
                for param in group["params"]:
                    if param in state:
                        param.requires_grad = state[param]
        self._param_requires_grad_state = {}

    @contextmanager
    def toggled_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> Generator[None, None, None]:
        """``toggle_optimizer`` for the duration of a ``with`` block, then ``untoggle_optimizer``."""
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)
