"""Log hyper-parameters, metrics and the best checkpoint to a local MLflow store, then read the run back."""

import os

import pytorch_lightning as pl
import torch
from mlflow.tracking import MlflowClient
from pytorch_lightning.loggers import MLFlowLogger
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

# MLflow 3 opens a local file store (./mlruns) only with this opt-in; Lightning 2.6.6 does not set it itself
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


class Model(pl.LightningModule):
    def __init__(self, hidden: int = 8, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    pl.seed_everything(1)
    x = torch.randn(200, 2)
    y = x[:, :1] * x[:, 1:]
    logger = MLFlowLogger(experiment_name="compat", run_name="example", save_dir="mlruns", log_model=True)
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=5, enable_progress_bar=False)
    data = TensorDataset(x, y)
    trainer.fit(Model(), DataLoader(data, batch_size=20), DataLoader(data, batch_size=50))

    client = MlflowClient("file:mlruns")
    run = client.get_run(logger.run_id)
    steps = [metric.step for metric in client.get_metric_history(logger.run_id, "train_loss")]
    val = client.get_metric_history(logger.run_id, "val_loss")
    artifacts = [entry.path for entry in client.list_artifacts(logger.run_id)]
    print(
        f"experiment={client.get_experiment(run.info.experiment_id).name} name={run.data.tags['mlflow.runName']}"
        f" status={run.info.status} params={sorted(run.data.params.items())} train_steps={steps}"
        f" val_loss={[(m.step, round(m.value, 4)) for m in val]} artifacts={artifacts}"
    )


if __name__ == "__main__":
    main()
