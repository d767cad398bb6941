"""Printing, warning and logging only on the process of global rank zero."""

import logging
import os
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

__all__ = [
    "rank_zero_debug",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "rank_zero_deprecation",
    "LightningDeprecationWarning",
    "PossibleUserWarning",
]

log = logging.getLogger("shim")

T = TypeVar("T")


class PossibleUserWarning(UserWarning):
    """Warns about a setting that is probably, but not surely, a mistake."""


class LightningDeprecationWarning(DeprecationWarning):
    """Warns about a Lightning API that is deprecated."""


def _rank_from_env() -> int:
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key)
        if value is not None:
            return int(value)
    return 0


class _RankZeroOnly:
    """Decorator that runs a function only on global rank zero; ``rank_zero_only.rank`` holds this process's rank."""

    def __init__(self) -> None:
        self.rank = _rank_from_env()

    def __call__(self, fn: Callable[..., T]) -> Callable[..., T | None]:
        @wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> T | None:
            if self.rank == 0:
                return fn(*args, **kwargs)
            return None

        return wrapped


rank_zero_only = _RankZeroOnly()


def rank_zero_warn(message: str | Warning, stacklevel: int = 4, category: type[Warning] = UserWarning) -> None:
    """Issue a warning on rank zero only."""
    if rank_zero_only.rank == 0:
        warnings.warn(message, category=category, stacklevel=stacklevel)


def rank_zero_deprecation(message: str, stacklevel: int = 4) -> None:
    """Issue a deprecation warning on rank zero only."""
    rank_zero_warn(message, stacklevel=stacklevel + 1, category=LightningDeprecationWarning)


def rank_zero_info(message: str, *args: Any) -> None:
    """Log at INFO level on rank zero only."""
    if rank_zero_only.rank == 0:
        log.info(message, *args)


def rank_zero_debug(message: str, *args: Any) -> None:
    """Log at DEBUG level on rank zero only."""
    if rank_zero_only.rank == 0:
        log.debug(message, *args)
