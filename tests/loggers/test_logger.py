"""The Logger base class, the dummies, the hparams.yaml writer and the exported names, against Lightning."""

import copy
import enum
import importlib
import pickle
import statistics
import threading
import warnings
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import shim.loggers
from shim.loggers.hparams import _flatten_dict, _sanitize_params, save_hparams_to_yaml
from shim.loggers.logger import DummyExperiment, DummyLogger, Logger, merge_dicts, rank_zero_experiment
from shim.utilities.parsing import AttributeDict
from shim.utilities.rank_zero import rank_zero_only


class Color(enum.Enum):
    RED = "r"


@dataclass
class Optim:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.99)


class RecordingLogger(Logger):
    def __init__(self) -> None:
        self.calls: list[str] = []

    @property
    def name(self) -> str:
        return "rec"

    @property
    def version(self) -> int:
        return 1

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append("log_metrics")

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.calls.append("log_hyperparams")

    def save(self) -> None:
        self.calls.append("save")

    @property
    @rank_zero_experiment
    def experiment(self) -> str:
        return "real experiment"


# -- Logger ---------------------------------------------------------------------------------------------------------
def test_logger_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Logger()  # type: ignore[abstract]


def test_logger_defaults() -> None:
    logger = RecordingLogger()
    assert (logger.root_dir, logger.log_dir, logger.save_dir) == (None, None, None)
    assert logger.group_separator == "/"
    logger.log_graph(torch.nn.Linear(1, 1))
    logger.after_save_checkpoint(object())  # type: ignore[arg-type]
    assert logger.calls == []
    logger.finalize("success")
    assert logger.calls == ["save"]  # finalize saves


def test_rank_zero_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = RecordingLogger()
    assert logger.experiment == "real experiment"
    monkeypatch.setattr(rank_zero_only, "rank", 2)
    assert isinstance(logger.experiment, DummyExperiment)


# -- dummies --------------------------------------------------------------------------------------------------------
def test_dummy_experiment_accepts_everything() -> None:
    experiment = DummyExperiment()
    assert experiment.add_scalar("x", 1.0, global_step=3) is None
    assert experiment.anything_at_all() is None
    assert experiment[0] is experiment
    experiment["key"] = 1
    experiment.nop(1, a=2)
    assert isinstance(copy.deepcopy(experiment), DummyExperiment)


def test_dummy_logger() -> None:
    logger = DummyLogger()
    assert (logger.name, logger.version) == ("", "")
    assert (logger.save_dir, logger.log_dir, logger.root_dir) == (None, None, None)
    assert isinstance(logger.experiment, DummyExperiment)
    assert logger.log_metrics({"x": 1.0}, step=0) is None
    assert logger.log_hyperparams({"lr": 0.1}) is None
    logger.save()
    logger.finalize("success")
    logger.after_save_checkpoint(object())  # type: ignore[arg-type]
    logger.log_graph(torch.nn.Linear(1, 1))
    assert logger.some_other_logger_method(1, key=2) is None
    assert logger[0] is logger
    with pytest.raises(AttributeError):
        _ = logger.__missing_dunder__
    clone = pickle.loads(pickle.dumps(copy.deepcopy(logger)))
    assert isinstance(clone, DummyLogger)
    assert isinstance(clone.experiment, DummyExperiment)


def test_dummy_logger_against_lightning(lightning: ModuleType) -> None:
    from pytorch_lightning.loggers.logger import DummyLogger as LightningDummyLogger

    expected, actual = LightningDummyLogger(), DummyLogger()
    for name in ("name", "version", "save_dir", "log_dir", "root_dir", "group_separator"):
        assert getattr(actual, name) == getattr(expected, name), name


# -- merge_dicts ----------------------------------------------------------------------------------------------------
def test_merge_dicts_matches_lightning(lightning: ModuleType) -> None:
    from pytorch_lightning.loggers.logger import merge_dicts as lightning_merge_dicts

    dicts: list[dict[str, Any]] = [
        {"a": 1.7, "b": 2.0, "c": 1, "d": {"d1": 1, "d3": 3}},
        {"a": 1.1, "b": 2.2, "v": 1, "d": {"d1": 2, "d2": 3}},
        {"a": 1.1, "v": 2.3, "d": {"d3": 3, "d4": {"d5": 1}}, "n": None},
        {"n": 4},
    ]
    funcs = {"a": statistics.mean, "v": max, "d": {"d1": sum}}
    assert merge_dicts(dicts, funcs, min) == lightning_merge_dicts(dicts, funcs, min)
    assert merge_dicts(dicts[:2]) == lightning_merge_dicts(dicts[:2])


# -- hparams.yaml ---------------------------------------------------------------------------------------------------
YAML_CASES: list[Any] = [
    {},
    {"lr": 0.1, "layers": [1, 2], "net": {"depth": 3, "act": "relu"}, "none": None, "flag": False},
    {"color": Color.RED, "ns": Namespace(a=1), "nested": {"color": Color.RED}, "t": (1, 2)},
    Namespace(lr=0.01, batch_size=4),
    {"text": "ünïcödé", "big": 10**20, "float": 1e-8, "inf": float("inf")},
]


@pytest.mark.parametrize("hparams", YAML_CASES)
def test_yaml_matches_lightning(lightning: ModuleType, tmp_path: Path, hparams: Any) -> None:
    from pytorch_lightning.core.saving import save_hparams_to_yaml as lightning_save

    lightning_save(tmp_path / "pl.yaml", hparams)
    save_hparams_to_yaml(tmp_path / "shim.yaml", hparams)
    assert (tmp_path / "shim.yaml").read_bytes() == (tmp_path / "pl.yaml").read_bytes()


def test_yaml_attribute_dict_is_written_as_a_plain_dict(lightning: ModuleType, tmp_path: Path) -> None:
    from lightning_fabric.utilities.data import AttributeDict as LightningAttributeDict
    from pytorch_lightning.core.saving import save_hparams_to_yaml as lightning_save

    values = {"lr": 0.1, "depth": 2}
    lightning_save(tmp_path / "pl.yaml", LightningAttributeDict(values))
    save_hparams_to_yaml(str(tmp_path / "shim.yaml"), AttributeDict(values))
    assert (tmp_path / "shim.yaml").read_text() == (tmp_path / "pl.yaml").read_text() == "depth: 2\nlr: 0.1\n"


def test_yaml_unwritable_values_like_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    from pytorch_lightning.core.saving import save_hparams_to_yaml as lightning_save

    lock = threading.Lock()
    expected, actual = {"lock": lock, "lr": 0.1}, {"lock": lock, "lr": 0.1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lightning_save(tmp_path / "pl.yaml", expected)
    with pytest.warns(UserWarning, match="Leaving 'lock' out of"):
        save_hparams_to_yaml(tmp_path / "shim.yaml", actual)
    assert (tmp_path / "shim.yaml").read_text() == (tmp_path / "pl.yaml").read_text() == "lr: 0.1\n"
    assert actual == expected == {"lock": "lock", "lr": 0.1}  # the caller's dict is changed the same way


def test_yaml_tensor_round_trips(tmp_path: Path) -> None:
    import yaml

    save_hparams_to_yaml(tmp_path / "h.yaml", {"t": torch.tensor([1.0, 2.0])})
    loaded = yaml.unsafe_load((tmp_path / "h.yaml").read_text())
    assert torch.equal(loaded["t"], torch.tensor([1.0, 2.0]))


def test_yaml_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        save_hparams_to_yaml(tmp_path / "missing" / "h.yaml", {"a": 1})
    with pytest.raises(TypeError, match="dict or an argparse.Namespace"):
        save_hparams_to_yaml(tmp_path / "h.yaml", [1, 2])  # type: ignore[arg-type]


# -- TensorBoard's flat hyper-parameters ----------------------------------------------------------------------------
def test_flatten_and_sanitize_match_lightning(lightning: ModuleType) -> None:
    from lightning_fabric.loggers.tensorboard import TensorBoardLogger as FabricTensorBoardLogger
    from lightning_fabric.utilities.logger import _flatten_dict as lightning_flatten

    params = {
        "a": {"b": {"c": 1}},
        5: {"x": Namespace(y=2)},
        "opt": Optim(),
        "dl": [{"a": 1}, {"b": 2}],
        "empty": [],
        "l": [1, 2],
        "np": np.float32(0.5),
        "npi": np.int64(3),
        "npb": np.bool_(True),
        "cls": torch.nn.ReLU,
        "t0": torch.tensor(1.5),
        "t2": torch.zeros(2, 2),
        "color": Color.RED,
        "none": None,
    }
    expected = FabricTensorBoardLogger._sanitize_params(lightning_flatten(params))
    actual = _sanitize_params(_flatten_dict(params))
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(actual[key], value)
        else:
            assert (actual[key], type(actual[key])) == (value, type(value)), key
    assert _flatten_dict({"a": {"b": 1}}, delimiter=".") == lightning_flatten({"a": {"b": 1}}, delimiter=".")


# -- exports --------------------------------------------------------------------------------------------------------
def test_exports() -> None:
    assert sorted(shim.loggers.__all__) == ["CSVLogger", "Logger", "MLFlowLogger", "TensorBoardLogger", "WandbLogger"]
    for name in shim.loggers.__all__:
        assert getattr(shim.loggers, name).__module__.startswith("shim.loggers.")


PUBLIC_NAMES = {
    "logger": ["DummyExperiment", "DummyLogger", "Logger", "merge_dicts", "rank_zero_experiment"],
    "tensorboard": ["TensorBoardLogger"],
    "csv_logs": ["CSVLogger", "ExperimentWriter"],
    "wandb": ["WandbLogger"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC_NAMES))
def test_public_names_match_lightning(lightning: ModuleType, module: str) -> None:
    ours = importlib.import_module(f"shim.loggers.{module}")
    theirs = importlib.import_module(f"pytorch_lightning.loggers.{module}")
    for name in PUBLIC_NAMES[module]:
        assert hasattr(theirs, name), name  # keeps the table honest
        assert name in ours.__all__
        assert hasattr(ours, name)
