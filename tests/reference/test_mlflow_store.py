"""The same short fit under shim and Lightning writes the same MLflow run: params, tags, metric histories, artifacts.

Lightning 2.6.6 on MLflow 3 needs ``MLFLOW_ALLOW_FILE_STORE=true`` for its default file store (shim sets it when
unset); the test sets it for both.
"""

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


def _fit(pkg: ModuleType, root: Path, log_model: Any) -> Any:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    loggers = importlib.import_module(f"{pkg.__name__}.loggers")

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float = 0.1, sizes: dict[str, int] | None = None) -> None:
            super().__init__()
            self.save_hyperparameters()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.step(batch)
            self.log("train_loss", loss)
            self.log("train_both", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", self.step(batch))

        def on_train_epoch_end(self) -> None:
            self.log("epoch_metric", float(self.current_epoch) + 0.5)

    torch.manual_seed(0)
    logger = loggers.MLFlowLogger(
        "reference", run_name="short", tags={"kind": "ref"}, save_dir=str(root / "mlruns"), log_model=log_model
    )
    trainer = pkg.Trainer(
        default_root_dir=str(root),
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=2,
        limit_train_batches=5,
        limit_val_batches=2,
        log_every_n_steps=2,
    )
    model = Model(sizes={"hidden": 32, "out": 2})
    trainer.fit(model, DataLoader(torch.randn(20, 32), batch_size=4), DataLoader(torch.randn(8, 32), batch_size=4))
    return trainer, logger


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return sorted(found)


def _run_record(root: Path, trainer: Any, logger: Any) -> dict[str, Any]:
    client = MlflowClient(f"file:{root / 'mlruns'}")
    run = client.get_run(logger.run_id)
    ids = {logger.experiment_id: "<experiment>", logger.run_id: "<run>"}
    relative = os.path.relpath(trainer.checkpoint_callback.dirpath, root)
    return {
        "experiment": client.get_experiment(run.info.experiment_id).name,
        "status": run.info.status,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": {
            key: [(m.step, round(m.value, 5)) for m in client.get_metric_history(run.info.run_id, key)]
            for key in sorted(run.data.metrics)
        },
        "artifacts": _artifacts(client, run.info.run_id),
        "checkpoint_dir": "/".join(ids.get(part, part) for part in Path(relative).parts),
        "log_dir": os.path.relpath(trainer.log_dir, root),
        "name_version": (logger.name == logger.experiment_id, logger.version == logger.run_id),
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("log_model", [False, True, "all"])
def test_same_mlflow_run_as_lightning(
    lightning: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_model: Any
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    records = {}
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        trainer, logger = _fit(pkg, root, log_model)
        records[pkg.__name__] = _run_record(root, trainer, logger)
    expected, actual = records["pytorch_lightning"], records["shim"]
    assert expected["metrics"]["train_loss"], "Lightning logged steps"
    assert expected["params"] == {"lr": "0.1", "sizes/hidden": "32", "sizes/out": "2"}
    assert bool(expected["artifacts"]) == bool(log_model)
    for key in expected:
        assert actual[key] == expected[key], key
