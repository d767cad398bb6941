"""``IterableBoringDataModule``: its splits, and a fit/test/predict on its pairs of loaders, as in Lightning."""

import importlib
import os
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import shim
from shim.demos.boring_classes import IterableBoringDataModule


def test_iterable_datamodule_gives_a_map_and_an_iterable_loader_per_split() -> None:
    dm = IterableBoringDataModule()
    dm.setup("fit")
    train, val = dm.train_dataloader(), dm.val_dataloader()
    assert [len(dl) for dl in (train[0], val[0])] == [16, 32]
    assert [sum(1 for _ in dl) for dl in (train[1], val[1])] == [16, 32]
    assert str(dm) == os.linesep.join(
        [
            "{Train dataloader: 1. size=16 ; 2. size=NA}",
            "{Validation dataloader: 1. size=32 ; 2. size=NA}",
            "{Test dataloader: None}",
            "{Predict dataloader: None}",
        ]
    )
    with pytest.raises(AttributeError):
        dm.test_dataloader()  # set up for "test" only
    dm.setup("predict")
    assert len(dm.predict_dataloader()[0]) == 128


def _run(pkg: ModuleType, tmp_path: Any) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: list[Any] = []

    class Model(pkg.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            seen.append(("train", batch_idx, len(batch)))
            return sum(self.net(x).pow(2).mean() for x in batch)

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            seen.append(("val", batch_idx, dataloader_idx))

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            seen.append(("test", batch_idx, dataloader_idx))

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return dataloader_idx

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = pkg.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(tmp_path),
    )
    torch.manual_seed(0)
    model, dm = Model(), boring.IterableBoringDataModule()
    trainer.fit(model, datamodule=dm)
    batches = (trainer.num_training_batches, list(trainer.num_val_batches))
    trainer.test(model, datamodule=dm, verbose=False)
    predictions = trainer.predict(model, datamodule=dm)
    return {
        "seen": seen,
        "batches": batches,
        "predictions": [sorted(set(p)) for p in predictions],
        "weights": [p.detach().flatten().tolist() for p in model.parameters()],
    }


@pytest.mark.filterwarnings("ignore")
def test_running_on_the_iterable_datamodule_matches_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _run(lightning, tmp_path / "pl")
    assert _run(shim, tmp_path / "shim") == expected
