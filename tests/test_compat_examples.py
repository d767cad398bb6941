"""Every script in compat_examples/ runs under shim and under real Lightning and prints the same result line."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "compat_examples").glob("*.py"))


def _run(script: Path, cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_matches_lightning(script: Path, tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning", reason="pytorch-lightning==2.6.6 is not installed")
    source = script.read_text()
    assert "import shim as pl" in source, "examples import shim in place of pytorch_lightning"
    lightning_script = tmp_path / f"lightning_{script.name}"
    lightning_script.write_text(source.replace("import shim as pl", "import pytorch_lightning as pl"))
    (tmp_path / "shim").mkdir()
    (tmp_path / "pl").mkdir()
    shim_line = _run(script, tmp_path / "shim", "--max_epochs", "2")
    lightning_line = _run(lightning_script, tmp_path / "pl", "--max_epochs", "2")
    assert shim_line == lightning_line
    assert (tmp_path / "shim" / "quickstart_output" / "quickstart.ckpt").exists() or "quickstart" not in script.name
