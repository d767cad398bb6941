"""``LightningModule``: an ``nn.Module`` that carries its training step, its optimizers and its hooks."""

import numbers
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from shim.core.hooks import CheckpointHooks, DataHooks, ModelHooks
from shim.core.mixins.hparams_mixin import HyperparametersMixin
from shim.core.optimizer import LightningOptimizer
from shim.trainer.metrics import LoggedValue, parse_reduce_fx, resolve_log_levels
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["LightningModule"]

# While True, a detached module's `trainer` is None instead of an error: tracers (TensorBoard's graph, TorchScript)
# read every attribute of the module.
_jit_is_scripting_flag = False


@contextmanager
def _jit_is_scripting() -> Generator[None, None, None]:
    """Let tracing code read ``module.trainer`` on a module that is not attached to a Trainer."""
    global _jit_is_scripting_flag
    previous, _jit_is_scripting_flag = _jit_is_scripting_flag, True
    try:
        yield
    finally:
        _jit_is_scripting_flag = previous


class _DeviceDtypeMixin(nn.Module):
    """Remembers the device and dtype the module was moved to, also when it has no parameters."""

    def __init__(self) -> None:
        super().__init__()
        self._device = torch.device("cpu")
        self._dtype: torch.dtype = torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        device = self._device
        if device.type == "cuda" and device.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        return device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @dtype.setter
    def dtype(self, value: torch.dtype) -> None:
        self._dtype = value

    def to(self, *args: Any, **kwargs: Any) -> Any:
        device, dtype = torch._C._nn._parse_to(*args, **kwargs)[:2]
        self._update(device, dtype)
        return super().to(*args, **kwargs)

    def cuda(self, device: torch.device | int | None = None) -> Any:
        if device is None:
            device = torch.device("cuda", torch.cuda.current_device())
        elif isinstance(device, int):
            device = torch.device("cuda", device)
        self._update(device)
        return super().cuda(device)

    def cpu(self) -> Any:
        self._update(torch.device("cpu"))
        return super().cpu()

    def type(self, dst_type: torch.dtype | str) -> Any:
        self._update(dtype=dst_type if isinstance(dst_type, torch.dtype) else None)
        return super().type(dst_type)

    def float(self) -> Any:
        self._update(dtype=torch.float)
        return super().float()

    def double(self) -> Any:
        self._update(dtype=torch.double)
        return super().double()

    def half(self) -> Any:
        self._update(dtype=torch.half)
        return super().half()

    def _update(self, device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        for module in self.modules():
            if isinstance(module, _DeviceDtypeMixin):
                if device is not None:
                    module._device = torch.device(device)
                if dtype is not None:
                    module._dtype = dtype


class LightningModule(_DeviceDtypeMixin, HyperparametersMixin, ModelHooks, DataHooks, CheckpointHooks, nn.Module):
    """Organises a PyTorch model for the Trainer: steps, optimizers and hooks in one ``nn.Module``."""

    CHECKPOINT_HYPER_PARAMS_KEY = "hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "hparams_type"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: Trainer | None = None
        self._current_fx_name: str | None = None
        self._automatic_optimization = True
        self._example_input_array: Any = None
        self._metric_attributes: dict[int, str] | None = None
        self._strict_loading: bool | None = None

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build the module from a checkpoint's saved hyper-parameters (``kwargs`` override them) and load its weights.

        The module comes back on the device its weights were saved from (CPU when that device is missing) and in
        train mode, as Lightning returns it; call ``.eval()`` for inference.
        """
        from shim.core.saving import load_from_checkpoint

        return load_from_checkpoint(cls, checkpoint_path, map_location, hparams_file, strict, weights_only, **kwargs)

    # -- properties ------------------------------------------------------------------------------------
    @property
    def trainer(self) -> "Trainer":
        """The Trainer this module is attached to."""
        if self._trainer is None and not _jit_is_scripting_flag:
            raise RuntimeError(f"{type(self).__qualname__} is not attached to a `Trainer`.")
        return self._trainer  # type: ignore[return-value]

    @trainer.setter
    def trainer(self, trainer: "Trainer | None") -> None:
        for child in self.children():
            if isinstance(child, LightningModule):
                child.trainer = trainer
        self._trainer = trainer

    @property
    def automatic_optimization(self) -> bool:
        """Whether the Trainer runs the optimization (True) or ``training_step`` does (False)."""
        return self._automatic_optimization

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._automatic_optimization = value

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def global_rank(self) -> int:
        return self._trainer.global_rank if self._trainer is not None else 0

    @property
    def local_rank(self) -> int:
        return self._trainer.local_rank if self._trainer is not None else 0

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    @property
    def example_input_array(self) -> Any:
        return self._example_input_array

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self._example_input_array = example

    @property
    def logger(self) -> Any:
        return self._trainer.logger if self._trainer is not None else None

    @property
    def loggers(self) -> list[Any]:
        return self._trainer.loggers if self._trainer is not None else []

    @property
    def strict_loading(self) -> bool:
        return True if self._strict_loading is None else self._strict_loading

    @strict_loading.setter
    def strict_loading(self, value: bool) -> None:
        self._strict_loading = value

    def __getstate__(self) -> dict[str, Any]:
        # copying or pickling a module must not drag its Trainer (loaders, loops, callbacks) along
        state = dict(self.__dict__)
        state["_trainer"] = None
        return state

    # -- what users implement --------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Compute and return the training loss (a tensor, or a dict with a ``"loss"`` key, or ``None`` to skip)."""
        rank_zero_warn("`training_step` must be implemented to be used with the Trainer")

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run one validation batch; log metrics with ``self.log``."""

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run one test batch; log metrics with ``self.log``."""

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Return the prediction for one batch; by default ``self(batch)``."""
        batch = kwargs.get("batch", args[0])
        return self(batch)

    def configure_optimizers(self) -> Any:
        """Return the optimizer(s) and optionally LR scheduler(s) in one of the documented forms."""
        rank_zero_warn("`configure_optimizers` must be implemented to be used with the Trainer")

    def configure_callbacks(self) -> Any:
        """Return callbacks to add to the Trainer's; one of the same type replaces the Trainer's."""
        return []

    # -- optimization ----------------------------------------------------------------------------------
    def optimizers(self, use_pl_optimizer: bool = True) -> Any:
        """The optimizer (or list of optimizers) from ``configure_optimizers``, wrapped for manual stepping."""
        optimizers: list[Any] = (
            self.trainer.strategy._lightning_optimizers if use_pl_optimizer else self.trainer.optimizers
        )
        return optimizers[0] if len(optimizers) == 1 else optimizers

    def lr_schedulers(self) -> Any:
        """The scheduler (or list of schedulers) from ``configure_optimizers``; ``None`` if there is none."""
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        schedulers = [config.scheduler for config in configs]
        return schedulers[0] if len(schedulers) == 1 else schedulers

    def manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward pass under manual optimization, with precision scaling and the backward hooks."""
        if self.automatic_optimization:
            raise MisconfigurationException(
                "`manual_backward` needs manual optimization: set `self.automatic_optimization = False`."
            )
        self.trainer.strategy.backward(loss, None, *args, **kwargs)

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Compute the gradients of ``loss``; override for a custom backward."""
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
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def clip_gradients(
        self,
        optimizer: Optimizer,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters by norm or by value."""
        if gradient_clip_val is None or gradient_clip_val == 0:
            return
        algorithm = gradient_clip_algorithm or "norm"
        if algorithm not in ("norm", "value"):
            raise MisconfigurationException(
                f"gradient_clip_algorithm={algorithm!r} is not supported; allowed values are 'norm' and 'value'"
            )
        self.trainer.precision_plugin.clip_gradients(optimizer, gradient_clip_val, algorithm)

    def toggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Freeze every parameter not optimized by ``optimizer`` (for several optimizers in manual optimization)."""
        groups: list[dict[str, Any]] = optimizer.param_groups  # type: ignore[union-attr]
        own = {id(p) for group in groups for p in group["params"]}
        self._param_requires_grad_state: dict[int, bool] = {}
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                for param in group["params"]:
                    if id(param) not in own and id(param) not in self._param_requires_grad_state:
                        self._param_requires_grad_state[id(param)] = param.requires_grad
                        param.requires_grad = False

    def untoggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Restore what ``toggle_optimizer`` froze."""
        state = getattr(self, "_param_requires_grad_state", {})
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                for param in group["params"]:
                    if id(param) in state:
                        param.requires_grad = state[id(param)]
        self._param_requires_grad_state = {}

    def freeze(self) -> None:
        """Turn off gradients for every parameter and switch to eval mode."""
        for param in self.parameters():
            param.requires_grad = False
        self.eval()

    def unfreeze(self) -> None:
        """Turn gradients back on for every parameter and switch to train mode."""
        for param in self.parameters():
            param.requires_grad = True
        self.train()

    # -- logging -----------------------------------------------------------------------------------------
    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        metric_attribute: str | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Record a value for the loggers, the progress bar and ``trainer.callback_metrics``.

        Args:
            name: The metric's name.
            value: A number, a one-element tensor, or a metric object with ``update()``/``compute()``.
            prog_bar: Show it on the progress bar.
            logger: Send it to the loggers (default True).
            on_step: Record the value of each step (default depends on the hook: True in ``training_step``).
            on_epoch: Record the epoch's reduction (default depends on the hook: True in ``validation_step``).
            reduce_fx: How step values become the epoch value: "mean" (weighted by batch size), "sum", "max", "min".
            enable_graph: Keep the autograd graph of the value.
            sync_dist: Reduce the value across processes.
            sync_dist_group: The process group to reduce over.
            add_dataloader_idx: Add ``/dataloader_idx_N`` to the name when there are several dataloaders.
            batch_size: The batch size for the weighted mean; inferred from the batch when not given.
            metric_attribute: The attribute name of a logged metric object (for checkpoints).
            rank_zero_only: The value is only logged from rank zero.

        Raises:
            ValueError: If ``value`` is a dict or of an unsupported type or has more than one element.
            MisconfigurationException: If the hook does not allow logging or the options are not allowed there.
        """
        is_metric_object = False
        is_tensor = isinstance(value, Tensor)
        if not is_tensor:  # the common case first: the checks below are slower
            if isinstance(value, Mapping):
                raise ValueError(f"`self.log({name!r}, {value!r})`: dict values cannot be logged; use `self.log_dict`.")
            is_metric_object = callable(getattr(value, "compute", None)) and callable(getattr(value, "update", None))
            if not is_metric_object and not isinstance(value, numbers.Number):
                raise ValueError(
                    f"`self.log({name!r}, {value!r})`: values of type {type(value).__name__} cannot be logged; log"
                    " a number, a one-element tensor or a metric object."
                )
        trainer = self._trainer
        if trainer is None:
            rank_zero_warn(
                f"`self.log({name!r}, ...)` was called but the module is not attached to a Trainer; nothing is logged."
            )
            return
        if trainer.barebones:
            rank_zero_warn(f"`self.log({name!r}, ...)` does nothing with `Trainer(barebones=True)`.")
            return
        store = trainer._metrics
        results = store.results
        if results is None:
            raise MisconfigurationException(
                f"`self.log({name!r}, ...)` is not supported here: no loop that records metrics is running"
                " (predict hooks cannot log)."
            )
        fx = self._current_fx_name
        if fx is None:
            raise MisconfigurationException(
                f"`self.log({name!r}, ...)` was called outside of a hook run by the Trainer."
            )
        # a tensor logged from this hook with the arguments of a call seen before: those arguments were checked then
        item: LoggedValue | None = None
        call_key: tuple[Any, ...] | None = None
        if is_tensor and value.numel() == 1:
            call_key = (fx, name, prog_bar, logger, on_step, on_epoch, reduce_fx, enable_graph, sync_dist,
                        add_dataloader_idx, metric_attribute, results.dataloader_idx)  # fmt: skip
            try:
                item = results.by_call.get(call_key)
            except TypeError:  # an unhashable argument: the checks below name it
                call_key = None
        resolved_step = resolved_epoch = False  # the levels after the hook's defaults: needed for a new item only
        if item is None:
            resolved_step, resolved_epoch = resolve_log_levels(fx, on_step, on_epoch)
            if add_dataloader_idx and "/dataloader_idx_" in name:
                raise MisconfigurationException(
                    f"`self.log({name!r}, ...)`: the name must not contain '/dataloader_idx_' when"
                    " `add_dataloader_idx=True`; the suffix is added for you."
                )
            if is_tensor and value.numel() != 1:
                raise ValueError(
                    f"`self.log({name!r}, value)`: the tensor must have one element, got shape {tuple(value.shape)};"
                    " log a reduction such as `value.mean()`."
                )
        if is_tensor:
            if value.ndim:
                value = value.squeeze()
        elif isinstance(value, numbers.Number):
            value = torch.tensor(value, device=self.device, dtype=torch.get_default_dtype())
        if store.current_fx != fx and store.first_loop_iter in (None, True):
            # the first value from this hook in an epoch's first batch (or outside the batches): its old ones go
            results.reset(metrics=False, fx=fx)
        if item is not None:
            item.update(value if enable_graph else value.detach(), batch_size, results)
        else:
            if metric_attribute is None and is_metric_object:
                metric_attribute = self._find_metric_attribute(name, value)
            results.log(
                fx,
                name,
                value,
                prog_bar=prog_bar,
                logger=True if logger is None else logger,
                on_step=resolved_step,
                on_epoch=resolved_epoch,
                reduce_fx=parse_reduce_fx(reduce_fx),
                enable_graph=enable_graph,
                add_dataloader_idx=add_dataloader_idx,
                batch_size=batch_size,
                metric_attribute=metric_attribute,
                sync_dist=sync_dist and trainer.world_size > 1,
                sync=trainer.strategy.reduce_for_log,
                call_key=call_key,
            )
        store.current_fx = fx

    def _find_metric_attribute(self, name: str, value: Any) -> str:
        if self._metric_attributes is None:
            self._metric_attributes = {
                id(module): attr
                for attr, module in self.named_modules()
                if callable(getattr(module, "compute", None)) and callable(getattr(module, "update", None))
            }
        attribute = self._metric_attributes.get(id(value))
        if attribute is None:
            raise MisconfigurationException(
                f"`self.log({name!r}, metric)`: the metric is not an attribute of the module; set it as one, or pass"
                f" `metric_attribute=...` (metric attributes found: {list(self._metric_attributes.values())})."
            )
        return attribute

    def log_dict(
        self,
        dictionary: Mapping[str, Any],
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """``self.log`` for every item of ``dictionary``, with the same options."""
        for name, value in dictionary.items():
            self.log(
                name,
                value,
                prog_bar=prog_bar,
                logger=logger,
                on_step=on_step,
                on_epoch=on_epoch,
                reduce_fx=reduce_fx,
                enable_graph=enable_graph,
                sync_dist=sync_dist,
                sync_dist_group=sync_dist_group,
                add_dataloader_idx=add_dataloader_idx,
                batch_size=batch_size,
                rank_zero_only=rank_zero_only,
            )

    def log_grad_norm(self, grad_norm_dict: dict[str, float]) -> None:
        """Log the gradient norms of ``Trainer(track_grad_norm=p)`` (a Lightning 1.x hook; override to change)."""
        self.log_dict(grad_norm_dict, on_step=True, on_epoch=True, prog_bar=False, logger=True)

    def all_gather(self, data: Any, group: Any | None = None, sync_grads: bool = False) -> Any:
        """Gather a tensor (or a collection of tensors and numbers) from every process.

        Args:
            data: A tensor, a number, or a (nested) collection of them.
            group: The process group to gather from; all processes by default.
            sync_grads: Let gradients flow back through the gathered tensors.

        Returns:
            The same structure, each tensor with a new leading dimension of size ``world_size`` (unchanged when
            running in one process).
        """
        from shim.utilities.apply_func import apply_to_collection

        trainer = self.trainer
        data = apply_to_collection(data, numbers.Number, lambda x: torch.tensor(x, device=self.device))
        data = apply_to_collection(data, Tensor, lambda t: t.to(self.device))
        return apply_to_collection(data, Tensor, trainer.strategy.all_gather, group=group, sync_grads=sync_grads)

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on global rank zero only, through the progress bar when there is one so it stays intact."""
        trainer = self._trainer
        if trainer is not None and not trainer.is_global_zero:
            return
        bar = trainer.progress_bar_callback if trainer is not None else None
        if bar is not None and bar.is_enabled:
            bar.print(*args, **kwargs)
        else:
            print(*args, **kwargs)

    # -- batch transfer ------------------------------------------------------------------------------------
    def _call_batch_hook(self, name: str, *args: Any) -> Any:
        trainer = self._trainer
        if trainer is None:
            return getattr(self, name)(*args)
        from shim.trainer.data import data_hook_owner

        owner = data_hook_owner(trainer, name)
        if owner is self:
            return trainer._hooks.module(name, *args)
        return trainer._hooks.datamodule(name, *args)

    def _on_before_batch_transfer(self, batch: Any, dataloader_idx: int = 0) -> Any:
        return self._call_batch_hook("on_before_batch_transfer", batch, dataloader_idx)

    def _apply_batch_transfer_handler(
        self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0
    ) -> Any:
        device = device or self.device
        batch = self._call_batch_hook("transfer_batch_to_device", batch, device, dataloader_idx)
        return self._call_batch_hook("on_after_batch_transfer", batch, dataloader_idx)
