"""Train on two datasets at once (a dict of loaders) and validate on two loaders, each with its own metrics."""

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.combined_loader import CombinedLoader
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class TwoTaskModel(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.ReLU())
        self.heads = nn.ModuleDict({"sum": nn.Linear(16, 1), "prod": nn.Linear(16, 1)})

    def training_step(self, batch, batch_idx):
        losses = {}
        for task, (x, y) in batch.items():  # one batch of each loader, under its key
            losses[task] = F.mse_loss(self.heads[task](self.body(x)), y)
            self.log(f"train_{task}", losses[task])
        return sum(losses.values())

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y = batch
        task = ("sum", "prod")[dataloader_idx]
        self.log("val_loss", F.mse_loss(self.heads[task](self.body(x)), y))  # suffixed /dataloader_idx_N

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def data(kind: str, n: int) -> TensorDataset:
    x = torch.randn(n, 3)
    y = x.sum(1, keepdim=True) if kind == "sum" else x.prod(1, keepdim=True)
    return TensorDataset(x, y)


def main() -> None:
    pl.seed_everything(3)
    train = {
        "sum": DataLoader(data("sum", 96), batch_size=16, shuffle=True),
        "prod": DataLoader(data("prod", 48), batch_size=16, shuffle=True),  # shorter: cycled (max_size_cycle)
    }
    val = CombinedLoader(
        [DataLoader(data("sum", 32), batch_size=16), DataLoader(data("prod", 32), batch_size=16)], mode="sequential"
    )
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(TwoTaskModel(), train, val)
    metrics = {name: round(value.item(), 4) for name, value in sorted(trainer.callback_metrics.items())}
    print(f"global_step={trainer.global_step} metrics={metrics}")


if __name__ == "__main__":
    main()
