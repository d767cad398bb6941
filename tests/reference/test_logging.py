"""self.log of metric objects (torchmetrics-style), sync_dist, ambiguous batch sizes: the same values as Lightning."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim


def _run(pkg: ModuleType, tmp_path: Any) -> dict[str, Any]:
    torchmetrics = pytest.importorskip("torchmetrics")
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.train_acc = torchmetrics.classification.BinaryAccuracy()
            self.val_acc = torchmetrics.classification.BinaryAccuracy()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            out = self(x)
            self.train_acc(out[:, 0].sigmoid(), y)
            self.log("train_acc", self.train_acc, on_step=True, on_epoch=True)
            loss = self.loss(out)
            self.log("loss", loss, sync_dist=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            out = self(x)
            self.val_acc.update(out[:, 0].sigmoid(), y)
            self.log("val_acc", self.val_acc)
            self.log("val_loss", self.loss(out), batch_size=len(x))

    torch.manual_seed(0)
    x, y = torch.randn(24, 32), torch.randint(0, 2, (24,))
    trainer = pkg.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    model = Model()
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=5), DataLoader(TensorDataset(x, y), batch_size=7))
    return {
        "callback": {k: round(v.item(), 6) for k, v in trainer.callback_metrics.items()},
        "logged": {k: round(v.item(), 6) for k, v in trainer.logged_metrics.items()},
        "validate": trainer.validate(model, DataLoader(TensorDataset(x, y), batch_size=7), verbose=False),
    }


@pytest.mark.filterwarnings("ignore")
def test_metric_objects_and_options_match_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _run(lightning, tmp_path / "pl")
    actual = _run(shim, tmp_path / "shim")
    assert expected["callback"], "metrics were logged"
    assert actual == expected
