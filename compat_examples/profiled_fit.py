"""Profile a short fit and test with the simple profiler, as Lightning project templates do (`profiler: simple`).

The reports go to `fit-perf.txt` and `test-perf.txt`; a block of the training step is timed by hand through
`self.trainer.profiler`. The final line sums up which actions were recorded how often.
"""

import hashlib

import pytorch_lightning as pl
import torch
from pytorch_lightning.profilers import SimpleProfiler
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Regression(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        with self.trainer.profiler.profile("forward_and_loss"):
            loss = F.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.layer(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", F.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    pl.seed_everything(3)
    x = torch.randn(96, 4)
    y = x.sum(dim=1, keepdim=True)
    data = TensorDataset(x, y)
    profiler = SimpleProfiler(dirpath=".", filename="perf")
    trainer = pl.Trainer(
        max_epochs=2, profiler=profiler, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    model = Regression()
    trainer.fit(model, DataLoader(data, batch_size=16), DataLoader(data, batch_size=32))
    counts = {name: len(durations) for name, durations in profiler.recorded_durations.items()}
    trainer.test(model, DataLoader(data, batch_size=48))
    digest = hashlib.sha1(repr(sorted(counts.items())).encode()).hexdigest()[:12]
    print(
        f"actions={len(counts)} training_batches={counts['run_training_batch']}"
        f" by_hand={counts['forward_and_loss']} val_fetches={counts['[_EvaluationLoop].val_next']}"
        f" fit_actions_digest={digest} step={trainer.global_step}"
    )


if __name__ == "__main__":
    main()
