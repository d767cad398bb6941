"""The path from ``Trainer.fit`` down to ``training_step`` stays short (STYLE: a reader can follow it)."""

import importlib
import inspect
from types import ModuleType
from typing import Any

import pytest

import shim


def _depth_to_training_step(pkg: ModuleType, tmp_path: Any) -> int:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    depth: dict[str, int] = {}

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            frames = [f.function for f in inspect.stack()]
            depth["frames"] = frames.index("fit") - 1  # frames strictly between fit and training_step
            return super().training_step(batch, batch_idx)

    trainer = pkg.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(Model())
    return depth["frames"]


def test_training_step_depth(tmp_path: Any) -> None:
    # fit, interrupt handling, run, stage, fit loop, epoch loop, batch, optimization, optimizer_step hook,
    # LightningOptimizer, strategy, precision, torch's optimizer wrappers, closure, training step dispatch
    assert _depth_to_training_step(shim, tmp_path) <= 22


@pytest.mark.filterwarnings("ignore")
def test_shallower_than_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    assert _depth_to_training_step(shim, tmp_path) < _depth_to_training_step(lightning, tmp_path)
