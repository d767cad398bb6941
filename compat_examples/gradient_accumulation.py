"""accumulate_grad_batches=4: one optimizer step per four batches, with the same weights as large batches."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(5, 1)
        self.optimizer_steps = 0

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def on_before_optimizer_step(self, optimizer) -> None:
        self.optimizer_steps += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    pl.seed_everything(6)
    data = TensorDataset(torch.randn(120, 5), torch.randn(120, 1))
    model = Model()
    trainer = pl.Trainer(
        max_epochs=2, accumulate_grad_batches=4, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(model, DataLoader(data, batch_size=6))
    weights = [round(w, 4) for w in model.layer.weight.flatten().tolist()]
    print(f"optimizer_steps={model.optimizer_steps} global_step={trainer.global_step} weights={weights}")


if __name__ == "__main__":
    main()
