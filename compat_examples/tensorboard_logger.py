"""Log training and validation metrics to TensorBoard event files under a fixed version folder."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self, hidden: int = 8) -> None:
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
        return torch.optim.Adam(self.parameters(), lr=0.01)


def main() -> None:
    pl.seed_everything(1)
    x = torch.randn(200, 2)
    y = x[:, :1] * x[:, 1:]
    logger = TensorBoardLogger(save_dir="tb_logs", version=1, name="lightning_logs")
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=5, enable_progress_bar=False)
    data = TensorDataset(x, y)
    trainer.fit(Model(), DataLoader(data, batch_size=20), DataLoader(data, batch_size=50))
    print(f"log_dir={trainer.log_dir} val_loss={trainer.callback_metrics['val_loss'].item():.4f}")


if __name__ == "__main__":
    main()
