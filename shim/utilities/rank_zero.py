"""Printing, warning and logging only on the process of global rank zero."""

import importlib.abc
import logging
import os
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

__all__ = [
    "current_rank",
    "get_logger",
    "set_rank",
    "share_rank_zero_only",
    "rank_zero_debug",
    "rank_zero_info",
    "rank_zero_only",  # noqa: F822 (resolved on first use, see __getattr__)
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
            if current_rank() == 0:
                return fn(*args, **kwargs)
            return None

        return wrapped


# shim's own decorator: what shim's modules use, and the public `rank_zero_only` where lightning_utilities is not
# installed. Where it is, the public name is lightning_utilities' decorator, the object Lightning's own
# `rank_zero_only` is, so that a user's `@rank_zero_only` from either place works; shim keeps its rank set
# (`set_rank`, and on import of that module, as Lightning does when it is imported).
_rank_zero_only = _RankZeroOnly()
_SHARED_MODULE = "lightning_utilities.core.rank_zero"


def current_rank() -> int:
    """This process's global rank as ``rank_zero_only.rank`` says, whichever decorator that name stands for."""
    shared = getattr(sys.modules.get(_SHARED_MODULE), "rank_zero_only", None)
    return getattr(shared, "rank", _rank_zero_only.rank)


def set_rank(rank: int) -> None:
    """Make ``rank`` this process's global rank for every ``rank_zero_only``, shim's and lightning_utilities'."""
    _rank_zero_only.rank = rank
    shared = getattr(sys.modules.get(_SHARED_MODULE), "rank_zero_only", None)
    if shared is not None:
        shared.rank = rank


def _public_rank_zero_only() -> Any:
    if not _lightning_utilities_installed():
        return _rank_zero_only
    import importlib

    shared = importlib.import_module(_SHARED_MODULE).rank_zero_only
    if not hasattr(shared, "rank"):
        shared.rank = _rank_zero_only.rank
    return shared


def __getattr__(name: str) -> Any:
    # resolved on first use, so that `import shim` does not import lightning_utilities
    if name == "rank_zero_only":
        value = _public_rank_zero_only()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _SetRankOnImport(importlib.abc.MetaPathFinder):
    """Sets ``rank_zero_only.rank`` of lightning_utilities when that module is imported, as Lightning's import does.

    Only that one module name is looked at; every other import passes through untouched. The finder is there only
    between ``import shim`` and the first Trainer, which imports the module itself (``share_rank_zero_only``).
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != _SHARED_MODULE:
            return None
        import importlib.machinery

        _remove_import_hook()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            if not hasattr(module.rank_zero_only, "rank"):
                module.rank_zero_only.rank = _rank_zero_only.rank

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _remove_import_hook() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _SetRankOnImport)]


def _lightning_utilities_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("lightning_utilities") is not None
    except (ImportError, ValueError):
        return False


def share_rank_zero_only() -> None:
    """Import lightning_utilities' ``rank_zero_only`` (where installed) with this process's rank set; called by the
    Trainer, so that a training run looks at no import on shim's behalf."""
    if any(isinstance(finder, _SetRankOnImport) for finder in sys.meta_path):
        _remove_import_hook()
        __getattr__("rank_zero_only")


if _SHARED_MODULE in sys.modules:
    if not hasattr(sys.modules[_SHARED_MODULE].rank_zero_only, "rank"):
        set_rank(_rank_zero_only.rank)
elif _lightning_utilities_installed() and not any(isinstance(f, _SetRankOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _SetRankOnImport())


def rank_zero_warn(message: str | Warning, stacklevel: int = 4, category: type[Warning] = UserWarning) -> None:
    """Issue a warning on rank zero only."""
    if current_rank() == 0:
        warnings.warn(message, category=category, stacklevel=stacklevel)


def rank_zero_deprecation(message: str, stacklevel: int = 4) -> None:
    """Issue a deprecation warning on rank zero only."""
    rank_zero_warn(message, stacklevel=stacklevel + 1, category=LightningDeprecationWarning)


def rank_zero_info(message: str, *args: Any) -> None:
    """Log at INFO level on rank zero only."""
    if current_rank() == 0:
        log.info(message, *args)


def rank_zero_debug(message: str, *args: Any) -> None:
    """Log at DEBUG level on rank zero only."""
    if current_rank() == 0:
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
