"""Read what a run exposes: callback_metrics, logged values, the current epoch and batch, and the log folder."""

import os

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Watcher(pl.Callback):
    def __init__(self) -> None:
        self.last_batches = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.is_last_batch:
            self.last_batches.append((trainer.current_epoch, batch_idx))


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.log("a_val", 2)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    pl.seed_everything(9)
    watcher = Watcher()
    data = TensorDataset(torch.randn(90, 2), torch.randn(90, 1))
    trainer = pl.Trainer(max_epochs=3, callbacks=[watcher], enable_progress_bar=False, log_every_n_steps=1)
    trainer.fit(Model(), DataLoader(data, batch_size=16))
    metrics = trainer.callback_metrics
    print(
        f"a_val={metrics['a_val'].item()} keys={sorted(metrics)} logged={sorted(trainer.logged_metrics)} "
        f"progress={sorted(trainer.progress_bar_metrics)} epoch={trainer.current_epoch} step={trainer.global_step} "
        f"last_batches={watcher.last_batches} status={trainer.state.status} log_dir={os.path.relpath(trainer.log_dir)}"
    )


if __name__ == "__main__":
    main()
