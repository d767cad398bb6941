"""EarlyStopping and ModelCheckpoint watching the same validation metric, with metrics written by CSVLogger."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        # A large step size makes the validation loss stop improving after a few epochs.
        return torch.optim.SGD(self.parameters(), lr=0.3)


def main() -> None:
    pl.seed_everything(12)
    x = torch.randn(160, 4)
    y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.3 * torch.randn(160, 1)
    train, val = TensorDataset(x[:128], y[:128]), TensorDataset(x[128:], y[128:])
    stopper = EarlyStopping(monitor="val_loss", mode="min", patience=2)
    checkpoint = ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=2, filename="{epoch}-{val_loss:.3f}")
    trainer = pl.Trainer(
        max_epochs=30,
        callbacks=[stopper, checkpoint],
        logger=CSVLogger("csv_logs"),
        enable_progress_bar=False,
    )
    trainer.fit(Model(), DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=32))
    best = checkpoint.best_model_path.replace("\\", "/")
    print(
        f"stopped_epoch={stopper.stopped_epoch} epochs_run={trainer.current_epoch} "
        f"best_score={checkpoint.best_model_score.item():.4f} best={best}"
    )


if __name__ == "__main__":
    main()
