"""``LearningRateMonitor``: log each optimizer's learning rate (and optionally momentum and weight decay)."""

from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.optim import Optimizer
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.core.optimizer import LRSchedulerConfig
    from shim.trainer.trainer import Trainer

__all__ = ["LearningRateMonitor"]


class LearningRateMonitor(Callback):
    """Log the learning rate of every optimizer parameter group to the Trainer's loggers while training.

    Metric names are ``lr-<OptimizerClass>`` (``lr-SGD``), or the ``name`` of the scheduler config when it has one.
    A second optimizer of a class already seen gets ``-1`` appended (``lr-Adam-1``), a third ``-2``, and so on.
    With several parameter groups each gets ``/pg1``, ``/pg2``, ... (or ``/<name>`` when the group dict has a
    ``"name"``). Momentum and weight decay are logged under the same name plus ``-momentum``/``-weight_decay``.

    Args:
        logging_interval: ``"step"`` or ``"epoch"`` to log every learning rate at that interval; None to log each
            scheduler's at its own ``interval`` (optimizers without a scheduler are logged at both).
        log_momentum: Also log the momentum (``betas[0]`` for Adam-like optimizers, 0 when there is none).
        log_weight_decay: Also log the weight decay.

    Attributes:
        lrs: Every learning rate logged so far, per metric name.

    Raises:
        MisconfigurationException: If ``logging_interval`` is not None, ``"step"`` or ``"epoch"``; when training
            starts, if the Trainer has no logger or an optimizer has two parameter groups of the same name.
    """

    def __init__(
        self,
        logging_interval: Literal["step", "epoch"] | None = None,
        log_momentum: bool = False,
        log_weight_decay: bool = False,
    ) -> None:
        if logging_interval not in (None, "step", "epoch"):
            raise MisconfigurationException(
                f"LearningRateMonitor(logging_interval={logging_interval!r}) is not valid: use 'step', 'epoch' or None."
            )
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, float | None] = {}
        self.last_weight_decay_values: dict[str, float | None] = {}

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.loggers:
            raise MisconfigurationException(
                "LearningRateMonitor logs through the Trainer's loggers, but this Trainer has none: pass a logger to"
                " `Trainer(logger=...)` or remove the callback."
            )
        if self.log_momentum and not any(self._all_have_default(trainer, key) for key in ("momentum", "betas")):
            rank_zero_warn(
                "LearningRateMonitor(log_momentum=True): some optimizers have neither `momentum` nor `betas`;"
                " their momentum is logged as 0.",
                category=RuntimeWarning,
            )
        scheduler_names, optimizer_names, _ = self._names(trainer)
        names = [name for group in scheduler_names + optimizer_names for name in group]
        self.lrs = {name: [] for name in names}
        self.last_momentum_values = {f"{name}-momentum": None for name in names}
        self.last_weight_decay_values = {f"{name}-weight_decay": None for name in names}

    @override
    def on_train_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int
    ) -> None:
        if not trainer._metrics.should_update_logs() or self.logging_interval == "epoch":
            return
        self._log(trainer, "step" if self.logging_interval is None else "any")

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self.logging_interval == "step":
            return
        self._log(trainer, "epoch" if self.logging_interval is None else "any")

    def _log(self, trainer: "Trainer", interval: str) -> None:
        stats = self._collect_stats(trainer, interval)
        if not stats:
            return
        trainer.callback_metrics.update({k: torch.tensor(v, device=trainer.root_device) for k, v in stats.items()})
        step = trainer.fit_loop.epoch_loop.batches_that_stepped
        for logger in trainer.loggers:
            logger.log_metrics(stats, step=step)

    def _collect_stats(self, trainer: "Trainer", interval: str) -> dict[str, float]:
        """The values to log now: schedulers due at ``interval`` ("any": all of them) and optimizers without one."""
        stats: dict[str, float] = {}
        scheduler_names, optimizer_names, optimizers = self._names(trainer)
        self._track_names(scheduler_names)
        for names, config in zip(scheduler_names, trainer.lr_scheduler_configs, strict=True):
            if interval in (config.interval, "any"):
                stats.update(self._optimizer_stats(config.scheduler.optimizer, names))
        self._track_names(optimizer_names)
        for names, optimizer in zip(optimizer_names, optimizers, strict=True):
            stats.update(self._optimizer_stats(optimizer, names))
        return stats

    def _optimizer_stats(self, optimizer: Optimizer, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        has_betas = "betas" in optimizer.defaults
        for group, name in zip(optimizer.param_groups, names, strict=True):
            stats[name] = group["lr"]
            self.lrs[name].append(group["lr"])
            if self.log_momentum:
                momentum = group["betas"][0] if has_betas else group.get("momentum", 0)
                stats[f"{name}-momentum"] = self.last_momentum_values[f"{name}-momentum"] = momentum
            if self.log_weight_decay:
                decay = group["weight_decay"]
                stats[f"{name}-weight_decay"] = self.last_weight_decay_values[f"{name}-weight_decay"] = decay
        return stats

    def _track_names(self, groups: list[list[str]]) -> None:
        """Give every name a history; an optimizer that gained parameter groups moves ``name`` to ``name/pg1``."""
        for name in (name for group in groups for name in group):
            single = name.replace("/pg1", "")
            if "/pg1" in name and single in self.lrs:
                self.lrs[name] = self.lrs.pop(single)
            elif name not in self.lrs:
                self.lrs[name] = []

    # -- naming ----------------------------------------------------------------------------------------
    @staticmethod
    def _all_have_default(trainer: "Trainer", key: str) -> bool:
        if trainer.lr_scheduler_configs:
            return all(key in config.scheduler.optimizer.defaults for config in trainer.lr_scheduler_configs)
        return all(key in optimizer.defaults for optimizer in trainer.optimizers)

    @staticmethod
    def _names(trainer: "Trainer") -> tuple[list[list[str]], list[list[str]], list[Optimizer]]:
        """Names per scheduler, then per optimizer that no scheduler drives (and those optimizers)."""
        naming = _Naming()
        configs: list[LRSchedulerConfig] = trainer.lr_scheduler_configs
        scheduler_names = [naming.names(config.scheduler.optimizer, config.name) for config in configs]
        optimizer_names: list[list[str]] = []
        optimizers: list[Optimizer] = []
        for optimizer in trainer.optimizers:
            # wrappers (DeepSpeed, LightningOptimizer) keep the torch optimizer in `.optimizer`
            optimizer = getattr(optimizer, "optimizer", optimizer)
            if any(optimizer is seen for seen in naming.seen):
                continue
            optimizer_names.append(naming.names(optimizer, None))
            optimizers.append(optimizer)
        return scheduler_names, optimizer_names, optimizers


class _Naming:
    """Hands out the metric names of optimizers in order, counting how many of each class came before."""

    def __init__(self) -> None:
        self.seen: list[Optimizer] = []
        self.class_counts: Counter[type] = Counter()

    def names(self, optimizer: Optimizer, custom_name: str | None) -> list[str]:
        """One name per parameter group of ``optimizer``; ``custom_name`` is a scheduler config's ``name``."""
        self.seen.append(optimizer)
        cls = type(optimizer)
        # an explicitly named scheduler does not count towards its class's numbering
        if custom_name is None:
            self.class_counts[cls] += 1
        base = custom_name if custom_name is not None else f"lr-{cls.__name__}"
        groups = optimizer.param_groups
        group_names = [group.get("name", f"pg{i}") for i, group in enumerate(groups, start=1)]
        duplicated = {name for name in group_names if group_names.count(name) > 1}
        if duplicated:
            raise MisconfigurationException(
                f"Parameter groups of one optimizer need distinct `name`s for LearningRateMonitor; {base} has"
                f" several groups named {sorted(duplicated)}."
            )
        if self.class_counts[cls] > 1:
            base = f"{base}-{self.class_counts[cls] - 1}"
        if len(groups) > 1:
            return [f"{base}/{name}" for name in group_names]
        only = groups[0].get("name")
        return [f"{base}/{only}" if only else base]
