"""Checkpoints: Lightning's layout, interchange with Lightning both ways, exact resume, safe and atomic files."""

import importlib
import os
import pickle
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
        checkpoint["loops"]["fit_loop"]["state_dict"].pop("shim", None)  # shim's exact-resume state
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
    with pytest.raises(RuntimeError, match=r"(?s)does not fit .*size mismatch for net.0.weight: \(8, 3\) in the"):
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


def test_other_model_is_rejected_before_loading(saved: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    model = BoringModel()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(
        RuntimeError, match=r'(?s)Missing key\(s\) in state_dict: "layer.weight".*Unexpected key\(s\) .*"net.0.weight"'
    ):
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


# -- which checkpoint a run loads ------------------------------------------------------------------------------
def _boring_trainer(pkg: ModuleType, root: Path, **kwargs: Any) -> Any:
    defaults: dict[str, Any] = {
        "max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "logger": False,
        "enable_progress_bar": False, "enable_model_summary": False, "default_root_dir": str(root),
    }  # fmt: skip
    return pkg.Trainer(**{**defaults, **kwargs})


def _warnings_and_error(call: Any) -> tuple[list[str], type[BaseException] | None]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception as error:
            return [str(w.message) for w in caught], type(error)
    return [str(w.message) for w in caught], None


def _boring(pkg: ModuleType) -> Any:
    return importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel()


@pytest.mark.filterwarnings("ignore")
def test_evaluating_the_fitted_model_without_model_checkpoint_is_an_error(
    lightning: ModuleType, tmp_path: Path
) -> None:
    outcomes = []
    for pkg in (lightning, shim):
        trainer = _boring_trainer(pkg, tmp_path / pkg.__name__, enable_checkpointing=False)
        trainer.fit(_boring(pkg))
        messages, error = _warnings_and_error(trainer.validate)
        outcomes.append((error, any("ckpt_path=None" in m for m in messages)))
    assert outcomes[1] == outcomes[0] == (ValueError, True)


@pytest.mark.filterwarnings("ignore")
def test_best_with_several_checkpoint_callbacks_warns_and_uses_the_first(lightning: ModuleType, tmp_path: Path) -> None:
    results = []
    for pkg in (lightning, shim):
        mc = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint
        root = tmp_path / pkg.__name__
        first, second = mc(dirpath=str(root / "a")), mc(dirpath=str(root / "b"), mode="max")
        trainer = _boring_trainer(pkg, root, callbacks=[first, second])
        model = _boring(pkg)
        trainer.fit(model)
        messages, error = _warnings_and_error(lambda t=trainer, m=model: t.test(m, ckpt_path="best", verbose=False))
        several = [m for m in messages if 'ckpt_path="best")` ' in m and "checkpoint callback" in m]
        results.append((error, len(several), trainer.ckpt_path == first.best_model_path))
    assert results[1] == results[0] == (None, 1, True)


@pytest.mark.filterwarnings("ignore")
def test_resuming_without_a_callback_of_the_checkpoint_warns(lightning: ModuleType, tmp_path: Path) -> None:
    results = []
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        callbacks_module = importlib.import_module(f"{pkg.__name__}.callbacks")

        class Stateful(callbacks_module.Callback):  # type: ignore[misc, name-defined]
            def state_dict(self) -> dict[str, Any]:
                return {"calls": 1}

        checkpoint = callbacks_module.ModelCheckpoint(dirpath=str(root), save_last=True)
        trainer = _boring_trainer(pkg, root, callbacks=[checkpoint, Stateful()])
        trainer.fit(_boring(pkg))
        resumed = _boring_trainer(pkg, root, max_epochs=2)
        messages, error = _warnings_and_error(
            lambda t=resumed, m=_boring(pkg), p=checkpoint.last_model_path: t.fit(m, ckpt_path=p)  # noqa: B008
        )
        results.append((error, [m for m in messages if "Stateful" in m]))
    assert results[1][0] is results[0][0] is None
    assert len(results[0][1]) == 1
    assert results[1][1] == [
        "The checkpoint holds the state of callbacks this Trainer does not have:"
        f" ['{test_resuming_without_a_callback_of_the_checkpoint_warns.__name__}.<locals>.Stateful']. Pass the"
        " callbacks that wrote the checkpoint to `Trainer(callbacks=...)` to restore them too."
    ]


def test_save_checkpoint_needs_only_a_connected_model(tmp_path: Path) -> None:
    from shim.demos.boring_classes import BoringModel

    callback = ModelCheckpoint(dirpath=str(tmp_path), save_last=True)
    callback.CHECKPOINT_NAME_LAST = "{foo}-last"
    trainer = shim.Trainer(callbacks=callback, logger=False)
    with pytest.raises(AttributeError, match="only possible after a model is attached"):
        trainer.save_checkpoint(tmp_path / "x.ckpt")
    trainer.strategy.connect(BoringModel())
    callback._save_last_checkpoint(trainer, {"foo": torch.tensor(1)})
    assert os.listdir(tmp_path) == ["foo=1-last.ckpt"]
    saved = torch.load(tmp_path / "foo=1-last.ckpt", weights_only=True)
    assert saved["callbacks"][callback.state_key]["last_model_path"] == str(tmp_path / "foo=1-last.ckpt")


def test_loading_and_saving_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from shim.demos.boring_classes import BoringModel

    caplog.set_level(logging.INFO)
    trainer = _boring_trainer(shim, tmp_path)
    trainer.fit(BoringModel())
    path = str(tmp_path / "saved.ckpt")
    caplog.clear()
    trainer.save_checkpoint(path)
    trainer.save_checkpoint(path, weights_only=False)
    assert [r.message for r in caplog.records] == [
        "`save_checkpoint` got no `weights_only`: the whole training state is saved (`weights_only=False`)."
    ]
    caplog.clear()
    _boring_trainer(shim, tmp_path, max_epochs=2).fit(BoringModel(), ckpt_path=path)
    trainer.validate(BoringModel(), ckpt_path=path, verbose=False)
    messages = [r.message for r in caplog.records if "checkpoint" in r.message]
    assert messages == [
        f"Reading the checkpoint {path}",
        f"Resuming from the checkpoint {path}: weights, optimizers, schedulers and loop counters restored",
        f"Reading the checkpoint {path}",
        f"Using the model weights of the checkpoint {path}",
    ]


def test_datamodule_load_from_checkpoint_takes_weights_only(tmp_path: Path) -> None:
    from shim.demos.boring_classes import BoringDataModule, BoringModel

    class Data(BoringDataModule):
        def __init__(self, size: int = 3) -> None:
            super().__init__()
            self.save_hyperparameters()

    trainer = _boring_trainer(shim, tmp_path)
    trainer.fit(BoringModel(), datamodule=Data(size=5))
    trainer.save_checkpoint(tmp_path / "dm.ckpt")
    loaded = Data.load_from_checkpoint(tmp_path / "dm.ckpt", weights_only=False)
    assert dict(loaded.hparams) == {"size": 5}


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


@pytest.mark.parametrize(
    "make", [lambda mc: [mc(), mc()], lambda mc: [mc(monitor="a"), mc(monitor="a", save_top_k=3)]], ids=["1", "2"]
)
def test_two_checkpoint_callbacks_with_one_state_key_are_an_error(lightning: ModuleType, make: Any) -> None:
    with pytest.raises(RuntimeError):
        lightning.Trainer(callbacks=make(lightning.callbacks.ModelCheckpoint), logger=False)
    with pytest.raises(RuntimeError, match="Two ModelCheckpoint callbacks save their state under the same key"):
        shim.Trainer(callbacks=make(ModelCheckpoint), logger=False)
    shim.Trainer(callbacks=[ModelCheckpoint(monitor="a"), ModelCheckpoint(monitor="a", mode="max")], logger=False)
