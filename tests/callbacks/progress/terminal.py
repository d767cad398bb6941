"""Run a short fit in a real terminal (a detached ``tmux`` pane) and read what a person would see there."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

__all__ = ["FIT_SCRIPT", "Screens", "needs_tmux", "run_in_tmux"]

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed: these tests read the screen of a real terminal"
)

# a fit slow enough for the bars to be drawn many times, with validation inside each epoch
FIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import shim
    from shim.callbacks import RichProgressBar, TQDMProgressBar
    from shim.demos.boring_classes import BoringModel

    kind, leave = sys.argv[1], sys.argv[2] == "leave"

    class Slow(BoringModel):
        def training_step(self, batch, batch_idx):
            time.sleep(0.015)
            self.log("tl", 0.5, prog_bar=True)
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch, batch_idx):
            time.sleep(0.015)
            return super().validation_step(batch, batch_idx)

    bar = RichProgressBar(leave=leave) if kind == "rich" else TQDMProgressBar(leave=leave)
    trainer = shim.Trainer(
        max_epochs=3, limit_train_batches=20, limit_val_batches=5, val_check_interval=5, logger=False,
        enable_checkpointing=False, enable_model_summary=kind == "rich", callbacks=[bar],
    )
    trainer.fit(Slow())
    print("FIT DONE")
    """
)

_END = "__PANE_EXIT__"


class Screens:
    """The pane's final text (scrollback included) and every screen captured while the program ran."""

    def __init__(self, final: list[str], during: list[list[str]]) -> None:
        self.final = final
        self.during = during

    def lines_starting(self, prefix: str, screen: list[str] | None = None) -> list[str]:
        return [line for line in (self.final if screen is None else screen) if line.startswith(prefix)]


def _capture(tmux: list[str]) -> list[str]:
    out = subprocess.run([*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", "run"], capture_output=True, text=True)
    return [line.rstrip() for line in out.stdout.splitlines() if line.strip()]


def run_in_tmux(script: str, args: list[str], cwd: Path, width: int = 120, height: int = 60) -> Screens:
    """Run ``python script args`` in a ``width`` x ``height`` tmux pane of its own server; the pane stays after."""
    path = cwd / "script.py"
    path.write_text(script)
    tmux = ["tmux", "-S", str(cwd / "tmux.sock"), "-f", os.devnull]  # a server of its own, its socket in cwd
    command = f"cd {cwd} && {sys.executable} {path} {' '.join(args)}; echo {_END}; sleep 600"
    root = str(Path(__file__).resolve().parents[3])  # the checkout, so the pane imports this shim
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "run", "-x", str(width), "-y", str(height), command], env=env, check=True
    )
    during: list[list[str]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = _capture(tmux)
            if screen and screen[-1] == _END:
                return Screens(screen[:-1], during)
            during.append(screen)
            time.sleep(0.05)
        raise AssertionError("the program in tmux did not finish:\n" + "\n".join(_capture(tmux)))
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
