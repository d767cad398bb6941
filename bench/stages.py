"""Where a training step's time goes: shim's step cut into stages, side by side with a hand-written loop's.

What is measured
----------------
The tiny model of ``bench/overhead.py`` (MLP 32-64-1, MSE, SGD lr=0.01, batch 64, ``self.log`` each step, every
optional Trainer feature off; ``--defaults`` adds a run with the Trainer's defaults). A time stamp is taken at each
boundary of a step, in the same places for both:

* the batch sampler hands out the next indices (the fetch starts), the collate function returns (the batch is built),
* ``training_step`` starts, calls ``self.log`` (the hand loop has no logging: that stage is ~0 there) and returns,
* ``optimizer.zero_grad``, ``loss.backward`` and ``optimizer.step`` start and end.

The hand-written loop runs in Lightning's order (forward, ``zero_grad``, ``backward``, ``step``), so each of its
stages lines up with shim's. The stamps are wrappers around the same calls in both variants (on the classes: see
``stamped_methods``), so they cost both the same. The stages ``between`` torch's calls hold the loop's own code: for
the hand loop its ``for`` statement and the DataLoader's bookkeeping around the collate call, for shim the same plus
shim's code, so their difference is what shim runs. The ``torch`` stages do the same torch work in both, so a
difference there is shim's indirect cost (its code evicting torch's from the caches), or noise.

How
---
Each variant trains N batches from the same seed, interleaved with the other (hand, shim, hand, ...), after an
untimed run that warms both up and checks that their final weights are equal. The first and last batches of a run
are left out. The table shows, per stage, the median over all steps of all repeats, in µs; medians leave out the
occasional slow steps (a garbage collection, a progress bar redraw, a log write), so the sum is a typical step, not
the mean, and its ratio is a companion to ``bench/overhead.py``'s, not a replacement: it says where the difference
is, while overhead.py's says how large the whole of it is.

Usage: ``python bench/stages.py [--repeats 8] [--batches 800] [--defaults]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler, TensorDataset, default_collate

import shim

STAGES = (  # (name, kind): the interval from each stamp to the next, in the order of a step
    ("fetch: sample indices, index, collate", "torch"),
    ("DataLoader return, to training_step", "between"),
    ("forward and loss", "torch"),
    ("self.log", "between"),
    ("training_step return, to zero_grad", "between"),
    ("zero_grad", "torch"),
    ("zero_grad, to backward", "between"),
    ("backward", "torch"),
    ("backward, to step", "between"),
    ("step", "torch"),
    ("step, to the next fetch", "between"),
)
SEED, DATA_SEED, LR, SKIP = 1234, 4321, 0.01, 20

stamps: list[tuple[int, int]] = []  # (stage index the stamp starts, perf_counter_ns)


def stamp(stage: int) -> None:
    stamps.append((stage, time.perf_counter_ns()))


class StampingBatchSampler(Sampler[list[int]]):
    """Sequential batches of indices; stamps the start of each fetch."""

    def __init__(self, samples: int, batch_size: int) -> None:
        self.samples, self.batch_size = samples, batch_size

    def __len__(self) -> int:
        return self.samples // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stamp(0)
            yield list(range(start, start + self.batch_size))


def stamping_collate(batch: list[Any]) -> Any:
    collated = default_collate(batch)
    stamp(1)
    return collated


def make_loader(batches: int) -> DataLoader:
    generator = torch.Generator().manual_seed(DATA_SEED)
    x = torch.randn(batches * 64, 32, generator=generator)
    y = torch.randn(batches * 64, 1, generator=generator)
    sampler = StampingBatchSampler(batches * 64, 64)
    return DataLoader(TensorDataset(x, y), batch_sampler=sampler, collate_fn=stamping_collate)


def build_net() -> nn.Sequential:
    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))


@contextlib.contextmanager
def stamped_methods() -> Iterator[None]:
    """``SGD.zero_grad``, ``SGD.step`` and ``Tensor.backward`` stamp their start and end while the context is open.

    The wrappers go on the classes, as both variants call these methods, and not on an optimizer instance: shim
    passes the closure to a ``step`` replaced on the instance instead of running it first, which would time another
    path. ``SGD.step`` is wrapped after torch has added its hook handling to it (on the first SGD made), so ``step``
    includes that handling, and the wrapper is marked as handled so that torch does not wrap it again.
    """
    torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # torch wraps `SGD.step` with its hook handling once
    zero_grad, step, backward = torch.optim.SGD.zero_grad, torch.optim.SGD.step, Tensor.backward

    def stamped_zero_grad(self: torch.optim.Optimizer, set_to_none: bool = True) -> None:
        stamp(5)
        zero_grad(self, set_to_none)
        stamp(6)

    def stamped_backward(self: Tensor, *args: Any, **kwargs: Any) -> None:
        stamp(7)
        backward(self, *args, **kwargs)
        stamp(8)

    def stamped_step(self: torch.optim.SGD, closure: Callable[[], Any] | None = None) -> Any:
        stamp(9)
        result = step(self, closure)
        stamp(10)
        return result

    stamped_step.hooked = True  # type: ignore[attr-defined]  # the mark torch leaves on a step it wrapped
    torch.optim.SGD.zero_grad = stamped_zero_grad  # type: ignore[method-assign]
    torch.optim.SGD.step = stamped_step  # type: ignore[method-assign]
    Tensor.backward = stamped_backward  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.optim.SGD.zero_grad = zero_grad  # type: ignore[method-assign]
        torch.optim.SGD.step = step  # type: ignore[method-assign]
        Tensor.backward = backward  # type: ignore[method-assign]


def run_hand(loader: DataLoader, root: str) -> nn.Module:
    net = build_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=LR)
    net.train()
    for x, y in loader:
        stamp(2)
        loss = nn.functional.mse_loss(net(x), y)
        stamp(3)
        stamp(4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


class Module(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = build_net()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        stamp(2)
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        stamp(3)
        self.log("loss", loss)
        stamp(4)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR)


def shim_runner(defaults: bool) -> Callable[[DataLoader, str], nn.Module]:
    def run(loader: DataLoader, root: str) -> nn.Module:
        kwargs: dict[str, Any] = {"max_epochs": 1, "default_root_dir": root}
        if not defaults:
            kwargs.update(
                logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                limit_val_batches=0, num_sanity_val_steps=0,
            )  # fmt: skip
        module = Module()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            shim.Trainer(**kwargs).fit(module, loader)
        return module.net

    return run


def intervals() -> dict[int, list[float]]:
    """The µs from each stamp to the next of the last run, by stage, without its first and last batches."""
    fetches = [i for i, (stage, _) in enumerate(stamps) if stage == 0]
    kept = stamps[fetches[SKIP] : fetches[-SKIP]]
    by_stage: dict[int, list[float]] = {}
    for (stage, start), (_, end) in itertools.pairwise(kept):
        by_stage.setdefault(stage, []).append((end - start) / 1e3)
    return by_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--batches", type=int, default=800)
    parser.add_argument("--defaults", action="store_true", help="also run shim with the Trainer's defaults")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    runners = {"hand": run_hand, "shim": shim_runner(defaults=False)}
    if args.defaults:
        runners["shim+defaults"] = shim_runner(defaults=True)
    loader = make_loader(args.batches)
    samples: dict[str, dict[int, list[float]]] = {name: {} for name in runners}
    print(f"stages of a training step: tiny MLP 32-64-1, batch 64, {args.batches} batches, {args.repeats} repeats")
    print(f"python {sys.version.split()[0]}   torch {torch.__version__}   shim {shim.__version__}")
    with tempfile.TemporaryDirectory(prefix="shim-stages-") as root, stamped_methods():
        nets = {name: runner(loader, root) for name, runner in runners.items()}  # warm-up and weight check
        for name, net in nets.items():
            same = all(torch.equal(a, b) for a, b in zip(nets["hand"].parameters(), net.parameters(), strict=True))
            print(f"   {name}: final weights equal to the hand loop's: {'yes' if same else 'NO'}")
        for _ in range(args.repeats):
            for name, runner in runners.items():
                stamps.clear()
                runner(loader, root)
                for stage, values in intervals().items():
                    samples[name].setdefault(stage, []).extend(values)
    names = list(runners)
    print(f"\n   {'stage (median µs)':<38} {'kind':<8}" + "".join(f"{name:>15}" for name in names) + "   shim - hand")
    totals = {(name, kind): 0.0 for name in names for kind in ("between", "torch")}
    for stage, (title, kind) in enumerate(STAGES):
        medians = {name: statistics.median(samples[name].get(stage, [0.0])) for name in names}
        for name in names:
            totals[(name, kind)] += medians[name]
        cells = "".join(f"{medians[name]:15.2f}" for name in names)
        print(f"   {title:<38} {kind:<8}{cells}   {medians['shim'] - medians['hand']:+10.2f}")
    for kind in ("between", "torch"):
        cells = "".join(f"{totals[(name, kind)]:15.2f}" for name in names)
        diff = totals[("shim", kind)] - totals[("hand", kind)]
        print(f"   {'sum of the ' + kind + ' stages':<38} {'':<8}{cells}   {diff:+10.2f}")
    step = {name: totals[(name, "between")] + totals[(name, "torch")] for name in names}
    print(f"   {'step':<38} {'':<8}" + "".join(f"{step[name]:15.2f}" for name in names))
    print("   ratio to the hand loop: " + "   ".join(f"{name} {step[name] / step['hand']:.3f}" for name in names))


if __name__ == "__main__":
    main()
