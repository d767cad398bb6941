"""The one hook dispatcher: callbacks first, then the LightningModule, as Lightning orders them.

At the start of every run it records which callbacks override which hook, so a hook nobody overrides costs a
dict lookup per call. Lightning's one ordering exception is data: monitoring callbacks (checkpointing, early
stopping) run their ``on_train_epoch_end`` after the module's, through ``monitoring=True``.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shim.callbacks.callback import Callback
from shim.utilities.model_helpers import runs_other_code

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

_NO_CALLBACKS: tuple[Callable[..., Any], ...] = ()
_UNKNOWN: Any = object()  # a hook not looked up yet

# LightningModule hooks whose default does nothing: skipped when the module does not override them
_NOOP_MODULE_HOOKS = frozenset(
    {
        "on_fit_start",
        "on_fit_end",
        "on_train_start",
        "on_train_end",
        "on_validation_start",
        "on_validation_end",
        "on_test_start",
        "on_test_end",
        "on_predict_start",
        "on_predict_end",
        "on_train_batch_start",
        "on_train_batch_end",
        "on_validation_batch_start",
        "on_validation_batch_end",
        "on_test_batch_start",
        "on_test_batch_end",
        "on_predict_batch_start",
        "on_predict_batch_end",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_validation_epoch_start",
        "on_validation_epoch_end",
        "on_test_epoch_start",
        "on_test_epoch_end",
        "on_predict_epoch_start",
        "on_predict_epoch_end",
        "on_before_zero_grad",
        "on_before_backward",
        "on_after_backward",
        "on_before_optimizer_step",
        "configure_sharded_model",
        "configure_model",
        "prepare_data",
        "setup",
        "teardown",
        "on_load_checkpoint",
        "on_save_checkpoint",
    }
)

# `nn.Module.__setattr__` checks for parameters and submodules; a plain attribute needs none of that
_set = object.__setattr__


def is_monitoring_callback(callback: Callback) -> bool:
    """Checkpointing and early-stopping callbacks read the metrics of the epoch, so they run after the module."""
    from shim.callbacks.checkpoint import Checkpoint

    return isinstance(callback, Checkpoint) or getattr(callback, "_is_monitoring_callback", False)


class HookCaller:
    """Calls hooks on the Trainer's callbacks, LightningModule and datamodule, with ``_current_fx_name`` set."""

    # whether every call is recorded on the Trainer's profiler (`ProfiledHookCaller`): the loops then leave
    # their direct paths, which skip hooks nobody overrides
    profiled = False

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self._callback_fns: dict[tuple[str, bool | None], tuple[Callable[..., Any], ...]] = {}
        self._module_fns: dict[str, Callable[..., Any] | None] = {}
        # the module the recorded hooks belong to
        self._module: Any = None
        # hooks neither a callback nor the module overrides, learned on their first `call`, which then returns at
        # once; per-batch call sites test it themselves, to skip the call too. Cleared, never replaced, on `reset`
        self.silent: set[str] = set()

    def reset(self) -> None:
        """Forget what was recorded about overrides; called when a run starts or the callbacks change."""
        self._callback_fns = {}
        self._module_fns = {}
        self._module = None
        self.silent.clear()

    def _module_fn(self, name: str) -> Callable[..., Any] | None:
        fn = self._module_fns.get(name, _UNKNOWN)
        return self._record_module_fn(name) if fn is _UNKNOWN else fn

    def _record_module_fn(self, name: str) -> Callable[..., Any] | None:
        """Look up the module's hook ``name`` (None when the module does not override a no-op hook) and keep it."""
        from shim.core.module import LightningModule

        module = self.trainer.lightning_module
        if module is not self._module:  # recorded for another module (or none yet): start again
            self._module_fns = {}
            self._module = module
        fn = getattr(module, name, None)
        if not callable(fn) or (name in _NOOP_MODULE_HOOKS and not runs_other_code(name, module, LightningModule)):
            fn = None
        self._module_fns[name] = fn
        return fn

    def _callbacks_for(self, name: str, monitoring: bool | None) -> tuple[Callable[..., Any], ...]:
        key = (name, monitoring)
        fns = self._callback_fns.get(key)
        if fns is None:
            selected = self.trainer.callbacks
            if monitoring is not None:
                selected = [cb for cb in selected if is_monitoring_callback(cb) == monitoring]
            fns = tuple(getattr(cb, name) for cb in selected if runs_other_code(name, cb, Callback)) or _NO_CALLBACKS
            self._callback_fns[key] = fns
        return fns

    def callbacks(self, name: str, *args: Any, monitoring: bool | None = None, **kwargs: Any) -> None:
        """Run ``name`` on every callback that overrides it (``monitoring`` selects one group or the other)."""
        fns = self._callbacks_for(name, monitoring)
        if fns:
            self._run_callbacks(name, fns, args, kwargs)

    def _run_callbacks(
        self, name: str, fns: tuple[Callable[..., Any], ...], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        trainer = self.trainer
        module = trainer.strategy._lightning_module  # `trainer.lightning_module` without its two property calls
        assert module is not None
        previous = module._current_fx_name
        _set(module, "_current_fx_name", name)
        try:
            for fn in fns:
                fn(trainer, module, *args, **kwargs)
        finally:
            _set(module, "_current_fx_name", previous)

    def module(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the LightningModule's hook ``name`` and return what it returns."""
        fn = self._module_fns.get(name, _UNKNOWN)  # `_module_fn` written out: this runs several times per step
        if fn is _UNKNOWN:
            fn = self._record_module_fn(name)
        if fn is None:
            return None
        module = self._module
        previous = module._current_fx_name
        _set(module, "_current_fx_name", name)
        try:
            return fn(*args, **kwargs)
        finally:
            _set(module, "_current_fx_name", previous)

    def datamodule(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the datamodule's hook ``name`` when there is a datamodule."""
        datamodule = self.trainer.datamodule
        if datamodule is None:
            return None
        fn = getattr(datamodule, name, None)
        return fn(*args, **kwargs) if callable(fn) else None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the callbacks' hook ``name``, then the module's, and return the module's result."""
        if name in self.silent:
            return None  # nobody listens: the common case for most per-batch hooks
        fns = self._callbacks_for(name, None)
        module_fn = self._module_fns.get(name, _UNKNOWN)  # `_module_fn` written out, as in `module`
        if module_fn is _UNKNOWN:
            module_fn = self._record_module_fn(name)
        if fns:
            self._run_callbacks(name, fns, args, kwargs)
        elif module_fn is None:
            self.silent.add(name)
        if module_fn is None:
            return None
        return self.module(name, *args, **kwargs)

    def reads_outputs(self, name: str) -> bool:
        """Whether a listener of the batch-end hook ``name`` may read its ``outputs``: the module's hook, or a
        callback's that is not marked as ignoring them (see ``_ignores_outputs``)."""
        if self.overridden(name):
            return True
        # `is True`: a mock in a hook's place answers any attribute, and must count as reading them
        return any(getattr(fn, "_ignores_outputs", False) is not True for fn in self._callbacks_for(name, None))

    def overridden(self, name: str) -> bool:
        """Whether the module overrides hook ``name`` (hooks with a default behaviour always count)."""
        return self._module_fn(name) is not None
