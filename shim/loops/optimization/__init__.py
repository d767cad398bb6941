"""The two ways a training batch is optimized: automatically (the loop steps) and manually (the module steps)."""

from shim.loops.optimization.automatic import AutomaticOptimization, Closure, ClosureResult
from shim.loops.optimization.manual import ManualOptimization

__all__ = ["AutomaticOptimization", "Closure", "ClosureResult", "ManualOptimization"]
