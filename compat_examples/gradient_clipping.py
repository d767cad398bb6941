"""Clip gradients by norm and by value, and compare the trained weights of each run."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def train(**clipping) -> float:
    pl.seed_everything(3)
    x = torch.randn(128, 4)
    y = 10 * x.sum(dim=1, keepdim=True)
    model = Regressor()
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, **clipping)
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=16))
    return sum(p.detach().abs().sum().item() for p in model.parameters())


def main() -> None:
    off = train(gradient_clip_val=0.0)
    by_norm = train(gradient_clip_val=0.5)
    by_value = train(gradient_clip_val=0.05, gradient_clip_algorithm="value")
    print(f"off={off:.4f} norm={by_norm:.4f} value={by_value:.4f}")


if __name__ == "__main__":
    main()
