"""Profilers: the ``Profiler`` interface and the ``PassThroughProfiler`` that ``trainer.profiler`` holds.

``Trainer(profiler=...)`` (the simple, advanced and PyTorch profilers) is not implemented yet.
"""

from shim.profilers.base import PassThroughProfiler
from shim.profilers.profiler import Profiler

__all__ = ["PassThroughProfiler", "Profiler"]
