"""Printing, warning and logging only on the process of global rank zero."""

import logging
import os
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

__all__ = [
    "get_logger",
    "rank_zero_debug",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "rank_zero_deprecation",
    "LightningDeprecationWarning",
    "PossibleUserWarning",
    "WarningCache",
]

# shim's messages go to the loggers Lightning's own modules use, so the levels and handlers a user sets on
# "lightning.pytorch" (or "lightning") apply to them. The standalone package's names ("pytorch_lightning",
# "lightning_fabric") are a second parent of each: their explicit levels filter shim's records too, and their
# handlers receive them.
_MIRRORS = {"lightning.pytorch": "pytorch_lightning", "lightning.fabric": "lightning_fabric"}


class _MirrorFilter(logging.Filter):
    """Applies the standalone package's logger settings to a record logged under the ``lightning.*`` name."""

    def filter(self, record: logging.LogRecord) -> bool:
        for prefix, mirror in _MIRRORS.items():
            if record.name == prefix or record.name.startswith(f"{prefix}."):
                return _honour_mirror(record, mirror + record.name[len(prefix) :])
        return True


def _honour_mirror(record: logging.LogRecord, name: str) -> bool:
    """False when the loggers along ``name`` set a level above the record's; else pass it to their handlers."""
    loggers = logging.Logger.manager.loggerDict
    chain = []
    while name:
        logger = loggers.get(name)
        if isinstance(logger, logging.Logger):
            chain.append(logger)
        name = name.rpartition(".")[0]
    level = next((logger.level for logger in chain if logger.level != logging.NOTSET), logging.NOTSET)
    if record.levelno < level or any(logger.disabled for logger in chain):
        return False
    for logger in chain:
        for handler in logger.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
        if not logger.propagate:
            break
    return True


def get_logger(module_name: str) -> logging.Logger:
    """The logger Lightning's module of the same path uses: ``shim.callbacks.x`` -> ``lightning.pytorch.callbacks.x``.

    ``shim.utilities.seed`` logs where Lightning's seeding does, under ``lightning.fabric``.
    """
    relative = module_name.removeprefix("shim").lstrip(".")
    prefix = "lightning.fabric" if relative == "utilities.seed" else "lightning.pytorch"
    logger = logging.getLogger(f"{prefix}.{relative}" if relative else prefix)
    if not any(isinstance(f, _MirrorFilter) for f in logger.filters):
        logger.addFilter(_MirrorFilter())
    return logger


log = get_logger(__name__)

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


class WarningCache(set[str]):
    """Remembers the messages it has given, so each warning or info message reaches the user only once."""

    def warn(self, message: str, stacklevel: int = 5, **kwargs: Any) -> None:
        """``rank_zero_warn(message)``, unless this cache gave that message already."""
        if message not in self:
            self.add(message)
            rank_zero_warn(message, stacklevel=stacklevel, **kwargs)

    def deprecation(self, message: str, stacklevel: int = 6, **kwargs: Any) -> None:
        """``rank_zero_deprecation(message)``, unless this cache gave that message already."""
        if message not in self:
            self.add(message)
            rank_zero_deprecation(message, stacklevel=stacklevel, **kwargs)

    def info(self, message: str, stacklevel: int = 5, **kwargs: Any) -> None:
        """``rank_zero_info(message)``, unless this cache gave that message already."""
        del stacklevel, kwargs  # log records name their origin themselves
        if message not in self:
            self.add(message)
            rank_zero_info(message)
