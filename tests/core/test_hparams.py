"""save_hyperparameters in every form, on modules and datamodules."""

from argparse import Namespace
from typing import Any

import pytest

import shim


class Base(shim.LightningModule):
    def __init__(self, in_dim: int, out_dim: int = 10, learning_rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__()
        self.save_hyperparameters()


class Child(Base):
    def __init__(self, extra: str = "x", **kwargs: Any) -> None:
        super().__init__(in_dim=5, **kwargs)


def test_all_init_arguments() -> None:
    model = Base(128, learning_rate=0.5, dropout=0.1)
    assert dict(model.hparams) == {"in_dim": 128, "out_dim": 10, "learning_rate": 0.5, "dropout": 0.1}
    assert model.hparams.learning_rate == 0.5
    assert model.hparams["in_dim"] == 128


def test_arguments_of_subclass_frames_are_collected() -> None:
    model = Child(extra="y", out_dim=3)
    assert dict(model.hparams) == {"in_dim": 5, "out_dim": 3, "learning_rate": 0.1, "extra": "y"}


class Subset(shim.LightningModule):
    def __init__(self, a: int, b: int, c: int) -> None:
        super().__init__()
        self.save_hyperparameters("a", "c")


class Ignoring(shim.LightningModule):
    def __init__(self, a: int, net: Any) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"])


class FromDict(shim.LightningModule):
    def __init__(self, conf: Any) -> None:
        super().__init__()
        self.save_hyperparameters(conf)


def test_named_subset_and_ignore() -> None:
    assert dict(Subset(1, 2, 3).hparams) == {"a": 1, "c": 3}
    assert dict(Ignoring(1, object()).hparams) == {"a": 1}


@pytest.mark.parametrize("conf", [{"lr": 0.3, "layers": 2}, Namespace(lr=0.3, layers=2)])
def test_dict_or_namespace(conf: Any) -> None:
    model = FromDict(conf)
    assert model.hparams.lr == 0.3
    assert dict(model.hparams_initial) == {"lr": 0.3, "layers": 2}


def test_hparams_initial_is_a_snapshot() -> None:
    model = Base(1)
    model.hparams.in_dim = 99
    assert model.hparams_initial.in_dim == 1


def test_unknown_name() -> None:
    class Bad(shim.LightningModule):
        def __init__(self, a: int) -> None:
            super().__init__()
            self.save_hyperparameters("b")

    with pytest.raises(KeyError, match=r"\[.b.\]"):
        Bad(1)


def test_datamodule_hyperparameters() -> None:
    class DataModule(shim.LightningDataModule):
        def __init__(self, batch_size: int = 32) -> None:
            super().__init__()
            self.save_hyperparameters()

    assert DataModule(batch_size=8).hparams.batch_size == 8


def test_hparams_round_trip_through_a_checkpoint(tmp_path: Any) -> None:
    import torch
    from torch.utils.data import DataLoader

    from shim.demos.boring_classes import BoringModel

    class Model(BoringModel):
        def __init__(self, conf: dict[str, Any]) -> None:
            super().__init__()
            self.save_hyperparameters(conf)
            self.loaded_extra = None

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["extra"] = 7

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            self.loaded_extra = checkpoint["extra"]

    class DataModule(shim.LightningDataModule):
        def __init__(self, batch_size: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()

        def train_dataloader(self) -> DataLoader:
            return DataLoader(torch.randn(8, 32), batch_size=self.hparams.batch_size)

        def state_dict(self) -> dict[str, Any]:
            return {"seen": 3}

    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(Model({"lr": 0.2}), datamodule=DataModule(batch_size=2))
    path = str(tmp_path / "m.ckpt")
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["hparams_name"] == "conf"
    assert checkpoint["datamodule_hyper_parameters"] == {"batch_size": 2}
    assert checkpoint[DataModule.__qualname__] == {"seen": 3}
    model = Model.load_from_checkpoint(path)
    assert model.hparams.lr == 0.2
    assert model.loaded_extra == 7
    assert DataModule.load_from_checkpoint(path).hparams.batch_size == 2
    assert DataModule.load_from_checkpoint(path, batch_size=16).hparams.batch_size == 16
