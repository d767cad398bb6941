"""Quickstart: classify synthetic 2-D points with a small MLP.

A plain Lightning script: ``shim run compat_examples/quickstart.py`` runs it, unchanged, on shim.
"""

import argparse
import os

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset, random_split


def make_blobs(n: int = 2048, seed: int = 0) -> TensorDataset:
    """Four Gaussian blobs in the plane, one class each."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])
    labels = torch.randint(0, 4, (n,), generator=generator)
    points = centers[labels] + 0.8 * torch.randn(n, 2, generator=generator)
    return TensorDataset(points, labels)


class LitClassifier(pl.LightningModule):
    def __init__(self, hidden: int = 64, learning_rate: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return [optimizer], [scheduler]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_epochs", type=int, default=3)
    parser.add_argument("--root", default="quickstart_output")
    args = parser.parse_args()

    pl.seed_everything(42)
    train, val = random_split(make_blobs(), [1792, 256], generator=torch.Generator().manual_seed(0))
    model = LitClassifier()
    trainer = pl.Trainer(max_epochs=args.max_epochs, default_root_dir=args.root, log_every_n_steps=10)
    trainer.fit(model, DataLoader(train, batch_size=64, shuffle=True), DataLoader(val, batch_size=256))
    results = trainer.validate(model, DataLoader(val, batch_size=256))
    path = os.path.join(args.root, "quickstart.ckpt")
    trainer.save_checkpoint(path)
    metrics = results[0]
    print(f"val_acc={metrics['val_acc']:.4f} val_loss={metrics['val_loss']!r} step={trainer.global_step} ckpt={path}")


if __name__ == "__main__":
    main()
