"""The same script under shim and Lightning sends the same rows to a WandbLogger, and the W&B runs hold the same data.

Both run the real ``wandb`` offline; a subclass of each package's WandbLogger records what ``log_metrics`` and
``log_hyperparams`` receive, and the run's ``.wandb`` file is read back afterwards.
"""

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim

wandb = pytest.importorskip("wandb")

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


def _script(pkg: ModuleType, root: Path, log_model: Any, **trainer_kwargs: Any) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    loggers = importlib.import_module(f"{pkg.__name__}.loggers")
    received: dict[str, list[Any]] = {"metrics": [], "hparams": []}

    class RecordingWandbLogger(loggers.WandbLogger):  # type: ignore[misc, name-defined]
        def log_metrics(self, metrics: Any, step: Any = None) -> None:
            received["metrics"].append((step, {key: round(float(value), 5) for key, value in sorted(metrics.items())}))
            super().log_metrics(metrics, step)

        def log_hyperparams(self, params: Any) -> None:
            received["hparams"].append(dict(params))
            super().log_hyperparams(params)

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float = 0.1, hidden: int = 32) -> None:
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
    logger = RecordingWandbLogger(save_dir=str(root), version="ref", project="proj", log_model=log_model)
    trainer = pkg.Trainer(
        default_root_dir=str(root),
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        **{"max_epochs": 2, "limit_train_batches": 5, "limit_val_batches": 2, "log_every_n_steps": 2, **trainer_kwargs},
    )
    trainer.fit(Model(), DataLoader(torch.randn(20, 32), batch_size=4), DataLoader(torch.randn(8, 32), batch_size=4))
    trainer.validate(verbose=False, dataloaders=DataLoader(torch.randn(8, 32), batch_size=4), ckpt_path="last")
    checkpoint_dir = Path(trainer.checkpoint_callback.dirpath).relative_to(root).as_posix()
    logger.experiment.finish()
    path = wandb_records.run_file(root, "ref")
    rows = [
        {key: round(value, 5) if isinstance(value, float) else value for key, value in sorted(row.items())}
        for row in wandb_records.history(path)
    ]
    artifacts = [
        (artifact.name, sorted(artifact.aliases), artifact.metadata) for artifact in wandb_records.artifacts(path)
    ]
    return {
        **received,
        "rows": rows,
        "config": wandb_records.config(path),
        "artifacts": artifacts,
        "log_dir": Path(trainer.log_dir).relative_to(root).as_posix(),
        "checkpoint_dir": checkpoint_dir,
    }


@pytest.mark.parametrize(
    ("log_model", "trainer_kwargs"),
    [
        (False, {}),
        ("all", {"log_every_n_steps": 1}),
        (True, {"max_epochs": 3, "limit_train_batches": 2}),
    ],
    ids=["no-artifacts", "every-checkpoint", "checkpoints-at-the-end"],
)
def test_wandb_logger_receives_what_lightning_sends(
    lightning: ModuleType, tmp_path: Path, log_model: Any, trainer_kwargs: dict[str, Any]
) -> None:
    ours = _script(shim, tmp_path / "shim", log_model, **trainer_kwargs)
    theirs = _script(lightning, tmp_path / "pl", log_model, **trainer_kwargs)
    assert ours["metrics"] == theirs["metrics"]
    assert ours["hparams"] == theirs["hparams"]
    assert ours["rows"] == theirs["rows"]
    assert ours["config"] == theirs["config"]
    assert ours["artifacts"] == theirs["artifacts"]
    assert (ours["log_dir"], ours["checkpoint_dir"]) == (theirs["log_dir"], theirs["checkpoint_dir"])
    assert ours["metrics"], "the script logs something"
    if log_model:
        assert ours["artifacts"], "the script uploads checkpoints"
