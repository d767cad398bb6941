"""A LightningDataModule drives fit/validate/test/predict the same way under shim and Lightning."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim
from tests.recording import describe


def _run(pkg: ModuleType, tmp_path: Any) -> tuple[list[str], dict[str, torch.Tensor], list[Any]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    calls: list[str] = []

    class DataModule(boring.BoringDataModule):  # type: ignore[misc, name-defined]
        def prepare_data(self) -> None:
            calls.append("dm:prepare_data")

        def setup(self, stage: str) -> None:
            calls.append(f"dm:setup({describe(stage)})")
            super().setup(stage)

        def teardown(self, stage: str) -> None:
            calls.append(f"dm:teardown({describe(stage)})")

        def train_dataloader(self) -> DataLoader:
            calls.append("dm:train_dataloader")
            return DataLoader(self.random_train, batch_size=8, shuffle=True)

        def val_dataloader(self) -> DataLoader:
            calls.append("dm:val_dataloader")
            return DataLoader(self.random_val, batch_size=16)

        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            return batch * 2

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def setup(self, stage: str) -> None:
            calls.append(f"module:setup({describe(stage)})")

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", self.step(batch))

    torch.manual_seed(0)
    datamodule = DataModule()
    model = Model()
    trainer = pkg.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(model, datamodule=datamodule)
    results = trainer.validate(model, datamodule=datamodule, verbose=False)
    predictions = trainer.predict(model, datamodule=datamodule)
    calls.append(f"predictions:{len(predictions)}")
    return calls, {k: v.clone() for k, v in model.state_dict().items()}, results


@pytest.mark.filterwarnings("ignore")
def test_datamodule_fit_validate_predict(lightning: ModuleType, tmp_path: Any) -> None:
    expected_calls, expected_weights, expected_results = _run(lightning, tmp_path / "pl")
    calls, weights, results = _run(shim, tmp_path / "shim")
    assert calls == expected_calls
    assert results == expected_results
    for key, value in expected_weights.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("stage", [None, "fit", "validate", "test", "predict"])
@pytest.mark.parametrize("no_len", [False, True])
def test_str_describes_the_loaders_as_lightning(lightning: ModuleType, stage: str | None, no_len: bool) -> None:
    texts = []
    for pkg in (lightning, shim):
        boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
        datamodule = boring.BoringDataModuleNoLen() if no_len else boring.BoringDataModule()
        if stage is not None:
            datamodule.setup(stage)
        texts.append(str(datamodule))
    assert texts[1] == texts[0]
    assert texts[0].count("{") == 4


def test_str_of_several_loaders() -> None:
    data = [TensorDataset(torch.zeros(n, 1)) for n in (3, 5, 2)]
    datamodule = shim.LightningDataModule.from_datasets(train_dataset=data[:2], val_dataset={"a": data[2]})
    assert str(datamodule).splitlines() == [
        "{Train dataloader: 1. size=3 ; 2. size=5}",
        "{Validation dataloader: 1. size=2}",
        "{Test dataloader: None}",
        "{Predict dataloader: None}",
    ]


def test_from_datasets_builds_the_loaders_lightning_builds(lightning: ModuleType) -> None:
    def loaders(pkg: ModuleType) -> list[tuple[Any, ...]]:
        class WithSizes(pkg.LightningDataModule):  # type: ignore[name-defined, misc]
            def __init__(self, batch_size: int = 1, other: int = 0) -> None:
                super().__init__()
                self.batch_size, self.other = batch_size, other

        train, val = TensorDataset(torch.zeros(8, 2)), TensorDataset(torch.zeros(4, 2))
        datamodule = WithSizes.from_datasets(train, val_dataset=[val], batch_size=4, other=7)
        made = [datamodule.train_dataloader(), *datamodule.val_dataloader()]
        return [(datamodule.batch_size, datamodule.other)] + [
            (type(dl.sampler).__name__, dl.batch_size, dl.num_workers, dl.pin_memory) for dl in made
        ]

    assert loaders(shim) == loaders(lightning)
