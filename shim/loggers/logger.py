"""``Logger``: the interface of every experiment logger; and the do-nothing ``DummyLogger`` and ``DummyExperiment``."""

import statistics
from abc import ABC, abstractmethod
from argparse import Namespace
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from torch import Tensor
from torch.nn import Module
from typing_extensions import override

from shim.utilities.rank_zero import current_rank

if TYPE_CHECKING:
    from shim.callbacks.checkpoint import Checkpoint

__all__ = ["DummyExperiment", "DummyLogger", "Logger", "merge_dicts", "rank_zero_experiment"]

_L = TypeVar("_L", bound="Logger")
_T = TypeVar("_T")


class Logger(ABC):
    """Base class of the experiment loggers a ``Trainer`` sends metrics and hyper-parameters to."""

    @property
    @abstractmethod
    def name(self) -> str | None:
        """The experiment name."""

    @property
    @abstractmethod
    def version(self) -> int | str | None:
        """The experiment version."""

    @property
    def root_dir(self) -> str | None:
        """The folder holding every version of this experiment; ``None`` when nothing is written locally."""
        return None

    @property
    def log_dir(self) -> str | None:
        """The folder of this version of the experiment; ``None`` when nothing is written locally."""
        return None

    @property
    def save_dir(self) -> str | None:
        """The folder all experiments are written under; ``None`` when nothing is written locally."""
        return None

    @property
    def group_separator(self) -> str:
        """The character that splits a metric name into groups (``"train/loss"``)."""
        return "/"

    @abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record metric values as soon as they arrive.

        Args:
            metrics: Metric names mapped to their values.
            step: The step the values belong to.
        """

    @abstractmethod
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Record the hyper-parameters of the run.

        Args:
            params: The hyper-parameters, as a dict or an ``argparse.Namespace``.
            *args: Extra arguments a particular logger understands.
            **kwargs: Extra keyword arguments a particular logger understands.
        """

    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:  # noqa: B027 (optional hook)
        """Record the computational graph of ``model``; does nothing unless a logger supports it.

        Args:
            model: The model whose ``forward`` is traced.
            input_array: The input to trace ``forward`` with.
        """

    def save(self) -> None:  # noqa: B027 (optional hook)
        """Write whatever the logger still holds in memory."""

    def finalize(self, status: str) -> None:
        """Finish the experiment; the base class just calls ``save()``.

        Args:
            status: How the run ended, e.g. ``"success"`` or ``"failed"``.
        """
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: "Checkpoint") -> None:  # noqa: B027 (optional hook)
        """Called after a checkpoint callback wrote a checkpoint; does nothing unless overridden.

        Args:
            checkpoint_callback: The callback that saved the checkpoint.
        """


class DummyExperiment:
    """An experiment object that accepts any method call, attribute or item and does nothing."""

    def nop(self, *args: Any, **kwargs: Any) -> None:
        """Accept anything, do nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # keep copy and pickle protocols working
        return self.nop

    def __getitem__(self, idx: Any) -> "DummyExperiment":
        # so that ``logger.experiment[0].add_image(...)`` also does nothing
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def rank_zero_experiment(fn: Callable[[_L], _T]) -> Callable[[_L], _T]:
    """Decorate a logger's ``experiment`` getter so that ranks other than zero get a ``DummyExperiment``.

    The dummy accepts every call, so code that uses ``logger.experiment`` runs unchanged on every rank.
    """

    @wraps(fn)
    def experiment(self: _L) -> _T:
        if current_rank() > 0:
            return cast(_T, DummyExperiment())
        return fn(self)

    return experiment


class DummyLogger(Logger):
    """A logger that records nothing; it stands in for the user's loggers where logging must stay off."""

    def __init__(self) -> None:
        super().__init__()
        self._experiment = DummyExperiment()

    @property
    def experiment(self) -> DummyExperiment:
        """An experiment object whose methods all do nothing."""
        return self._experiment

    @override
    def log_metrics(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    @override
    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    @property
    @override
    def name(self) -> str:
        """Always the empty string."""
        return ""

    @property
    @override
    def version(self) -> str:
        """Always the empty string."""
        return ""

    def __getitem__(self, idx: int) -> "DummyLogger":
        # so that ``trainer.loggers[0]``-style indexing keeps working
        return self

    def __getattr__(self, name: str) -> Callable[..., None]:
        # any other logger method the user calls is accepted and ignored; dunder lookups (copy, pickle) still fail
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)

        def nop(*args: Any, **kwargs: Any) -> None:
            return None

        return nop


def merge_dicts(
    dicts: Sequence[Mapping[Any, Any]],
    agg_key_funcs: Mapping[Any, Any] | None = None,
    default_func: Callable[[Sequence[float]], float] = statistics.mean,
) -> dict[Any, Any]:
    """Merge dicts into one, aggregating the values found under the same key.

    Args:
        dicts: The dicts to merge; nested dicts are merged key by key.
        agg_key_funcs: Per-key aggregation functions (a nested mapping for nested dicts).
        default_func: Aggregation for keys without an entry in ``agg_key_funcs``.

    Returns:
        One dict with the aggregated value of every key; ``None`` values are ignored.
    """
    agg_key_funcs = agg_key_funcs or {}
    keys = list(dict.fromkeys(key for d in dicts for key in d))
    merged: dict[Any, Any] = {}
    for key in keys:
        values = [d[key] for d in dicts if d.get(key) is not None]
        func = agg_key_funcs.get(key)
        if isinstance(values[0], dict):
            merged[key] = merge_dicts(values, func, default_func)
        else:
            merged[key] = (func or default_func)(values)
    return merged


def _add_prefix(metrics: Mapping[str, Any], prefix: str, separator: str) -> Mapping[str, Any]:
    """Put ``prefix`` and ``separator`` in front of every metric name (nothing changes for an empty prefix)."""
    if not prefix:
        return metrics
    return {f"{prefix}{separator}{key}": value for key, value in metrics.items()}
