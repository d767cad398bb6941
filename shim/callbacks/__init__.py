"""Callbacks: code that runs at the Trainer's hook points.

The classes load on first use (PEP 562), so ``import shim`` does not pay for callbacks a script never builds.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.callbacks.batch_size_finder import BatchSizeFinder
    from shim.callbacks.callback import Callback
    from shim.callbacks.checkpoint import Checkpoint
    from shim.callbacks.device_stats_monitor import DeviceStatsMonitor
    from shim.callbacks.early_stopping import EarlyStopping
    from shim.callbacks.finetuning import BackboneFinetuning, BaseFinetuning
    from shim.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
    from shim.callbacks.lambda_function import LambdaCallback
    from shim.callbacks.lr_finder import LearningRateFinder
    from shim.callbacks.lr_monitor import LearningRateMonitor
    from shim.callbacks.model_checkpoint import ModelCheckpoint
    from shim.callbacks.model_summary import ModelSummary
    from shim.callbacks.on_exception_checkpoint import OnExceptionCheckpoint
    from shim.callbacks.prediction_writer import BasePredictionWriter
    from shim.callbacks.progress import ProgressBar, TQDMProgressBar
    from shim.callbacks.progress.rich_progress import RichProgressBar
    from shim.callbacks.pruning import ModelPruning
    from shim.callbacks.rich_model_summary import RichModelSummary
    from shim.callbacks.stochastic_weight_avg import StochasticWeightAveraging
    from shim.callbacks.throughput_monitor import ThroughputMonitor
    from shim.callbacks.timer import Timer
    from shim.callbacks.weight_averaging import EMAWeightAveraging, WeightAveraging

_HOMES = {
    "BackboneFinetuning": "shim.callbacks.finetuning",
    "BaseFinetuning": "shim.callbacks.finetuning",
    "BasePredictionWriter": "shim.callbacks.prediction_writer",
    "BatchSizeFinder": "shim.callbacks.batch_size_finder",
    "Callback": "shim.callbacks.callback",
    "Checkpoint": "shim.callbacks.checkpoint",
    "DeviceStatsMonitor": "shim.callbacks.device_stats_monitor",
    "EMAWeightAveraging": "shim.callbacks.weight_averaging",
    "EarlyStopping": "shim.callbacks.early_stopping",
    "GradientAccumulationScheduler": "shim.callbacks.gradient_accumulation_scheduler",
    "LambdaCallback": "shim.callbacks.lambda_function",
    "LearningRateFinder": "shim.callbacks.lr_finder",
    "LearningRateMonitor": "shim.callbacks.lr_monitor",
    "ModelCheckpoint": "shim.callbacks.model_checkpoint",
    "ModelPruning": "shim.callbacks.pruning",
    "ModelSummary": "shim.callbacks.model_summary",
    "OnExceptionCheckpoint": "shim.callbacks.on_exception_checkpoint",
    "ProgressBar": "shim.callbacks.progress.progress_bar",
    "RichModelSummary": "shim.callbacks.rich_model_summary",
    "RichProgressBar": "shim.callbacks.progress.rich_progress",
    "StochasticWeightAveraging": "shim.callbacks.stochastic_weight_avg",
    "TQDMProgressBar": "shim.callbacks.progress.tqdm_progress",
    "ThroughputMonitor": "shim.callbacks.throughput_monitor",
    "Timer": "shim.callbacks.timer",
    "WeightAveraging": "shim.callbacks.weight_averaging",
}

__all__ = [
    "BackboneFinetuning",
    "BaseFinetuning",
    "BasePredictionWriter",
    "BatchSizeFinder",
    "Callback",
    "Checkpoint",
    "DeviceStatsMonitor",
    "EMAWeightAveraging",
    "EarlyStopping",
    "GradientAccumulationScheduler",
    "LambdaCallback",
    "LearningRateFinder",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelPruning",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "ProgressBar",
    "RichModelSummary",
    "RichProgressBar",
    "StochasticWeightAveraging",
    "TQDMProgressBar",
    "ThroughputMonitor",
    "Timer",
    "WeightAveraging",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'shim.callbacks' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
