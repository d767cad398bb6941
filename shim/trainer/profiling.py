"""The profiled call path: what the Trainer runs instead of the plain one when it holds a real profiler.

``Trainer(profiler=...)`` picks ``ProfiledHookCaller`` over ``HookCaller`` once, at construction, and
``instrument_strategy`` wraps the strategy's step methods when a run starts; without a profiler none of this is on
the path, so a step costs what it costs without profiling. The action names are Lightning's, so reports and
traces read the same: ``[Callback]<state_key>.<hook>``, ``[LightningModule]<class>.<hook>``,
``[LightningDataModule]<class>.<hook>``, ``[Strategy]<class>.<method>``, plus the loops' own actions
(``run_training_epoch``, ``run_training_batch``, ``[_TrainingEpochLoop].train_dataloader_next``, ...).
"""

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from shim.profilers import PassThroughProfiler, Profiler
from shim.trainer.hooks import HookCaller
from shim.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["ProfiledHookCaller", "instrument_loops", "instrument_strategy", "resolve_profiler", "timed"]

# hooks Lightning calls on the strategy too, after the callbacks' and the module's
_STRATEGY_HOOKS = frozenset(
    {
        "on_train_start",
        "on_train_end",
        "on_validation_start",
        "on_validation_end",
        "on_test_start",
        "on_test_end",
        "on_predict_start",
        "on_predict_end",
        "on_train_batch_start",
    }
)
# module hooks Lightning calls only when the module overrides them: a profile lists them only then
_ONLY_WHEN_OVERRIDDEN = frozenset({"prepare_data", "configure_model", "configure_sharded_model"})
# the strategy methods a profile times, each as one action
# (automatic optimization records `backward` itself: `manual_backward` calls it unrecorded, as in Lightning)
_STRATEGY_METHODS = ("training_step", "validation_step", "test_step", "predict_step", "batch_to_device")
_PROFILER_NAMES = ("simple", "advanced", "pytorch")


def resolve_profiler(profiler: Profiler | str | None) -> Profiler:
    """The profiler ``Trainer(profiler=...)`` holds: a given one, one of the named kinds, or the pass-through one.

    Raises:
        MisconfigurationException: If ``profiler`` is a name other than ``simple``, ``advanced`` or ``pytorch``,
            or neither a name nor a ``Profiler``.
    """
    if profiler is None:
        return PassThroughProfiler()
    if isinstance(profiler, Profiler):
        return profiler
    if isinstance(profiler, str):
        name = profiler.lower()
        if name == "simple":
            from shim.profilers.simple import SimpleProfiler

            return SimpleProfiler()
        if name == "advanced":
            from shim.profilers.advanced import AdvancedProfiler

            return AdvancedProfiler()
        if name == "pytorch":
            from shim.profilers.pytorch import PyTorchProfiler

            return PyTorchProfiler()
        raise MisconfigurationException(
            f"Trainer(profiler={profiler!r}): a profiler given by name is one of {list(_PROFILER_NAMES)}."
        )
    raise MisconfigurationException(
        f"Trainer(profiler=...) takes a Profiler, one of the names {list(_PROFILER_NAMES)} or None; got"
        f" {type(profiler).__name__}."
    )


def timed(profiler: Profiler, action: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` recorded as ``action`` on every call."""

    @wraps(fn)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        with profiler.profile(action):
            return fn(*args, **kwargs)

    recorded._profiler = profiler  # type: ignore[attr-defined]  # which profiler a wrapper records on
    return recorded


class ProfiledHookCaller(HookCaller):
    """The hook dispatcher with every hook call recorded on ``trainer.profiler``.

    Unlike the plain dispatcher it skips nothing: as in Lightning, each callback's hook and each module hook runs
    (the default ones too) and is recorded, and the strategy's hooks run after the module's.
    """

    profiled = True

    def _callbacks_for(self, name: str, monitoring: bool | None) -> tuple[Callable[..., Any], ...]:
        key = (name, monitoring)
        fns = self._callback_fns.get(key)
        if fns is None:
            from shim.trainer.hooks import is_monitoring_callback

            profiler = self.trainer.profiler
            selected = self.trainer.callbacks
            if monitoring is not None:
                selected = [cb for cb in selected if is_monitoring_callback(cb) == monitoring]
            fns = tuple(
                timed(profiler, f"[Callback]{cb.state_key}.{name}", fn)
                for cb in selected
                if callable(fn := getattr(cb, name, None))
            )
            self._callback_fns[key] = fns
        return fns

    def _record_module_fn(self, name: str) -> Callable[..., Any] | None:
        from shim.utilities.model_helpers import is_overridden

        module = self.trainer.lightning_module
        if module is not self._module:
            self._module_fns = {}
            self._module = module
        fn = getattr(module, name, None)
        if not callable(fn) or (name in _ONLY_WHEN_OVERRIDDEN and not is_overridden(name, module)):
            wrapped = None
        else:
            wrapped = timed(self.trainer.profiler, f"[LightningModule]{type(module).__name__}.{name}", fn)
        self._module_fns[name] = wrapped
        return wrapped

    def datamodule(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from shim.core.datamodule import LightningDataModule
        from shim.utilities.model_helpers import is_overridden

        datamodule = self.trainer.datamodule
        if datamodule is None:
            return None
        fn = getattr(datamodule, name, None)
        if not callable(fn):
            return None
        if name in _ONLY_WHEN_OVERRIDDEN and not is_overridden(name, datamodule, LightningDataModule):
            return fn(*args, **kwargs)  # run as the plain dispatcher does, unrecorded as in Lightning
        with self.trainer.profiler.profile(f"[LightningDataModule]{type(datamodule).__name__}.{name}"):
            return fn(*args, **kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = super().call(name, *args, **kwargs)
        if name in _STRATEGY_HOOKS:
            strategy = self.trainer.strategy
            fn = getattr(strategy, name, None)
            if callable(fn):
                with self.trainer.profiler.profile(f"[Strategy]{type(strategy).__name__}.{name}"):
                    fn(*args, **kwargs)
        return result


def instrument_strategy(trainer: "Trainer") -> None:
    """Record the strategy's step and batch-transfer methods as actions (once per profiler).

    The wrappers replace the methods on the instance, which also turns off the loops' direct paths (they only
    take those when the strategy runs shim's own methods), so every step goes through the recorded methods.
    """
    strategy = trainer.strategy
    if getattr(vars(strategy).get(_STRATEGY_METHODS[0]), "_profiler", None) is trainer.profiler:
        return  # wrapped for this profiler at an earlier run
    for name in _STRATEGY_METHODS:
        own = getattr(type(strategy), name).__get__(strategy)  # the class's method, not a wrapper left before
        setattr(strategy, name, timed(trainer.profiler, f"[Strategy]{type(strategy).__name__}.{name}", own))


def instrument_loops(trainer: "Trainer") -> None:
    """Record each training batch's optimization (between the batch-start and batch-end hooks) as
    ``run_training_batch``, for automatic and manual optimization alike (once per profiler)."""
    epoch_loop = trainer.fit_loop.epoch_loop
    for loop in (epoch_loop.automatic_optimization, epoch_loop.manual_optimization):
        if getattr(vars(loop).get("run_batch"), "_profiler", None) is trainer.profiler:
            continue
        own = type(loop).run_batch.__get__(loop)
        loop.run_batch = timed(trainer.profiler, "run_training_batch", own)  # type: ignore[method-assign]
    # under manual optimization each `optimizer.step()` in `training_step` is recorded as `optimizer_step`
    manual = epoch_loop.manual_optimization
    profiler = trainer.profiler
    before, after = type(manual)._on_before_step.__get__(manual), type(manual)._on_after_step.__get__(manual)

    def on_before_step() -> None:
        before()
        profiler.start("optimizer_step")

    def on_after_step() -> None:
        profiler.stop("optimizer_step")
        after()

    manual._on_before_step = on_before_step  # type: ignore[method-assign]
    manual._on_after_step = on_after_step  # type: ignore[method-assign]
