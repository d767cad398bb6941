"""bfloat16 mixed precision on the CPU: matmuls run in bf16 under autocast, weights and the optimizer stay float32."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        self.logits_dtype = None

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.logits_dtype = logits.dtype
        loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def main() -> None:
    pl.seed_everything(4)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(256, 8, generator=generator)
    y = (x[:, :3].argmax(dim=1) + (x[:, 3] > 1).long()) % 3
    model = Classifier()
    trainer = pl.Trainer(
        precision="bf16-mixed",
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
    print(
        f"precision={trainer.precision} logits={model.logits_dtype} weights={model.net[0].weight.dtype} "
        f"train_loss={trainer.callback_metrics['train_loss']:.4f} step={trainer.global_step}"
    )


if __name__ == "__main__":
    main()
