"""The batch-size finder on several training loaders stops where the loaders' mode says the data ends, as in
Lightning: at the shortest dataset in ``min_size`` mode, at the longest otherwise."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader


def _found(pkg: ModuleType, mode: str | None, tmp_path: Any) -> int:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    combined_cls = importlib.import_module(f"{pkg.__name__}.utilities.combined_loader").CombinedLoader
    tuner_cls = importlib.import_module(f"{pkg.__name__}.tuner").Tuner

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.batch_size = 2

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return super().training_step(batch["a"], batch_idx)

        def train_dataloader(self) -> Any:
            loaders = {
                "a": DataLoader(boring.RandomDataset(32, 10), batch_size=self.batch_size),
                "b": DataLoader(boring.RandomDataset(32, 40), batch_size=self.batch_size),
            }
            return loaders if mode is None else combined_cls(loaders, mode)

    trainer = pkg.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=str(tmp_path),
    )
    torch.manual_seed(0)
    return tuner_cls(trainer).scale_batch_size(Model(), mode="power", steps_per_trial=1, max_trials=10)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("mode", [None, "min_size", "max_size"])
def test_batch_size_search_ends_at_the_modes_dataset_length(
    lightning: ModuleType, mode: str | None, tmp_path: Any
) -> None:
    import shim

    expected = _found(lightning, mode, tmp_path / "pl")
    assert expected == (16 if mode == "min_size" else 64)
    assert _found(shim, mode, tmp_path / "shim") == expected
