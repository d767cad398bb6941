"""``self.log`` and ``self.log_dict``: what a LightningModule records for the loggers, the bar and the callbacks.

Each call checks its value and options once per distinct call site (a repeated call with the same arguments goes
straight to the stored item), then hands the value to the running loop's result collection. A module set up by
Lightning Fabric logs through Fabric's loggers instead.
"""

import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from shim.trainer.metrics import LoggedValue, parse_reduce_fx, resolve_log_levels
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["LoggingMixin"]


class LoggingMixin(nn.Module):
    """``log``, ``log_dict`` and the 1.x ``log_grad_norm`` hook of a LightningModule."""

    _trainer: "Trainer | None"
    _fabric: Any
    _current_fx_name: str | None
    _metric_attributes: dict[int, str] | None

    if TYPE_CHECKING:

        @property
        def device(self) -> torch.device: ...

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
        if self._fabric is not None:
            self._log_through_fabric({name: value}, logger)
            return
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
            # the stage may have been set on `trainer.state` directly, which does not tell the metric store
            results = store.results = trainer._results
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
            if logger and trainer.logger is None:
                rank_zero_warn(
                    f"`self.log({name!r}, ..., logger=True)` asks for a logger, but the Trainer has none: the value"
                    " reaches the progress bar and the callbacks only. Pass `Trainer(logger=...)` to record it."
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
        if self._fabric is not None:
            self._log_through_fabric(dictionary, logger)
            return
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

    def _log_through_fabric(self, dictionary: Mapping[str, Any], logger: bool | None) -> None:
        """Send numbers and tensors to Fabric's loggers (``logger=False`` sends nothing: there is nowhere else)."""
        if logger is False:
            return
        for name, value in dictionary.items():
            if isinstance(value, Mapping):
                raise ValueError(
                    f"`self.log_dict({dictionary!r})`: the value of {name!r} is a dict; nested dictionaries cannot be"
                    " logged."
                )
            if not isinstance(value, numbers.Number | Tensor):
                raise ValueError(
                    f"`self.log({name!r}, {value!r})`: values of type {type(value).__name__} cannot be logged through"
                    " Fabric; log a number or a tensor."
                )
        self._fabric.log_dict(metrics=dictionary)

    def log_grad_norm(self, grad_norm_dict: dict[str, float]) -> None:
        """Log the gradient norms of ``Trainer(track_grad_norm=p)`` (a Lightning 1.x hook; override to change)."""
        self.log_dict(grad_norm_dict, on_step=True, on_epoch=True, prog_bar=False, logger=True)
