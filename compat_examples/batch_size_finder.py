"""The Lightning 1.x batch size finder: ``Trainer(auto_scale_batch_size="binsearch")`` and ``trainer.tune``.

(Lightning 2.x moved this to ``Tuner(trainer).scale_batch_size``; shim keeps the 1.x form.)
"""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

# The largest batch that "fits in memory". The script runs on the CPU, so it simulates the GPU running out of memory:
# a bigger batch raises the same error, with the same message, that CUDA raises. The finder recognises that error,
# frees memory and tries a smaller batch.
MAX_BATCH_SIZE = 40


class BlobsDataModule(pl.LightningDataModule):
    def __init__(self, batch_size: int = 2) -> None:
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(9)
        x = torch.randn(512, 4, generator=generator)
        self.train_set = TensorDataset(x, (x.sum(dim=1) > 0).long())

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.batch_sizes_tried = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        if batch_idx == 0:
            self.batch_sizes_tried.append(len(x))
        if len(x) > MAX_BATCH_SIZE:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return F.cross_entropy(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    pl.seed_everything(6)
    data = BlobsDataModule()
    model = Classifier()
    trainer = pl.Trainer(
        auto_scale_batch_size="binsearch",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    result = trainer.tune(model, datamodule=data)
    tried = list(model.batch_sizes_tried)
    trainer.fit(model, datamodule=data)
    print(
        f"found={result['scale_batch_size']} datamodule_batch_size={data.batch_size} tried={tried} "
        f"global_step={trainer.global_step}"
    )


if __name__ == "__main__":
    main()
