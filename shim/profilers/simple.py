"""``SimpleProfiler``: wall-clock time of every named action, reported as a table of the slowest first."""

import math
import os
import time
from collections import defaultdict
from pathlib import Path

from shim.profilers.profiler import Profiler

__all__ = ["SimpleProfiler"]


class SimpleProfiler(Profiler):
    """Times each action with ``time.perf_counter``; ``recorded_durations[name]`` holds one duration per call.

    ``extended=True`` (the default) adds the number of calls and each action's share of the time since the
    profiler was made.
    """

    def __init__(self, dirpath: str | Path | None = None, filename: str | None = None, extended: bool = True) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.current_actions: dict[str, float] = {}
        self.recorded_durations: defaultdict[str, list[float]] = defaultdict(list)
        self.extended = extended
        self.start_time = time.perf_counter()

    def start(self, action_name: str) -> None:
        if action_name in self.current_actions:
            raise ValueError(f"Attempted to start {action_name!r}, which is already being recorded.")
        self.current_actions[action_name] = time.perf_counter()

    def stop(self, action_name: str) -> None:
        end = time.perf_counter()
        started = self.current_actions.pop(action_name, None)
        if started is None:
            raise ValueError(f"Attempting to stop recording an action ({action_name!r}) that was never started.")
        self.recorded_durations[action_name].append(end - started)

    def summary(self) -> str:
        if not self.recorded_durations:
            return ""
        # totals with `math.fsum`: thousands of tiny durations added naively lose their last digits
        totals = {name: math.fsum(durations) for name, durations in self.recorded_durations.items()}
        rows = sorted(self.recorded_durations.items(), key=lambda item: totals[item[0]], reverse=True)
        if self.extended:
            elapsed = time.perf_counter() - self.start_time
            header = ["Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %"]
            calls = sum(len(durations) for durations in self.recorded_durations.values())
            first = [["Total", "-", str(calls), f"{elapsed:.5}", "100 %"]]
            body = [
                [
                    name,
                    f"{totals[name] / len(d):.5}",
                    str(len(d)),
                    f"{totals[name]:.5}",
                    f"{totals[name] / elapsed * 100:.5}",
                ]
                for name, d in rows
            ]
        else:
            header = ["Action", "Mean duration (s)", "Total time (s)"]
            first = []
            body = [[name, f"{totals[name] / len(d):.5}", f"{totals[name]:.5}"] for name, d in rows]
        return _table("Profiler Report", header, first, body)


def _table(title: str, header: list[str], first: list[list[str]], body: list[list[str]]) -> str:
    """A plain-text table: the title, the header, then ``first`` (a totals row) and ``body``, between rules."""
    widths = [max(len(row[i]) for row in [header, *first, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "-" * len(line(header))
    lines = [title, rule, line(header), rule]
    if first:
        lines += [line(row) for row in first] + [rule]
    lines += [line(row) for row in body] + [rule]
    return os.linesep + os.linesep.join(lines) + os.linesep
