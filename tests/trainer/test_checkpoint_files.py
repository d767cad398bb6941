"""Checkpoint files: atomic writes; reads from paths, URLs and open files; torch's loader choice and error classes."""

import functools
import http.server
import importlib
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import shim
from shim.demos.boring_classes import BoringModel
from shim.trainer.checkpoint_files import is_local_path, load_checkpoint_file


def _saved_checkpoint(pkg: ModuleType, path: Path, **hparams: Any) -> Path:
    """A checkpoint of a BoringModel whose hyper-parameters are ``hparams``, written by ``pkg``."""
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel

    class Model(boring):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            self.save_hyperparameters()

    trainer = pkg.Trainer(
        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(path.parent),
    )  # fmt: skip
    trainer.fit(Model(**hparams))
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return _saved_checkpoint(shim, tmp_path / "good.ckpt")


# -- bad files: the error class torch raises, as Lightning lets it through ---------------------------------------
def _bad_files(good: Path, folder: Path) -> dict[str, Path]:
    contents = {
        "empty": b"",
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
        "random-bytes": bytes(range(7, 256)) * 3,
        "text": b"this is not a checkpoint\n" * 10,
    }
    for name, data in contents.items():
        (folder / f"{name}.ckpt").write_bytes(data)
    return {name: folder / f"{name}.ckpt" for name in contents}


def _raised(call: Any) -> type[BaseException]:
    try:
        call()
    except Exception as error:
        return type(error)
    raise AssertionError("no error was raised")


@pytest.mark.filterwarnings("ignore")
def test_bad_files_raise_the_class_lightning_raises(lightning: ModuleType, saved: Path, tmp_path: Path) -> None:
    files = _bad_files(saved, tmp_path)
    for name, path in files.items():
        expected = _raised(lambda path=path: lightning.LightningModule.load_from_checkpoint(path))
        assert _raised(lambda path=path: shim.LightningModule.load_from_checkpoint(path)) is expected, name
        expected_fit = _raised(lambda path=path: _fit_from(lightning, path, tmp_path / "pl"))
        assert _raised(lambda path=path: _fit_from(shim, path, tmp_path / "shim")) is expected_fit, name
    assert _raised(lambda: shim.LightningModule.load_from_checkpoint(files["random-bytes"])) is pickle.UnpicklingError


def _fit_from(pkg: ModuleType, path: Path, root: Path) -> None:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel
    trainer = pkg.Trainer(max_steps=1, logger=False, enable_progress_bar=False, default_root_dir=str(root))
    trainer.fit(boring(), ckpt_path=str(path))


def test_bad_file_messages_name_the_file(saved: Path, tmp_path: Path) -> None:
    files = _bad_files(saved, tmp_path)
    with pytest.raises(pickle.UnpicklingError, match=f"{files['random-bytes']} is not a file written by `torch.save`"):
        load_checkpoint_file(files["random-bytes"])
    with pytest.raises(EOFError, match=f"{files['empty']} cannot be read; it is empty, truncated or corrupted"):
        load_checkpoint_file(files["empty"])
    with pytest.raises((RuntimeError, OSError), match=f"{files['truncated']} cannot be read"):  # torch: either
        load_checkpoint_file(files["truncated"])


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: /no/such.ckpt"):
        load_checkpoint_file("/no/such.ckpt")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_checkpoint_file(tmp_path)


def test_a_file_without_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    tensor = tmp_path / "tensor.ckpt"
    torch.save(torch.ones(2), tensor)
    with pytest.raises(ValueError, match="is not a Lightning checkpoint: it has no 'state_dict' entry"):
        load_checkpoint_file(tensor)


# -- weights_only: None is torch's choice (safe), and torch's own switch works -----------------------------------
@pytest.fixture
def module_in_hparams(tmp_path: Path) -> Path:
    """A checkpoint whose hyper-parameters hold an ``nn.Module``, which torch's safe loader refuses."""
    return _saved_checkpoint(shim, tmp_path / "module.ckpt", head=torch.nn.Linear(2, 2))


@pytest.mark.filterwarnings("ignore")
def test_weights_only_none_is_the_safe_default(module_in_hparams: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    with pytest.raises(pickle.UnpicklingError, match="holds objects that a safe load refuses.*Nothing was executed"):
        load_checkpoint_file(module_in_hparams)
    with pytest.raises(pickle.UnpicklingError, match="safe load refuses"):
        BoringModel.load_from_checkpoint(module_in_hparams)
    checkpoint = load_checkpoint_file(module_in_hparams, weights_only=False)
    assert isinstance(checkpoint["hyper_parameters"]["head"], torch.nn.Linear)


@pytest.mark.filterwarnings("ignore")
def test_torch_force_no_weights_only_load_applies_to_weights_only_none(
    module_in_hparams: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    checkpoint = load_checkpoint_file(module_in_hparams)
    assert isinstance(checkpoint["hyper_parameters"]["head"], torch.nn.Linear)
    assert isinstance(BoringModel.load_from_checkpoint(module_in_hparams), BoringModel)
    trainer = shim.Trainer(max_steps=2, logger=False, enable_progress_bar=False, default_root_dir=str(tmp_path))
    trainer.fit(BoringModel(), ckpt_path=str(module_in_hparams))
    assert trainer.global_step == 2
    # an explicit True is the caller's choice, which torch's "no weights only" switch does not override
    with pytest.raises(pickle.UnpicklingError, match="safe load refuses"):
        load_checkpoint_file(module_in_hparams, weights_only=True)


# -- sources: URLs and open files ----------------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An http server for ``tmp_path``: its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join()


def test_load_from_an_http_url(saved: Path, server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # torch.hub caches the download there
    expected = torch.load(saved, weights_only=True)["state_dict"]
    checkpoint = load_checkpoint_file(f"{server}/{saved.name}")
    assert checkpoint["state_dict"].keys() == expected.keys()
    assert all(torch.equal(checkpoint["state_dict"][k], v) for k, v in expected.items())
    model = BoringModel.load_from_checkpoint(f"{server}/{saved.name}", strict=True)
    assert torch.equal(model.layer.weight, expected["layer.weight"])

    class Other(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Identity()  # type: ignore[assignment]

    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "layer.weight", "layer.bias"'):
        Other.load_from_checkpoint(f"{server}/{saved.name}")


def test_load_from_an_open_file(saved: Path) -> None:
    buffer = io.BytesIO(saved.read_bytes())
    model = BoringModel.load_from_checkpoint(buffer)
    assert torch.equal(model.layer.weight, torch.load(saved, weights_only=True)["state_dict"]["layer.weight"])


def test_load_from_a_remote_file_system_through_fsspec(saved: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://ckpt/good.ckpt", "wb") as f:
        f.write(saved.read_bytes())
    assert load_checkpoint_file("memory://ckpt/good.ckpt")["global_step"] == 1


@pytest.mark.parametrize(
    ("path", "local"),
    [
        ("/abs/x.ckpt", True),
        ("rel/x.ckpt", True),
        ("file:///abs/x.ckpt", True),
        ("C:\\runs\\x.ckpt", True),
        ("s3://bucket/x.ckpt", False),
        ("memory://x", False),
        ("simplecache::s3://bucket/x", False),
        ("https://host/x.ckpt", False),
    ],
)
def test_is_local_path(path: str, local: bool) -> None:
    assert is_local_path(path) is local


# -- atomic writes -------------------------------------------------------------------------------------------------
_SAVER = textwrap.dedent(
    """
    import sys, torch
    from shim.trainer.checkpoint_files import save_checkpoint_file
    folder = sys.argv[1]
    big = {"state_dict": {"w": torch.randn(256, 1024)}, "epoch": 0}
    i = 0
    while True:
        big["epoch"] = i
        save_checkpoint_file(big, f"{folder}/c{i % 3}.ckpt")
        i += 1
    """
)


def test_killed_writer_leaves_only_loadable_checkpoints(tmp_path: Path) -> None:
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    folder = tmp_path / "out"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(shim.__file__).parent.parent)}
    for delay in (0.0, 0.05, 0.11, 0.2):
        process = subprocess.Popen([sys.executable, str(script), str(folder)], env=env)
        deadline = time.monotonic() + 60
        while not list(folder.glob("*.ckpt")) and time.monotonic() < deadline:  # imports take a while
            time.sleep(0.05)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in folder.glob("*.ckpt"):
            assert load_checkpoint_file(path)["state_dict"]["w"].shape == (256, 1024)
        leftovers = [p.name for p in folder.iterdir() if not p.name.endswith(".ckpt")]
        assert all(name.endswith(".ckpt.tmp") for name in leftovers)
    assert list(folder.glob("*.ckpt")), "the writer got to write at least one checkpoint"
