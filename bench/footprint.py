"""Footprint: the peak memory of a fit and the installed distributions of ``shim`` vs ``pytorch_lightning``.

What is measured
----------------
* ``rss``: the peak resident set size of a whole process that trains the tiny model of ``bench/overhead.py`` (MLP
  32-64-1, MSE, SGD lr=0.01, batch 64, one epoch of N batches, one torch thread), read with
  ``resource.getrusage(resource.RUSAGE_SELF).ru_maxrss`` at the end of the process. Variants: ``hand`` (the loop a
  user would write), ``shim`` and ``lightning`` with every optional feature off (no logger, checkpointing, progress
  bar, summary or validation, as in overhead's ``tiny``), and ``shim-defaults`` / ``lightning-defaults`` with the
  Trainer's defaults (``max_epochs=1`` and a temporary ``default_root_dir``; the progress bar and log messages go
  to the parent through a pipe). The figure is the whole process: the interpreter, ``import torch``, the framework's
  import (done before the data and model are built), the data, the model and the fit; the peak right after the
  imports is shown too. The difference to the hand loop is the framework's cost. Target for shim: <= 5 MB.
* ``deps``: the distributions that ``lightning-shim`` and ``pytorch-lightning`` install on top of ``torch``, from the
  installed package metadata (``importlib.metadata``): the closure of the required (non-extra) requirements,
  followed recursively through the installed distributions (with the extras a requirement asks for, such as
  ``fsspec[http]``, and with environment markers evaluated for this interpreter), minus the closure of ``torch``.
  Sizes on disk are the sums of the sizes of the files each distribution's metadata lists (``RECORD``, or
  ``SOURCES.txt`` for a development install), so byte code compiled after installation is not counted.
  Target for shim: nothing but tensorboard's closure, tqdm, PyYAML and typing-extensions.

How
---
Each RSS sample is a fresh ``python bench/footprint.py --child VARIANT`` process (started from the temporary folder,
so the installed packages are imported), which writes its peak RSS, the number of steps it ran and its final weights
to a JSON file. One untimed round first warms the byte-code cache, then the variants run interleaved (hand, shim,
lightning, shim-defaults, lightning-defaults, hand, ...). The table shows the median, min and max over the repeats,
the difference of the medians to the hand loop's and the median of the per-repeat differences; every run's final
weights are compared with the hand loop's, so all variants are known to do the same work. MB are 10^6 bytes; Linux
reports ``ru_maxrss`` in KiB (macOS in bytes, handled). The lightning variants are skipped when
``pytorch_lightning`` is not installed.

Usage: ``python bench/footprint.py [--repeats 5] [--quick] [--only rss|deps]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stats import Stats  # bench/stats.py: these scripts run from this folder

if TYPE_CHECKING:
    from torch import Tensor, nn

SEED = 1234
DATA_SEED = 4321
LR = 0.01
BATCH_SIZE = 64
SIZES = (32, 64, 1)
ATOL = 1e-6
SHIM_TARGET_MB = 5.0
MB = 1e6

# variant -> (framework module or "" for the hand loop, Trainer defaults?)
VARIANTS: dict[str, tuple[str, bool]] = {
    "hand": ("", False),
    "shim": ("shim", False),
    "lightning": ("pytorch_lightning", False),
    "shim-defaults": ("shim", True),
    "lightning-defaults": ("pytorch_lightning", True),
}
SHIM_DIST = "lightning-shim"
LIGHTNING_DIST = "pytorch-lightning"
# what shim may add on top of torch: tensorboard's closure plus these
SHIM_ALLOWED = ("tqdm", "pyyaml", "typing-extensions")


# ----------------------------------------------------------------------------------------------------------------
# the child process: one fit, then its peak RSS
# ----------------------------------------------------------------------------------------------------------------
def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux: KiB, macOS: bytes


def child(variant: str, steps: int, root: str, result_path: str) -> None:
    """Import what the variant needs, fit, and write the peak RSS (after the imports and at the end) as JSON."""
    framework_name, defaults = VARIANTS[variant]
    import torch

    framework = importlib.import_module(framework_name) if framework_name else None
    after_imports = peak_rss_bytes()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")

    generator = torch.Generator().manual_seed(DATA_SEED)
    x = torch.randn(steps * BATCH_SIZE, SIZES[0], generator=generator)
    y = torch.randn(steps * BATCH_SIZE, SIZES[-1], generator=generator)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=False)
    setup = ""
    if framework is None:
        net = hand_fit(loader)
        ran = steps
    else:
        model = make_module_class(framework.LightningModule)()
        trainer = framework.Trainer(**trainer_kwargs(defaults, root))
        trainer.fit(model, loader)
        net, ran = model.net, int(trainer.global_step)
        setup = describe_setup(trainer) if defaults else ""
    peak = peak_rss_bytes()
    weights = torch.cat([tensor.detach().flatten() for tensor in net.state_dict().values()]).tolist()
    result = {
        "peak": peak,
        "after_imports": after_imports,
        "steps": ran,
        "modules": len(sys.modules),
        "tensorboard_imported": "tensorboard" in sys.modules,
        "setup": setup,
        "weights": weights,
    }
    Path(result_path).write_text(json.dumps(result))


def build_net() -> nn.Sequential:
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]))


def hand_fit(loader: Any) -> nn.Module:
    import torch
    from torch.nn import functional as F

    net = build_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    net.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    return net


def make_module_class(base: type[Any]) -> type[Any]:
    """overhead.py's module (``self.log`` each step), written against ``base`` (shim's or Lightning's)."""
    import torch
    from torch.nn import functional as F

    class BenchModule(base):
        def __init__(self) -> None:
            super().__init__()
            self.net = build_net()

        def forward(self, x: Tensor) -> Tensor:
            return self.net(x)

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            x, y = batch
            loss = F.mse_loss(self.net(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=LR)

    return BenchModule


def trainer_kwargs(defaults: bool, root: str) -> dict[str, Any]:
    if defaults:
        return {"max_epochs": 1, "default_root_dir": root}
    return {
        "max_epochs": 1,
        "default_root_dir": root,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "limit_val_batches": 0,
    }


def describe_setup(trainer: Any) -> str:
    """The logger and callbacks a Trainer attached, e.g. ``logger: TensorBoardLogger; callbacks: ...``."""
    logger = type(trainer.logger).__name__ if trainer.logger is not None else "none"
    callbacks = ", ".join(type(callback).__name__ for callback in trainer.callbacks) or "none"
    return f"logger: {logger}; callbacks: {callbacks}"


# ----------------------------------------------------------------------------------------------------------------
# peak RSS: fresh processes, interleaved
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RssResult:
    peaks: list[float]  # MB, one per repeat, in order
    after_imports: list[float]  # MB
    steps: set[int]
    modules: int
    tensorboard_imported: bool
    setup: str
    worst_diff: float  # largest max-abs weight difference to the hand loop over all runs


def run_child(variant: str, steps: int, root: str) -> dict[str, Any]:
    # as on a user's machine, byte code is cached: an environment that disables writing it would measure compilation
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix=f"footprint-{variant}-", dir=root) as run_root:
        result_path = os.path.join(run_root, "result.json")
        command = [sys.executable, os.path.abspath(__file__), "--child", variant, "--steps", str(steps)]
        completed = subprocess.run(
            [*command, "--root", run_root, "--result", result_path],
            capture_output=True,  # progress bars and log messages of the defaults variants
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),  # import the installed packages, not a folder that happens to be the cwd
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{variant} child failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
        return json.loads(Path(result_path).read_text())


def max_abs_diff(reference: Sequence[float], other: Sequence[float]) -> float:
    if len(reference) != len(other):
        return float("inf")
    return max((abs(a - b) for a, b in zip(reference, other, strict=True)), default=0.0)


def measure_rss(variants: Sequence[str], steps: int, repeats: int) -> dict[str, RssResult]:
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory(prefix="shim-footprint-") as root:
        for variant in list(runs):
            try:
                run_child(variant, steps, root)  # warm-up: writes the byte-code cache; not counted
            except RuntimeError as error:
                if not variant.startswith("lightning"):
                    raise
                print(f"   {variant} skipped, pytorch_lightning does not run here: {str(error).splitlines()[-1]}")
                del runs[variant]
        for _ in range(repeats):
            for variant, samples in runs.items():
                samples.append(run_child(variant, steps, root))
    hand_weights = runs["hand"][0]["weights"]
    return {
        variant: RssResult(
            peaks=[run["peak"] / MB for run in results],
            after_imports=[run["after_imports"] / MB for run in results],
            steps={run["steps"] for run in results},
            modules=int(statistics.median(run["modules"] for run in results)),
            tensorboard_imported=any(run["tensorboard_imported"] for run in results),
            setup=results[0]["setup"],
            worst_diff=max(max_abs_diff(hand_weights, run["weights"]) for run in results),
        )
        for variant, results in runs.items()
    }


def same_work(result: RssResult, steps: int) -> str:
    step_note = "" if result.steps == {steps} else f", steps {sorted(result.steps)} != {steps}"
    if result.worst_diff == 0.0:
        return f"yes (bit-identical{step_note})" if not step_note else f"no (bit-identical{step_note})"
    verdict = "yes" if result.worst_diff <= ATOL and not step_note else "no"
    return f"{verdict} (max abs diff {result.worst_diff:.1e}{step_note})"


def print_rss(results: dict[str, RssResult], steps: int, repeats: int) -> None:
    print(f"\n== rss: peak resident set size of a whole fit process, MB (10^6 bytes), {repeats} interleaved repeats")
    print(f"   tiny model: MLP {'-'.join(map(str, SIZES))}, mse, batch {BATCH_SIZE}, {steps} steps, 1 torch thread")
    print(
        "   included: interpreter + `import torch` + the framework's import (hand: none; shim: `import shim`;"
        " lightning: `import pytorch_lightning`) + data + model + fit"
    )
    for variant, result in results.items():
        if result.setup:
            print(f"   {variant} Trainer: {result.setup}")
    print(
        f"   {'variant':<19} {'median':>8} {'min':>8} {'max':>8} {'vs hand':>8} {'paired':>8} {'imports':>8}"
        f" {'modules':>8} {'tb':>3}  weights equal to hand"
    )
    hand = results["hand"]
    for variant, result in results.items():
        peak = Stats.of(result.peaks)
        extra = peak.median - statistics.median(hand.peaks)
        paired = statistics.median(a - b for a, b in zip(result.peaks, hand.peaks, strict=True))
        equal = "-" if variant == "hand" else same_work(result, steps)
        print(
            f"   {variant:<19} {peak.median:>8.1f} {peak.low:>8.1f} {peak.high:>8.1f} {extra:>+8.1f} {paired:>+8.1f}"
            f" {statistics.median(result.after_imports):>8.1f} {result.modules:>8}"
            f" {'yes' if result.tensorboard_imported else 'no':>3}  {equal}"
        )
    print(
        "   vs hand: difference of the medians; paired: median of the per-repeat differences; imports: peak right"
        " after the imports; modules: len(sys.modules) at the end; tb: tensorboard imported"
    )
    if "shim" in results:
        shim_extra = statistics.median(results["shim"].peaks) - statistics.median(hand.peaks)
        verdict = "met" if shim_extra <= SHIM_TARGET_MB else "NOT met"
        print(f"   target shim - hand <= {SHIM_TARGET_MB:.0f} MB: {shim_extra:+.1f} MB, {verdict}")
    if "shim" in results and "lightning" in results:
        saved = statistics.median(results["lightning"].peaks) - statistics.median(results["shim"].peaks)
        print(f"   lightning - shim: {saved:+.1f} MB")


# ----------------------------------------------------------------------------------------------------------------
# installed distributions: the dependency closure from package metadata
# ----------------------------------------------------------------------------------------------------------------
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
MARKER_TOKEN = re.compile(r"\s*(\(|\)|===|==|!=|~=|<=|>=|<|>|not\s+in\b|in\b|and\b|or\b|'[^']*'|\"[^\"]*\"|[\w.]+)")
VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version"}


def normalise(name: str) -> str:
    """PEP 503 name normalisation: ``PyYAML`` -> ``pyyaml``, ``typing_extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def marker_environment() -> dict[str, str]:
    info = sys.implementation.version
    return {
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "implementation_version": f"{info.major}.{info.minor}.{info.micro}",
    }


def version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def compare(left: str, op: str, right: str, is_version: bool) -> bool:
    if op in ("in", "not in"):
        return (left in right) == (op == "in")
    a: Any = version_key(left) if is_version else left
    b: Any = version_key(right) if is_version else right
    if op == "~=":  # compatible release: >= and same prefix; >= suffices for the markers seen in practice
        op = ">="
    return {
        "==": a == b,
        "===": left == right,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


class MarkerParser:
    """A small evaluator for PEP 508 environment markers (``and``/``or``, parentheses, comparisons)."""

    def __init__(self, marker: str, environment: dict[str, str]) -> None:
        self.tokens = [" ".join(token.split()) for token in MARKER_TOKEN.findall(marker)]
        self.position = 0
        self.environment = environment

    def evaluate(self) -> bool:
        value = self.parse_or()
        if self.position != len(self.tokens):
            raise ValueError(f"cannot parse marker tokens {self.tokens}")
        return value

    def next(self) -> str:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def parse_or(self) -> bool:
        value = self.parse_and()
        while self.peek() == "or":
            self.next()
            value = self.parse_and() or value
        return value

    def parse_and(self) -> bool:
        value = self.parse_atom()
        while self.peek() == "and":
            self.next()
            value = self.parse_atom() and value
        return value

    def parse_atom(self) -> bool:
        if self.peek() == "(":
            self.next()
            value = self.parse_or()
            self.next()  # ")"
            return value
        left, op, right = self.next(), self.next(), self.next()
        is_version = left in VERSION_VARIABLES or right in VERSION_VARIABLES
        left_value, right_value = self.value(left), self.value(right)
        if "extra" in (left, right):
            left_value, right_value = normalise(left_value), normalise(right_value)
        return compare(left_value, op, right_value, is_version and op not in ("in", "not in"))

    def value(self, token: str) -> str:
        if token[0] in "'\"":
            return token[1:-1]
        return self.environment[token]


@dataclass(frozen=True)
class Requirement:
    name: str  # normalised
    extras: tuple[str, ...]  # normalised
    marker: str


def parse_requirement(text: str) -> Requirement:
    spec, _, marker = text.partition(";")
    match = REQUIREMENT.match(spec)
    if match is None:
        raise ValueError(f"cannot parse requirement {text!r}")
    extras = tuple(normalise(extra) for extra in (match.group(2) or "").split(",") if extra.strip())
    return Requirement(normalise(match.group(1)), extras, marker.strip())


def installed_distributions() -> dict[str, importlib.metadata.Distribution]:
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        found.setdefault(normalise(dist.metadata["Name"]), dist)  # the first on sys.path wins, as on import
    return found


@dataclass
class Closure:
    names: set[str]  # installed distributions, the root included
    missing: set[str]  # required but not installed


def closure(root: str, installed: dict[str, importlib.metadata.Distribution]) -> Closure:
    """The root and everything its required (non-extra) requirements pull in, recursively, with requested extras."""
    environment = marker_environment()
    result = Closure(set(), set())
    seen: set[tuple[str, str]] = set()
    pending = [(normalise(root), "")]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = installed.get(name)
        if dist is None:
            result.missing.add(name)
            continue
        result.names.add(name)
        for requirement in map(parse_requirement, dist.requires or []):
            marker = requirement.marker
            if marker and not MarkerParser(marker, {**environment, "extra": extra}).evaluate():
                continue
            pending.append((requirement.name, ""))
            pending.extend((requirement.name, wanted) for wanted in requirement.extras)
    return result


def is_editable(dist: importlib.metadata.Distribution) -> bool:
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    return bool(direct_url.get("dir_info", {}).get("editable", False))


def source_size(module: str) -> int:
    """Bytes of an editable install's package folder (its metadata lists only the import hook), byte code excluded."""
    spec = importlib.util.find_spec(module)
    folders = spec.submodule_search_locations or [] if spec is not None else []
    files = (path for folder in folders for path in Path(folder).rglob("*") if path.is_file())
    return sum(path.stat().st_size for path in files if "__pycache__" not in path.parts)


def size_on_disk(dist: importlib.metadata.Distribution) -> int:
    """Bytes of the files the distribution's metadata lists (the size on disk, else the recorded size)."""
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
        elif file.size is not None:
            total += file.size
    return total


@dataclass
class DepsResult:
    dist: str
    version: str
    requires: list[str]  # the root's required (non-extra) requirements, as written
    extra: list[str]  # installed on top of torch's closure, the root excluded
    shared_with_torch: list[str]  # required by the root's closure and by torch's
    missing: list[str]
    own_bytes: int
    own_note: str
    extra_bytes: dict[str, int]


def measure_deps(roots: dict[str, str]) -> tuple[dict[str, DepsResult], set[str]]:
    """``roots`` maps each distribution to its import name (used to size an editable install's source folder)."""
    installed = installed_distributions()
    base = closure("torch", installed).names
    results: dict[str, DepsResult] = {}
    for root, module in roots.items():
        dist = installed[normalise(root)]
        editable = is_editable(dist)
        found = closure(root, installed)
        extra = sorted(found.names - base - {normalise(root)})
        results[root] = DepsResult(
            dist=root,
            version=dist.version,
            requires=[req for req in dist.requires or [] if "extra" not in parse_requirement(req).marker],
            extra=extra,
            shared_with_torch=sorted(found.names & base),
            missing=sorted(found.missing),
            own_bytes=size_on_disk(dist) + (source_size(module) if editable else 0),
            own_note=f" (editable install: its metadata's files plus the source folder of `{module}`)"
            if editable
            else "",
            extra_bytes={name: size_on_disk(installed[name]) for name in extra},
        )
    return results, base


def print_deps(results: dict[str, DepsResult], torch_closure: set[str]) -> None:
    installed = installed_distributions()
    print("\n== deps: installed distributions on top of torch (required, non-extra requirements, recursively)")
    print(f"   torch's closure ({len(torch_closure)}): {', '.join(sorted(torch_closure))}")
    for result in results.values():
        total = sum(result.extra_bytes.values())
        print(f"\n   {result.dist} {result.version}: requires {', '.join(result.requires)}")
        print(f"   own files: {result.own_bytes / MB:.1f} MB{result.own_note}")
        print(f"   also in torch's closure: {', '.join(result.shared_with_torch)}")
        if result.missing:
            print(f"   required but NOT installed (not counted): {', '.join(result.missing)}")
        print(f"   on top of torch: {len(result.extra)} distributions, {total / MB:.1f} MB")
        for name in sorted(result.extra, key=lambda n: -result.extra_bytes[n]):
            print(f"      {name:<28} {installed[name].version:<14} {result.extra_bytes[name] / MB:>8.1f} MB")
    shim_result, light_result = results.get(SHIM_DIST), results.get(LIGHTNING_DIST)
    if shim_result is not None:
        allowed = closure("tensorboard", installed).names | set(SHIM_ALLOWED)
        beyond = sorted(set(shim_result.extra) - allowed)
        verdict = "met" if not beyond else f"NOT met: also {', '.join(beyond)}"
        shared = ", ".join(name for name in SHIM_ALLOWED if name in torch_closure)
        print(f"\n   target: shim adds only tensorboard's closure, {', '.join(SHIM_ALLOWED)}: {verdict}")
        if shared:
            print(f"   already in torch's closure, so not on top of it: {shared}")
    if shim_result is not None and light_result is not None:
        only_light = sorted(set(light_result.extra) - set(shim_result.extra))
        only_shim = sorted(set(shim_result.extra) - set(light_result.extra))
        only_light_mb = sum(light_result.extra_bytes[name] for name in only_light) / MB
        print(f"   only with lightning ({len(only_light)}, {only_light_mb:.1f} MB): {', '.join(only_light) or '-'}")
        print(f"   only with shim ({len(only_shim)}): {', '.join(only_shim) or '-'}")
        print(
            f"   counts on top of torch: shim {len(shim_result.extra)}, lightning {len(light_result.extra)};"
            f" MB: shim {sum(shim_result.extra_bytes.values()) / MB:.1f},"
            f" lightning {sum(light_result.extra_bytes.values()) / MB:.1f}"
        )


# ----------------------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------------------
def is_installed(module: str) -> bool:
    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(module) is not None
    return False


def dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def print_header(repeats: int, steps: int) -> None:
    print("footprint: peak RSS of a fit and installed distributions, hand-written loop vs shim vs pytorch_lightning")
    print(f"date:    {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"python:  {platform.python_version()}   torch: {dist_version('torch')}   shim: {dist_version(SHIM_DIST)}"
        f"   pytorch_lightning: {dist_version(LIGHTNING_DIST)}"
    )
    print(f"platform: {platform.platform()}   cpu cores: {os.cpu_count()}   repeats: {repeats}   steps: {steps}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=None, help="processes per variant (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few steps and repeats: a smoke run")
    parser.add_argument("--only", choices=("rss", "deps"), help="run one part")
    # the child process of one RSS sample
    parser.add_argument("--child", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    steps = args.steps if args.steps is not None else (40 if args.quick else 400)
    if args.child is not None:
        child(args.child, steps, args.root, args.result)
        return
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    print_header(repeats, steps)
    has_lightning = is_installed("pytorch_lightning")
    if not has_lightning:
        print("pytorch_lightning is not installed: the lightning variants are skipped")
    if args.only in (None, "rss"):
        variants = [name for name, (module, _) in VARIANTS.items() if has_lightning or module != "pytorch_lightning"]
        print_rss(measure_rss(variants, steps, repeats), steps, repeats)
        sys.stdout.flush()
    if args.only in (None, "deps"):
        roots = {SHIM_DIST: "shim"}
        if LIGHTNING_DIST in installed_distributions():
            roots[LIGHTNING_DIST] = "pytorch_lightning"
        print_deps(*measure_deps(roots))


if __name__ == "__main__":
    main()
