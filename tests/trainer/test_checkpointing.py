"""Checkpoints: Lightning's layout, interchange with Lightning both ways, exact resume, safe and atomic files."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.callbacks.model_checkpoint import ModelCheckpoint
from shim.trainer.checkpointing import load_checkpoint_file


def _module_class(
    pkg: ModuleType, optimizer: str = "sgd", scheduler: str | None = "step", dropout: float = 0.0
) -> type:
    class Regressor(pkg.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self, hidden: int = 8, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(3, hidden), torch.nn.Tanh(), torch.nn.Dropout(dropout), torch.nn.Linear(hidden, 1)
            )

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("loss", loss)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            params = self.parameters()
            opt = (
                torch.optim.SGD(params, lr=self.hparams.lr, momentum=0.9)
                if optimizer == "sgd"
                else torch.optim.Adam(params, lr=self.hparams.lr)
            )
            if scheduler is None:
                return opt
            if scheduler == "plateau":
                sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
                return {"optimizer": opt, "lr_scheduler": sched, "monitor": "val_loss"}
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.8)]

    return Regressor


def _data(n: int = 24) -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return TensorDataset(x, x.sum(1, keepdim=True)), TensorDataset(x[:6], x[:6].sum(1, keepdim=True))


def _trainer(pkg: ModuleType, root: Path, **kwargs: Any) -> Any:
    defaults: dict[str, Any] = {
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(root),
    }
    return pkg.Trainer(**{**defaults, **kwargs})


def _fit(pkg: ModuleType, root: Path, shuffle: bool = False, ckpt_path: Any = None, **kwargs: Any) -> Any:
    train, val = _data()
    torch.manual_seed(1)
    model = _module_class(pkg, **kwargs.pop("module", {}))()
    trainer = _trainer(pkg, root, **kwargs)
    trainer.fit(
        model, DataLoader(train, batch_size=4, shuffle=shuffle), DataLoader(val, batch_size=3), ckpt_path=ckpt_path
    )
    return model, trainer


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, atol: float = 0.0) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=atol, msg=name)


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict) or prefix.endswith(("state_dict", "optimizer_states", "hyper_parameters")):
        return {prefix}
    return {k for key, value in tree.items() for k in _keys(value, f"{prefix}/{key}")}


@pytest.mark.filterwarnings("ignore")
def test_layout_matches_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    layouts = []
    for pkg in (lightning, shim):
        _, trainer = _fit(pkg, tmp_path / pkg.__name__, max_epochs=2)
        path = tmp_path / f"{pkg.__name__}.ckpt"
        trainer.save_checkpoint(path)
        checkpoint = torch.load(path, weights_only=False)
        checkpoint.pop("shim", None)
        layouts.append((_keys(checkpoint), checkpoint["loops"], checkpoint["epoch"], checkpoint["global_step"]))
    assert layouts[1] == layouts[0]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("writer", "reader"), [("lightning", "shim"), ("shim", "lightning")])
@pytest.mark.parametrize("scheduler", [None, "step"])
def test_resume_across_implementations(
    lightning: ModuleType, writer: str, reader: str, scheduler: str | None, tmp_path: Path
) -> None:
    packages = {"lightning": lightning, "shim": shim}
    module = {"optimizer": "adam", "scheduler": scheduler}
    straight, _ = _fit(packages[writer], tmp_path / "straight", max_epochs=4, module=module)
    _fit(packages[writer], tmp_path / "first", max_epochs=2, module=module)
    (checkpoint,) = (tmp_path / "first" / "checkpoints").iterdir()
    resumed, trainer = _fit(
        packages[reader], tmp_path / "second", max_epochs=4, ckpt_path=str(checkpoint), module=module
    )
    assert trainer.global_step == 24
    _assert_same_weights(resumed, straight, atol=1e-6)


@pytest.mark.filterwarnings("ignore")
def test_resume_lightning_plateau_checkpoint_as_lightning_does(lightning: ModuleType, tmp_path: Path) -> None:
    # Lightning does not step ReduceLROnPlateau for the epoch its checkpoint ends; from its files shim does the same
    module = {"optimizer": "adam", "scheduler": "plateau"}
    _fit(lightning, tmp_path / "first", max_epochs=2, module=module)
    (checkpoint,) = (tmp_path / "first" / "checkpoints").iterdir()
    by_lightning, _ = _fit(lightning, tmp_path / "pl", max_epochs=4, ckpt_path=str(checkpoint), module=module)
    by_shim, _ = _fit(shim, tmp_path / "shim", max_epochs=4, ckpt_path=str(checkpoint), module=module)
    _assert_same_weights(by_shim, by_lightning, atol=1e-6)


@pytest.mark.filterwarnings("ignore")
def test_load_from_checkpoint_of_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    trained, _ = _fit(lightning, tmp_path, max_epochs=1)
    (path,) = (tmp_path / "checkpoints").iterdir()
    loaded = _module_class(shim).load_from_checkpoint(path, lr=0.5)
    assert dict(loaded.hparams) == {"hidden": 8, "lr": 0.5}
    _assert_same_weights(loaded, trained)


def test_load_from_checkpoint_overrides_and_device(tmp_path: Path) -> None:
    trained, trainer = _fit(shim, tmp_path, max_epochs=1)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = _module_class(shim).load_from_checkpoint(str(path), lr=0.3)
    assert loaded.hparams.lr == 0.3
    assert loaded.hparams.hidden == 8
    assert loaded.device == torch.device("cpu")
    assert loaded.training  # as Lightning returns it
    _assert_same_weights(loaded, trained)
    with pytest.raises(RuntimeError, match="does not fit .*shape mismatches"):
        _module_class(shim).load_from_checkpoint(str(path), hidden=4)


@pytest.mark.parametrize("kind", ["sgd-step", "adam-plateau"])
@pytest.mark.parametrize("save_every", [5, 6])  # mid-epoch and end-of-epoch saves (6 batches per epoch)
def test_exact_resume_with_shuffle_and_dropout(kind: str, save_every: int, tmp_path: Path) -> None:
    optimizer, scheduler = kind.split("-")
    module = {"optimizer": optimizer, "scheduler": scheduler, "dropout": 0.3}
    callback = ModelCheckpoint(every_n_train_steps=save_every, save_top_k=-1)
    straight, _ = _fit(shim, tmp_path / "a", shuffle=True, max_epochs=3, callbacks=[callback], module=module)
    checkpoints = sorted((tmp_path / "a" / "checkpoints").iterdir())
    assert len(checkpoints) == 18 // save_every
    for checkpoint in checkpoints:
        torch.manual_seed(999)  # a different process state: the checkpoint must restore everything
        resumed, trainer = _fit(
            shim, tmp_path / "b", shuffle=True, max_epochs=3, ckpt_path=str(checkpoint), module=module,
            callbacks=[ModelCheckpoint(every_n_train_steps=save_every, save_top_k=-1)],
        )  # fmt: skip
        assert trainer.global_step == 18
        _assert_same_weights(resumed, straight)


@given(
    max_epochs=st.integers(2, 3),
    stop_step=st.integers(1, 11),
    optimizer=st.sampled_from(["sgd", "adam"]),
    scheduler=st.sampled_from([None, "step", "plateau"]),
    shuffle=st.booleans(),
)
def test_train_stop_resume_equals_straight_through(
    max_epochs: int, stop_step: int, optimizer: str, scheduler: str | None, shuffle: bool, tmp_path_factory: Any
) -> None:
    root = tmp_path_factory.mktemp("resume")
    module = {"optimizer": optimizer, "scheduler": scheduler, "dropout": 0.2}
    straight, _ = _fit(shim, root / "a", shuffle=shuffle, max_epochs=max_epochs, module=module)
    stop = min(stop_step, 6 * max_epochs - 1)
    _fit(
        shim, root / "b", shuffle=shuffle, max_epochs=max_epochs, max_steps=stop, module=module,
        callbacks=[ModelCheckpoint(every_n_train_steps=stop, save_top_k=-1)],
    )  # fmt: skip
    (checkpoint,) = (root / "b" / "checkpoints").iterdir()
    torch.manual_seed(12345)
    resumed, trainer = _fit(
        shim, root / "c", shuffle=shuffle, max_epochs=max_epochs, ckpt_path=str(checkpoint), module=module
    )
    assert trainer.global_step == 6 * max_epochs
    _assert_same_weights(resumed, straight, atol=1e-6)


def test_ckpt_path_last_and_best(tmp_path: Path) -> None:
    callback = ModelCheckpoint(monitor="val_loss", save_last=True)
    model, trainer = _fit(shim, tmp_path, max_epochs=2, callbacks=[callback])
    _, val = _data()
    assert trainer.validate(dataloaders=DataLoader(val, batch_size=3), ckpt_path="best", verbose=False)[0][
        "val_loss"
    ] == pytest.approx(float(callback.best_model_score))
    _, resumed = _fit(shim, tmp_path, max_epochs=3, ckpt_path="last", callbacks=[ModelCheckpoint(save_last=True)])
    assert resumed.ckpt_path == str(tmp_path / "checkpoints" / "last.ckpt")
    assert resumed.global_step == 18


def test_resume_from_checkpoint_1x_argument(tmp_path: Path) -> None:
    _, trainer = _fit(shim, tmp_path / "a", max_epochs=1)
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    with pytest.warns(DeprecationWarning, match="resume_from_checkpoint"):
        model, resumed = _fit(shim, tmp_path / "b", max_epochs=2, resume_from_checkpoint=str(path))
    assert resumed.global_step == 12


# -- bad files ----------------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path: Path) -> Path:
    _, trainer = _fit(shim, tmp_path, max_epochs=1)
    path = tmp_path / "good.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: /no/such.ckpt"):
        load_checkpoint_file("/no/such.ckpt")


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.ckpt"
    broken.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(RuntimeError, match=f"{broken} cannot be read; it is truncated, corrupted"):
        load_checkpoint_file(broken)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(RuntimeError, match=str(text)):
        load_checkpoint_file(text)
    tensor = tmp_path / "tensor.ckpt"
    torch.save(torch.ones(2), tensor)
    with pytest.raises(ValueError, match="is not a Lightning checkpoint: it has no 'state_dict'"):
        load_checkpoint_file(tensor)


def test_other_model_is_rejected_before_loading(saved: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    model = BoringModel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="missing keys .*layer.weight.*unexpected keys .*net.0.weight"):
        BoringModel.load_from_checkpoint(saved)
    trainer = _trainer(shim, saved.parent / "other", max_epochs=2)
    with pytest.raises(RuntimeError, match="does not fit BoringModel"):
        trainer.fit(model, ckpt_path=str(saved))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), "nothing is half-loaded"


class _Payload:
    def __reduce__(self) -> Any:
        return (os.system, ("touch PWNED",))


def test_code_in_a_checkpoint_is_not_executed(saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint = torch.load(saved, weights_only=False)
    checkpoint["hyper_parameters"]["evil"] = _Payload()
    evil = tmp_path / "evil.ckpt"
    torch.save(checkpoint, evil)
    with pytest.raises(pickle.UnpicklingError, match="safe load refuses.*weights_only=False"):
        _module_class(shim).load_from_checkpoint(evil)
    train, _ = _data()
    with pytest.raises(pickle.UnpicklingError, match="Nothing was executed"):
        _trainer(shim, tmp_path, max_epochs=2).fit(_module_class(shim)(), DataLoader(train), ckpt_path=str(evil))
    assert not (tmp_path / "PWNED").exists()


_SAVER = textwrap.dedent(
    """
    import sys, torch
    from shim.trainer.checkpointing import save_checkpoint_file
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
    for delay in (0.0, 0.05, 0.11, 0.2):
        process = subprocess.Popen([sys.executable, str(script), str(folder)])
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


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("max_epochs", "refused"), [(0, True), (1, False), (3, False), (-1, False)])
def test_resuming_past_max_epochs_is_refused_as_in_lightning(
    lightning: ModuleType, tmp_path: Path, max_epochs: int, refused: bool
) -> None:
    def resume(pkg: ModuleType) -> str | None:
        import importlib

        boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
        folder = tmp_path / pkg.__name__
        kwargs: dict[str, Any] = {"limit_train_batches": 2, "limit_val_batches": 1, "logger": False}
        kwargs.update(default_root_dir=folder, enable_progress_bar=False, enable_model_summary=False)
        checkpoint = pkg.callbacks.ModelCheckpoint(dirpath=folder, save_last=True)
        pkg.Trainer(max_epochs=2, callbacks=[checkpoint], **kwargs).fit(boring.BoringModel())
        # saved at the end of the second epoch: current_epoch=1 in the file
        again = pkg.Trainer(max_epochs=max_epochs, max_steps=6 if max_epochs == -1 else -1, **kwargs)
        try:
            again.fit(boring.BoringModel(), ckpt_path=str(folder / "last.ckpt"))
        except pkg.utilities.exceptions.MisconfigurationException as error:
            return str(error)
        return None

    assert (resume(lightning) is not None) is refused
    message = resume(shim)
    assert (message is not None) is refused
    if refused:
        assert f"current_epoch=1, past Trainer(max_epochs={max_epochs})" in str(message)
