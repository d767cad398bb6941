"""Keep an exponential moving average of the weights: validation runs on it and training ends with it."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EMAWeightAveraging
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def main() -> None:
    pl.seed_everything(7)
    x = torch.randn(160, 4)
    y = 3 * x[:, :1] - x[:, 1:2]
    train = DataLoader(TensorDataset(x[:128], y[:128]), batch_size=16)
    val = DataLoader(TensorDataset(x[128:], y[128:]), batch_size=16)
    ema = EMAWeightAveraging(decay=0.9, update_starting_at_step=4)
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, callbacks=[ema])
    model = Regressor()
    trainer.fit(model, train, val)
    ckpt = torch.load(trainer.checkpoint_callback.best_model_path, weights_only=False)
    checksum = sum(p.detach().abs().sum().item() for p in model.parameters())
    val_loss = trainer.callback_metrics["val_loss"].item()
    print(f"val_loss={val_loss:.4f} weights={checksum:.4f} averaged={int(ckpt['averaging_state']['n_averaged'])}")


if __name__ == "__main__":
    main()
