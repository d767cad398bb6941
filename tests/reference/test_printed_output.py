"""What users read: the validate/test results table and the model summary, character for character."""

import importlib
import logging
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import shim


def _model_class(pkg: ModuleType) -> type:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel

    class Model(boring):  # type: ignore[misc, valid-type]
        def __init__(self, loaders: int) -> None:
            super().__init__()
            self.loaders = loaders
            self.encoder = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8)))
            self.frozen = nn.Linear(2, 2)
            self.frozen.eval()

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            loss = self.step(batch)
            self.log("val_loss", loss)
            self.log("val_acc", (loss > 0.5).float())

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("test_loss", self.step(batch))

        def val_dataloader(self) -> Any:
            torch.manual_seed(3)
            loaders = [DataLoader(torch.randn(8, 32), batch_size=4) for _ in range(self.loaders)]
            return loaders[0] if self.loaders == 1 else loaders

        def test_dataloader(self) -> Any:
            return self.val_dataloader()

    return Model


def _trainer(pkg: ModuleType, tmp_path: Any, **kwargs: Any) -> Any:
    defaults = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": str(tmp_path),
    }
    return pkg.Trainer(**{**defaults, **kwargs})


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("entry", "loaders"), [("validate", 1), ("validate", 2), ("test", 1), ("test", 2)])
def test_results_table_and_return_value(
    lightning: ModuleType, entry: str, loaders: int, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for pkg in (lightning, shim):
        torch.manual_seed(0)
        model = _model_class(pkg)(loaders)
        returned = getattr(_trainer(pkg, tmp_path), entry)(model, verbose=True)
        outputs.append((capsys.readouterr().out, returned))
    (expected_out, expected_ret), (actual_out, actual_ret) = outputs
    assert "DataLoader 0" in expected_out
    assert actual_out == expected_out
    assert actual_ret == expected_ret


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("max_depth", [1, -1])
def test_model_summary_text(lightning: ModuleType, max_depth: int, tmp_path: Any) -> None:
    summaries = []
    for pkg in (lightning, shim):
        handler = _Capture()
        logger = logging.getLogger("pytorch_lightning")  # shim honours the handlers set on Lightning's names
        logger.addHandler(handler)
        try:
            torch.manual_seed(0)
            summary = importlib.import_module(f"{pkg.__name__}.callbacks").ModelSummary(max_depth=max_depth)
            trainer = _trainer(
                pkg, tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0, callbacks=[summary]
            )
            trainer.fit(_model_class(pkg)(1))
        finally:
            logger.removeHandler(handler)
        summaries.append([m for m in handler.messages if "Trainable params" in m])
    expected, actual = summaries
    assert len(expected) == 1
    assert actual == expected
