"""``Trainer(overfit_batches=...)`` trains and validates on the same batches as Lightning, to the same weights."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim


def _run(pkg: ModuleType, overfit_batches: int | float, tmp_path: Any) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: dict[str, list[list[float]]] = {"train": [], "val": [], "test": [], "predict": []}

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            seen["train"].append(batch[:, 0].tolist())
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            seen["val"].append(batch[:, 0].tolist())
            return super().validation_step(batch, batch_idx)

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            seen["test"].append(batch[:, 0].tolist())
            return super().test_step(batch, batch_idx)

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            seen["predict"].append(batch[:, 0].tolist())
            return super().predict_step(batch, batch_idx, dataloader_idx)

    torch.manual_seed(0)
    model = Model()
    train = DataLoader(boring.RandomDataset(32, 40), batch_size=4, shuffle=True)
    val = DataLoader(boring.RandomDataset(32, 20), batch_size=4, shuffle=True)
    evaluation = DataLoader(boring.RandomDataset(32, 12), batch_size=4)
    trainer = pkg.Trainer(
        max_epochs=3,
        overfit_batches=overfit_batches,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, train, val)
    fit_counts = (trainer.num_training_batches, list(trainer.num_val_batches))
    samplers = (type(trainer.train_dataloader.sampler).__name__, type(trainer.val_dataloaders.sampler).__name__)
    trainer.test(model, evaluation, verbose=False)
    trainer.predict(model, evaluation)
    return {
        **seen,
        "fit_counts": fit_counts,
        "samplers": samplers,
        "test_counts": list(trainer.num_test_batches),
        "predict_counts": list(trainer.num_predict_batches),
        "limits": (trainer.overfit_batches, trainer.limit_train_batches, trainer.limit_val_batches),
        "shuffle_warnings": sum("overfit" in str(w.message) for w in caught),
        "weights": [p.detach().clone() for p in model.parameters()],
    }


@pytest.mark.parametrize("overfit_batches", [2, 0.25, 1.0])
def test_overfit_batches_matches_lightning(lightning: ModuleType, overfit_batches: int | float, tmp_path: Any) -> None:
    expected = _run(lightning, overfit_batches, tmp_path / "pl")
    actual = _run(shim, overfit_batches, tmp_path / "shim")
    expected_weights, actual_weights = expected.pop("weights"), actual.pop("weights")
    assert actual == expected
    assert expected["shuffle_warnings"] == 2  # one for the train loader, one for the val loader
    assert expected["samplers"] == ("SequentialSampler", "SequentialSampler")
    for want, got in zip(expected_weights, actual_weights, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
