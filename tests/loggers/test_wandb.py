"""WandbLogger on the real ``wandb`` package, offline: what a run writes is read back from its ``.wandb`` file."""

import functools
import os
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("wandb")

import wandb  # noqa: E402

import shim  # noqa: E402
from shim.callbacks import ModelCheckpoint  # noqa: E402
from shim.demos.boring_classes import BoringModel  # noqa: E402
from shim.loggers import WandbLogger  # noqa: E402
from shim.loggers.logger import DummyExperiment  # noqa: E402
from shim.utilities.exceptions import MisconfigurationException  # noqa: E402
from shim.utilities.rank_zero import current_rank, set_rank  # noqa: E402
from tests.loggers import wandb_records  # noqa: E402


@pytest.fixture(autouse=True)
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in wandb_records.offline_environment(tmp_path).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    yield
    if wandb.run is not None:
        wandb.finish()


class Model(BoringModel):
    def __init__(self, lr: float = 0.1, layers: int = 2) -> None:
        super().__init__()
        self.save_hyperparameters()

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self.step(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", self.step(batch))


def _fit(logger: WandbLogger, ckpt_path: str | None = None, **kwargs: Any) -> shim.Trainer:
    trainer_kwargs: dict[str, Any] = {
        "max_epochs": 2,
        "limit_train_batches": 4,
        "limit_val_batches": 2,
        "log_every_n_steps": 2,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **kwargs,
    }
    trainer = shim.Trainer(logger=logger, **trainer_kwargs)
    trainer.fit(Model(), ckpt_path=ckpt_path)
    return trainer


def _finished_run_file(logger: WandbLogger, save_dir: Path) -> Path:
    run_id = logger.version
    assert isinstance(run_id, str)
    logger.experiment.finish()  # the records are complete once the run is finished
    return wandb_records.run_file(save_dir, run_id)


def test_fit_logs_rows_at_the_logging_cadence_with_the_global_step(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="run1", project="proj", name="first")
    trainer = _fit(logger)
    assert (logger.name, logger.version, logger.save_dir) == ("proj", "run1", str(tmp_path))
    assert trainer.log_dir == str(tmp_path)
    assert trainer.checkpoint_callback is not None
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "proj" / "run1" / "checkpoints")

    path = _finished_run_file(logger, tmp_path)
    run = wandb_records.run_record(path)
    assert (run.run_id, run.project, run.display_name) == ("run1", "proj", "first")
    rows = wandb_records.history(path)
    train_rows = [row for row in rows if "train_loss" in row]
    # 8 steps, a row every second step (global steps 1, 3, 5, 7 when the row is logged)
    assert [row["trainer/global_step"] for row in train_rows] == [1, 3, 5, 7]
    val_rows = [row for row in rows if "val_loss" in row]
    assert [(row["epoch"], row["trainer/global_step"]) for row in val_rows] == [(0, 3), (1, 7)]
    assert wandb_records.config(path) == {"lr": 0.1, "layers": 2}


def test_prefix_is_joined_with_a_dash(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="pre", prefix="stage")
    logger.log_metrics({"loss": 0.5}, step=4)
    logger.log_metrics({"acc": 1.0})
    rows = wandb_records.history(_finished_run_file(logger, tmp_path))
    # a row without a step gets the last one: the logger asks W&B to carry the step metric along (step_sync)
    assert rows == [{"stage-loss": 0.5, "trainer/global_step": 4}, {"stage-acc": 1.0, "trainer/global_step": 4}]


def test_hyperparameters_are_stored_as_json_values(tmp_path: Path) -> None:
    def build(width: int) -> int:
        return width * 2

    logger = WandbLogger(save_dir=tmp_path, version="hp")
    logger.log_hyperparams(
        {
            "none": None,
            "nested": {"a": 1},
            "list": [1, 2],
            "path": Path("data") / "x",
            "cls": torch.nn.Linear,
            "factory": functools.partial(build, 3),
            "needs_args": build,
        }
    )
    assert wandb_records.config(_finished_run_file(logger, tmp_path)) == {
        "none": None,
        "nested": {"a": 1},
        "list": [1, 2],
        "path": os.path.join("data", "x"),
        "cls": "Linear",
        "factory": 6,
        "needs_args": "build",
    }


@pytest.mark.parametrize(("log_model", "uploads"), [(False, 0), (True, 1), ("all", 2)])
def test_log_model_uploads_checkpoints_as_artifacts(tmp_path: Path, log_model: Any, uploads: int) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="ckpt", log_model=log_model)
    _fit(logger)
    found = wandb_records.artifacts(_finished_run_file(logger, tmp_path))
    assert len(found) == uploads
    for artifact in found:
        assert (artifact.name, artifact.type) == ("model-ckpt", "model")
        assert sorted(artifact.aliases) == ["best", "latest"]  # one checkpoint kept: the newest is the best
    if found:
        assert '"original_filename":"epoch=1-step=8.ckpt"' in found[-1].metadata
        assert '"save_top_k":1' in found[-1].metadata


def test_log_model_true_with_save_top_k_minus_one_uploads_each_checkpoint(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="every", log_model=True, checkpoint_name="weights")
    _fit(logger, callbacks=[ModelCheckpoint(monitor="val_loss", save_top_k=-1)])
    found = wandb_records.artifacts(_finished_run_file(logger, tmp_path))
    assert [artifact.name for artifact in found] == ["weights", "weights"]
    assert all('"monitor":"val_loss"' in artifact.metadata for artifact in found)
    assert all('"score":' in artifact.metadata and '"score":null' not in artifact.metadata for artifact in found)


def test_a_failed_fit_uploads_no_kept_checkpoint(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="fail", log_model=True)
    _fit(logger)
    logger.finalize("failed")  # after the successful fit's upload: nothing new
    logger.finalize("success")  # the same files again: nothing new either
    assert len(wandb_records.artifacts(_finished_run_file(logger, tmp_path))) == 1


def test_the_same_version_continues_the_run(tmp_path: Path) -> None:
    first = WandbLogger(save_dir=tmp_path, version="again")
    trainer = _fit(first, max_epochs=1)
    assert trainer.checkpoint_callback is not None
    checkpoint = trainer.checkpoint_callback.best_model_path
    first_file = _finished_run_file(first, tmp_path)

    second = WandbLogger(save_dir=tmp_path, version="again")
    _fit(second, ckpt_path=checkpoint, max_epochs=2)
    second_file = _finished_run_file(second, tmp_path)
    assert second_file != first_file
    assert wandb_records.run_record(second_file).run_id == "again"
    steps = [row["trainer/global_step"] for row in wandb_records.history(second_file) if "train_loss" in row]
    assert steps == [5, 7]  # the second fit picks up at step 4 of the same run


def test_media_and_tables(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="media")
    logger.log_table("table", columns=["a", "b"], data=[[1, "x"], [2, "y"]], step=1)
    logger.log_text("text", columns=["input"], data=[["hello"]])
    logger.log_image("images", [torch.rand(3, 8, 8), torch.rand(3, 8, 8)], step=2, caption=["one", "two"])
    with pytest.raises(TypeError, match="list"):
        logger.log_image("images", "picture.png")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="caption"):
        logger.log_image("images", [torch.rand(3, 8, 8)], caption=["one", "two"])
    rows = wandb_records.history(_finished_run_file(logger, tmp_path))
    assert [row["trainer/global_step"] for row in rows] == [1, 1, 2]  # the text row carries the last step along
    assert [sorted(row) for row in rows] == [[key, "trainer/global_step"] for key in ("table", "text", "images")]
    assert (rows[0]["table"]["_type"], rows[0]["table"]["nrows"]) == ("table-file", 2)
    assert (rows[2]["images"]["count"], rows[2]["images"]["captions"]) == (2, ["one", "two"])


def test_watch_records_gradients(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="watch")
    model = Model()
    logger.watch(model, log="all", log_freq=1)
    trainer = shim.Trainer(
        logger=logger, max_steps=2, limit_val_batches=0, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(model)
    keys = {key for row in wandb_records.history(_finished_run_file(logger, tmp_path)) for key in row}
    assert any(key.startswith("gradients/") for key in keys)
    assert any(key.startswith("parameters/") for key in keys)


def test_a_run_in_progress_is_reused_with_a_warning(tmp_path: Path) -> None:
    run = wandb.init(dir=tmp_path, id="mine", project="other")
    logger = WandbLogger(save_dir=tmp_path)
    with pytest.warns(UserWarning, match=r"wandb\.finish\(\)"):
        assert logger.experiment is run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert logger.experiment is run
    assert logger.version == "mine"


def test_offline_sets_the_mode_and_refuses_log_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "online")  # restored by monkeypatch after the logger overwrites it
    with pytest.raises(MisconfigurationException, match="offline"):
        WandbLogger(save_dir=tmp_path, offline=True, log_model=True)
    logger = WandbLogger(save_dir=tmp_path, offline=True, version="off")
    assert logger.experiment.offline
    assert os.environ["WANDB_MODE"] == "dryrun"


def test_default_project_and_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WandbLogger().name == "lightning_logs"
    assert WandbLogger().save_dir == "."
    assert WandbLogger(save_dir=None, dir="elsewhere").save_dir == "elsewhere"
    assert WandbLogger(save_dir=None).save_dir is None
    monkeypatch.setenv("WANDB_PROJECT", "from_env")
    assert WandbLogger().name == "from_env"
    assert WandbLogger(project="given").name == "given"
    assert WandbLogger(id="abc").version == "abc"


def test_pickled_logger_logs_to_the_same_run(tmp_path: Path) -> None:
    logger = WandbLogger(save_dir=tmp_path, version="pickled")
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.version == "pickled"
    copy.log_metrics({"loss": 1.0}, step=0)
    logger.log_metrics({"loss": 2.0}, step=1)
    assert copy.experiment.id == logger.experiment.id
    rows = wandb_records.history(_finished_run_file(logger, tmp_path))
    assert [row["loss"] for row in rows] == [1.0, 2.0]


def test_other_ranks_start_no_run(tmp_path: Path) -> None:
    rank = current_rank()
    set_rank(1)
    try:
        logger = WandbLogger(save_dir=tmp_path)
        assert isinstance(logger.experiment, DummyExperiment)
        logger.log_metrics({"loss": 1.0}, step=0)
        logger.log_hyperparams({"lr": 0.1})
    finally:
        set_rank(rank)
    assert wandb.run is None
    assert not (tmp_path / "wandb").exists()


def test_missing_wandb_names_the_extra(tmp_path: Path) -> None:
    """In an interpreter whose path holds every installed package but wandb, building the logger says what to do."""
    site = Path(wandb.__file__).parent.parent
    hidden = tmp_path / "site"
    hidden.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("wandb"):
            (hidden / entry.name).symlink_to(entry)
    code = (
        "from shim.loggers import WandbLogger\n"
        "try:\n    WandbLogger()\n"
        "except ModuleNotFoundError as err:\n    print(err)\n"
    )
    root = Path(__file__).parent.parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(hidden)])}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install lightning-shim[wandb]" in result.stdout


def test_the_wandb_run_starts_before_other_loggers_experiments(tmp_path: Path) -> None:
    """W&B has to start before TensorBoard writers exist for ``sync_tensorboard=True`` to see them."""
    started: list[str] = []

    class RecordingTensorBoard(shim.loggers.TensorBoardLogger):
        @property
        def experiment(self) -> Any:
            started.append("tensorboard")
            return super().experiment

    class RecordingWandb(WandbLogger):
        @property
        def experiment(self) -> Any:
            started.append("wandb")
            return super().experiment

    loggers = [RecordingTensorBoard(tmp_path), RecordingWandb(save_dir=tmp_path, version="order")]
    trainer = shim.Trainer(logger=loggers, max_steps=1, limit_val_batches=0, enable_progress_bar=False)
    trainer.fit(Model())
    assert started[:2] == ["wandb", "tensorboard"]


def test_shim_imports_wandb_only_when_a_logger_is_built(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import shim\n"
        "from shim.demos.boring_classes import BoringModel\n"
        "from shim.loggers import WandbLogger\n"
        "trainer = shim.Trainer(max_steps=1, limit_val_batches=0, enable_progress_bar=False, logger=False)\n"
        "trainer.fit(BoringModel())\n"
        "print('wandb' in sys.modules)\n"
    )
    root = Path(__file__).parent.parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_alongside_a_csv_logger_both_get_the_same_rows(tmp_path: Path) -> None:
    import csv

    wandb_logger = WandbLogger(save_dir=tmp_path, version="both")
    csv_logger = shim.loggers.CSVLogger(tmp_path, name="csv", version=0)
    trainer = shim.Trainer(
        logger=[wandb_logger, csv_logger],
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=2,
        log_every_n_steps=2,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Model())
    assert trainer.log_dir == str(tmp_path)  # the first logger's save_dir: W&B has no log_dir of its own
    with open(Path(csv_logger.log_dir) / "metrics.csv", newline="") as file:
        csv_rows = [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(file)]
    wandb_rows = [
        {key: float(value) for key, value in row.items() if key != "trainer/global_step"}
        | {"step": float(row["trainer/global_step"])}
        for row in wandb_records.history(_finished_run_file(wandb_logger, tmp_path))
    ]
    assert wandb_rows == csv_rows
    assert len(csv_rows) == 6  # 4 training rows and one validation row per epoch
