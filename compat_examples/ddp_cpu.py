"""Data-parallel training on two CPU processes: each rank sees half of every epoch, gradients are averaged,
and ``sync_dist=True`` averages the logged loss over both ranks. Only rank 0 prints the result."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class LinearRegression(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    pl.seed_everything(21)
    generator = torch.Generator().manual_seed(21)
    x = torch.randn(128, 3, generator=generator)
    y = x @ torch.tensor([[0.5], [-1.0], [2.0]]) - 0.2
    model = LinearRegression()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # Lightning puts a DistributedSampler in this loader, so each of the 2 ranks gets 64 samples (4 batches).
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=16))
    if trainer.is_global_zero:
        weights = [round(w, 4) for w in model.layer.weight.flatten().tolist()]
        print(
            f"world_size={trainer.world_size} train_loss={trainer.callback_metrics['train_loss']:.4f} "
            f"weights={weights} global_step={trainer.global_step}"
        )


if __name__ == "__main__":
    main()
