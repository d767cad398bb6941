"""Callbacks: code that runs at the Trainer's hook points."""

from shim.callbacks.callback import Callback
from shim.callbacks.checkpoint import Checkpoint
from shim.callbacks.early_stopping import EarlyStopping
from shim.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
from shim.callbacks.lambda_function import LambdaCallback
from shim.callbacks.lr_monitor import LearningRateMonitor
from shim.callbacks.model_checkpoint import ModelCheckpoint
from shim.callbacks.model_summary import ModelSummary
from shim.callbacks.progress import ProgressBar, TQDMProgressBar
from shim.callbacks.stochastic_weight_avg import StochasticWeightAveraging
from shim.callbacks.timer import Timer

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "GradientAccumulationScheduler",
    "LambdaCallback",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelSummary",
    "ProgressBar",
    "StochasticWeightAveraging",
    "TQDMProgressBar",
    "Timer",
]
