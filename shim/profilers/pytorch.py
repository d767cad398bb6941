"""``PyTorchProfiler``: ``torch.profiler`` around a run, each named action a ``record_function`` range in it.

The operators torch records are reported as ``key_averages().table(...)``; with ``export_to_chrome`` the trace is
also written as a Chrome trace (``chrome://tracing``, Perfetto) next to the report. ``RegisterRecordFunction``
labels each submodule's forward, so the trace shows which layer ran which operators.
"""

import inspect
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shim.profilers.profiler import Profiler
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache

__all__ = ["PyTorchProfiler", "RegisterRecordFunction"]

# whether torch was built with Kineto, the tracer behind `torch.profiler`; without it the autograd profiler records
_KINETO_AVAILABLE = torch.profiler.kineto_available()
# the profiler's warnings, each given once per process
warning_cache = WarningCache()
# the prefix of the ranges the actions and the modules make in the trace
_ACTION_PREFIX = "[pl][profile]"
_MODULE_PREFIX = "[pl][module]"
# the keys `EventList.table` sorts by
AVAILABLE_SORT_KEYS = {
    "cpu_time",
    "cuda_time",
    "cpu_time_total",
    "cuda_time_total",
    "cpu_memory_usage",
    "cuda_memory_usage",
    "self_cpu_memory_usage",
    "self_cuda_memory_usage",
    "count",
}
# actions that end one step of a loop: the torch profiler steps (and its schedule advances) when one of them stops
_STEP_ACTIONS = ("training_step", "validation_step", "test_step", "predict_step")
# the default schedule, as Lightning's: per kind of step, skip one, warm up on one, record three. It needs 5 steps
_DEFAULT_WINDOW = {"wait": 1, "warmup": 1, "active": 3}
_DEFAULT_WINDOW_STEPS = sum(_DEFAULT_WINDOW.values())


class _StepSchedule:
    """A ``torch.profiler`` schedule applied to each kind of step on its own (training, validation, test, predict).

    torch's profiler has one step counter; a fit interleaves training and validation steps, so each kind keeps its
    own count, and a kind whose window was recorded and saved records no more.
    """

    def __init__(self, schedule: Any) -> None:
        self.schedule = schedule
        self.reset()

    def reset(self) -> None:
        self.kind: str | None = None  # the kind of the step that just ended
        self.counts: dict[str, int] = {}
        self.saved: set[str] = set()
        self._previous: Any = None

    def __call__(self, _step_num: int) -> Any:
        from torch.profiler import ProfilerAction

        kind = self.kind
        if kind is None or kind in self.saved:
            return ProfilerAction.NONE
        self.counts[kind] = count = self.counts.get(kind, 0) + 1
        action = self.schedule(count)
        if self._previous == ProfilerAction.RECORD and action == ProfilerAction.WARMUP:
            # a kind still warming up after another one recorded: torch cannot go back from recording to warmup
            action = ProfilerAction.RECORD
        if action == ProfilerAction.RECORD_AND_SAVE:
            self.saved.add(kind)
        self._previous = action
        return action


class RegisterRecordFunction:
    """``with RegisterRecordFunction(model):``: each submodule's forward runs inside a ``record_function`` range
    named ``[pl][module]<class path>: <submodule name>``."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._ranges: dict[str, Any] = {}
        self._last_step_action: str | None = None
        self._windowed = False
        self._handles: list[Any] = []

    def _enter(self, name: str) -> None:
        span = torch.autograd.profiler.record_function(name)
        span.__enter__()
        self._ranges[name] = span

    def _exit(self, name: str) -> None:
        span = self._ranges.pop(name, None)
        if span is not None:
            span.__exit__(None, None, None)

    def __enter__(self) -> "RegisterRecordFunction":
        for module_name, module in self._model.named_modules():
            if not module_name:
                continue
            cls = type(module)
            name = f"{_MODULE_PREFIX}{cls.__module__}.{cls.__name__}: {module_name}"
            self._handles.append(module.register_forward_pre_hook(lambda *_, n=name: self._enter(n)))
            self._handles.append(module.register_forward_hook(lambda *_, n=name: self._exit(n)))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for name in list(self._ranges):
            self._exit(name)


class PyTorchProfiler(Profiler):
    """Profile the operators a run executes with ``torch.profiler.profile``.

    Args:
        dirpath, filename: Where the report goes (see ``Profiler.describe``); the Chrome trace goes to ``dirpath``
            too, named like the report with ``.pt.trace.json``.
        group_by_input_shapes: Group the report's rows by the operators' input shapes (needs ``record_shapes``).
        emit_nvtx: Emit NVTX ranges for ``nvprof``/Nsight instead of recording (no report then).
        export_to_chrome: Write the Chrome trace.
        row_limit: Rows of the report's table (``-1``: all).
        sort_by_key: The column the table is sorted by (one of ``AVAILABLE_SORT_KEYS``); by default the CPU or,
            with CUDA, the CUDA total time.
        record_module_names: Label each submodule's forward in the trace (see ``RegisterRecordFunction``).
        table_kwargs: More arguments for ``EventList.table`` (``max_name_column_width``, ...).
        profiler_kwargs: Passed to ``torch.profiler.profile`` (``record_shapes``, ``profile_memory``,
            ``with_stack``, ``on_trace_ready``, ...). ``schedule`` applies to each kind of step on its own; by
            default it skips one step, warms up on one and records three (with a warning and every step recorded
            when a run has fewer than five), and each recorded window is written as its own Chrome trace, named
            after the step action. ``schedule=None`` records everything.

    Raises:
        MisconfigurationException: If ``sort_by_key`` is not a known column or ``schedule`` is not callable.
        KeyError: If ``table_kwargs`` holds a name ``table`` does not take, or one given as its own argument here.
    """

    def __init__(
        self,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        group_by_input_shapes: bool = False,
        emit_nvtx: bool = False,
        export_to_chrome: bool = True,
        row_limit: int = 20,
        sort_by_key: str | None = None,
        record_module_names: bool = True,
        table_kwargs: dict[str, Any] | None = None,
        **profiler_kwargs: Any,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self._group_by_input_shapes = group_by_input_shapes and profiler_kwargs.get("record_shapes", False)
        self._emit_nvtx = emit_nvtx
        self._export_to_chrome = export_to_chrome
        self._row_limit = row_limit
        self._sort_by_key = sort_by_key or f"{'cuda' if torch.cuda.is_available() else 'cpu'}_time_total"
        self._record_module_names = record_module_names
        self._table_kwargs = dict(table_kwargs or {})
        self._profiler_kwargs = profiler_kwargs
        if self._sort_by_key not in AVAILABLE_SORT_KEYS:
            raise MisconfigurationException(
                f"PyTorchProfiler(sort_by_key={self._sort_by_key!r}): sort by one of {sorted(AVAILABLE_SORT_KEYS)}."
            )
        given = "schedule" in profiler_kwargs
        schedule = profiler_kwargs.pop("schedule") if given else _default_schedule()
        if schedule is not None and not callable(schedule):
            raise MisconfigurationException(
                f"PyTorchProfiler(schedule={schedule!r}): give a callable, such as `torch.profiler.schedule(...)`."
            )
        # None: every step is recorded (no schedule given, or `schedule=None`)
        self._step_schedule = _StepSchedule(schedule) if schedule is not None and _KINETO_AVAILABLE else None
        self._default_window = not given and self._step_schedule is not None
        self._checked_kinds: set[str] = set()  # the kinds of step whose count was checked against the window
        _check_table_kwargs(self._table_kwargs)
        self.profiler: Any = None
        self.function_events: Any = None
        self._nvtx: Any = None
        self._register: RegisterRecordFunction | None = None
        self._ranges: dict[str, Any] = {}

    # -- recording -----------------------------------------------------------------------------------------
    def _open(self) -> None:
        """Start torch's profiler (the first action of a stage does)."""
        if self._emit_nvtx:
            self._nvtx = torch.autograd.profiler.emit_nvtx()
            self._nvtx.__enter__()
            return
        if torch.autograd._profiler_enabled():  # one left running by a profiler that never reported
            torch.autograd._disable_profiler()
        factory: Any = torch.profiler.profile if _KINETO_AVAILABLE else torch.autograd.profiler.profile
        accepted = inspect.signature(factory.__init__).parameters
        kwargs = {k: v for k, v in self._profiler_kwargs.items() if k in accepted}
        if _KINETO_AVAILABLE:
            if "activities" not in kwargs:
                kwargs["activities"] = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    kwargs["activities"].append(torch.profiler.ProfilerActivity.CUDA)
            self._windowed = self._step_schedule is not None
            if self._step_schedule is not None:
                self._step_schedule.reset()
                kwargs["schedule"] = self._step_schedule
                if "on_trace_ready" not in kwargs:
                    kwargs["on_trace_ready"] = self._export_window
        self.profiler = factory(**kwargs)
        self.profiler.__enter__()

    def start(self, action_name: str) -> None:
        if self.profiler is None and self._nvtx is None:
            self._open()
        module = self._lightning_module
        if module is not None and self._register is None and self._record_module_names:
            self._register = RegisterRecordFunction(module)
            self._register.__enter__()
        if action_name not in self._ranges:
            span = torch.autograd.profiler.record_function(_ACTION_PREFIX + action_name)
            span.__enter__()
            self._ranges[action_name] = span

    def stop(self, action_name: str) -> None:
        span = self._ranges.pop(action_name, None)
        if span is not None:
            span.__exit__(None, None, None)
        schedule = self._step_schedule
        if schedule is None or self.profiler is None or not action_name.endswith(_STEP_ACTIONS):
            return
        schedule.kind = action_name.rsplit(".", 1)[-1]
        self._last_step_action = action_name
        if self._default_window and schedule.kind not in self._checked_kinds:
            self._checked_kinds.add(schedule.kind)
            steps = self._steps_of(schedule.kind)
            if steps is not None and steps < _DEFAULT_WINDOW_STEPS:
                warning_cache.warn(
                    f"PyTorchProfiler: this run has {steps} {schedule.kind} calls, fewer than the"
                    f" {_DEFAULT_WINDOW_STEPS} the default schedule needs; every step is recorded instead."
                )
                self._step_schedule = None
                self.profiler.schedule = _record_always
        self.profiler.step()

    def _steps_of(self, kind: str) -> int | float | None:
        """How many ``kind`` steps the current run takes (None without a Trainer to ask)."""
        trainer = getattr(self._lightning_module, "_trainer", None)
        if trainer is None:
            return None
        if kind == "training_step":
            return trainer.num_training_batches
        if kind == "validation_step":
            return sum(trainer.num_val_batches) + sum(trainer.num_sanity_val_batches)
        if kind == "test_step":
            return sum(trainer.num_test_batches)
        return sum(trainer.num_predict_batches)

    def _export_window(self, profiler: Any) -> None:
        """Write the trace of a recorded window of steps, named after the step action (torch calls this)."""
        if self.dirpath is None or not self._export_to_chrome:
            if self._export_to_chrome:
                warning_cache.warn("PyTorchProfiler: no `dirpath`, so the Chrome trace is not written.")
            return
        os.makedirs(self.dirpath, exist_ok=True)
        name = self._file_name(action_name=self._last_step_action, extension=".pt.trace.json")
        profiler.export_chrome_trace(os.path.join(self.dirpath, name))

    def _close(self) -> None:
        """Stop torch's profiler and keep its events (in ``function_events``); write the Chrome trace."""
        for name in list(self._ranges):
            self.stop(name)
        if self._register is not None:
            self._register.__exit__(None, None, None)
            self._register = None
        if self._nvtx is not None:
            self._nvtx.__exit__(None, None, None)
            self._nvtx = None
        if self.profiler is None:
            return
        profiler, self.profiler = self.profiler, None
        windowed = self._windowed  # opened with a schedule: on_trace_ready wrote (or was given) the traces
        profiler.__exit__(None, None, None)  # with a schedule, torch hands a window still recording to on_trace_ready
        self.function_events = profiler.events() if _KINETO_AVAILABLE else profiler.function_events
        if not windowed and self._export_to_chrome and "on_trace_ready" not in self._profiler_kwargs:
            if self.dirpath is None:
                warning_cache.warn("PyTorchProfiler: no `dirpath`, so the Chrome trace is not written.")
            else:
                os.makedirs(self.dirpath, exist_ok=True)
                profiler.export_chrome_trace(os.path.join(self.dirpath, self._file_name(extension=".pt.trace.json")))
        self._checked_kinds = set()
        if self._default_window and self._step_schedule is None:
            self._step_schedule = _StepSchedule(_default_schedule())  # the next stage starts with the window again

    # -- reporting -----------------------------------------------------------------------------------------
    def summary(self) -> str:
        if not self._profiler_kwargs.get("enabled", True) or self._emit_nvtx:
            return ""
        self._close()
        if not self.function_events:
            return ""
        averages = self.function_events.key_averages(group_by_input_shapes=self._group_by_input_shapes)
        table = averages.table(sort_by=self._sort_by_key, row_limit=self._row_limit, **self._table_kwargs)
        stage = f"{self._stage.upper()} " if self._stage else ""
        rank = f" (rank {self._local_rank})" if self._local_rank is not None else ""
        return f"{os.linesep}{stage}Profiler Report{rank}{os.linesep}{table}{os.linesep}"

    def teardown(self, stage: str | None) -> None:
        self._close()
        super().teardown(stage)

    def __getstate__(self) -> dict[str, Any]:
        # torch's profiler and open ranges cannot be copied: a copy holds the recorded events only
        state = dict(self.__dict__)
        state.update(profiler=None, _nvtx=None, _register=None, _ranges={}, _lightning_module=None)
        return state


def _default_schedule() -> Any:
    return torch.profiler.schedule(**_DEFAULT_WINDOW) if _KINETO_AVAILABLE else None


def _record_always(_step_num: int) -> Any:
    return torch.profiler.ProfilerAction.RECORD


def _check_table_kwargs(table_kwargs: dict[str, Any]) -> None:
    from torch.autograd.profiler_util import EventList

    own = {"sort_by", "row_limit"}
    accepted = set(inspect.signature(EventList.table).parameters) - {"self"} - own
    for key in table_kwargs:
        if key in own:
            raise KeyError(f"table_kwargs may not hold {key!r}: give it as PyTorchProfiler's own argument.")
        if key not in accepted:
            raise KeyError(f"table_kwargs holds {key!r}, which `EventList.table` does not take ({sorted(accepted)}).")
