"""The debugging flags: fast_dev_run, limit_*_batches and val_check_interval, counted with a callback."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.seen = {"train": 0, "val": 0, "test": 0}

    def training_step(self, batch, batch_idx):
        self.seen["train"] += 1
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        self.seen["val"] += 1

    def test_step(self, batch, batch_idx):
        self.seen["test"] += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def run(**flags) -> str:
    data = TensorDataset(torch.randn(320, 4), torch.randn(320, 1))
    loader = DataLoader(data, batch_size=8)
    model = Model()
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, **flags)
    trainer.fit(model, loader, loader)
    trainer.test(model, loader, verbose=False)
    return f"{model.seen['train']}/{model.seen['val']}/{model.seen['test']}@{trainer.global_step}"


def main() -> None:
    pl.seed_everything(5)
    results = [
        run(fast_dev_run=True),
        run(fast_dev_run=3),
        run(limit_train_batches=1.0, limit_val_batches=10, limit_test_batches=0.25),
        run(limit_train_batches=0.5, val_check_interval=0.25, num_sanity_val_steps=0),
        run(limit_train_batches=12, val_check_interval=5, limit_val_batches=2),
    ]
    print("train/val/test@step " + " ".join(results))


if __name__ == "__main__":
    main()
