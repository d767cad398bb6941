"""A LightningModule given to the Trainer through ``torch.compile``.

``torch.compile(module)`` returns a ``torch._dynamo.OptimizedModule``: a wrapper that is not a LightningModule,
whose ``state_dict`` keys carry an ``_orig_mod.`` prefix. The Trainer does not train the wrapper. It takes the
module out of it and replaces the module's ``forward`` and step methods, on the instance, with versions run by
the wrapper's compiler, so ``self(x)`` in ``training_step`` runs compiled while hooks, ``self.log`` and
checkpoints see the plain module (checkpoint keys without the prefix, loadable into an uncompiled model).
``to_uncompiled`` puts the original methods back.

``torch._dynamo`` is never imported here: a compiled model can only exist once the user's code has imported it.
"""

import sys
from dataclasses import dataclass
from types import MethodType
from typing import Any

from shim.core.module import LightningModule

__all__ = ["from_compiled", "to_uncompiled"]

# the methods that run compiled: `forward` (what `self(...)` calls) and the four steps the loops call
_COMPILED_METHODS = ("forward", "training_step", "validation_step", "test_step", "predict_step")


@dataclass
class _CompiledMethods:
    """What ``from_compiled`` replaced on a module: the methods as they were."""

    originals: dict[str, Any]


def is_compiled_wrapper(obj: object) -> bool:
    """Whether ``obj`` is what ``torch.compile`` returns for a module (a ``torch._dynamo.OptimizedModule``)."""
    dynamo = sys.modules.get("torch._dynamo")
    return dynamo is not None and isinstance(obj, dynamo.OptimizedModule)


def from_compiled(model: Any) -> LightningModule:
    """The LightningModule inside ``model`` (``torch.compile``'s output), with its forward and steps compiled.

    The module is changed in place and returned; the wrapper and the module share it. Compiling again (another
    ``torch.compile`` of the same module) replaces the compiled methods rather than wrapping them twice.

    Raises:
        ValueError: If ``model`` is not the output of ``torch.compile``, or it wraps something else than a
            LightningModule.
    """
    if not is_compiled_wrapper(model):
        raise ValueError(f"`from_compiled` takes what `torch.compile` returns, got a `{type(model).__name__}`.")
    module = model._orig_mod
    if not isinstance(module, LightningModule):
        raise ValueError(
            f"`from_compiled` needs a compiled LightningModule; this `torch.compile` output wraps a"
            f" `{type(module).__name__}`."
        )
    state = _compiled_state(module)
    originals = state.originals if state is not None else {name: getattr(module, name) for name in _COMPILED_METHODS}
    for name, method in originals.items():
        object.__setattr__(module, name, _compile_method(model.dynamo_ctx, module, method))
    object.__setattr__(module, "_shim_compiled", _CompiledMethods(originals))
    return module


def _compile_method(compiler: Any, module: LightningModule, method: Any) -> Any:
    """``method`` run by ``compiler``, bound to ``module`` so that a copy of the module calls its own weights.

    The class's function is compiled and bound (``copy.deepcopy`` rebinds a bound method to the copy); a callable the
    user had set on the instance is compiled as it is.
    """
    if isinstance(method, MethodType) and method.__self__ is module:
        return MethodType(compiler(method.__func__), module)
    return compiler(method)


def to_uncompiled(model: Any) -> LightningModule:
    """The module with its original, uncompiled methods back; takes ``torch.compile``'s output or ``from_compiled``'s.

    Raises:
        ValueError: If ``model`` is a LightningModule whose methods are not compiled, or neither a LightningModule
            nor the output of ``torch.compile``.
        TypeError: If ``model`` is ``torch.compile``'s output for something else than a LightningModule.
    """
    if is_compiled_wrapper(model):
        module = model._orig_mod
        if not isinstance(module, LightningModule):
            raise TypeError(f"This `torch.compile` output wraps a `{type(module).__name__}`, not a LightningModule.")
    elif isinstance(model, LightningModule):
        if _compiled_state(model) is None:
            raise ValueError(
                "`to_uncompiled` got a LightningModule that is not compiled: it is required to be a compiled"
                " LightningModule (the output of `torch.compile` or `from_compiled`)."
            )
        module = model
    else:
        raise ValueError(f"`to_uncompiled` takes a LightningModule or `torch.compile`'s output, got `{type(model)}`.")
    state = _compiled_state(module)
    if state is not None:
        for name, method in state.originals.items():
            # the originals are the class's bound methods unless the user had set one on the instance
            if getattr(method, "__self__", None) is module and getattr(type(module), name, None) is method.__func__:
                module.__dict__.pop(name, None)
            else:
                object.__setattr__(module, name, method)
        module.__dict__.pop("_shim_compiled", None)
    return module


def _compiled_state(module: LightningModule) -> _CompiledMethods | None:
    state: _CompiledMethods | None = module.__dict__.get("_shim_compiled")
    return state
