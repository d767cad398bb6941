"""``AdvancedProfiler``: one cProfile profile per action, nested actions, the pstats report and ``.prof`` dumps."""

import copy
import pstats
from pathlib import Path

import pytest

from shim.profilers import AdvancedProfiler


def _work() -> int:
    return sum(i * i for i in range(2000))


def test_each_action_has_its_own_profile_and_nesting_works(tmp_path: Path) -> None:
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="perf")
    with profiler.profile("outer"):
        with profiler.profile("inner"):
            _work()
        _work()
    inner = pstats.Stats(profiler.profiled_actions["inner"])
    outer = pstats.Stats(profiler.profiled_actions["outer"])
    calls = {name: count for (_, _, name), (count, *_rest) in inner.stats.items()}  # type: ignore[attr-defined]
    assert calls.get("_work") == 1
    outer_calls = {name: count for (_, _, name), (count, *_rest) in outer.stats.items()}  # type: ignore[attr-defined]
    assert outer_calls.get("_work") == 1  # the call made while `inner` recorded is `inner`'s only


def test_stop_of_an_unknown_action_raises() -> None:
    with pytest.raises(ValueError, match="never started"):
        AdvancedProfiler().stop("x")


def test_describe_writes_the_report_and_the_dumps(tmp_path: Path) -> None:
    profiler = AdvancedProfiler(dirpath=tmp_path, filename="perf", dump_stats=True)
    with profiler.profile("a/b:c"):
        _work()
    profiler.describe()
    report = (tmp_path / "perf.txt").read_text()
    assert "Profile of a/b:c" in report
    assert "_work" in report
    dumps = sorted(p.name for p in tmp_path.glob("*.prof"))
    assert dumps == ["perf-a_b_c.prof"]
    assert pstats.Stats(str(tmp_path / dumps[0])).total_calls > 0  # type: ignore[attr-defined]
    assert profiler.profiled_actions == {}  # describe tears down


def test_a_copy_leaves_the_profiles_out() -> None:
    profiler = AdvancedProfiler()
    with profiler.profile("a"):
        pass
    copied = copy.deepcopy(profiler)
    assert copied.profiled_actions == {}
    assert "a" in profiler.profiled_actions
