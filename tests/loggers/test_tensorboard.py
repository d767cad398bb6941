"""TensorBoardLogger: folders, versions, event-file contents and hparams.yaml, checked against Lightning's logger."""

import os
import pickle
from argparse import Namespace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # type: ignore[import-untyped]
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # type: ignore[import-untyped]
from tensorboard.plugins.hparams import plugin_data_pb2  # type: ignore[import-untyped]

from shim.loggers import TensorBoardLogger
from shim.utilities.rank_zero import rank_zero_only


def _tree(root: Path) -> list[str]:
    """Every file under ``root``, relative, with the machine- and time-specific part of event-file names dropped."""
    names = []
    for path in root.rglob("*"):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            names.append(rel.split("events.out.tfevents.")[0] + "events" if "events.out.tfevents." in rel else rel)
    return sorted(names)


def _events(path: Path) -> list[tuple[int, str, Any]]:
    """(step, tag, value) of every summary value in an event file, in order; hparams plugin data parsed."""
    found: list[tuple[int, str, Any]] = []
    for event in EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                content = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                found.append((event.step, value.tag, content))
            else:
                # the loader turns simple_value scalars into one-element float tensors
                floats = list(value.tensor.float_val)
                found.append((event.step, value.tag, floats[0] if len(floats) == 1 else floats))
    return found


def _accumulated(path: Path) -> dict[str, Any]:
    """What TensorBoard's EventAccumulator shows for an event file: scalars and the hparams plugin contents."""
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    accumulator.Reload()
    scalars = {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
    try:
        contents = accumulator.PluginTagToContent("hparams")
        plugins = {tag: plugin_data_pb2.HParamsPluginData.FromString(content) for tag, content in contents.items()}
    except KeyError:  # no hparams summaries in this file
        plugins = {}
    return {"scalars": scalars, "hparams": plugins}


def _event_files(log_dir: Path) -> dict[str, Path]:
    return {path.parent.relative_to(log_dir).as_posix(): path for path in sorted(log_dir.rglob("events.out.*"))}


# -- properties and folders ---------------------------------------------------------------------------------------
def test_default_folders_and_versions(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path)
    assert logger.name == "lightning_logs"
    assert logger.version == 0
    assert logger.save_dir == str(tmp_path)
    assert logger.root_dir == str(tmp_path / "lightning_logs")
    assert logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")
    assert logger.sub_dir is None
    assert logger.group_separator == "/"
    assert logger.hparams == {}
    assert not tmp_path.joinpath("lightning_logs").exists()  # nothing is created before the first write
    logger.log_metrics({"x": 1.0}, step=0)
    assert TensorBoardLogger(tmp_path).version == 1


def test_version_int_str_sub_dir_and_no_name(tmp_path: Path) -> None:
    assert TensorBoardLogger(tmp_path, version=3).log_dir == str(tmp_path / "lightning_logs" / "version_3")
    assert TensorBoardLogger(tmp_path, version="run").log_dir == str(tmp_path / "lightning_logs" / "run")
    logger = TensorBoardLogger(Path(tmp_path), name=None, version=1, sub_dir=Path("tb"))
    assert logger.name == ""
    assert logger.root_dir == os.path.join(str(tmp_path), "")
    assert logger.sub_dir == "tb"
    assert logger.log_dir == str(tmp_path / "version_1" / "tb")
    assert TensorBoardLogger(tmp_path, name="").log_dir == str(tmp_path / "version_0")


def test_log_dir_expands_user_and_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIM_RUN", "run7")
    logger = TensorBoardLogger(tmp_path, version="$SHIM_RUN")
    assert logger.log_dir == str(tmp_path / "lightning_logs" / "run7")
    home = TensorBoardLogger("~", version=0)
    assert home.log_dir == os.path.join(os.path.expanduser("~"), "lightning_logs", "version_0")


def test_next_version_skips_files_and_other_names(tmp_path: Path) -> None:
    root = tmp_path / "lightning_logs"
    for folder in ("version_0", "version_4_old", "version_x", "other_9", "version_"):
        (root / folder).mkdir(parents=True)
    (root / "version_9").write_text("a file, not a version")
    assert TensorBoardLogger(tmp_path).version == 5


# -- writing ------------------------------------------------------------------------------------------------------
def test_log_metrics_scalars_tensors_dicts_and_prefix(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path, prefix="train")
    logger.log_metrics({"loss": torch.tensor(0.5), "acc": 1}, step=3)
    logger.log_metrics({"pair": {"a": 1.0, "b": torch.tensor(2.0)}}, step=4)
    logger.log_metrics({}, step=5)
    logger.finalize("failed")
    files = _event_files(Path(logger.log_dir))
    assert sorted(files) == [".", "train-pair_a", "train-pair_b"]
    assert _events(files["."]) == [(3, "train-loss", 0.5), (3, "train-acc", 1.0)]
    assert _events(files["train-pair_a"]) == [(4, "train-pair", 1.0)]
    assert _events(files["train-pair_b"]) == [(4, "train-pair", 2.0)]
    assert not Path(logger.log_dir, "hparams.yaml").exists()  # only a successful finalize saves


def test_log_metrics_rejects_unloggable_values(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path)
    with pytest.raises(ValueError, match="Cannot log text='abc'"):
        logger.log_metrics({"text": "abc"}, step=0)


def test_log_hyperparams_default_metric_and_yaml_on_save(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path)
    logger.log_hyperparams({"lr": 0.1, "layers": {"n": 2}})
    logger.log_hyperparams(Namespace(batch_size=8))
    assert logger.hparams == {"lr": 0.1, "layers": {"n": 2}, "batch_size": 8}
    assert not Path(logger.log_dir, "hparams.yaml").exists()  # written by save(), not by log_hyperparams
    logger.save()
    assert Path(logger.log_dir, "hparams.yaml").read_text() == "batch_size: 8\nlayers:\n  n: 2\nlr: 0.1\n"
    logger.log_hyperparams({"late": 1})
    logger.save()  # like Lightning, an existing hparams.yaml is not rewritten
    assert "late" not in Path(logger.log_dir, "hparams.yaml").read_text()
    (events,) = _event_files(Path(logger.log_dir)).values()
    written = _events(events)
    assert [(step, tag, value) for step, tag, value in written if tag == "hp_metric"] == [(0, "hp_metric", -1.0)] * 3
    experiments = [content for _, tag, content in written if tag == "_hparams_/experiment"]
    assert [info.name for info in experiments[0].experiment.hparam_infos] == ["lr", "layers/n"]
    assert [info.name.tag for info in experiments[0].experiment.metric_infos] == ["hp_metric"]


def test_log_hyperparams_metrics_variants(tmp_path: Path) -> None:
    quiet = TensorBoardLogger(tmp_path, version="quiet", default_hp_metric=False)
    quiet.log_hyperparams({"lr": 0.1})
    assert quiet._experiment is None  # nothing to show without a metric, so nothing is written
    assert quiet.hparams == {"lr": 0.1}
    quiet.log_hyperparams({"lr": 0.2}, metrics=0.75, step=2)
    quiet.log_hyperparams(None, metrics={"val": 1.5, "acc": 0.5}, step=3)
    quiet.finalize("failed")
    (events,) = _event_files(Path(quiet.log_dir)).values()
    scalars = [(step, tag, value) for step, tag, value in _events(events) if not tag.startswith("_hparams_")]
    assert scalars == [(2, "hp_metric", 0.75), (3, "val", 1.5), (3, "acc", 0.5)]
    assert quiet.hparams == {"lr": 0.2}


def test_save_and_finalize(tmp_path: Path) -> None:
    failed = TensorBoardLogger(tmp_path, version="failed")
    failed.finalize("failed")
    assert not tmp_path.joinpath("lightning_logs").exists()
    empty = TensorBoardLogger(tmp_path, version="empty")
    empty.finalize("success")  # like Lightning: a successful finalize saves, which creates the writer
    assert _tree(tmp_path) == ["lightning_logs/empty/events", "lightning_logs/empty/hparams.yaml"]
    assert Path(empty.log_dir, "hparams.yaml").read_text() == "{}\n"


def test_events_are_written_on_the_calling_thread(tmp_path: Path) -> None:
    """The event file is written without TensorBoard's worker thread: each scalar is in the file when logged."""
    import threading

    from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread  # type: ignore[import-untyped]

    before = {t for t in threading.enumerate() if isinstance(t, _AsyncWriterThread)}
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"loss": 0.25}, step=3)
    # no new writer thread (one left by an earlier test may end meanwhile)
    assert {t for t in threading.enumerate() if isinstance(t, _AsyncWriterThread)} - before == set()
    (path,) = _event_files(Path(logger.log_dir)).values()
    assert _events(path) == [(3, "loss", 0.25)]  # no flush or save yet
    logger.log_metrics({"loss": torch.tensor(0.5)}, step=4)
    logger.experiment.add_text("note", "text", 4)  # the user's own writes take the same path, in order
    writer = logger.experiment._get_file_writer().event_writer._async_writer
    logger.finalize("success")
    assert [(step, tag) for step, tag, _ in _events(path)] == [(3, "loss"), (4, "loss"), (4, "note/text_summary")]
    with pytest.raises(OSError, match="closed"):
        writer.write(b"late")


def test_unexpected_writer_layout_keeps_the_queued_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With writer classes laid out differently (another TensorBoard) the queued writer stays; the file is the same."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter  # type: ignore[import-untyped]

    class OtherLayout(EventFileWriter):  # type: ignore[misc]
        def __setattr__(self, name: str, value: Any) -> None:  # the queued writer is kept under another name
            super().__setattr__("queued" if name == "_async_writer" else name, value)

        def add_event(self, event: Any) -> None:
            self.queued.write(event.SerializeToString())

        def flush(self) -> None:
            self.queued.flush()

        def close(self) -> None:
            self.queued.close()

    monkeypatch.setattr("torch.utils.tensorboard.writer.EventFileWriter", OtherLayout)
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"loss": 0.25}, step=3)
    assert isinstance(logger.experiment._get_file_writer().event_writer, OtherLayout)
    logger.finalize("success")
    (path,) = _event_files(Path(logger.log_dir)).values()
    assert _events(path) == [(3, "loss", 0.25)]


def test_a_mocked_summary_writer_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unittest import mock

    from shim.loggers.tensorboard import _SyncRecordWriter

    monkeypatch.setattr("torch.utils.tensorboard.SummaryWriter", mock.MagicMock())
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"loss": 0.25}, step=3)
    logger.experiment.add_scalar.assert_called_once_with("loss", 0.25, 3)
    event_writer = logger.experiment._get_file_writer().event_writer
    assert not isinstance(event_writer._async_writer, _SyncRecordWriter)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_log_graph(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    off = TensorBoardLogger(tmp_path, version="off")
    off.log_graph(model, torch.zeros(1, 3))
    assert off._experiment is None
    logger = TensorBoardLogger(tmp_path, version="on", log_graph=True)
    with pytest.warns(UserWarning, match="example_input_array"):
        logger.log_graph(model)
    with pytest.warns(UserWarning, match="cannot be traced"):
        logger.log_graph(model, [torch.zeros(1, 3)])
    logger.log_graph(model, torch.zeros(1, 3))
    seen: list[str] = []

    class WithTransferHooks(torch.nn.Linear):
        """Has the batch-transfer entry points of a LightningModule, which the example input must go through."""

        example_input_array = torch.zeros(2, 3)

        def _on_before_batch_transfer(self, batch: torch.Tensor) -> torch.Tensor:
            seen.append("before")
            return batch

        def _apply_batch_transfer_handler(self, batch: torch.Tensor) -> torch.Tensor:
            seen.append("transfer")
            return batch

    logger.log_graph(WithTransferHooks(3, 2))
    assert seen == ["before", "transfer"]
    logger.finalize("success")
    (events,) = _event_files(Path(logger.log_dir)).values()
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert accumulator.Tags()["graph"]


def test_other_ranks_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = TensorBoardLogger(tmp_path)
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"x": 1.0}, step=0)
    logger.experiment.add_scalar("y", 1.0)  # a dummy on other ranks
    logger.save()
    logger.finalize("success")
    assert list(tmp_path.iterdir()) == []


def test_pickle_drops_the_writer(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"x": 1.0}, step=0)
    clone = pickle.loads(pickle.dumps(logger))
    assert clone._experiment is None
    assert clone.log_dir == logger.log_dir
    logger.finalize("success")


# -- bad paths ----------------------------------------------------------------------------------------------------
def test_save_dir_is_a_file(tmp_path: Path) -> None:
    save_dir = tmp_path / "not_a_dir"
    save_dir.write_text("")
    with pytest.raises(NotADirectoryError, match=f"'{save_dir}' exists and is a file"):
        TensorBoardLogger(save_dir).log_metrics({"x": 1.0}, step=0)
    with pytest.raises(FileExistsError, match=f"'{save_dir}' exists and is a file"):
        TensorBoardLogger(save_dir, name="").log_hyperparams({"lr": 1})


def test_version_folder_is_a_file(tmp_path: Path) -> None:
    version_dir = tmp_path / "lightning_logs" / "version_0"
    version_dir.parent.mkdir()
    version_dir.write_text("")
    with pytest.raises(FileExistsError, match=f"'{version_dir}' exists and is a file"):
        TensorBoardLogger(tmp_path, version=0).save()


# -- against Lightning --------------------------------------------------------------------------------------------
REFERENCE_CASES: list[dict[str, Any]] = [
    {},
    {"name": None, "version": "run", "sub_dir": "tb", "prefix": "p"},
    {"name": "exp", "version": 2, "default_hp_metric": False},
]


def _drive(loggers: ModuleType, save_dir: Path, kwargs: dict[str, Any]) -> Any:
    logger = loggers.TensorBoardLogger(save_dir, **kwargs)
    logger.log_hyperparams(
        {"lr": 0.1, "net": {"width": 4, "sizes": [4, 8]}, "opt": None, "flag": True, "act": torch.nn.ReLU},
    )
    logger.log_hyperparams(Namespace(batch_size=32, nested=Namespace(depth=3)), metrics={"val_loss": 1.5}, step=0)
    for step in range(4):
        metrics: dict[str, Any] = {"loss": torch.tensor(1.0 / (step + 1))}
        if step >= 2:
            metrics["acc"] = step / 10
        logger.log_metrics(metrics, step=step)
    logger.log_metrics({"pair": {"a": 1.0, "b": torch.tensor(2.0)}}, step=4)
    logger.save()
    logger.finalize("success")
    return logger


@pytest.mark.parametrize("kwargs", REFERENCE_CASES)
def test_same_files_as_lightning(lightning: ModuleType, tmp_path: Path, kwargs: dict[str, Any]) -> None:
    import shim.loggers

    expected = _drive(lightning.loggers, tmp_path / "pl", kwargs)
    actual = _drive(shim.loggers, tmp_path / "shim", kwargs)

    assert _tree(tmp_path / "shim") == _tree(tmp_path / "pl")
    assert (actual.name, actual.version) == (expected.name, expected.version)
    assert os.path.relpath(actual.log_dir, tmp_path / "shim") == os.path.relpath(expected.log_dir, tmp_path / "pl")
    assert actual.hparams == expected.hparams
    assert Path(actual.log_dir, "hparams.yaml").read_text() == Path(expected.log_dir, "hparams.yaml").read_text()
    expected_files, actual_files = _event_files(Path(expected.log_dir)), _event_files(Path(actual.log_dir))
    assert sorted(actual_files) == sorted(expected_files)
    for folder, path in expected_files.items():
        assert _events(actual_files[folder]) == _events(path)
        assert _accumulated(actual_files[folder]) == _accumulated(path)
