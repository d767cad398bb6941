"""``LambdaCallback``: a callback made on the spot from functions given per hook name."""

from collections.abc import Callable
from typing import Any

from shim.callbacks.callback import Callback

__all__ = ["LambdaCallback"]

# every hook of `Callback`; the checkpoint state methods are not hooks and cannot be replaced
HOOK_NAMES: frozenset[str] = frozenset(
    name
    for name, value in vars(Callback).items()
    if callable(value) and not name.startswith("_") and name not in ("state_dict", "load_state_dict")
)


class LambdaCallback(Callback):
    """A callback whose hooks are the functions passed by name, e.g. ``LambdaCallback(on_fit_start=fn)``.

    Each function is called with the hook's arguments, starting with the Trainer and the LightningModule
    (``fn(trainer, pl_module)`` for ``on_fit_start``). A hook given as None keeps doing nothing.

    Args:
        **hooks: Functions keyed by ``Callback`` hook name (``setup``, ``on_train_batch_end``, ...).

    Raises:
        TypeError: If a keyword is not the name of a ``Callback`` hook, or a value is neither callable nor None.
    """

    def __init__(self, **hooks: Callable[..., Any] | None) -> None:
        super().__init__()
        unknown = sorted(set(hooks) - HOOK_NAMES)
        if unknown:
            raise TypeError(
                f"LambdaCallback got {', '.join(map(repr, unknown))}, which {'is' if len(unknown) == 1 else 'are'}"
                f" not Callback hook names; valid names are: {', '.join(sorted(HOOK_NAMES))}."
            )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback({name}=...) needs a callable, got {type(fn).__name__}: {fn!r}")
            # an instance attribute shadows the no-op method, and the hook dispatcher sees it as overridden
            setattr(self, name, fn)
