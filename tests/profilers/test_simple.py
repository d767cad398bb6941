"""``SimpleProfiler``: durations per action, the errors of unbalanced start/stop, and the report table."""

import copy
import time
from pathlib import Path

import pytest

from shim.profilers import SimpleProfiler


def test_records_one_duration_per_call() -> None:
    profiler = SimpleProfiler()
    for pause in (0.02, 0.0):
        with profiler.profile("a"):
            time.sleep(pause)
    durations = profiler.recorded_durations["a"]
    assert len(durations) == 2
    assert durations[0] >= 0.02 > durations[1]
    assert profiler.current_actions == {}


def test_unbalanced_start_and_stop_raise() -> None:
    profiler = SimpleProfiler()
    with pytest.raises(ValueError, match="never started"):
        profiler.stop("x")
    profiler.start("x")
    with pytest.raises(ValueError, match="already being recorded"):
        profiler.start("x")
    profiler.stop("x")
    assert len(profiler.recorded_durations["x"]) == 1


@pytest.mark.parametrize("extended", [True, False])
def test_report_lists_the_slowest_action_first(extended: bool) -> None:
    profiler = SimpleProfiler(extended=extended)
    profiler.recorded_durations["fast"] = [0.5]
    profiler.recorded_durations["slow"] = [1.0, 2.0]
    report = profiler.summary()
    lines = report.strip().splitlines()
    assert lines[0] == "Profiler Report"
    assert report.index("slow") < report.index("fast")
    slow_row = next(line for line in lines if "slow" in line)
    cells = [cell.strip() for cell in slow_row.strip("|").split("|")]
    if extended:
        assert cells[:4] == ["slow", "1.5", "2", "3.0"]
        assert "Total" in report
        assert "Num calls" in report
    else:
        assert cells == ["slow", "1.5", "3.0"]
        assert "Num calls" not in report
    assert len({len(line) for line in lines[1:]}) == 1  # every row and rule is as wide as the header


def test_nothing_recorded_reports_nothing() -> None:
    assert SimpleProfiler().summary() == ""


def test_describe_writes_the_stage_file_and_can_be_copied(tmp_path: Path) -> None:
    profiler = SimpleProfiler(dirpath=tmp_path, filename="perf")
    profiler.setup("fit")
    with profiler.profile("step"):
        pass
    profiler.describe()
    assert "step" in (tmp_path / "fit-perf.txt").read_text()
    assert copy.deepcopy(profiler).recorded_durations["step"] == profiler.recorded_durations["step"]
