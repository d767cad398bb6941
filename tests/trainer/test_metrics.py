"""Values logged with `self.log` are stored, reduced and reported as Lightning's logger connector does."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import torch

import shim


def _fit_logging_int_tensors(pkg: ModuleType, name: str) -> tuple[list[str], dict[str, Any]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class IntLogging(boring.BoringModel):  # type: ignore[name-defined,misc]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log(f"{name}_train", torch.tensor(batch_idx + 1), on_epoch=True)
            return super().training_step(batch, batch_idx)

        def on_validation_epoch_end(self) -> None:
            self.log(f"{name}_val", torch.tensor(7))
            self.log(f"{name}_float", 0.5)

    trainer = pkg.Trainer(
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(IntLogging())
    named = [w for w in record if name in str(w.message)]
    assert all(w.category is UserWarning for w in named)
    return sorted(n for w in named for n in (f"{name}_train", f"{name}_val") if f"'{n}'" in str(w.message)), {
        key: (value.dtype, value.item()) for key, value in trainer.callback_metrics.items()
    }


def test_integer_tensors_warn_once_and_are_reduced_as_floats(lightning: ModuleType) -> None:
    expected = _fit_logging_int_tensors(lightning, "pl_counts")
    got = _fit_logging_int_tensors(shim, "shim_counts")
    assert got[0] == [n.replace("pl_", "shim_") for n in expected[0]] == ["shim_counts_train", "shim_counts_val"]
    assert got[1] == {key.replace("pl_", "shim_"): value for key, value in expected[1].items()}
    assert got[1]["shim_counts_train_epoch"] == (torch.float32, 1.5)
