"""The Lightning 1.x accumulation schedule: accumulate_grad_batches={2: 2} steps after every batch for epochs
0-1, then after every second batch. (Lightning 2.x only takes an int here; shim keeps the 1.x form.)"""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.steps_per_epoch = []

    def on_train_epoch_start(self) -> None:
        self.steps_per_epoch.append(0)

    def on_before_optimizer_step(self, optimizer) -> None:
        self.steps_per_epoch[-1] += 1

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    pl.seed_everything(8)
    data = TensorDataset(torch.randn(64, 2), torch.randn(64, 1))
    model = Model()
    trainer = pl.Trainer(
        max_epochs=4,
        accumulate_grad_batches={2: 2},
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=8))
    print(f"steps_per_epoch={model.steps_per_epoch} global_step={trainer.global_step}")


if __name__ == "__main__":
    main()
