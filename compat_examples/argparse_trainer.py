"""The Lightning 1.x argparse pattern: Trainer and LightningDataModule arguments come from the command line.

Run it as ``python argparse_trainer.py --max_epochs 2 --limit_train_batches 5 --hidden 16 --batch_size 8``.
(Lightning 2.x removed ``add_argparse_args``/``from_argparse_args``; shim keeps the 1.x form.)
"""

from argparse import ArgumentParser

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class RegressionData(pl.LightningDataModule):
    def __init__(self, batch_size: int = 32, num_samples: int = 128) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_samples = num_samples

    def setup(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(5)
        x = torch.randn(self.num_samples, 4, generator=generator)
        y = x.sum(dim=1, keepdim=True).tanh()
        self.train_set = TensorDataset(x, y)

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size)


class Regressor(pl.LightningModule):
    def __init__(self, hidden: int, lr: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    parser = ArgumentParser()
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser = RegressionData.add_argparse_args(parser)
    parser = pl.Trainer.add_argparse_args(parser)
    args = parser.parse_args()

    pl.seed_everything(3)
    data = RegressionData.from_argparse_args(args)
    model = Regressor(hidden=args.hidden, lr=args.lr)
    trainer = pl.Trainer.from_argparse_args(args, logger=False, enable_checkpointing=False)
    trainer.fit(model, datamodule=data)
    print(
        f"hidden={model.hparams.hidden} batch_size={data.batch_size} max_epochs={trainer.max_epochs} "
        f"progress_bar={trainer.progress_bar_callback is not None} global_step={trainer.global_step} "
        f"train_loss={trainer.callback_metrics['train_loss']:.4f}"
    )


if __name__ == "__main__":
    main()
