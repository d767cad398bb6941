"""Experiment loggers: where the Trainer sends metrics and hyper-parameters (TensorBoard event files, CSV).

The classes load on first use (PEP 562), so ``import shim`` does not pay for loggers a script never builds.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.loggers.csv_logs import CSVLogger
    from shim.loggers.logger import Logger
    from shim.loggers.mlflow import MLFlowLogger
    from shim.loggers.tensorboard import TensorBoardLogger
    from shim.loggers.wandb import WandbLogger

_HOMES = {
    "CSVLogger": "shim.loggers.csv_logs",
    "Logger": "shim.loggers.logger",
    "MLFlowLogger": "shim.loggers.mlflow",
    "TensorBoardLogger": "shim.loggers.tensorboard",
    "WandbLogger": "shim.loggers.wandb",
}

__all__ = [
    "CSVLogger",
    "Logger",
    "MLFlowLogger",
    "TensorBoardLogger",
    "WandbLogger",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'shim.loggers' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
