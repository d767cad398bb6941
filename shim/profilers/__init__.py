"""Profilers: what ``Trainer(profiler=...)`` takes, and ``PassThroughProfiler``, which records nothing.

``SimpleProfiler`` times each action, ``AdvancedProfiler`` runs ``cProfile`` per action, ``PyTorchProfiler`` records
the operators with ``torch.profiler``. The last two load on first use, so that ``import shim`` imports neither
``cProfile`` nor ``torch.profiler``.
"""

from typing import TYPE_CHECKING, Any

from shim.profilers.base import PassThroughProfiler
from shim.profilers.profiler import Profiler
from shim.profilers.simple import SimpleProfiler

if TYPE_CHECKING:
    from shim.profilers.advanced import AdvancedProfiler
    from shim.profilers.pytorch import PyTorchProfiler

__all__ = ["AdvancedProfiler", "PassThroughProfiler", "Profiler", "PyTorchProfiler", "SimpleProfiler"]


def __getattr__(name: str) -> Any:
    if name == "AdvancedProfiler":
        from shim.profilers.advanced import AdvancedProfiler

        return AdvancedProfiler
    if name == "PyTorchProfiler":
        from shim.profilers.pytorch import PyTorchProfiler

        return PyTorchProfiler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
