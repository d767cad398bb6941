"""Train a model passed through ``torch.compile``, then load its checkpoint into an uncompiled copy.

The eager backend keeps the example fast on any machine; the default backend (inductor) compiles to C++ or Triton.
"""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Regressor(pl.LightningModule):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self(x), y)

    def predict_step(self, batch, batch_idx):
        return self(batch[0])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05)


def main() -> None:
    pl.seed_everything(3)
    x = torch.randn(128, 3)
    y = (x**2).sum(dim=1, keepdim=True)
    model = Regressor()
    compiled = torch.compile(model, backend="eager")
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(compiled, DataLoader(TensorDataset(x, y), batch_size=16))
    trainer.save_checkpoint("compiled.ckpt")
    keys = sorted(torch.load("compiled.ckpt", weights_only=False)["state_dict"])
    plain = Regressor.load_from_checkpoint("compiled.ckpt")
    same = all(torch.equal(a, b) for a, b in zip(plain.parameters(), model.parameters(), strict=True))
    batch = DataLoader(TensorDataset(x[:4]), batch_size=4)
    prediction = pl.Trainer(logger=False, enable_progress_bar=False).predict(plain, batch)[0]
    print(f"keys={keys} same_weights={same} prediction={[round(p, 4) for p in prediction.flatten().tolist()]}")


if __name__ == "__main__":
    main()
