"""Reading a hook's signature: does it take ``batch_idx`` / ``dataloader_idx``?"""

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["is_param_in_hook_signature"]


def is_param_in_hook_signature(
    hook_fx: Callable[..., Any], param: str, explicit: bool = False, min_args: int | None = None
) -> bool:
    """Whether ``hook_fx`` accepts ``param``: by name, through ``*args`` (unless ``explicit``), or by position.

    Args:
        hook_fx: A bound method (its ``self`` is not counted).
        param: The parameter name.
        explicit: Only an explicitly named parameter counts.
        min_args: Also true when the method takes at least this many positional parameters.
    """
    spec = inspect.getfullargspec(hook_fx)
    args = spec.args[1:] if inspect.ismethod(hook_fx) else spec.args
    return (
        param in args
        or param in spec.kwonlyargs
        or (not explicit and spec.varargs is not None)
        or (isinstance(min_args, int) and len(args) >= min_args)
    )
