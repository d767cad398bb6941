"""seed_everything(42, workers=True): two runs with two loader workers and random augmentation match exactly."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset


class NoisyPoints(Dataset):
    """Each item draws fresh noise, so the result depends on how every worker was seeded."""

    def __init__(self, n: int = 64) -> None:
        self.x = torch.linspace(-1, 1, n).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        x = self.x[index]
        return x + 0.1 * torch.randn(1), 3 * x


class Model(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def train() -> float:
    pl.seed_everything(42, workers=True)
    model = Model()
    loader = DataLoader(NoisyPoints(), batch_size=8, shuffle=True, num_workers=2)
    trainer = pl.Trainer(
        max_epochs=2, deterministic=True, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(model, loader)
    return model.layer.weight.item()


def main() -> None:
    first, second = train(), train()
    print(f"weight={first:.6f} repeatable={first == second}")


if __name__ == "__main__":
    main()
