"""Per-step cost counted in CPU instructions (valgrind's callgrind), which a shared, noisy machine cannot blur.

Wall-clock ratios on 2 shared cores move by ±0.15 between runs; instruction counts are repeatable. Each variant
(a hand-written loop, shim, and pytorch_lightning when installed) trains the tiny model of overhead.py for N and
for 3N steps in separate processes under callgrind; the difference divided by 2N is the instructions of one step,
with start-up, imports and Trainer setup cancelled out. Needs the `valgrind` program; each run takes minutes.

Three things would otherwise move the count by up to ±4% between identical runs, and are held still: numpy's
BLAS threads (which spin while idle) are limited to one, hash randomisation is fixed, and the objects that exist
before training starts (torch's import alone makes hundreds of thousands) are frozen out of the garbage
collector, so a full collection landing inside one run and not the other does not count. Collections of what the
training loop itself allocates are still counted.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCRIPT = """
import contextlib, gc, io, sys, tempfile, torch
torch.set_num_threads(1)
from torch.utils.data import DataLoader, TensorDataset
variant, steps = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
data = TensorDataset(torch.randn(64 * 400, 32), torch.randn(64 * 400, 1))
net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
if variant == "hand":
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    batches = iter(DataLoader(data, batch_size=64))
    gc.freeze()
    for _ in range(steps):
        x, y = next(batches)
        loss = torch.nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
else:
    package, _, mode = variant.partition("+")
    pl = __import__(package)

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    if mode == "defaults":  # progress bar, TensorBoard logger, a checkpoint each epoch, model summary
        trainer = pl.Trainer(max_epochs=1, limit_train_batches=steps, default_root_dir=tempfile.mkdtemp())
    else:
        trainer = pl.Trainer(
            max_epochs=1, limit_train_batches=steps, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        )
    gc.freeze()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer.fit(Model(), DataLoader(data, batch_size=64))
"""


def count(variant: str, steps: int, folder: Path) -> int:
    """Instructions of one whole run of ``variant`` for ``steps`` steps."""
    script = folder / "run.py"
    out = folder / f"callgrind.{variant}.{steps}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONHASHSEED"] = "0"
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, str(script), variant,
         str(steps)],
        capture_output=True, text=True, check=True, cwd=folder, env=env,
    )  # fmt: skip
    match = re.search(r"Collected\s*:\s*(\d+)", completed.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no instruction count for {variant}:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100, help="N: the short run's steps (the long run takes 3N)")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at the same time (one core each)")
    parser.add_argument("--no-lightning", action="store_true", help="skip pytorch_lightning")
    parser.add_argument("--no-defaults", action="store_true", help="skip the runs with the Trainer's defaults")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: skipped (install it, e.g. `apt-get install valgrind`)")
        return
    packages = ["shim"]
    try:
        __import__("pytorch_lightning")
        if not args.no_lightning:
            packages.append("pytorch_lightning")
    except ImportError:
        print("pytorch_lightning is not installed: its rows are skipped")
    variants = ["hand", *packages]
    if not args.no_defaults:
        variants += [f"{package}+defaults" for package in packages]
    n = args.steps
    per_step: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=args.jobs) as pool:
        (Path(tmp) / "run.py").write_text(SCRIPT)
        runs = {(v, steps): pool.submit(count, v, steps, Path(tmp)) for v in variants for steps in (n, 3 * n)}
        for variant in variants:
            short, long = runs[(variant, n)].result(), runs[(variant, 3 * n)].result()
            per_step[variant] = (long - short) / (2 * n)
    print(f"instructions per training step (tiny MLP 32-64-1, batch 64, self.log each step), N={n} vs {3 * n}")
    print("  (+defaults: progress bar, TensorBoard logger, checkpoint, summary; the hand loop has none of them)")
    for variant, value in per_step.items():
        print(f"   {variant:27} {value:14,.0f}   / hand {value / per_step['hand']:.3f}")


if __name__ == "__main__":
    main()
