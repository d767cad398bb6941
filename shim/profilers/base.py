"""``PassThroughProfiler``: the profiler that records nothing, which the Trainer holds as ``trainer.profiler``."""

from shim.profilers.profiler import Profiler

__all__ = ["PassThroughProfiler"]


class PassThroughProfiler(Profiler):
    """Records nothing: ``with trainer.profiler.profile(name):`` in user code costs two empty calls."""

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass
