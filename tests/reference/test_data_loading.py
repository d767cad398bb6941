"""When loaders are requested, and what is warned about them, as in Lightning."""

import importlib
from types import ModuleType
from typing import Any

import pytest

import shim


def _reload_epochs(pkg: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> dict[str, list[Any]]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: dict[str, list[Any]] = {"requests": [], "val_steps": []}

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def train_dataloader(self) -> Any:
            seen["requests"].append(("train", self.current_epoch, self.trainer.sanity_checking))
            return super().train_dataloader()

        def val_dataloader(self) -> Any:
            seen["requests"].append(("val", self.current_epoch, self.trainer.sanity_checking))
            return super().val_dataloader()

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            seen["val_steps"].append((self.current_epoch, self.trainer.sanity_checking))
            return super().validation_step(batch, batch_idx)

    trainer = pkg.Trainer(
        limit_train_batches=1,
        limit_val_batches=1,
        max_epochs=7,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )
    trainer.fit(Model())
    return seen


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"reload_dataloaders_every_n_epochs": 1, "num_sanity_val_steps": 0},
        {"reload_dataloaders_every_n_epochs": 1, "num_sanity_val_steps": 1},
        {"reload_dataloaders_every_n_epochs": 2, "check_val_every_n_epoch": 3, "num_sanity_val_steps": 1},
        {"reload_dataloaders_every_n_epochs": 4, "check_val_every_n_epoch": 3, "num_sanity_val_steps": 0},
        {"reload_dataloaders_every_n_epochs": 2, "check_val_every_n_epoch": 2},
        {"reload_dataloaders_every_n_epochs": 1, "val_check_interval": 1},
        {"reload_dataloaders_every_n_epochs": 0},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_reload_epochs_match_lightning(lightning: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> None:
    expected = _reload_epochs(lightning, kwargs, tmp_path / "pl")
    assert _reload_epochs(shim, kwargs, tmp_path / "shim") == expected
