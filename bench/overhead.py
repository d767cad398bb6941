"""Framework overhead: a hand-written PyTorch loop vs ``shim.Trainer`` vs ``pytorch_lightning.Trainer``.

What is measured
----------------
* ``tiny``: training an MLP 32-64-1 (MSE, SGD lr=0.01, batch 64) with ``fit`` and every optional feature off
  (no logger, checkpointing, progress bar, summary or validation); ``training_step`` calls ``self.log`` each step.
  The model does almost no arithmetic, so the time is the framework's per-step overhead.
* ``tiny-defaults``: the same model with the Trainer's defaults (progress bar, logger, checkpointing, summary).
  The logger and callbacks each default Trainer attached are printed; where shim's and Lightning's differ (when
  written, shim had no default logger) the row is flagged as not like-for-like.
* ``validation``: ``trainer.validate(model, loader, verbose=False)`` of the tiny model against a hand-written
  ``torch.no_grad()`` loop in ``model.eval()``.
* ``large``: an MLP 512-2048-2048-10 (cross entropy, SGD, batch 256); compute bound, so the ratios should be ~1.
* ``import``: the cost of ``import shim`` and ``import pytorch_lightning`` on top of ``import torch``, timed in
  fresh subprocesses, and whether ``torch._dynamo`` was imported as a side effect.

How
---
Every timed run builds a fresh model from the same seed and times only the ``fit`` / ``validate`` call (or the
hand-written loop). Each variant runs once untimed first: that warms it up and its final weights (or validation
loss) are compared with the hand-written loop's, so all variants are known to do the same work. Then the variants
are timed interleaved (hand, shim, lightning, hand, shim, lightning, ...), each at two lengths, N and 2N batches.
The per-step figure is timed inside the runs: every loader collates through one function that notes the time each
batch starts, and the time from batch 10 to the last batch of a run, over the steps in between, is whole steps of
whatever the variant does per step (logging, bar updates and checkpoint checks included), without the constant cost
of starting and ending a ``fit`` call. A repeat's figure pools its two runs. ``(t(2N) - t(N)) / N``, the earlier
figure, is shown next to it: it cancels the constant cost too, but as the difference of two whole runs it carries
the noise of both. The constant cost is reported as ``t(N) - N * per_step``, next to the plain ``t(2N) / 2N``. The
tables show the median, min and max over the repeats, the ratios of the medians and, less sensitive to load from
other processes, the median of the ratios within each repeat. The hand-written loop is timed a second time, last in
each round, as ``control``: its ratio to the first is the noise floor of the run, the distance from 1 that two
timings of the same code reach here, so a shim/hand ratio closer to a target than that is not resolved by the run.
All runs use one intra-op thread and the CPU; output (progress bars, log messages) is sent to an in-memory buffer
while the frameworks run, and Python warnings are ignored.

Devices and precision
---------------------
``--device cuda`` runs every variant on the GPU (the hand-written loop moves each batch there itself; the Trainers
get ``accelerator="gpu", devices=1``), and ``--precision bf16-mixed`` or ``16-mixed`` trains under autocast (the hand
loop wraps forward and loss in ``torch.autocast``, with a ``GradScaler`` for ``16-mixed``, unscaling before the step
as Lightning does). Each run ends with ``torch.cuda.synchronize()`` inside its timing. The in-run stamps are taken on
the host, so on a GPU they time the host's side of a step, which is the whole step while the host is the bottleneck
(the tiny workloads); ``(t(2N) - t(N)) / N`` includes the device's time for the rest of the work.

The module loop
---------------
``--module-loop`` adds a variant to the ``fit`` workloads: the hand-written loop calling the benchmark module's own
``training_step`` as a method of a plain ``nn.Module`` (without ``self.log``). Its ratio to the hand loop is what
the shape of a LightningModule costs by itself, before any framework code; ``shim/module`` is what shim adds to it.

Usage: ``python bench/overhead.py [--repeats 5] [--quick] [--only tiny|tiny-defaults|validation|large|import]
[--no-control] [--module-loop] [--device cpu|cuda] [--precision 32-true|bf16-mixed|16-mixed]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import io
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from stats import Stats  # bench/stats.py: these scripts run from this folder
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, default_collate

import shim


def import_lightning() -> ModuleType | None:
    """``pytorch_lightning`` when it can be imported, else None (its variant is then skipped)."""
    try:
        return importlib.import_module("pytorch_lightning")
    except ImportError:
        return None


pytorch_lightning = import_lightning()

SEED = 1234
DATA_SEED = 4321
LR = 0.01
ATOL = 1e-6
WORKLOAD_NAMES = ("tiny", "tiny-defaults", "validation", "large", "import")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}

LossFn = Callable[[Tensor, Tensor], Tensor]
LOSSES: dict[str, LossFn] = {"mse": F.mse_loss, "ce": F.cross_entropy}
DEFAULTS_NOTE = (
    "   NOTE: the default Trainers differ (logger, callbacks or progress-bar redraw rate, listed above), so shim",
    "   and Lightning do different work here: this row is NOT like-for-like. The hand loop has no progress bar.",
)


# ----------------------------------------------------------------------------------------------------------------
# workloads and models
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """One benchmark row: the network, its data and what is run (``fit``, ``fit`` with defaults, ``validate``)."""

    name: str
    sizes: tuple[int, ...]
    loss: str
    batch_size: int
    batches: int
    mode: str  # "fit", "fit-defaults" or "validate"
    device: str = "cpu"  # "cpu" or "cuda"
    precision: str = "32-true"  # one of PRECISIONS

    @property
    def title(self) -> str:
        net = "-".join(str(size) for size in self.sizes)
        what = {"fit": "fit", "fit-defaults": "fit, Trainer defaults", "validate": "validate"}[self.mode]
        runs = f"{self.batches} vs {2 * self.batches} batches"
        return f"{self.name}: MLP {net}, {self.loss}, batch {self.batch_size}, {what}, {runs}, {self.where}"

    @property
    def where(self) -> str:
        return f"{self.device}, {self.precision}"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The hand-written loop's autocast region for this precision (nothing for ``32-true``)."""
        dtype = AUTOCAST_DTYPES.get(self.precision)
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device, dtype=dtype)

    def synchronize(self) -> None:
        """Wait for the device's queued work, so a run's timing includes it."""
        if self.device == "cuda":
            torch.cuda.synchronize()


def build_net(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with a ReLU between each pair."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if index:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fan_in, fan_out))
    return nn.Sequential(*layers)


def seeded_net(workload: Workload) -> nn.Sequential:
    torch.manual_seed(SEED)
    return build_net(workload.sizes)


def make_module_class(base: type[Any]) -> type[Any]:
    """The same LightningModule written against ``base`` (shim's or Lightning's ``LightningModule``)."""

    class BenchModule(base):
        def __init__(self, workload: Workload) -> None:
            super().__init__()
            torch.manual_seed(SEED)
            self.net = build_net(workload.sizes)
            self.loss_fn = LOSSES[workload.loss]

        def forward(self, x: Tensor) -> Tensor:
            return self.net(x)

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            x, y = batch
            loss = self.loss_fn(self.net(x), y)
            self.log("loss", loss)
            return loss

        def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", self.loss_fn(self.net(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=LR)

    return BenchModule


# when each batch of the run in progress started to be collated: every variant's loader collates through
# `stamped_collate`, so the time from an early batch to the last one is whole steps, timed from inside the run
batch_times: list[float] = []
WARMUP_BATCHES = 10  # left out of the in-run timing: the first steps also pay for first-call allocations


def stamped_collate(samples: list[Any]) -> Any:
    batch_times.append(time.perf_counter())
    return default_collate(samples)


def timed_run(runner: Runner, workload: Workload, loader: DataLoader, root: str) -> tuple[float, float, int]:
    """One run: the seconds of the whole call, then the seconds from the collation of an early batch to that of
    the last one and the steps in between (whole steps: each variant's work between two batches)."""
    batch_times.clear()
    seconds = runner(workload, loader, root).seconds
    skip = min(WARMUP_BATCHES, (len(batch_times) - 2) // 2)
    return seconds, batch_times[-1] - batch_times[skip], len(batch_times) - 1 - skip


def make_loader(workload: Workload, batches: int) -> DataLoader:
    generator = torch.Generator().manual_seed(DATA_SEED)
    samples = batches * workload.batch_size
    x = torch.randn(samples, workload.sizes[0], generator=generator)
    if workload.loss == "ce":
        y = torch.randint(0, workload.sizes[-1], (samples,), generator=generator)
    else:
        y = torch.randn(samples, workload.sizes[-1], generator=generator)
    dataset = TensorDataset(x, y)
    return DataLoader(dataset, batch_size=workload.batch_size, shuffle=False, collate_fn=stamped_collate)


# ----------------------------------------------------------------------------------------------------------------
# the three variants
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    seconds: float
    net: nn.Module
    metric: float | None = None  # the validation loss, for ``validate`` runs
    setup: str = ""  # the Trainer's logger and callbacks, for ``fit-defaults`` runs


Runner = Callable[[Workload, DataLoader, str], RunResult]


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Send stdout, stderr and every logging stream handler to one in-memory buffer (progress bars still render)."""
    sink = io.StringIO()
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers]
    streams = [(h, h.stream) for h in handlers if type(h) is logging.StreamHandler]
    for handler, _ in streams:
        handler.setStream(sink)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield sink
    finally:
        for handler, stream in streams:
            handler.setStream(stream)


def run_hand(workload: Workload, loader: DataLoader, root: str) -> RunResult:
    """The loop a user would write by hand: ``fit`` as an SGD loop, ``validate`` as a ``no_grad`` loop."""
    net = seeded_net(workload).to(workload.device)
    loss_fn = LOSSES[workload.loss]
    gc.collect()
    if workload.mode == "validate":
        start = time.perf_counter()
        metric = hand_validate(net, loader, loss_fn, workload)
        workload.synchronize()
        return RunResult(time.perf_counter() - start, net, metric)
    start = time.perf_counter()
    if workload.device == "cpu" and workload.precision == "32-true":
        hand_fit(net, loader, loss_fn)
    else:
        hand_fit_on(net, loader, loss_fn, workload)
    workload.synchronize()
    return RunResult(time.perf_counter() - start, net)


def hand_fit(net: nn.Module, loader: DataLoader, loss_fn: LossFn) -> None:
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    net.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()


class StepModule(nn.Module):
    """The benchmark module's code in a plain ``nn.Module``: the net as a submodule, ``training_step`` as a method."""

    def __init__(self, workload: Workload) -> None:
        super().__init__()
        self.net = seeded_net(workload)
        self.loss_fn = LOSSES[workload.loss]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        return self.loss_fn(self.net(x), y)


def run_module_loop(workload: Workload, loader: DataLoader, root: str) -> RunResult:
    """The hand-written loop calling the module's own code: ``training_step`` as a method (which reads ``self.net``
    through ``nn.Module.__getattr__``), without ``self.log``. Any framework that runs a LightningModule pays this
    much over ``hand_fit`` before doing anything of its own (``--module-loop``; fit at full precision on the CPU)."""
    module = StepModule(workload)
    optimizer = torch.optim.SGD(module.parameters(), lr=LR)
    gc.collect()
    start = time.perf_counter()
    module.train()
    for batch_idx, batch in enumerate(loader):
        loss = module.training_step(batch, batch_idx)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return RunResult(time.perf_counter() - start, module.net)


def hand_fit_on(net: nn.Module, loader: DataLoader, loss_fn: LossFn, workload: Workload) -> None:
    """``hand_fit`` on ``workload.device`` under ``workload.precision``: what a user adds to the plain loop."""
    device = workload.device
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    scaler = torch.amp.GradScaler(device) if workload.precision == "16-mixed" else None
    net.train()
    for x, y in loader:
        if device != "cpu":
            x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        with workload.autocast():
            loss = loss_fn(net(x), y)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)
            scaler.update()


def hand_validate(net: nn.Module, loader: DataLoader, loss_fn: LossFn, workload: Workload) -> float:
    device = workload.device
    net.eval()
    total = torch.zeros((), device=device)
    batches = 0
    with torch.no_grad(), workload.autocast():  # one region for the whole loop: nothing per batch on the CPU
        for x, y in loader:
            if device != "cpu":
                x, y = x.to(device), y.to(device)
            total += loss_fn(net(x), y)
            batches += 1
    return (total / batches).item()  # every batch has the same size, so this is Lightning's weighted epoch mean


def trainer_kwargs(workload: Workload, root: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"max_epochs": 1, "default_root_dir": root}
    if workload.device != "cpu" or workload.precision != "32-true":
        kwargs.update(accelerator="gpu" if workload.device == "cuda" else "cpu", devices=1)
        kwargs["precision"] = workload.precision
    if workload.mode == "fit-defaults":
        return kwargs
    kwargs.update(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    if workload.mode == "fit":
        kwargs["limit_val_batches"] = 0
    return kwargs


def framework_runner(package: ModuleType) -> Runner:
    """A runner for ``package.Trainer`` (shim or pytorch_lightning); only ``fit`` / ``validate`` is timed."""
    module_class = make_module_class(package.LightningModule)

    def run(workload: Workload, loader: DataLoader, root: str) -> RunResult:
        model = module_class(workload)
        with quiet():
            trainer = package.Trainer(**trainer_kwargs(workload, root))
            gc.collect()
            metric = None
            start = time.perf_counter()
            if workload.mode == "validate":
                metric = trainer.validate(model, loader, verbose=False)[0]["val_loss"]
            else:
                trainer.fit(model, loader)
            workload.synchronize()
            seconds = time.perf_counter() - start
        setup = describe_setup(trainer) if workload.mode == "fit-defaults" else ""
        return RunResult(seconds, model.net, None if metric is None else float(metric), setup)

    return run


def describe_setup(trainer: Any) -> str:
    """The logger and callbacks a Trainer attached, e.g. ``logger: TensorBoardLogger; callbacks: ...``."""
    logger = type(trainer.logger).__name__ if trainer.logger is not None else "none"
    callbacks = []
    for callback in trainer.callbacks:
        name = type(callback).__name__
        redraw = getattr(callback, "min_redraw_interval", None)  # shim's bar throttles redraws; Lightning's does not
        callbacks.append(f"{name}(redraws at most every {redraw} s)" if redraw is not None else name)
    return f"logger: {logger}; callbacks: {', '.join(callbacks) or 'none'}"


def variants(control: bool, module_loop: bool = False) -> dict[str, Runner]:
    """The timed variants; ``module_loop`` adds ``run_module_loop``; ``control`` adds the hand-written loop a second
    time, last in each round, whose ratio to the first shows how far two timings of the same code drift apart in
    this run (the noise floor of every other ratio)."""
    runners: dict[str, Runner] = {"hand": run_hand, "shim": framework_runner(shim)}
    if pytorch_lightning is not None:
        runners["lightning"] = framework_runner(pytorch_lightning)
    if module_loop:
        runners["module"] = run_module_loop
    if control:
        runners["control"] = run_hand
    return runners


# ----------------------------------------------------------------------------------------------------------------
# measuring
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Repeat:
    """One repeat of one variant: the run of N batches and the run of 2N."""

    t_short: float  # seconds of the N-batch call
    t_long: float  # seconds of the 2N-batch call
    span: float  # seconds between the first and last timed batch of both runs together
    steps: int  # the steps in `span`


@dataclass
class VariantTiming:
    per_step: Stats  # seconds per step, timed inside the runs (`span / steps` of each repeat)
    by_difference: Stats  # seconds per step, (t(2N) - t(N)) / N
    total_per_step: Stats  # seconds per step, t(2N) / 2N
    fixed: Stats  # seconds of constant cost per call, t(N) - N * per_step
    samples: list[float]  # the per-step seconds of each repeat, in order


@dataclass
class WorkloadResult:
    workload: Workload
    timings: dict[str, VariantTiming]
    equal: dict[str, str]  # variant -> "yes (...)" / "no (...)", compared with the hand-written loop
    setups: dict[str, str]  # variant -> its Trainer's logger and callbacks (``fit-defaults`` only)


def compare(reference: RunResult, other: RunResult) -> str:
    """Whether two runs ended with the same weights (and, for ``validate``, the same loss)."""
    ref_state, other_state = reference.net.state_dict(), other.net.state_dict()
    if ref_state.keys() != other_state.keys():
        return "no (different parameters)"
    diffs = [(ref_state[key].cpu() - other_state[key].cpu()).abs().max().item() for key in ref_state]
    if reference.metric is not None and other.metric is not None:
        diffs.append(abs(reference.metric - other.metric))
    worst = max(diffs)
    if worst == 0.0:
        return "yes (bit-identical)"
    return f"yes (max abs diff {worst:.1e})" if worst <= ATOL else f"no (max abs diff {worst:.1e})"


def check_and_warm_up(workload: Workload, runners: dict[str, Runner], loader: DataLoader, root: str) -> WorkloadResult:
    """One untimed run of each variant; compares each variant's final weights with the hand-written loop's."""
    results = {name: runner(workload, loader, root) for name, runner in runners.items()}
    equal = {
        name: compare(results["hand"], result) for name, result in results.items() if name not in ("hand", "control")
    }
    setups = {name: result.setup for name, result in results.items() if result.setup}
    return WorkloadResult(workload, {}, equal, setups)


def time_workload(workload: Workload, runners: dict[str, Runner], repeats: int, root: str) -> WorkloadResult:
    short, long = make_loader(workload, workload.batches), make_loader(workload, 2 * workload.batches)
    result = check_and_warm_up(workload, runners, short, root)
    repeats_of: dict[str, list[Repeat]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            t_short, short_span, short_steps = timed_run(runner, workload, short, root)
            t_long, long_span, long_steps = timed_run(runner, workload, long, root)
            repeats_of[name].append(Repeat(t_short, t_long, short_span + long_span, short_steps + long_steps))
    result.timings = {name: summarize(values, workload.batches) for name, values in repeats_of.items()}
    return result


def summarize(repeats: Sequence[Repeat], batches: int) -> VariantTiming:
    per_step = [r.span / r.steps for r in repeats]
    return VariantTiming(
        per_step=Stats.of(per_step),
        by_difference=Stats.of([(r.t_long - r.t_short) / batches for r in repeats]),
        total_per_step=Stats.of([r.t_long / (2 * batches) for r in repeats]),
        fixed=Stats.of([r.t_short - batches * step for r, step in zip(repeats, per_step, strict=True)]),
        samples=per_step,
    )


# ----------------------------------------------------------------------------------------------------------------
# import time
# ----------------------------------------------------------------------------------------------------------------
IMPORT_SNIPPET = (
    "import json, sys, time, torch; before = 'torch._dynamo' in sys.modules; count = len(sys.modules); "
    "start = time.perf_counter(); import {module}; seconds = time.perf_counter() - start; "
    "print(json.dumps({{'seconds': seconds, 'dynamo_before': before, "
    "'dynamo_after': 'torch._dynamo' in sys.modules, 'new_modules': len(sys.modules) - count}}))"
)


@dataclass
class ImportResult:
    seconds: Stats
    dynamo_before: bool
    dynamo_after: bool
    new_modules: int


def import_once(module: str) -> dict[str, Any]:
    # as on a user's machine, byte code is cached: an environment that disables writing it would time compilation
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_SNIPPET.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tempfile.gettempdir(),  # import the installed package, not a folder that happens to be the cwd
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def time_imports(modules: Sequence[str], repeats: int) -> dict[str, ImportResult]:
    runs: dict[str, list[dict[str, Any]]] = {module: [] for module in modules}
    for module in modules:
        import_once(module)  # warm-up: writes the byte-code cache
    for _ in range(repeats):
        for module in modules:
            runs[module].append(import_once(module))
    return {
        module: ImportResult(
            seconds=Stats.of([run["seconds"] for run in results]),
            dynamo_before=any(run["dynamo_before"] for run in results),
            dynamo_after=any(run["dynamo_after"] for run in results),
            new_modules=int(statistics.median(run["new_modules"] for run in results)),
        )
        for module, results in runs.items()
    }


# ----------------------------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------------------------
def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def ratio(numerator: VariantTiming | None, denominator: VariantTiming | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator.per_step.median / denominator.per_step.median:.2f}"


def paired_ratio(numerator: VariantTiming | None, denominator: VariantTiming | None) -> str:
    """Median over repeats of the ratio within a repeat: the runs of one repeat are neighbours in time."""
    if numerator is None or denominator is None:
        return "-"
    ratios = [a / b for a, b in zip(numerator.samples, denominator.samples, strict=True)]
    return f"{statistics.median(ratios):.2f}"


def print_workload(result: WorkloadResult) -> None:
    unit = "batch" if result.workload.mode == "validate" else "step"
    print(f"\n== {result.workload.title}")
    if result.workload.mode == "fit-defaults":
        for name, setup in result.setups.items():
            print(f"   {name} default Trainer: {setup}")
        if len(set(result.setups.values())) > 1:
            print("\n".join(DEFAULTS_NOTE))
    for name, verdict in result.equal.items():
        what = "validation loss and weights" if result.workload.mode == "validate" else "weights"
        print(f"   {name} vs hand: {what} equal: {verdict}")
    print(
        f"   {'variant':<10} {f'us/{unit} median':>16} {'min':>10} {'max':>10}"
        f" {'(t(2N)-t(N))/N':>15} {f't(2N)/2N us/{unit}':>18} {'fixed ms':>10}"
    )
    for name, timing in result.timings.items():
        step = timing.per_step
        print(
            f"   {name:<10} {us(step.median):>16} {us(step.low):>10} {us(step.high):>10}"
            f" {us(timing.by_difference.median):>15} {us(timing.total_per_step.median):>18}"
            f" {ms(timing.fixed.median):>10}"
        )
    hand, shim_t, light = (result.timings.get(name) for name in ("hand", "shim", "lightning"))
    print(
        f"   ratios (median us/{unit}): shim/hand {ratio(shim_t, hand)}   lightning/hand {ratio(light, hand)}"
        f"   shim/lightning {ratio(shim_t, light)}"
    )
    print(
        f"   paired ratios (median of per-repeat ratios): shim/hand {paired_ratio(shim_t, hand)}"
        f"   lightning/hand {paired_ratio(light, hand)}   shim/lightning {paired_ratio(shim_t, light)}"
    )
    module = result.timings.get("module")
    if module is not None:
        print(
            f"   module loop: module/hand {ratio(module, hand)} (paired {paired_ratio(module, hand)}),"
            f" shim/module {ratio(shim_t, module)} (paired {paired_ratio(shim_t, module)}): the hand loop calling the"
            " module's training_step, and what shim adds to that"
        )
    control = result.timings.get("control")
    if control is not None:
        print(
            f"   noise floor: control/hand {ratio(control, hand)} (paired {paired_ratio(control, hand)}), the same"
            " hand-written loop timed twice; ratios within this distance of 1 are not resolved"
        )


def print_summary(results: Sequence[WorkloadResult]) -> None:
    print("\n== summary (median us per step or per validation batch, timed inside the runs)")
    print(
        f"   {'workload':<14} {'hand':>9} {'shim':>9} {'lightning':>10} {'shim/hand':>10} {'light/hand':>11}"
        f" {'shim/light':>11} {'control/hand':>13}  weights equal"
    )
    for result in results:
        hand, shim_t, light, control = (result.timings.get(name) for name in ("hand", "shim", "lightning", "control"))
        cells = [us(t.per_step.median) if t is not None else "-" for t in (hand, shim_t, light)]
        equal = "yes" if all(v.startswith("yes") for v in result.equal.values()) else "no"
        print(
            f"   {result.workload.name:<14} {cells[0]:>9} {cells[1]:>9} {cells[2]:>10} {ratio(shim_t, hand):>10}"
            f" {ratio(light, hand):>11} {ratio(shim_t, light):>11} {ratio(control, hand):>13}  {equal}"
        )


def print_imports(results: dict[str, ImportResult], repeats: int) -> None:
    print(f"\n== import: cost on top of `import torch`, fresh subprocess each, {repeats} interleaved repeats")
    print(f"   {'module':<18} {'median ms':>10} {'min':>8} {'max':>8} {'new modules':>12}  torch._dynamo imported")
    for module, result in results.items():
        dynamo = "yes" if result.dynamo_after and not result.dynamo_before else "no"
        if result.dynamo_before:
            dynamo = "already by torch"
        print(
            f"   {module:<18} {ms(result.seconds.median):>10} {ms(result.seconds.low):>8} {ms(result.seconds.high):>8}"
            f" {result.new_modules:>12}  {dynamo}"
        )
    if "shim" in results and "pytorch_lightning" in results:
        share = results["shim"].seconds.median / results["pytorch_lightning"].seconds.median
        print(f"   shim/lightning import time: {share:.2f}")


def print_header(repeats: int, device: str, precision: str) -> None:
    print("framework overhead: hand-written loop vs shim.Trainer vs pytorch_lightning.Trainer")
    gpu = f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""
    print(f"device:  {device}{gpu}   precision: {precision}")
    print(f"date:    {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"python:  {platform.python_version()}   torch: {torch.__version__}   shim: {shim.__version__}")
    lightning = pytorch_lightning.__version__ if pytorch_lightning is not None else "not importable: SKIPPED"
    print(f"pytorch_lightning: {lightning}")
    print(f"cpu cores: {os.cpu_count()}   torch threads: {torch.get_num_threads()}   repeats: {repeats}")


# ----------------------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------------------
def workloads(quick: bool, device: str = "cpu", precision: str = "32-true") -> list[Workload]:
    tiny, large = (40, 2) if quick else (400, 30)
    return [
        Workload("tiny", (32, 64, 1), "mse", 64, tiny, "fit", device, precision),
        Workload("tiny-defaults", (32, 64, 1), "mse", 64, tiny, "fit-defaults", device, precision),
        Workload("validation", (32, 64, 1), "mse", 64, tiny, "validate", device, precision),
        Workload("large", (512, 2048, 2048, 10), "ce", 256, large, "fit", device, precision),
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per variant (default 5; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="few batches and repeats: a smoke run")
    parser.add_argument("--only", choices=WORKLOAD_NAMES, help="run one workload")
    parser.add_argument(
        "--no-control", action="store_true", help="skip the second timing of the hand-written loop (the noise floor)"
    )
    parser.add_argument(
        "--module-loop",
        action="store_true",
        help="add the hand-written loop that calls the module's training_step (the fit workloads, CPU, 32-true)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every variant trains")
    parser.add_argument("--precision", choices=PRECISIONS, default="32-true", help="the Trainers' `precision`")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False here")
    if args.module_loop and (args.device, args.precision) != ("cpu", "32-true"):
        parser.error("--module-loop runs on the CPU at 32-true only")
    if args.precision == "16-mixed" and args.device != "cuda":
        parser.error("--precision 16-mixed needs --device cuda (float16 autocast with a GradScaler is a GPU setting)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    print_header(repeats, args.device, args.precision)
    if pytorch_lightning is None:
        print("pytorch_lightning could not be imported: the lightning variant is skipped")
    results: list[WorkloadResult] = []
    with tempfile.TemporaryDirectory(prefix="shim-bench-") as root:
        for workload in workloads(args.quick, args.device, args.precision):
            if args.only in (None, workload.name):
                runners = variants(control=not args.no_control, module_loop=args.module_loop and workload.mode == "fit")
                results.append(time_workload(workload, runners, repeats, root))
                print_workload(results[-1])
                sys.stdout.flush()
    if results:
        print_summary(results)
    if args.only in (None, "import"):
        modules = ["shim"] + (["pytorch_lightning"] if pytorch_lightning is not None else [])
        print_imports(time_imports(modules, repeats), repeats)


if __name__ == "__main__":
    main()
