"""The checks `trainer.fit` makes before it runs warn in the cases, and with the classes, Lightning's do."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest
from torch.utils.data import DataLoader

import shim


def _validation_loop_warnings(pkg: ModuleType, case: str) -> list[type[Warning]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[name-defined,misc]
        pass

    loaders: dict[str, Any] = {}
    if case == "module loader, no validation_step":
        Model.validation_step = None  # type: ignore[assignment]
    elif case == "given loader, no validation_step":
        Model.validation_step = None  # type: ignore[assignment]
        Model.val_dataloader = None  # type: ignore[assignment]
        loaders["val_dataloaders"] = DataLoader(boring.RandomDataset(32, 4))
    elif case == "validation_step, no loader":
        Model.val_dataloader = None  # type: ignore[assignment]
    trainer = pkg.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(Model(), **loaders)
    return [w.category for w in record if "validation_step" in str(w.message)]


@pytest.mark.parametrize(
    "case",
    ["module loader, no validation_step", "given loader, no validation_step", "validation_step, no loader", "both"],
)
def test_validation_loop_warnings_as_lightning(lightning: ModuleType, case: str) -> None:
    expected = _validation_loop_warnings(lightning, case)
    got = _validation_loop_warnings(shim, case)
    assert [c.__name__ for c in got] == [c.__name__ for c in expected]
    assert len(got) == (0 if case == "both" else 1)
