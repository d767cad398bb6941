"""DDP on two processes with a dict of two training loaders: each loader gets its own distributed sampler (told
every epoch), its workers seeded, and an epoch takes as many batches as the longest loader's share of one rank."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import timedelta

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import shim as pl
    from shim.strategies import DDPStrategy


    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
            self.steps = 0

        def training_step(self, batch, batch_idx):
            self.steps += 1
            return sum(torch.nn.functional.mse_loss(self.layer(x), y) for x, y in batch.values())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)


    def loader(n):
        return DataLoader(TensorDataset(torch.randn(n, 4), torch.randn(n, 1)), batch_size=1, shuffle=True)


    if __name__ == "__main__":
        out = sys.argv[1]
        pl.seed_everything(1, workers=True)
        model = Model()
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy=DDPStrategy(start_method="popen", timeout=timedelta(seconds=30)),
            default_root_dir=out, max_epochs=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )
        trainer.fit(model, {"a": loader(8), "b": loader(6)})
        if trainer.is_global_zero:
            loaders = trainer.train_dataloader
            with open(f"{out}/result.json", "w") as f:
                json.dump({
                    "kind": type(loaders).__name__,
                    "samplers": {k: type(dl.sampler).__name__ for k, dl in loaders.items()},
                    "epochs": {k: dl.sampler.epoch for k, dl in loaders.items()},
                    "seeded": {k: dl.worker_init_fn is not None for k, dl in loaders.items()},
                    "batches": trainer.num_training_batches,
                    "steps": model.steps,
                }, f)
    """
)


def test_each_loader_of_a_dict_is_distributed_and_seeded(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == {
        "kind": "dict",
        "samplers": {"a": "DistributedSampler", "b": "DistributedSampler"},
        "epochs": {"a": 1, "b": 1},
        "seeded": {"a": True, "b": True},
        "batches": 4,  # max(8 / 2, 6 / 2) samples of one rank, one per batch
        "steps": 8,
    }
