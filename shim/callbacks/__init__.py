"""Callbacks: code that runs at the Trainer's hook points."""

from shim.callbacks.callback import Callback
from shim.callbacks.checkpoint import Checkpoint
from shim.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
from shim.callbacks.model_checkpoint import ModelCheckpoint
from shim.callbacks.model_summary import ModelSummary
from shim.callbacks.progress import ProgressBar, TQDMProgressBar

__all__ = [
    "Callback",
    "Checkpoint",
    "GradientAccumulationScheduler",
    "ModelCheckpoint",
    "ModelSummary",
    "ProgressBar",
    "TQDMProgressBar",
]
