"""What ``self.log`` stores, and how it becomes the trainer's callback, logged and progress-bar metrics.

A ``ResultCollection`` per loop keeps one ``LoggedValue`` per (hook, name): the latest step value and, when
``on_epoch``, a running reduction kept on the value's device. ``shim.trainer.metric_store.MetricStore`` turns them
into the three dicts the trainer exposes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from shim.utilities.data import extract_batch_size
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache

if TYPE_CHECKING:
    pass

# hook name -> (allowed on_step, allowed on_epoch, default on_step, default on_epoch); None: logging not allowed
_STEP = ((False, True), (False, True), True, False)
_EPOCH_LEVEL = ((False,), (True,), False, True)
_EVAL_STEP = ((False, True), (False, True), False, True)
LOG_OPTIONS: dict[str, tuple[tuple[bool, ...], tuple[bool, ...], bool, bool]] = {
    **dict.fromkeys(
        [
            "training_step",
            "training_step_end",
            "on_train_batch_start",
            "on_train_batch_end",
            "on_before_backward",
            "backward",
            "on_after_backward",
            "on_before_optimizer_step",
            "optimizer_step",
            "configure_gradient_clipping",
            "clip_gradients",
            "on_before_zero_grad",
            "optimizer_zero_grad",
        ],
        _STEP,
    ),
    **dict.fromkeys(
        [
            "on_train_start",
            "on_validation_start",
            "on_test_start",
            "on_train_epoch_start",
            "on_train_epoch_end",
            "on_validation_epoch_start",
            "on_validation_epoch_end",
            "on_test_epoch_start",
            "on_test_epoch_end",
            "training_epoch_end",
            "validation_epoch_end",
            "test_epoch_end",
        ],
        _EPOCH_LEVEL,
    ),
    **dict.fromkeys(
        [
            "validation_step",
            "test_step",
            "validation_step_end",
            "test_step_end",
            "on_validation_batch_start",
            "on_validation_batch_end",
            "on_test_batch_start",
            "on_test_batch_end",
        ],
        _EVAL_STEP,
    ),
}

_REDUCTIONS: dict[Any, str] = {
    "mean": "mean",
    "avg": "mean",
    "sum": "sum",
    "max": "max",
    "min": "min",
    torch.mean: "mean",
    torch.sum: "sum",
    sum: "sum",
    torch.max: "max",
    max: "max",
    torch.min: "min",
    min: "min",
}

DATALOADER_SUFFIX = "/dataloader_idx_{}"

# logged tensors of these dtypes are kept as they are; others are cast to the default dtype
_KEPT_DTYPES = (torch.float32, torch.float64)
# as in Lightning, each integer-logging warning is given once per process
_int_values_warned = WarningCache()


def resolve_log_levels(fx: str, on_step: bool | None, on_epoch: bool | None) -> tuple[bool, bool]:
    """Apply the per-hook defaults for ``on_step``/``on_epoch`` and reject combinations the hook does not allow."""
    if fx not in LOG_OPTIONS:
        raise MisconfigurationException(f"`self.log` cannot be called from `{fx}`: nothing logs metrics there.")
    allowed_step, allowed_epoch, default_step, default_epoch = LOG_OPTIONS[fx]
    on_step = default_step if on_step is None else on_step
    on_epoch = default_epoch if on_epoch is None else on_epoch
    if on_step not in allowed_step:
        raise MisconfigurationException(
            f"You can't `self.log({fx}, on_step={on_step})`: in `{fx}` `on_step` must be one of {list(allowed_step)}."
        )
    if on_epoch not in allowed_epoch:
        raise MisconfigurationException(
            f"You can't `self.log(on_epoch={on_epoch})` in `{fx}`: `on_epoch` must be one of {list(allowed_epoch)}."
        )
    return on_step, on_epoch


def parse_reduce_fx(reduce_fx: str | Callable) -> str:
    """Map ``reduce_fx`` to one of "mean", "sum", "max", "min"."""
    key = reduce_fx.lower() if isinstance(reduce_fx, str) else reduce_fx
    try:
        return _REDUCTIONS[key]
    except (KeyError, TypeError):
        raise MisconfigurationException(
            f"`self.log(..., reduce_fx={reduce_fx!r})` is not supported: use one of 'mean', 'sum', 'max', 'min'"
            " (or the torch functions of the same names); for another reduction, log a metric object with"
            " `update()`/`compute()` instead."
        ) from None


@dataclass(eq=True)
class LogMeta:
    """How one logged name is to be reduced and where it goes."""

    fx: str
    name: str
    prog_bar: bool
    logger: bool
    on_step: bool
    on_epoch: bool
    reduce_fx: str
    enable_graph: bool
    add_dataloader_idx: bool
    dataloader_idx: int | None
    metric_attribute: str | None
    sync_dist: bool

    @property
    def forked(self) -> bool:
        return self.on_step and self.on_epoch

    def names(self, on_step: bool) -> tuple[str, str]:
        """The plain name and the name with ``_step``/``_epoch`` (when forked) and the dataloader suffix."""
        name = self.name
        forked = f"{name}_{'step' if on_step else 'epoch'}" if self.forked else name
        if self.add_dataloader_idx and self.dataloader_idx is not None:
            suffix = DATALOADER_SUFFIX.format(self.dataloader_idx)
            return name + suffix, forked + suffix
        return name, forked


class LoggedValue:
    """One logged name: its last step value and its epoch-level reduction."""

    __slots__ = (
        "meta",
        "options",
        "is_tensor",
        "value",
        "cumulated_batch_size",
        "step_value",
        "computed",
        "has_reset",
        "sync",
    )

    def __init__(
        self, meta: LogMeta, is_tensor: bool, sync: Callable[[Tensor, str], Tensor] | None, options: tuple[Any, ...]
    ) -> None:
        self.meta = meta
        self.options = options
        self.is_tensor = is_tensor
        self.sync = sync
        self.value: Any = None
        self.cumulated_batch_size: Any = 0
        self.step_value: Tensor | None = None
        self.computed: Tensor | None = None
        self.has_reset = False

    def _initial(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        fill = {"max": float("-inf"), "min": float("inf")}.get(self.meta.reduce_fx, 0.0)
        return torch.tensor(fill, dtype=dtype, device=device)

    def update(self, value: Any, batch_size: int | None, results: "ResultCollection") -> None:
        """Record a step's ``value``. ``batch_size`` weighs the epoch mean; when not given it is the size of
        ``results``' current batch, found only here: the weighted mean is the one reduction that reads it."""
        self.computed = None
        self.has_reset = False
        if not self.is_tensor:  # a metric object with update()/compute()
            self.value = value
            self.step_value = getattr(value, "_forward_cache", None)
            return
        if value.dtype not in _KEPT_DTYPES:
            if not value.is_floating_point():
                _int_values_warned.warn(
                    f"`self.log({self.meta.name!r}, ...)` in `{self.meta.fx}` got a tensor of {value.dtype}; it is"
                    f" reduced as {torch.get_default_dtype()}. Log a float tensor to silence this, or, for a value that"
                    " needs no reduction (a step or epoch count), call `self.logger.log_metrics` yourself."
                )
            value = value.to(torch.get_default_dtype())
        meta = self.meta
        if meta.on_step:
            self.step_value = value if self.sync is None or not meta.sync_dist else self._sync(value)
            if not meta.on_epoch:
                return
        if self.value is None:
            self.value = self._initial(value.device, value.dtype)
            self.cumulated_batch_size = 0
        reduce_fx = self.meta.reduce_fx
        if reduce_fx == "mean":
            if batch_size is None:
                batch_size = results.batch_size_of_batch()
            self.value = self.value + value * batch_size
            self.cumulated_batch_size += batch_size
        elif reduce_fx == "sum":
            self.value = self.value + value
        elif reduce_fx == "max":
            self.value = torch.maximum(self.value, value)
        else:
            self.value = torch.minimum(self.value, value)

    def _sync(self, value: Tensor) -> Tensor:
        if self.sync is None or not self.meta.sync_dist:
            return value
        return self.sync(value.clone(), self.meta.reduce_fx)

    def compute(self) -> Tensor | None:
        if self.computed is not None:
            return self.computed
        if not self.is_tensor:
            self.computed = self.value.compute()
        elif self.value is None:
            return None
        elif self.meta.reduce_fx == "mean":
            total = self._sync(self.value)
            count = self.cumulated_batch_size
            if self.sync is not None and self.meta.sync_dist:
                # Lightning reduces the count with the same "mean" as the total; the ratio is the global weighted mean
                count = self.sync(torch.tensor(float(count), device=total.device), self.meta.reduce_fx)
            self.computed = total / count
        else:
            self.computed = self._sync(self.value)
        return self.computed

    def reset(self) -> None:
        if self.is_tensor:
            self.value = None
            self.cumulated_batch_size = 0
            self.step_value = None
        elif hasattr(self.value, "reset"):
            self.value.reset()
        self.computed = None
        self.has_reset = True

    def cached(self, on_step: bool) -> Tensor | None:
        if on_step:
            value = self.step_value if self.meta.on_step else None
        else:
            value = self.compute() if self.meta.on_epoch else None
        if value is None:
            return None
        if not isinstance(value, Tensor):
            raise ValueError(
                f"The `.compute()` of the metric logged as {self.meta.name!r} must return a tensor, got {value!r}"
            )
        return value if self.meta.enable_graph else value.detach()


class ResultCollection(dict[str, LoggedValue]):
    """The values logged during one loop (training, or evaluation), keyed by ``"{hook}.{name}"``."""

    def __init__(self, training: bool) -> None:
        super().__init__()
        self.training = training
        self.batch: Any = None
        self.batch_size: int | None = None
        self.dataloader_idx: int | None = None
        # the arguments of a `self.log` call seen before (and the dataloader index) -> the value they log to; a
        # repeated call with the same arguments needs none of the checks again
        self.by_call: dict[tuple[Any, ...], LoggedValue] = {}

    def log(
        self,
        fx: str,
        name: str,
        value: Any,
        *,
        prog_bar: bool,
        logger: bool,
        on_step: bool,
        on_epoch: bool,
        reduce_fx: str,
        enable_graph: bool,
        add_dataloader_idx: bool,
        batch_size: int | None,
        metric_attribute: str | None,
        sync_dist: bool,
        sync: Callable[[Tensor, str], Tensor] | None,
        call_key: tuple[Any, ...] | None = None,
    ) -> None:
        if not on_step and not on_epoch:
            raise MisconfigurationException(f"`self.log({name!r}, on_step=False, on_epoch=False)` logs nothing.")
        is_tensor = isinstance(value, Tensor)
        if is_tensor and not enable_graph:
            value = value.detach()
        key = f"{fx}.{name}"
        if add_dataloader_idx and self.dataloader_idx is not None:
            key += f".{self.dataloader_idx}"
            fx += f".{self.dataloader_idx}"
        # comparing a tuple per call is much cheaper than building and comparing the metadata object
        options = (prog_bar, logger, on_step, on_epoch, reduce_fx, enable_graph, add_dataloader_idx, metric_attribute)
        item = self.get(key)
        if item is None:
            meta = LogMeta(
                fx, name, prog_bar, logger, on_step, on_epoch, reduce_fx, enable_graph, add_dataloader_idx,
                self.dataloader_idx, metric_attribute, sync_dist,
            )  # fmt: skip
            item = self[key] = LoggedValue(meta, is_tensor, sync, options)
        elif item.options != options:
            raise MisconfigurationException(
                f"You called `self.log({name!r}, ...)` twice in `{fx}` with different arguments; keep them the same."
            )
        if call_key is not None and is_tensor and item.is_tensor:
            self.by_call[call_key] = item
        item.update(value, batch_size, self)

    def batch_size_of_batch(self) -> int:
        """The current batch's size (found once per batch), or 1 outside the batches."""
        if self.batch_size is None:
            if self.batch is None:
                return 1
            self.batch_size = extract_batch_size(self.batch)
        return self.batch_size

    def valid_items(self) -> list[LoggedValue]:
        return [v for v in self.values() if not v.has_reset and v.meta.dataloader_idx == self.dataloader_idx]

    def metrics(self, on_step: bool) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
        """The (callback, log, progress-bar) metrics for the step view or the epoch view."""
        callback: dict[str, Tensor] = {}
        log: dict[str, Tensor] = {}
        pbar: dict[str, Any] = {}
        for item in self.valid_items():
            value = item.cached(on_step)
            if value is None:
                continue
            name, forked = item.meta.names(on_step)
            if item.meta.logger:
                log[forked] = value
            if self.training or (item.meta.on_epoch and not on_step):
                callback[name] = value
                callback[forked] = value
            if item.meta.prog_bar:
                pbar[forked] = value
        return callback, log, pbar

    def reset(self, metrics: bool | None = None, fx: str | None = None) -> None:
        """Reset the tensors (``metrics=False``), the metric objects (``True``) or both (``None``), of ``fx`` or all."""
        for item in self.values():
            if (metrics is None or metrics != item.is_tensor) and (fx is None or fx == item.meta.fx):
                item.reset()

    def cpu(self) -> None:
        for item in self.values():
            if item.is_tensor:
                if isinstance(item.value, Tensor):
                    item.value = item.value.cpu()
                if item.step_value is not None:
                    item.step_value = item.step_value.cpu()
                if item.computed is not None:
                    item.computed = item.computed.cpu()
