"""Type aliases that Lightning users put in their hook signatures (``STEP_OUTPUT``, ``OptimizerLRScheduler``, ...)."""

from collections.abc import Generator, Mapping, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from typing_extensions import NotRequired, Required

from shim.core.optimizer import LRSchedulerConfig

__all__ = [
    "EVAL_DATALOADERS",
    "STEP_OUTPUT",
    "TRAIN_DATALOADERS",
    "DistributedDataParallel",
    "LRSchedulerConfig",
    "LRSchedulerConfigType",
    "LRSchedulerPLType",
    "LRSchedulerType",
    "LRSchedulerTypeTuple",
    "LRSchedulerTypeUnion",
    "OptimizerConfig",
    "OptimizerLRScheduler",
    "OptimizerLRSchedulerConfig",
]

# What a training/validation/test step may return: a loss tensor, a dict holding "loss", or nothing.
STEP_OUTPUT = Tensor | Mapping[str, Any] | None
# Loaders may be any iterable, or a collection (list, dict) of iterables.
TRAIN_DATALOADERS = Any
EVAL_DATALOADERS = Any

LRSchedulerTypeTuple = (LRScheduler, ReduceLROnPlateau)
LRSchedulerTypeUnion = LRScheduler | ReduceLROnPlateau
LRSchedulerType = type[LRScheduler] | type[ReduceLROnPlateau]
LRSchedulerPLType = LRScheduler | ReduceLROnPlateau


@runtime_checkable
class DistributedDataParallel(Protocol):
    """Anything that behaves like ``torch.nn.parallel.DistributedDataParallel`` for gradient syncing."""

    def no_sync(self) -> Generator[None, None, None]:
        """A context in which backward passes do not all-reduce gradients."""
        ...


class LRSchedulerConfigType(TypedDict, total=False):
    """The dict form of one scheduler in ``configure_optimizers``' ``"lr_scheduler"`` entry."""

    scheduler: Required[LRSchedulerTypeUnion]
    name: str | None
    interval: str
    frequency: int
    reduce_on_plateau: bool
    monitor: str | None
    strict: bool


class OptimizerConfig(TypedDict):
    """``configure_optimizers`` returning ``{"optimizer": ...}``."""

    optimizer: Optimizer


class OptimizerLRSchedulerConfig(TypedDict):
    """``configure_optimizers`` returning an optimizer together with its scheduler (and an optional monitor)."""

    optimizer: Optimizer
    lr_scheduler: LRSchedulerTypeUnion | LRSchedulerConfigType
    monitor: NotRequired[str]


# Every form ``configure_optimizers`` may return.
OptimizerLRScheduler = (
    Optimizer
    | Sequence[Optimizer]
    | tuple[Sequence[Optimizer], Sequence[LRSchedulerTypeUnion | LRSchedulerConfig]]
    | OptimizerConfig
    | OptimizerLRSchedulerConfig
    | Sequence[OptimizerConfig]
    | Sequence[OptimizerLRSchedulerConfig]
    | None
)
