"""Log a run to Weights & Biases offline: no account and no network; `wandb sync` can upload the run later."""

import os

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

os.environ.setdefault("WANDB_SILENT", "true")  # keep W&B's own messages out of the script's output


class Model(pl.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    pl.seed_everything(1)
    x = torch.randn(200, 2)
    y = x[:, :1] * x[:, 1:]
    logger = WandbLogger(project="compat", name="offline-demo", version="run-1", save_dir="wandb_logs", offline=True)
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=5, enable_progress_bar=False)
    data = TensorDataset(x, y)
    trainer.fit(Model(), DataLoader(data, batch_size=20), DataLoader(data, batch_size=50))
    run = logger.experiment
    summary = {key: run.summary[key] for key in ("train_loss", "val_loss", "trainer/global_step")}
    config = {key: run.config[key] for key in ("hidden", "lr")}
    run.finish()
    print(
        f"run={logger.name}/{logger.version} offline={run.offline} log_dir={trainer.log_dir}"
        f" config={config} train_loss={summary['train_loss']:.4f} val_loss={summary['val_loss']:.4f}"
        f" global_step={summary['trainer/global_step']}"
    )


if __name__ == "__main__":
    main()
