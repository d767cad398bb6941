"""check_val_every_n_epoch: validate only every third epoch, and record when validation ran."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)
        self.validated_epochs = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.layer(x), y))

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.validated_epochs.append(self.current_epoch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    pl.seed_everything(4)
    data = TensorDataset(torch.randn(64, 3), torch.randn(64, 1))
    model = Model()
    trainer = pl.Trainer(
        max_epochs=7,
        check_val_every_n_epoch=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=32))
    print(f"validated_epochs={model.validated_epochs} val_loss={trainer.callback_metrics['val_loss'].item():.4f}")


if __name__ == "__main__":
    main()
