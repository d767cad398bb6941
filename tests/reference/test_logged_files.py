"""The same script under shim and Lightning writes the same files: folders, hparams.yaml, metrics.csv, events."""

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim


def _script(pkg: ModuleType, root: Path, logger: str, **trainer_kwargs: Any) -> Any:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    loggers = importlib.import_module(f"{pkg.__name__}.loggers")

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self, lr: float = 0.1, hidden: int = 32) -> None:
            super().__init__()
            self.save_hyperparameters()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.step(batch)
            self.log("train_loss", loss)
            self.log("train_both", loss, on_step=True, on_epoch=True, prog_bar=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", self.step(batch))

        def on_train_epoch_end(self) -> None:
            self.log("epoch_metric", float(self.current_epoch) + 0.5)

    torch.manual_seed(0)
    chosen: Any = True
    if logger == "csv":
        chosen = loggers.CSVLogger(str(root), name="csv", version=None)
    elif logger == "two":
        chosen = [loggers.TensorBoardLogger(str(root), name="tb"), loggers.CSVLogger(str(root), name="csv")]
    trainer = pkg.Trainer(
        default_root_dir=str(root),
        logger=chosen,
        enable_progress_bar=False,
        enable_model_summary=False,
        **{"max_epochs": 2, "limit_train_batches": 5, "limit_val_batches": 2, "log_every_n_steps": 2, **trainer_kwargs},
    )
    trainer.fit(Model(), DataLoader(torch.randn(20, 32), batch_size=4), DataLoader(torch.randn(8, 32), batch_size=4))
    trainer.validate(verbose=False, dataloaders=DataLoader(torch.randn(8, 32), batch_size=4), ckpt_path="last")
    return trainer


def _tree(root: Path) -> list[str]:
    names = []
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        names.append(rel.split("events.out.tfevents")[0] + "events" if "events.out.tfevents" in rel else rel)
    return names


def _events(root: Path) -> dict[str, list[tuple[str, int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[tuple[str, int, float]]] = {}
    for path in sorted(root.rglob("events.out.tfevents*")):
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        scalars = [
            (tag, event.step, round(event.value, 6))
            for tag in sorted(accumulator.Tags()["scalars"])
            for event in accumulator.Scalars(tag)
        ]
        # a folder may hold several event files (whose name order follows their creation second): take them all
        found.setdefault(str(path.parent.relative_to(root)), []).extend(scalars)
    return {folder: sorted(scalars) for folder, scalars in found.items()}


def _texts(root: Path, pattern: str) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob(pattern))}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("logger", ["default", "csv", "two"])
def test_same_files_as_lightning(lightning: ModuleType, logger: str, tmp_path: Path) -> None:
    runs = {}
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        trainer = _script(pkg, root, logger)
        runs[pkg.__name__] = {
            "tree": _tree(root),
            "yaml": _texts(root, "hparams.yaml"),
            "csv": _texts(root, "metrics.csv"),
            "events": _events(root),
            "log_dir": os.path.relpath(trainer.log_dir, root),
        }
    expected, actual = runs["pytorch_lightning"], runs["shim"]
    assert expected["tree"], "Lightning wrote files"
    for key in ("tree", "yaml", "csv", "events", "log_dir"):
        assert actual[key] == expected[key], key


def test_fast_dev_run_writes_nothing(tmp_path: Path) -> None:
    boring = importlib.import_module("shim.demos.boring_classes")
    trainer = shim.Trainer(default_root_dir=str(tmp_path), fast_dev_run=2, enable_progress_bar=False)
    trainer.fit(boring.BoringModel())
    assert list(tmp_path.rglob("*")) == []
    assert type(trainer.logger).__name__ == "DummyLogger"
    assert trainer.global_step == 2
