"""Models for the tuner tests, built from either shim or Lightning so both run the same code."""

from types import ModuleType
from typing import Any

import torch
from torch.utils.data import DataLoader

OOM_MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB"


def oom_model(demos: ModuleType, threshold: int, length: int, batch_size: int = 2, lr: float = 0.1) -> Any:
    """A BoringModel whose steps raise ``torch.cuda.OutOfMemoryError`` for batches larger than ``threshold``.

    ``demos`` is ``shim.demos.boring_classes`` or ``pytorch_lightning.demos.boring_classes``.
    """

    class OOMModel(demos.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.batch_size = batch_size
            self.lr = lr

        def _check(self, batch: torch.Tensor) -> None:
            if batch.shape[0] > threshold:
                raise torch.cuda.OutOfMemoryError(OOM_MESSAGE)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self._check(batch)
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            self._check(batch)
            return super().validation_step(batch, batch_idx)

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            self._check(batch)
            return super().test_step(batch, batch_idx)

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            self._check(batch)
            return self(batch)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)

        def _loader(self) -> DataLoader:
            return DataLoader(demos.RandomDataset(32, length), batch_size=self.batch_size)

        def train_dataloader(self) -> DataLoader:
            return self._loader()

        def val_dataloader(self) -> DataLoader:
            return self._loader()

        def test_dataloader(self) -> DataLoader:
            return self._loader()

        def predict_dataloader(self) -> DataLoader:
            return self._loader()

    return OOMModel()


QUIET = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False}
