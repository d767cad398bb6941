"""MLFlowLogger on a real MLflow file store: what a run writes is read back with ``MlflowClient``."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks import ModelCheckpoint
from shim.demos.boring_classes import BoringModel
from shim.loggers import MLFlowLogger
from shim.utilities.rank_zero import current_rank, set_rank

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

OPT_IN = "MLFLOW_ALLOW_FILE_STORE"


@pytest.fixture(autouse=True)
def _file_store_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OPT_IN, "true")
    # mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI; setenv first, so that teardown restores it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "unused")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


class LoggingModel(BoringModel):
    def __init__(self, lr: float = 0.1, layers: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self.step(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", self.step(batch))


def _fit(logger: Any, root: Path, **kwargs: Any) -> shim.Trainer:
    torch.manual_seed(0)
    trainer = shim.Trainer(
        default_root_dir=str(root),
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        **{"max_epochs": 2, "limit_train_batches": 4, "limit_val_batches": 2, "log_every_n_steps": 1, **kwargs},
    )
    data = DataLoader(torch.randn(16, 32), batch_size=4)
    trainer.fit(LoggingModel(layers={"width": 8, "depth": 2}), data, DataLoader(torch.randn(8, 32), batch_size=4))
    return trainer


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return sorted(found)


def test_fit_writes_params_metric_histories_and_status(tmp_path: Path) -> None:
    logger = MLFlowLogger("exp", save_dir=str(tmp_path / "mlruns"), run_name="first", tags={"team": "a"})
    assert logger.save_dir == str(tmp_path / "mlruns")
    trainer = _fit(logger, tmp_path)
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == logger.experiment_id == logger.name
    assert logger.version == logger.run_id
    assert client.get_experiment(logger.experiment_id).name == "exp"
    assert run.data.params == {"lr": "0.1", "layers/width": "8", "layers/depth": "2"}
    assert run.data.tags["team"] == "a"
    assert run.data.tags["mlflow.runName"] == "first"
    assert "mlflow.user" in run.data.tags  # MLflow's context tags are added to the user's
    assert [step for step, _ in _history(client, logger.run_id, "train_loss")] == list(range(8))
    assert [step for step, _ in _history(client, logger.run_id, "val_loss")] == [3, 7]
    assert [value for _, value in _history(client, logger.run_id, "epoch")] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert trainer.log_dir == logger.save_dir
    assert trainer.checkpoint_callback is not None
    expected_dir = tmp_path / "mlruns" / logger.experiment_id / logger.run_id / "checkpoints"
    assert trainer.checkpoint_callback.dirpath == str(expected_dir)
    assert os.listdir(expected_dir) == ["epoch=1-step=8.ckpt"]
    assert _artifacts(client, logger.run_id) == []


def test_default_store_is_mlruns_in_the_working_directory(tmp_path: Path) -> None:
    logger = MLFlowLogger()
    assert logger.save_dir == "./mlruns"
    logger.log_metrics({"x": 1.0}, step=3)
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    assert client.get_experiment_by_name("lightning_logs").experiment_id == logger.experiment_id
    assert _history(client, logger.run_id, "x") == [(3, 1.0)]


def test_tracking_uri_comes_from_the_environment_at_import(tmp_path: Path) -> None:
    code = (
        "import os, shim.loggers as L\n"
        "a = L.MLFlowLogger(save_dir='ignored')\n"
        "os.environ['MLFLOW_TRACKING_URI'] = 'file:later'\n"
        "b = L.MLFlowLogger(save_dir='ignored')\n"
        "print(a.save_dir, a.experiment_id is not None, b.save_dir)\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file:{tmp_path / 'elsewhere'}", OPT_IN: "true"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == [str(tmp_path / "elsewhere"), "True", str(tmp_path / "elsewhere")]
    assert not (tmp_path / "ignored").exists()


def test_a_second_logger_keeps_its_own_store(tmp_path: Path) -> None:
    # the first logger's run sets MLflow's global URI (and with it MLFLOW_TRACKING_URI); the second uses its own
    first = MLFlowLogger(save_dir=str(tmp_path / "one"))
    first.log_metrics({"x": 1.0})
    second = MLFlowLogger(save_dir=str(tmp_path / "two"))
    second.log_metrics({"x": 2.0})
    assert (tmp_path / "two" / second.experiment_id / second.run_id).is_dir()
    assert MLFlowLogger(tracking_uri="http://127.0.0.1:1").save_dir is None


def test_experiment_sets_mlflows_global_uri_and_reuses_the_experiment(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    first, second = MLFlowLogger("same", tracking_uri=uri), MLFlowLogger("same", tracking_uri=uri)
    assert first.experiment is first.experiment
    assert mlflow.get_tracking_uri() == uri
    assert first.experiment_id == second.experiment_id
    assert first.run_id != second.run_id
    assert MLFlowLogger("other", tracking_uri=uri).experiment_id != first.experiment_id


def test_run_name_overrides_the_tag_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = MLFlowLogger(
        tracking_uri=f"file:{tmp_path}", run_name="chosen", tags={"mlflow.runName": "from-tags", "k": "v"}
    )
    with caplog.at_level("WARNING"):
        run_id = logger.run_id
    assert "replaces the 'mlflow.runName' tag" in caplog.text
    tags = MlflowClient(f"file:{tmp_path}").get_run(run_id).data.tags
    assert (tags["mlflow.runName"], tags["k"]) == ("chosen", "v")


def test_prefix_and_cleaned_metric_names(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path}", prefix="train")
    with pytest.warns(RuntimeWarning, match="'train-acc\\[top1\\]' is logged as 'train-acctop1'"):
        logger.log_metrics({"acc[top1]": torch.tensor(0.5), "note": "text"}, step=2)  # type: ignore[dict-item]
    assert "note" in caplog.text
    run = MlflowClient(f"file:{tmp_path}").get_run(logger.run_id)
    assert run.data.metrics == {"train-acctop1": 0.5}
    logger.log_metrics({"loss": 1.5})
    assert _history(MlflowClient(f"file:{tmp_path}"), logger.run_id, "train-loss") == [(0, 1.5)]


def test_hyperparams_are_flattened_truncated_and_sent_in_batches(tmp_path: Path) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path}", synchronous=True)
    params: dict[str, Any] = {f"p{i}": i for i in range(150)}
    params["long"] = "x" * 600
    params["nested"] = {"inner": [1, 2]}
    logger.log_hyperparams(params)
    logged = MlflowClient(f"file:{tmp_path}").get_run(logger.run_id).data.params
    assert len(logged) == 152
    assert logged["long"] == "x" * 250
    assert logged["nested/inner"] == "[1, 2]"
    assert logged["p149"] == "149"


def test_asynchronous_logging_reaches_the_store(tmp_path: Path) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path}", synchronous=False)
    logger.log_metrics({"x": 2.0}, step=1)
    mlflow.flush_async_logging()
    assert _history(MlflowClient(f"file:{tmp_path}"), logger.run_id, "x") == [(1, 2.0)]


@pytest.mark.parametrize(
    ("status", "expected"), [("success", "FINISHED"), ("finished", "FINISHED"), ("failed", "FAILED")]
)
def test_finalize_sets_mlflows_status(tmp_path: Path, status: str, expected: str) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path}")
    run_id = logger.run_id
    assert MlflowClient(f"file:{tmp_path}").get_run(run_id).info.status == "RUNNING"
    logger.finalize(status)
    assert MlflowClient(f"file:{tmp_path}").get_run(run_id).info.status == expected


def test_finalize_before_the_run_started_creates_nothing(tmp_path: Path) -> None:
    MLFlowLogger("never", tracking_uri=f"file:{tmp_path}").finalize("failed")
    assert MlflowClient(f"file:{tmp_path}").get_experiment_by_name("never") is None


def test_a_failed_fit_ends_the_run_failed(tmp_path: Path) -> None:
    class Failing(LoggingModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch_idx == 2:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    trainer = shim.Trainer(
        default_root_dir=str(tmp_path),
        logger=logger,
        max_epochs=1,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Failing(), DataLoader(torch.randn(16, 32), batch_size=4))
    run = MlflowClient(f"file:{tmp_path / 'mlruns'}").get_run(logger.run_id)
    assert run.info.status == "FAILED"
    assert [step for step, _ in _history(MlflowClient(f"file:{tmp_path / 'mlruns'}"), logger.run_id, "train_loss")] == [
        0,
        1,
    ]


def test_resumed_run_id_continues_the_run(tmp_path: Path) -> None:
    uri = f"file:{tmp_path}"
    first = MLFlowLogger("exp", tracking_uri=uri)
    first.log_metrics({"x": 1.0}, step=0)
    first.finalize("success")
    resumed = MLFlowLogger("ignored-name", tracking_uri=uri, run_id=first.run_id)
    resumed.log_metrics({"x": 2.0}, step=1)
    assert (resumed.run_id, resumed.experiment_id) == (first.run_id, first.experiment_id)
    assert _history(MlflowClient(uri), first.run_id, "x") == [(0, 1.0), (1, 2.0)]
    assert MlflowClient(uri).get_experiment_by_name("ignored-name") is None


@pytest.mark.parametrize(
    ("log_model", "top_k", "folders"),
    [
        (False, 1, []),
        (True, 1, ["epoch=1-step=8"]),
        (True, -1, ["epoch=0-step=4", "epoch=1-step=8"]),
        ("all", 1, ["epoch=0-step=4", "epoch=1-step=8"]),
    ],
)
def test_log_model_uploads_checkpoints_as_artifacts(
    tmp_path: Path, log_model: Any, top_k: int, folders: list[str]
) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path / 'mlruns'}", log_model=log_model)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=top_k, monitor="val_loss")
    _fit(logger, tmp_path, callbacks=[checkpoint])
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    names = _artifacts(client, logger.run_id)
    assert sorted({name.split("/")[0] for name in names}) == folders
    for folder in folders:
        assert {name for name in names if name.startswith(folder + "/")} == {
            f"{folder}/{folder}.ckpt",
            f"{folder}/metadata.yaml",
            f"{folder}/aliases.txt",
        }
    if folders:
        best = Path(checkpoint.best_model_path).stem
        local = Path(client.download_artifacts(logger.run_id, best, str(tmp_path / "down")))
        assert (local / "aliases.txt").read_text() == "['latest', 'best']"
        metadata = (local / "metadata.yaml").read_text()
        assert "original_filename: " + best + ".ckpt" in metadata
        assert "monitor: val_loss" in metadata


def test_checkpoint_path_prefix(tmp_path: Path) -> None:
    logger = MLFlowLogger(tracking_uri=f"file:{tmp_path / 'mlruns'}", log_model="all", checkpoint_path_prefix="ck/")
    _fit(logger, tmp_path, max_epochs=1)
    names = _artifacts(MlflowClient(f"file:{tmp_path / 'mlruns'}"), logger.run_id)
    assert "ck/epoch=0-step=4/epoch=0-step=4.ckpt" in names


def test_only_rank_zero_starts_and_logs(tmp_path: Path) -> None:
    rank = current_rank()
    set_rank(1)
    try:
        logger = MLFlowLogger("ranked", tracking_uri=f"file:{tmp_path}")
        logger.log_metrics({"x": 1.0}, step=0)
        logger.log_hyperparams({"a": 1})
        logger.finalize("success")
        assert type(logger.experiment).__name__ == "DummyExperiment"
        assert logger.run_id is None
        assert logger.experiment_id is None
    finally:
        set_rank(rank)
    assert MlflowClient(f"file:{tmp_path}").get_experiment_by_name("ranked") is None


def test_unset_file_store_opt_in_is_set_for_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPT_IN)  # the fixture's setenv restores the original state afterwards
    logger = MLFlowLogger(save_dir=str(tmp_path / "store"))
    assert os.environ[OPT_IN] == "true"
    logger.log_metrics({"x": 1.0}, step=0)
    assert (tmp_path / "store" / logger.experiment_id).is_dir()


def test_file_store_refused_by_the_user_raises_mlflows_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv(OPT_IN, "false")
    with pytest.raises(MlflowException, match=OPT_IN):
        MLFlowLogger(save_dir=str(tmp_path / "refused"))
    assert os.environ[OPT_IN] == "false"


def test_missing_mlflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what Python does for a package that is not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install lightning-shim\[mlflow\]"):
        MLFlowLogger()


def test_importing_shim_and_its_loggers_does_not_import_mlflow() -> None:
    code = "import sys, shim, shim.loggers; shim.loggers.MLFlowLogger; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
