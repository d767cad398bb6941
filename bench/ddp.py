"""DDP throughput: ``shim.Trainer`` vs ``pytorch_lightning.Trainer`` with ``strategy="ddp"``, 2 gloo processes on CPU.

What is measured
----------------
An MLP 32-256-256-1 (ReLU, MSE, SGD lr=0.01) trained with ``Trainer(accelerator="cpu", devices=2, strategy="ddp")``
and every optional feature off (no logger, checkpointing, progress bar, summary or validation), batch 64 per rank.
Each process uses one torch thread. The figure is the per-process throughput in steps per second: both ranks run
the same number of steps, and DDP's all-reduce after every backward keeps them in step, so rank 0's rate is the run's.

How
---
For each framework a training script is written into a temporary folder and run with ``subprocess``; the "ddp"
launcher re-runs it for rank 1. The script times only ``trainer.fit`` (``time.perf_counter`` around it) and rank 0
prints the seconds as one JSON line. The run lengths are fitted in the same process, one after the other, each with a
fresh Trainer and a fresh model from the same seed: first a short untimed warm-up fit, then N, 2N, N, 2N, ... steps
(2 pairs with ``--quick``, 3 otherwise). Several lengths per process instead of one process per length spend the
benchmark's time on training rather than on process starts (python, torch and, for Lightning, its import take
seconds, twice, since rank 1 starts after rank 0 reaches ``fit``); the warm-up fit pays the one-time costs of a
process (lazy imports, the first DDP buckets) so that the timed fits start from the same state. The later Trainers
find ``LOCAL_RANK`` in the environment that the first launch set and the process group already initialized, so they
neither re-launch nor reconnect, in both frameworks. A process's throughput is ``pairs * N / (sum t(2N) - sum t(N))``,
which cancels the constant cost of a ``fit`` call (wrapping the model in DDP, which broadcasts the weights, the
sampler, the hooks); that cost is printed per process as ``t(N) - N * seconds per step``.

Before timing, each framework runs once untimed with a single fit of N steps, which also warms the byte-code cache;
rank 0 saves its final weights and the two frameworks' weights are compared. Then the frameworks are timed
interleaved, one process per framework and repeat (shim, lightning, shim, lightning, ...). The table shows the
median, min and max over the repeats, the ratio of the medians shim/lightning and the median of the per-repeat ratios
(runs of one repeat are neighbours in time, so this is less sensitive to load from other processes). The target is
shim/lightning >= 1.10.

Usage: ``python bench/ddp.py [--repeats 5] [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from stats import Stats  # bench/stats.py: these scripts run from this folder

TARGET = 1.10
ATOL = 1e-6
FRAMEWORKS = ("shim", "pytorch_lightning")
LABELS = {"shim": "shim", "pytorch_lightning": "lightning"}
# variables a parent distributed run may have left; the launched script must start as a fresh run
DIST_VARIABLES = ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "PL_GLOBAL_SEED")

# `script.py OUT_WEIGHTS STEPS [STEPS ...]`: one fit per STEPS value, each with a fresh model and Trainer; rank 0
# prints `BENCH {"seconds": [...]}` and, when OUT_WEIGHTS is not "-", saves the last model's weights there.
SCRIPT = textwrap.dedent(
    """
    import json, sys, time, warnings

    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    import {framework} as pl

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    BATCH = 64


    class MLP(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)


    def fit(steps, loader):
        pl.seed_everything(1234, verbose=False)
        model = MLP()
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, limit_train_batches=steps,
            logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            limit_val_batches=0, num_sanity_val_steps=0,
        )
        start = time.perf_counter()
        trainer.fit(model, loader)
        return time.perf_counter() - start, trainer, model


    if __name__ == "__main__":
        weights_path, lengths = sys.argv[1], [int(n) for n in sys.argv[2:]]
        generator = torch.Generator().manual_seed(4321)
        samples = 2 * BATCH * max(lengths)  # both ranks together see every sample once in the longest fit
        inputs, targets = torch.randn(samples, 32, generator=generator), torch.randn(samples, 1, generator=generator)
        data = TensorDataset(inputs, targets)
        # no shuffle: the DistributedSampler each framework inserts then gives both the same batches
        loader = DataLoader(data, batch_size=BATCH, shuffle=False)
        seconds = []
        for steps in lengths:
            elapsed, trainer, model = fit(steps, loader)
            seconds.append(elapsed)
        if trainer.is_global_zero:
            if weights_path != "-":
                torch.save(model.state_dict(), weights_path)
            print("BENCH " + json.dumps({{"seconds": seconds, "global_step": trainer.global_step}}), flush=True)
    """
)


Timings = dict[str, list[float]]  # framework -> steps per second per process, one per repeat


def is_importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def write_scripts(folder: Path, frameworks: Sequence[str]) -> dict[str, Path]:
    scripts = {}
    for framework in frameworks:
        scripts[framework] = folder / f"train_{framework}.py"
        scripts[framework].write_text(SCRIPT.format(framework=framework))
    return scripts


def run_script(script: Path, weights: str, lengths: Sequence[int]) -> tuple[list[float], int]:
    """Run one DDP training script; returns rank 0's fit seconds (one per length) and its final global step."""
    env = {key: value for key, value in os.environ.items() if key not in DIST_VARIABLES}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    completed = subprocess.run(
        [sys.executable, str(script), weights, *map(str, lengths)],
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,
        timeout=600,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH ")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{script.name} failed with code {completed.returncode}:\n{completed.stderr[-3000:]}")
    report = json.loads(lines[-1].removeprefix("BENCH "))
    return report["seconds"], report["global_step"]


def compare_weights(paths: Sequence[Path]) -> str:
    """Whether the saved final weights are equal, loaded in this process (the only place torch is imported here)."""
    import torch

    states = [torch.load(path, weights_only=True) for path in paths]
    if any(state.keys() != states[0].keys() for state in states):
        return "no (different parameters)"
    worst = max((states[0][key] - state[key]).abs().max().item() for state in states[1:] for key in states[0])
    if worst == 0.0:
        return "yes (bit-identical)"
    return f"yes (max abs diff {worst:.1e})" if worst <= ATOL else f"no (max abs diff {worst:.1e})"


def check_weights(scripts: dict[str, Path], steps: int, folder: Path) -> str:
    """One untimed fit of ``steps`` steps per framework (also the warm-up); compares their final weights."""
    paths = []
    for framework, script in scripts.items():
        paths.append(folder / f"weights_{framework}.pt")
        _, global_step = run_script(script, str(paths[-1]), [steps])
        if global_step != steps:
            raise RuntimeError(f"{framework} ran {global_step} steps instead of {steps}")
    return compare_weights(paths) if len(paths) > 1 else "- (one framework)"


def time_frameworks(scripts: dict[str, Path], steps: int, warmup: int, pairs: int, repeats: int) -> Timings:
    """Steps per second per process for each framework and repeat; the repeats run interleaved."""
    rates: Timings = {framework: [] for framework in scripts}
    for repeat in range(repeats):
        for framework, script in scripts.items():
            seconds, _ = run_script(script, "-", [warmup, *[steps, 2 * steps] * pairs])
            short, long = sum(seconds[1::2]), sum(seconds[2::2])  # the warm-up fit is seconds[0]
            rates[framework].append(pairs * steps / (long - short))
            fixed = (2 * short - long) / pairs  # t(N) - N * seconds per step
            print(
                f"   repeat {repeat + 1}/{repeats} {LABELS[framework]:<10} {rates[framework][-1]:>7,.0f} steps/s"
                f"   fixed cost per fit {fixed * 1e3:,.0f} ms",
                flush=True,
            )
    return rates


def print_table(rates: Timings, equal: str) -> None:
    print("\n== steps per second per process, N / (t(2N) - t(N)) (higher is better)")
    print(f"   {'framework':<10} {'median':>9} {'min':>9} {'max':>9}")
    for framework, values in rates.items():
        stats = Stats.of(values)
        print(f"   {LABELS[framework]:<10} {stats.median:>9,.0f} {stats.low:>9,.0f} {stats.high:>9,.0f}")
    if len(rates) == len(FRAMEWORKS):
        shim_rates, lightning_rates = rates["shim"], rates["pytorch_lightning"]
        ratio = statistics.median(shim_rates) / statistics.median(lightning_rates)
        paired = statistics.median(a / b for a, b in zip(shim_rates, lightning_rates, strict=True))
        verdict = "meets" if ratio >= TARGET else "MISSES"
        print(f"   shim/lightning (ratio of medians): {ratio:.2f}  ({verdict} the target {TARGET:.2f})")
        print(f"   shim/lightning (median of the ratios within each repeat): {paired:.2f}")
    print(f"   weights equal: {equal}")


def print_header(repeats: int, steps: int, pairs: int, frameworks: Sequence[str]) -> None:
    import torch

    print("DDP throughput: shim.Trainer vs pytorch_lightning.Trainer, strategy='ddp', 2 gloo processes on CPU")
    print(f"date:    {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"python:  {platform.python_version()}   torch: {torch.__version__}")
    if "pytorch_lightning" in frameworks:
        from importlib.metadata import version

        print(f"pytorch_lightning: {version('pytorch_lightning')}")
    print(f"cpu cores: {os.cpu_count()}   torch threads per process: 1   repeats: {repeats}")
    print(
        f"model: MLP 32-256-256-1, batch 64 per rank, SGD; N = {steps} steps, {pairs} pairs of fits (N, 2N) per process"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed processes per framework (default 5; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats: a smoke run of about a minute")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    steps, warmup, pairs = (100, 10, 2) if args.quick else (200, 20, 3)
    frameworks = [name for name in FRAMEWORKS if is_importable(name)]
    print_header(repeats, steps, pairs, frameworks)
    if "pytorch_lightning" not in frameworks:
        print("pytorch_lightning could not be imported: the lightning variant is skipped")
    with tempfile.TemporaryDirectory(prefix="shim-bench-ddp-") as root:
        scripts = write_scripts(Path(root), frameworks)
        equal = check_weights(scripts, steps, Path(root))
        print(f"   weights equal: {equal}", flush=True)
        rates = time_frameworks(scripts, steps, warmup, pairs, repeats)
    print_table(rates, equal)


if __name__ == "__main__":
    main()
