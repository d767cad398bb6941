"""``AdvancedProfiler``: a ``cProfile`` profile per named action, reported through ``pstats``."""

import cProfile
import io
import os
import pstats
from pathlib import Path
from typing import Any

from shim.profilers.profiler import Profiler

__all__ = ["AdvancedProfiler"]


class AdvancedProfiler(Profiler):
    """Function-level statistics of each action: ``profiled_actions[name]`` is its ``cProfile.Profile``.

    ``line_count_restriction`` limits each action's listing (an int: that many lines; a float: that fraction);
    ``dump_stats=True`` also writes each profile to ``<dirpath>/<action>.prof`` (prefixed as the report file is),
    for ``snakeviz`` and the like.
    """

    def __init__(
        self,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        line_count_restriction: float = 1.0,
        dump_stats: bool = False,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.profiled_actions: dict[str, cProfile.Profile] = {}
        self.line_count_restriction = line_count_restriction
        self.dump_stats = dump_stats
        # the actions being recorded, innermost last. Python allows one active cProfile profile at a time, so an
        # outer action pauses while an inner one records, and resumes when it stops
        self._active: list[str] = []

    def start(self, action_name: str) -> None:
        if self._active:
            self.profiled_actions[self._active[-1]].disable()
        profile = self.profiled_actions.setdefault(action_name, cProfile.Profile())
        self._active.append(action_name)
        profile.enable()

    def stop(self, action_name: str) -> None:
        profile = self.profiled_actions.get(action_name)
        if profile is None or action_name not in self._active:
            raise ValueError(f"Attempting to stop recording {action_name!r}, which was never started.")
        profile.disable()
        self._active.remove(action_name)
        if self._active:
            self.profiled_actions[self._active[-1]].enable()

    def summary(self) -> str:
        reports = []
        for action_name, profile in self.profiled_actions.items():
            stream = io.StringIO()
            stats = pstats.Stats(profile, stream=stream).strip_dirs().sort_stats("cumulative")
            stats.print_stats(self.line_count_restriction)
            reports.append(f"Profile of {action_name}:{os.linesep}{stream.getvalue()}")
            if self.dump_stats and self.dirpath is not None:
                os.makedirs(self.dirpath, exist_ok=True)
                profile.dump_stats(os.path.join(self.dirpath, self._file_name(action_name, ".prof")))
        if not reports:
            return ""
        return f"{os.linesep}Profiler Report{os.linesep}{os.linesep}" + os.linesep.join(reports)

    def teardown(self, stage: str | None) -> None:
        super().teardown(stage)
        self.profiled_actions = {}
        self._active = []

    def __getstate__(self) -> dict[str, Any]:
        # a cProfile profile cannot be copied or pickled: a copy starts without the recorded profiles
        state = dict(self.__dict__)
        state["profiled_actions"] = {}
        state["_active"] = []
        return state
