"""``shim run``: exit codes, argv, ``__main__``, sibling imports, the Lightning import redirect and its errors."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shim
from shim import compat
from shim.__main__ import main


def _shim(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shim", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"shim {shim.__version__}\n"


def test_run_without_script_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("usage: shim run SCRIPT")


def test_missing_script_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _shim(tmp_path, "run", "missing.py")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"shim: can't open file '{tmp_path / 'missing.py'}': [Errno 2] No such file or directory"
    ]


def test_script_sees_main_argv_path_and_siblings(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    _write(tmp_path / "app" / "helpers.py", "ANSWER = 42\n")
    _write(
        tmp_path / "app" / "train.py",
        """
        import sys
        from helpers import ANSWER
        print(__name__, sys.argv[1:], sys.argv[0].endswith("train.py"), sys.path[0], ANSWER)
        """,
    )
    for spelling in (["run", "app/train.py"], ["app/train.py"]):
        result = _shim(tmp_path, *spelling, "--max_epochs", "3")
        assert result.returncode == 0, result.stderr
        expected = f"__main__ ['--max_epochs', '3'] True {(tmp_path / 'app').resolve()} 42"
        assert result.stdout.strip() == expected


def test_failing_script_matches_python(tmp_path: Path) -> None:
    script = _write(tmp_path / "fails.py", "import sys\n\n\ndef go():\n    raise ValueError('boom')\n\n\ngo()\n")
    under_shim = _shim(tmp_path, "run", str(script))
    under_python = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    assert under_shim.returncode == under_python.returncode == 1
    assert under_shim.stderr == under_python.stderr


def test_script_exit_code_passes_through(tmp_path: Path) -> None:
    script = _write(tmp_path / "exits.py", "import sys\nsys.exit(3)\n")
    assert _shim(tmp_path, "run", str(script)).returncode == 3


def test_all_import_spellings_resolve_to_shim(tmp_path: Path) -> None:
    script = _write(
        tmp_path / "spellings.py",
        """
        import os
        import pytorch_lightning as pl
        import lightning as L
        import lightning.pytorch as lp
        from lightning.pytorch import Trainer
        from lightning.pytorch.callbacks import ModelCheckpoint
        from pytorch_lightning.callbacks import ModelCheckpoint as Plain
        import shim
        print(pl.Trainer is L.Trainer is lp.Trainer is Trainer is shim.Trainer, ModelCheckpoint is Plain)
        print(isinstance(pl.callbacks, type(os)), pl.LightningModule.__module__, os.environ["SHIM_COMPAT"])
        """,
    )
    result = _shim(tmp_path, "run", str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True True", "True shim.core.module 1"]


def test_lightning_version_under_the_redirect_is_the_mirrored_release(tmp_path: Path) -> None:
    script = _write(
        tmp_path / "versions.py",
        """
        import lightning as L
        import lightning.pytorch as lp
        import pytorch_lightning as pl
        import shim
        from packaging.version import Version
        print(pl.__version__, lp.__version__, L.__version__, shim.__version__)
        print("new API" if Version(pl.__version__) >= Version("2.6") else "old API")
        """,
    )
    result = _shim(tmp_path, "run", str(script))
    assert result.returncode == 0, result.stderr
    from shim._lightning_names import LIGHTNING_VERSION

    mirrored = f"{LIGHTNING_VERSION} " * 3
    assert result.stdout.splitlines() == [f"{mirrored}{shim.__version__}", "new API"]
    assert shim.__version__ != LIGHTNING_VERSION


def test_missing_lightning_names_say_not_implemented(tmp_path: Path) -> None:
    script = _write(
        tmp_path / "gaps.py",
        """
        import pytorch_lightning as pl
        attempts = [
            "from pytorch_lightning.callbacks import SpikeDetection",
            "pl.callbacks.SpikeDetection",
            "from pytorch_lightning.profilers import XLAProfiler",
            "import pytorch_lightning.profilers.xla",
            "from lightning import Fabric",
            "from lightning.fabric import Fabric",
        ]
        for attempt in attempts:
            try:
                exec(attempt)
            except (ImportError, AttributeError) as error:
                print(type(error).__name__, error)
        try:
            pl.no_such_name
        except AttributeError as error:
            print(error)
        """,
    )
    result = _shim(tmp_path, "run", str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ImportError shim does not implement pytorch_lightning.callbacks.SpikeDetection yet",
        "AttributeError shim does not implement pytorch_lightning.callbacks.SpikeDetection yet",
        "ImportError shim does not implement pytorch_lightning.profilers.XLAProfiler yet",
        "ImportError shim does not implement pytorch_lightning.profilers.xla yet",
        "ImportError shim does not implement lightning.Fabric yet",
        "ImportError shim does not implement lightning.fabric.Fabric yet",
        "module 'pytorch_lightning' has no attribute 'no_such_name'",
    ]


def test_shim_compat_env_installs_at_import(tmp_path: Path) -> None:
    code = "import shim, pytorch_lightning as pl; print(pl.Trainer is shim.Trainer)"
    env_on = subprocess.run(
        [sys.executable, "-c", code], env={**_env(), "SHIM_COMPAT": "1"}, capture_output=True, text=True, check=False
    )
    assert env_on.stdout.strip() == "True", env_on.stderr


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != compat.ENV_VAR}


def test_install_and_uninstall_are_idempotent() -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning as real

    assert not compat.is_installed()
    assert real.Trainer is not shim.Trainer, "importing shim leaves pytorch_lightning alone"
    try:
        compat.install()
        compat.install()
        assert sys.meta_path.count(compat._FINDER) == 1
        import lightning.pytorch as lp
        import pytorch_lightning as redirected

        assert redirected.Trainer is shim.Trainer is lp.Trainer
        from pytorch_lightning.callbacks import EarlyStopping

        assert EarlyStopping is shim.callbacks.EarlyStopping
    finally:
        compat.uninstall()
        compat.uninstall()
    assert not compat.is_installed()
    import pytorch_lightning as again

    assert again is real
    assert "lightning" not in sys.modules


def test_script_command_reruns_through_shim_under_compat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--devices", "2"])
    monkeypatch.setenv(compat.ENV_VAR, "1")
    command = compat.script_command()
    assert command[:4] == [sys.executable, "-m", "shim", "run"]
    assert command[4].endswith("train.py")
    assert command[5:] == ["--devices", "2"]
    monkeypatch.delenv(compat.ENV_VAR)
    plain = compat.script_command()
    assert plain[-2:] == ["--devices", "2"]
    assert "shim" not in plain[1:3]
