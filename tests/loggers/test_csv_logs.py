"""CSVLogger and its ExperimentWriter: metrics.csv and hparams.yaml byte for byte as Lightning writes them."""

import enum
import os
import threading
import warnings
from argparse import Namespace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from shim.loggers import CSVLogger
from shim.loggers.csv_logs import ExperimentWriter
from shim.utilities.rank_zero import rank_zero_only


class Mode(enum.Enum):
    FAST = 1


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


# -- properties and folders ---------------------------------------------------------------------------------------
def test_default_folders_and_versions(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path)
    assert (logger.name, logger.version) == ("lightning_logs", 0)
    assert logger.save_dir == str(tmp_path)
    assert logger.root_dir == str(tmp_path / "lightning_logs")
    assert logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")
    assert not tmp_path.joinpath("lightning_logs").exists()
    logger.log_metrics({"x": 1.0}, step=0)
    assert Path(logger.log_dir).is_dir()
    assert CSVLogger(tmp_path).version == 1
    assert CSVLogger(tmp_path, version="run").log_dir == str(tmp_path / "lightning_logs" / "run")
    unnamed = CSVLogger(Path(tmp_path), name=None, version=4)
    assert unnamed.name == ""
    assert unnamed.log_dir == str(tmp_path / "version_4")


def test_metrics_csv_header_grows_and_rows_keep_their_values(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, prefix="train")
    logger.log_metrics({"loss": torch.tensor(0.5), "acc": 1}, step=0)
    logger.log_metrics({"loss": 0.25}, step=1)
    logger.save()
    path = Path(logger.experiment.metrics_file_path)
    assert path == Path(logger.log_dir, "metrics.csv")
    assert path.read_bytes() == b"step,train-acc,train-loss\r\n0,1,0.5\r\n1,,0.25\r\n"
    logger.log_metrics({"aa": 1e-8, "nan": float("nan")}, step=2)
    logger.log_metrics({"loss": 1 / 3})  # no step: the number of rows still waiting to be written
    logger.finalize("success")
    assert path.read_bytes() == (
        b"step,train-aa,train-acc,train-loss,train-nan\r\n"
        b"0,,1,0.5,\r\n1,,,0.25,\r\n2,1e-08,,,nan\r\n1,,,0.3333333333333333,\r\n"
    )


def test_flush_every_n_steps(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=3)
    logger.log_metrics({"x": 1.0}, step=0)
    logger.log_metrics({"x": 2.0}, step=1)
    assert not Path(logger.experiment.metrics_file_path).exists()
    logger.log_metrics({"x": 3.0}, step=2)
    assert Path(logger.experiment.metrics_file_path).read_text().splitlines() == ["step,x", "0,1.0", "1,2.0", "2,3.0"]
    assert logger.experiment.metrics == []


def test_log_hyperparams_rewrites_yaml_each_time(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path)
    logger.log_hyperparams({"lr": 0.1, "mode": Mode.FAST, "net": {"width": 4}})
    hparams_file = Path(logger.log_dir, "hparams.yaml")
    assert hparams_file.read_text() == "lr: 0.1\nmode: FAST\nnet:\n  width: 4\n"
    logger.log_hyperparams(Namespace(batch_size=8))
    assert hparams_file.read_text() == "batch_size: 8\nlr: 0.1\nmode: FAST\nnet:\n  width: 4\n"
    logger.log_hyperparams(None)
    assert logger.experiment.hparams == {"lr": 0.1, "mode": Mode.FAST, "net": {"width": 4}, "batch_size": 8}


def test_finalize_and_save(tmp_path: Path) -> None:
    CSVLogger(tmp_path, version="unused").finalize("success")
    assert list(tmp_path.iterdir()) == []  # never used: nothing written
    logger = CSVLogger(tmp_path, version="saved")
    logger.save()
    assert Path(logger.log_dir).is_dir()
    assert list(Path(logger.log_dir).iterdir()) == []  # no rows yet: no metrics.csv
    logger.log_metrics({"x": 1.0}, step=0)
    logger.finalize("failed")
    assert Path(logger.log_dir, "metrics.csv").read_bytes() == b"step,x\r\n0,1.0\r\n"


def test_existing_version_folder_loses_its_metrics_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "lightning_logs" / "version_0"
    log_dir.mkdir(parents=True)
    (log_dir / "metrics.csv").write_text("old")
    (log_dir / "hparams.yaml").write_text("old: 1\n")
    with pytest.warns(UserWarning, match="exists and is not empty"):
        writer = ExperimentWriter(str(log_dir))
    assert not (log_dir / "metrics.csv").exists()
    assert (log_dir / "hparams.yaml").exists()
    writer.log_metrics({"a": torch.tensor(2)})
    writer.save()
    writer.save()  # nothing buffered: nothing written
    assert (log_dir / "metrics.csv").read_bytes() == b"a,step\r\n2,0\r\n"


def test_values_yaml_cannot_hold_are_left_out(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path)
    with pytest.warns(UserWarning, match="Leaving 'lock' out of"):
        logger.log_hyperparams({"lock": threading.Lock(), "lr": 0.1})
    hparams_file = Path(logger.log_dir, "hparams.yaml")
    assert hparams_file.read_text() == "lr: 0.1\n"
    logger.log_hyperparams({"bs": 2})  # as in Lightning, the skipped value was replaced by its type name
    assert hparams_file.read_text() == "bs: 2\nlock: lock\nlr: 0.1\n"


def test_other_ranks_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = CSVLogger(tmp_path)
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"x": 1.0}, step=0)
    logger.experiment.log_metrics({"y": 1.0})  # a dummy on other ranks
    logger.save()
    logger.finalize("success")
    assert list(tmp_path.iterdir()) == []


# -- bad paths ----------------------------------------------------------------------------------------------------
def test_save_dir_is_a_file(tmp_path: Path) -> None:
    save_dir = tmp_path / "not_a_dir"
    save_dir.write_text("")
    with pytest.raises(NotADirectoryError, match=f"'{save_dir}' exists and is a file"):
        CSVLogger(save_dir).log_metrics({"x": 1.0}, step=0)
    with pytest.raises(FileExistsError, match=f"'{save_dir}' exists and is a file"):
        CSVLogger(save_dir, name=None).log_hyperparams({"lr": 1})


def test_version_folder_is_a_file(tmp_path: Path) -> None:
    version_dir = tmp_path / "lightning_logs" / "version_2"
    version_dir.parent.mkdir()
    version_dir.write_text("")
    assert CSVLogger(tmp_path).version == 0  # a file is not a version
    with pytest.raises(FileExistsError, match=f"'{version_dir}' exists and is a file"):
        CSVLogger(tmp_path, version=2).save()


# -- against Lightning --------------------------------------------------------------------------------------------
REFERENCE_CASES: list[dict[str, Any]] = [
    {},
    {"name": None, "version": "run", "prefix": "p", "flush_logs_every_n_steps": 2},
    {"name": "exp", "version": 3, "flush_logs_every_n_steps": 1},
]


def _drive(loggers: ModuleType, save_dir: Path, kwargs: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unwritable lock: each package words its warning its own way
        logger = loggers.CSVLogger(save_dir, **kwargs)
        logger.log_hyperparams(
            {"lr": 0.1, "net": {"width": 4, "sizes": [4, 8]}, "opt": None, "mode": Mode.FAST, "lock": threading.Lock()}
        )
        logger.log_hyperparams(Namespace(batch_size=32, nested=Namespace(depth=3)))
        for step in range(6):
            metrics: dict[str, Any] = {"loss": torch.tensor(1.0 / (step + 1))}
            if step >= 2:
                metrics["acc"] = step / 10
            if step >= 4:
                metrics["epoch"] = 1
            logger.log_metrics(metrics, step=step)
        logger.log_metrics({"late": 7})
        logger.save()
        logger.log_metrics({"val_loss": torch.tensor(0.125), "aa": True}, step=6)
        logger.finalize("success")
    return logger


@pytest.mark.parametrize("kwargs", REFERENCE_CASES)
def test_same_files_as_lightning(lightning: ModuleType, tmp_path: Path, kwargs: dict[str, Any]) -> None:
    import shim.loggers

    expected = _drive(lightning.loggers, tmp_path / "pl", kwargs)
    actual = _drive(shim.loggers, tmp_path / "shim", kwargs)

    assert _files(tmp_path / "shim") == _files(tmp_path / "pl")
    assert (actual.name, actual.version) == (expected.name, expected.version)
    assert os.path.relpath(actual.log_dir, tmp_path / "shim") == os.path.relpath(expected.log_dir, tmp_path / "pl")
    assert actual.experiment.hparams == expected.experiment.hparams
    assert actual.experiment.metrics_keys == expected.experiment.metrics_keys


def test_reused_version_folder_like_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    import shim.loggers

    for pkg, root in ((lightning, tmp_path / "pl"), (shim, tmp_path / "shim")):
        first = pkg.loggers.CSVLogger(root, version=0)
        first.log_metrics({"a": 1.0, "b": 2.0}, step=0)
        first.finalize("success")
        second = pkg.loggers.CSVLogger(root, version=0)
        with pytest.warns(UserWarning, match="exists and is not empty"):
            second.log_metrics({"c": 3.0}, step=0)
        second.finalize("success")
    assert _files(tmp_path / "shim") == _files(tmp_path / "pl")


def test_a_remote_save_dir_is_written_through_fsspec(tmp_path: Any) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "memory://csv_remote_test"
    try:
        logger = CSVLogger(save_dir=root, name="exp")
        logger.log_hyperparams({"lr": 0.1})
        logger.log_metrics({"loss": 0.5}, step=0)
        logger.log_metrics({"loss": 0.25, "acc": 1.0}, step=1)
        logger.save()
        assert logger.log_dir == f"{root}/exp/version_0"
        assert sorted(fs.find(root)) == ["/csv_remote_test/exp/version_0/hparams.yaml",
                                         "/csv_remote_test/exp/version_0/metrics.csv"]  # fmt: skip
        rows = fs.cat(f"{logger.log_dir}/metrics.csv").decode().splitlines()
        assert rows == ["acc,loss,step", ",0.5,0", "1.0,0.25,1"]
        assert CSVLogger(save_dir=root, name="exp").version == 1
        assert not (tmp_path / "memory:").exists()
    finally:
        fs.rm(root, recursive=True)
