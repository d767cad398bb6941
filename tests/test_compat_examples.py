"""Every script in compat_examples/ runs unmodified through ``shim run`` and matches real Lightning.

Each script runs in its own empty folder, once through ``python -m shim run`` and once with plain ``python`` against
pytorch-lightning; the final printed line, the names of the files written and any ``metrics.csv`` must match.
Scripts that use a Lightning 1.x form that 2.6.6 no longer accepts are checked against expected output instead.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "compat_examples").glob("*.py"))

# Known differences from Lightning (to fix in shim/loggers), strict so that the fix shows up here.
# examples whose output is known to differ from Lightning's, with the reason (none at the moment)
KNOWN_DIFFERENCES: dict[str, str] = {}

# 1.x-only scripts: Lightning 2.6.6 rejects them, so their final line is checked against known values.
EXPECTED_WITHOUT_LIGHTNING = {
    # Epochs 0-1 step after every one of the 8 batches, epochs 2-3 after every second batch.
    "accumulation_schedule_1x.py": "steps_per_epoch=[8, 8, 4, 4] global_step=24",
    # Values from Lightning 1.9.5 with the arguments in SCRIPT_ARGS.
    "argparse_trainer.py": "hidden=16 batch_size=8 max_epochs=2 progress_bar=False global_step=10 train_loss=0.0688",
    # Values from Lightning 1.9.5: doubling up to the first OOM at 64, then a binary search between 32 and 64.
    "batch_size_finder.py": (
        "found=40 datamodule_batch_size=40 tried=[2, 4, 8, 16, 32, 64, 48, 40, 44, 42, 41] global_step=13"
    ),
}

# Command-line arguments a script is run with, after its path.
SCRIPT_ARGS: dict[str, list[str]] = {
    "argparse_trainer.py": ["--max_epochs", "2", "--limit_train_batches", "5", "--hidden", "16", "--batch_size", "8"]
    + ["--enable_progress_bar", "false"],
}

# TensorBoard event files carry a timestamp, host name and process id in their names.
_EVENT_FILE = re.compile(r"events\.out\.tfevents\..*")
# W&B names a run folder after the time the run started.
_WANDB_RUN = re.compile(r"(?<=/)(offline-run|run)-\d{8}_\d{6}-")
# An MLflow file store names its folders after the random experiment and run ids.
_MLFLOW_IDS = ((re.compile(r"(?<=mlruns/)\d{6,}(?=/)"), "<experiment>"), (re.compile(r"/[0-9a-f]{32}(?=/)"), "/<run>"))


def _run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _written_files(root: Path) -> list[str]:
    return sorted(_file_name(path.relative_to(root).as_posix()) for path in root.rglob("*") if path.is_file())


def _file_name(relative: str) -> str:
    relative = _EVENT_FILE.sub("events.out.tfevents.*", relative)
    relative = _WANDB_RUN.sub(r"\1-<time>-", relative)
    for pattern, placeholder in _MLFLOW_IDS:
        relative = pattern.sub(placeholder, relative)
    return relative


def _metrics_csv(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text() for path in root.rglob("metrics.csv")}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_unmodified(script: Path) -> None:
    source = script.read_text()
    assert "import pytorch_lightning as pl" in source, "examples are plain Lightning scripts"
    assert "import shim" not in source.replace("import shim as pl", ""), "examples do not import shim directly"


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(script, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[script.name]))
        if script.name in KNOWN_DIFFERENCES
        else script
        for script in EXAMPLES
    ],
    ids=lambda p: p.name,
)
def test_example_matches_lightning(script: Path, tmp_path: Path) -> None:
    shim_dir, lightning_dir = tmp_path / "shim", tmp_path / "pl"
    shim_dir.mkdir()
    lightning_dir.mkdir()
    args = SCRIPT_ARGS.get(script.name, [])
    shim_line = _run([sys.executable, "-m", "shim", "run", str(script), *args], shim_dir)
    expected = EXPECTED_WITHOUT_LIGHTNING.get(script.name)
    if expected is not None:
        assert shim_line == expected
        return
    pytest.importorskip("pytorch_lightning", reason="pytorch-lightning==2.6.6 is not installed")
    lightning_line = _run([sys.executable, str(script), *args], lightning_dir)
    assert shim_line == lightning_line
    assert _written_files(shim_dir) == _written_files(lightning_dir)
    assert _metrics_csv(shim_dir) == _metrics_csv(lightning_dir)
