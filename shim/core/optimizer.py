"""Optimizers as the Trainer sees them: parsing ``configure_optimizers`` and the ``LightningOptimizer`` wrapper."""

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR, ReduceLROnPlateau

from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden
from shim.utilities.rank_zero import rank_zero_warn
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.strategies.strategy import Strategy

__all__ = ["LightningOptimizer", "LRSchedulerConfig"]


def _do_nothing() -> None:
    return None


class LightningOptimizer:
    """Wraps a ``torch.optim.Optimizer`` so that ``step()`` runs through the strategy and precision plugin.

    The wrapper is an instance of the wrapped optimizer's class too and shares its parameter groups and state.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        # share param_groups/state/defaults (same objects) without re-running the optimizer's __init__
        self.__dict__ = {k: v for k, v in optimizer.__dict__.items() if k not in ("step", "__del__")}
        self._optimizer = optimizer
        self._strategy: Strategy | None = None
        self._on_before_step: Callable[[], None] = _do_nothing
        self._on_after_step: Callable[[], None] = _do_nothing
        self.__class__ = type("Lightning" + type(optimizer).__name__, (type(self), type(optimizer)), {})

    @property
    def optimizer(self) -> Optimizer:
        return self._optimizer

    @classmethod
    def _to_lightning_optimizer(
        cls, optimizer: "Optimizer | LightningOptimizer", strategy: "Strategy"
    ) -> "LightningOptimizer":
        wrapped = optimizer if isinstance(optimizer, LightningOptimizer) else cls(optimizer)
        wrapped._strategy = strategy
        return wrapped

    def step(self, closure: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """Run the optimizer step (through precision and strategy), calling ``closure`` first if given."""
        if self._on_before_step is not _do_nothing:  # set under manual optimization, to count the steps
            self._on_before_step()
        if closure is None:
            closure = _do_nothing
        elif not callable(closure):
            raise MisconfigurationException(f"`optimizer.step(closure=...)` needs a callable closure, got {closure!r}")
        assert self._strategy is not None, "the optimizer is not attached to a Trainer"
        output = self._strategy.optimizer_step(self._optimizer, closure, **kwargs)
        if self._on_after_step is not _do_nothing:
            self._on_after_step()
        return output

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return self._optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._optimizer.load_state_dict(state_dict)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self._optimizer.add_param_group(param_group)

    def __repr__(self) -> str:
        return f"Lightning{self._optimizer!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        # the wrapper's class is made at run time for each optimizer class, so pickle cannot find it by name:
        # rebuild it from the wrapped optimizer's class, then restore the attributes
        return (_empty_wrapper, (type(self._optimizer),), self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # not Optimizer.__setstate__, which would patch the wrapper class's step


def _empty_wrapper(optimizer_class: type[Optimizer]) -> LightningOptimizer:
    """An uninitialised ``LightningOptimizer`` of the class ``__init__`` gives a wrapper of ``optimizer_class``."""
    wrapper_class = type("Lightning" + optimizer_class.__name__, (LightningOptimizer, optimizer_class), {})
    return object.__new__(wrapper_class)


@dataclass
class LRSchedulerConfig:
    """A scheduler and when to step it."""

    scheduler: Any
    name: str | None = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: str | None = None
    strict: bool = True


class _NoOptimizer(Optimizer):
    """Stands in when ``configure_optimizers`` returns ``None``: stepping it does nothing."""

    def __init__(self) -> None:
        super().__init__([torch.zeros(1)], {})

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        return closure() if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "No Optimizer"


_OPTIM_FORMS = (
    "an optimizer; a list or tuple of optimizers; a pair (list of optimizers, list of schedulers);"
    ' a dict {"optimizer": ..., "lr_scheduler": ..., "monitor": ...}; or a list of such dicts'
)


def _is_optimizer(obj: Any) -> bool:
    return isinstance(obj, Optimizer) or (callable(getattr(obj, "step", None)) and hasattr(obj, "param_groups"))


def _check_optimizer_dict(conf: dict[str, Any]) -> None:
    extra = set(conf) - {"optimizer", "lr_scheduler", "monitor"}
    if extra:
        rank_zero_warn(f"`configure_optimizers` returned a dict with unsupported keys {extra}", category=RuntimeWarning)
    if "optimizer" not in conf:
        raise MisconfigurationException(
            f"`configure_optimizers` returned a dict without an 'optimizer' key (keys: {sorted(conf)}); expected "
            + _OPTIM_FORMS
        )


def _split_optimizer_conf(conf: Any) -> tuple[list[Any], list[Any], str | None]:
    """Return (optimizers, schedulers as given, monitor) for every documented return form."""
    if _is_optimizer(conf):
        return [conf], [], None
    if (
        isinstance(conf, (list, tuple))
        and len(conf) == 2
        and isinstance(conf[0], list)
        and all(_is_optimizer(o) for o in conf[0])
    ):
        schedulers = conf[1] if isinstance(conf[1], list) else [conf[1]]
        return list(conf[0]), schedulers, None
    if isinstance(conf, dict):
        _check_optimizer_dict(conf)
        return [conf["optimizer"]], [conf["lr_scheduler"]] if "lr_scheduler" in conf else [], conf.get("monitor")
    if isinstance(conf, (list, tuple)) and conf and all(isinstance(d, dict) for d in conf):
        for d in conf:
            _check_optimizer_dict(d)
        schedulers = [
            dict(d["lr_scheduler"]) if isinstance(d["lr_scheduler"], dict) else {"scheduler": d["lr_scheduler"]}
            for d in conf
            if "lr_scheduler" in d
        ]
        return [d["optimizer"] for d in conf], schedulers, None
    if isinstance(conf, (list, tuple)) and all(_is_optimizer(o) for o in conf):
        return list(conf), [], None
    raise MisconfigurationException(
        f"`configure_optimizers` returned an unsupported value {conf!r} of type {type(conf).__name__}; expected "
        + _OPTIM_FORMS
    )


_CONFIG_KEYS = {f.name for f in fields(LRSchedulerConfig)}


def _scheduler_config(scheduler: Any, monitor: str | None, automatic: bool) -> LRSchedulerConfig:
    if not isinstance(scheduler, dict):
        if automatic and isinstance(scheduler, ReduceLROnPlateau):
            if monitor is None:
                raise MisconfigurationException(
                    "`configure_optimizers` returned a `ReduceLROnPlateau` scheduler without a monitor: return"
                    ' {"optimizer": optimizer, "lr_scheduler": scheduler, "monitor": "metric_name"}'
                )
            return LRSchedulerConfig(scheduler, reduce_on_plateau=True, monitor=monitor)
        return LRSchedulerConfig(scheduler)
    if not automatic:
        ignored = [k for k in scheduler if k in ("reduce_on_plateau", "monitor", "strict")]
        if ignored:
            rank_zero_warn(
                f"The lr scheduler dict keys {ignored} are ignored under manual optimization: step the scheduler"
                " yourself in `training_step`.",
                category=RuntimeWarning,
            )
        return LRSchedulerConfig(**{k: v for k, v in scheduler.items() if k in _CONFIG_KEYS - set(ignored)})
    extra = set(scheduler) - _CONFIG_KEYS
    if extra:
        rank_zero_warn(
            f"The lr scheduler dict has unsupported keys {extra}; they are ignored.", category=RuntimeWarning
        )
        scheduler = {k: v for k, v in scheduler.items() if k in _CONFIG_KEYS}
    if "scheduler" not in scheduler:
        raise MisconfigurationException(
            f"The lr scheduler dict needs a 'scheduler' key holding the scheduler (keys: {sorted(scheduler)})"
        )
    interval = scheduler.get("interval", "epoch")
    if interval not in ("step", "epoch"):
        raise MisconfigurationException(
            f"The lr scheduler dict has 'interval': {interval!r}; allowed values are 'step' and 'epoch'"
        )
    scheduler = dict(scheduler)
    scheduler.setdefault("reduce_on_plateau", isinstance(scheduler["scheduler"], ReduceLROnPlateau))
    if scheduler["reduce_on_plateau"] and scheduler.get("monitor") is None:
        raise MisconfigurationException(
            "The lr scheduler dict of a `ReduceLROnPlateau` scheduler needs a 'monitor' key, for example"
            ' {"scheduler": scheduler, "monitor": "val_loss"}'
        )
    if isinstance(scheduler["scheduler"], OneCycleLR) and interval == "epoch":
        rank_zero_warn(
            "A `OneCycleLR` scheduler steps with 'interval': 'epoch'; it is usually meant to step every 'step'.",
            category=RuntimeWarning,
        )
    return LRSchedulerConfig(**scheduler)


def init_optimizers_and_schedulers(model: "LightningModule") -> tuple[list[Optimizer], list[LRSchedulerConfig]]:
    """Call ``configure_optimizers`` (through the hook dispatcher) and validate what it returned."""
    from shim.core.module import LightningModule

    conf = model.trainer._hooks.module("configure_optimizers")
    if conf is None:
        rank_zero_warn("`configure_optimizers` returned `None`: this fit runs without an optimizer")
        conf = _NoOptimizer()
    optimizers, schedulers, monitor = _split_optimizer_conf(conf)
    automatic = model.automatic_optimization
    configs = [_scheduler_config(s, monitor, automatic) for s in schedulers]
    if automatic and is_param_in_hook_signature(model.training_step, "optimizer_idx", explicit=True):
        raise RuntimeError(
            "`training_step` takes `optimizer_idx`: that is how Lightning 1.x ran several optimizers, which 2.x does"
            " only under manual optimization. Remove the argument, set `self.automatic_optimization = False` and"
            " step each optimizer in `training_step` (`opt1, opt2 = self.optimizers()`)."
        )
    if automatic and len(optimizers) > 1:
        raise RuntimeError(
            f"`configure_optimizers` returned {len(optimizers)} optimizers, but several optimizers need manual"
            " optimization: set `self.automatic_optimization = False` and step them in `training_step` through"
            " `opt1, opt2 = self.optimizers()`."
        )
    for config in configs:
        sched = config.scheduler
        if getattr(sched, "optimizer", None) not in optimizers:
            raise MisconfigurationException(
                f"The scheduler {type(sched).__name__} is attached to an optimizer that `configure_optimizers` did not"
                " return."
            )
        if not (callable(getattr(sched, "state_dict", None)) and callable(getattr(sched, "load_state_dict", None))):
            raise TypeError(
                f"The lr scheduler `{type(sched).__name__}` is invalid: it needs `state_dict` and `load_state_dict`."
            )
        is_torch_scheduler = isinstance(sched, (LRScheduler, ReduceLROnPlateau))
        if not is_torch_scheduler and automatic and not is_overridden("lr_scheduler_step", model, LightningModule):
            raise MisconfigurationException(
                f"The lr scheduler `{type(sched).__name__}` does not follow PyTorch's LRScheduler API: override"
                " `LightningModule.lr_scheduler_step` to step it."
            )
    return optimizers, configs
