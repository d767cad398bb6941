"""A module and a callback that record every hook call, for shim and for real Lightning alike.

``recording_classes(pkg)`` builds them on top of ``pkg`` (``shim`` or ``pytorch_lightning``), so the same test
can run the same script under both and compare the sequences.
"""

from types import ModuleType
from typing import Any

import torch

MODULE_HOOKS = """
configure_model prepare_data setup teardown configure_callbacks configure_optimizers
configure_gradient_clipping backward optimizer_step optimizer_zero_grad lr_scheduler_step
on_before_batch_transfer transfer_batch_to_device on_after_batch_transfer
on_validation_model_eval on_validation_model_train on_validation_model_zero_grad
on_test_model_eval on_test_model_train on_predict_model_eval
training_step validation_step test_step predict_step
train_dataloader val_dataloader test_dataloader predict_dataloader
on_fit_start on_fit_end on_train_start on_train_end on_train_epoch_start on_train_epoch_end
on_train_batch_start on_train_batch_end on_validation_start on_validation_end
on_validation_epoch_start on_validation_epoch_end on_validation_batch_start on_validation_batch_end
on_test_start on_test_end on_test_epoch_start on_test_epoch_end on_test_batch_start on_test_batch_end
on_predict_start on_predict_end on_predict_epoch_start on_predict_epoch_end on_predict_batch_start
on_predict_batch_end on_before_backward on_after_backward on_before_optimizer_step on_before_zero_grad
""".split()  # noqa: SIM905  # noqa: SIM905

CALLBACK_HOOKS = """
setup teardown on_fit_start on_fit_end on_sanity_check_start on_sanity_check_end
on_train_batch_start on_train_batch_end on_train_epoch_start on_train_epoch_end
on_validation_epoch_start on_validation_epoch_end on_test_epoch_start on_test_epoch_end
on_predict_epoch_start on_predict_epoch_end on_validation_batch_start on_validation_batch_end
on_test_batch_start on_test_batch_end on_predict_batch_start on_predict_batch_end
on_train_start on_train_end on_validation_start on_validation_end on_test_start on_test_end
on_predict_start on_predict_end on_exception on_before_backward on_after_backward
on_before_optimizer_step on_before_zero_grad
""".split()  # noqa: SIM905


def describe(value: Any) -> str:
    """A short, implementation-independent description of a hook argument."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(str(value) if isinstance(value, str) else value)
    if isinstance(value, torch.Tensor):
        return "T"
    if isinstance(value, torch.device):
        return f"device({value})"
    if isinstance(value, torch.optim.Optimizer):
        return "opt"
    if isinstance(value, dict):
        return "dict(" + ",".join(sorted(map(str, value))) + ")"
    if isinstance(value, BaseException):
        return type(value).__name__
    if callable(value):
        return "closure"
    return type(value).__name__


def _entry(owner: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in sorted(kwargs.items())]
    return f"{owner}:{name}({', '.join(parts)})"


def recording_classes(pkg: ModuleType, base_module: type | None = None) -> tuple[type, type, list[str]]:
    """Return (Module, Callback, calls): subclasses of ``base_module`` (BoringModel) and ``pkg.Callback``."""
    calls: list[str] = []
    if base_module is None:
        base_module = importlib_boring(pkg)

    namespace: dict[str, Any] = {}
    for name in MODULE_HOOKS:
        if not hasattr(base_module, name):
            continue

        def method(self: Any, *args: Any, __name: str = name, **kwargs: Any) -> Any:
            calls.append(_entry("module", __name, args, kwargs))
            return getattr(super(Module, self), __name)(*args, **kwargs)

        method.__name__ = name
        namespace[name] = method
    Module = type("RecordingModule", (base_module,), namespace)

    cb_namespace: dict[str, Any] = {}
    for name in CALLBACK_HOOKS:

        def cb_method(self: Any, trainer: Any, pl_module: Any, *args: Any, __name: str = name, **kwargs: Any) -> Any:
            calls.append(_entry("callback", __name, args, kwargs))

        cb_method.__name__ = name
        cb_namespace[name] = cb_method
    RecordingCallback = type("RecordingCallback", (pkg.Callback,), cb_namespace)
    return Module, RecordingCallback, calls


def importlib_boring(pkg: ModuleType) -> type:
    import importlib

    return importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel  # type: ignore[no-any-return]
