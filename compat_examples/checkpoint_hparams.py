"""Save hyper-parameters with the model, then reload the checkpoint with some of them overridden."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Classifier(pl.LightningModule):
    def __init__(self, in_dim: int = 8, out_dim: int = 3, learning_rate: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(in_dim, out_dim)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.learning_rate)


def main() -> None:
    pl.seed_everything(0)
    x = torch.randn(128, 8)
    y = torch.randint(0, 3, (128,))
    trainer = pl.Trainer(max_epochs=2, default_root_dir="runs", logger=False, enable_progress_bar=False)
    trainer.fit(Classifier(), DataLoader(TensorDataset(x, y), batch_size=16))
    path = trainer.checkpoint_callback.best_model_path
    restored = Classifier.load_from_checkpoint(path, learning_rate=0.01)
    same = torch.equal(restored.net.weight, trainer.lightning_module.net.weight)
    print(
        f"in_dim={restored.hparams.in_dim} out_dim={restored.hparams.out_dim} "
        f"learning_rate={restored.hparams.learning_rate} same_weights={same} ckpt={path}"
    )


if __name__ == "__main__":
    main()
