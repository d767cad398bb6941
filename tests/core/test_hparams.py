"""save_hyperparameters in every form, on modules and datamodules."""

from argparse import Namespace
from typing import Any

import pytest
import torch

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


def test_a_subclass_call_adds_to_and_can_drop_what_the_parent_saved() -> None:
    class Parent(shim.LightningModule):
        def __init__(self, a: int = 1, b: int = 2) -> None:
            super().__init__()
            self.save_hyperparameters("a", "b")

    class Kid(Parent):
        def __init__(self, c: int = 3, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.save_hyperparameters("c")

    class Dropping(Parent):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.save_hyperparameters(ignore="a")

    assert dict(Kid(a=5).hparams) == {"a": 5, "b": 2, "c": 3}
    dropping = Dropping(b=7)
    assert dict(dropping.hparams) == {"b": 7}
    assert dict(dropping.hparams_initial) == {"b": 7}
    dropping.remove_ignored_hparams(["b", "not-saved"])
    assert dict(dropping.hparams) == {}


@pytest.mark.parametrize(
    ("value", "message"), [(42, "type int cannot be saved on its own"), (object(), "object of type object")]
)
def test_single_objects_that_are_no_mapping_raise(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FromDict(value)


def test_empty_container_saves_nothing_and_the_containers_argument_name_is_kept() -> None:
    assert dict(FromDict({}).hparams) == {}
    assert FromDict(Namespace(a=1))._hparams_name == "conf"
    assert FromDict({"a": 1}).hparams_initial == {"a": 1}


def test_nn_module_hyper_parameters_warn() -> None:
    class Keeping(shim.LightningModule):
        def __init__(self, a: int, net: Any) -> None:
            super().__init__()
            self.save_hyperparameters()

    with pytest.warns(UserWarning, match=r"'net' is an nn\.Module.*ignore=\['net'\]"):
        model = Keeping(1, torch.nn.Linear(1, 1))
    assert list(model.hparams) == ["a", "net"]


def test_dataclass_modules_save_their_init_fields() -> None:
    import dataclasses

    @dataclasses.dataclass
    class Data(shim.LightningModule):
        size: int
        name: str = "x"
        derived: int = dataclasses.field(default=0, init=False)

        def __post_init__(self) -> None:
            super().__init__()
            self.save_hyperparameters(ignore=["name"])

    assert dict(Data(3, name="y").hparams) == {"size": 3}


def test_a_fit_drops_unpicklable_hyper_parameters(tmp_path: Any) -> None:
    from shim.demos.boring_classes import BoringModel

    class Model(BoringModel):
        def __init__(self, keep: int = 1, fn: Any = lambda x: x) -> None:
            super().__init__()
            self.save_hyperparameters()

    model = Model()
    trainer = shim.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           default_root_dir=str(tmp_path))  # fmt: skip
    with pytest.warns(UserWarning, match="'fn' cannot be pickled"):
        trainer.fit(model)
    assert dict(model.hparams) == {"keep": 1}


def test_omegaconf_hyper_parameters_stay_configs_through_a_checkpoint(tmp_path: Any) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    from shim.demos.boring_classes import BoringModel

    class Model(BoringModel):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.save_hyperparameters(config)

    model = Model(omegaconf.OmegaConf.create({"test_arg": 14, "mylist": [15.4, {"a": 1}]}))
    assert isinstance(model.hparams, omegaconf.DictConfig)
    trainer = shim.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           default_root_dir=str(tmp_path))  # fmt: skip
    trainer.fit(model)
    path = str(tmp_path / "model.ckpt")
    trainer.save_checkpoint(path)
    loaded = Model.load_from_checkpoint(path, weights_only=False)
    assert isinstance(loaded.hparams, omegaconf.DictConfig)
    assert loaded.hparams.mylist[0] == 15.4
