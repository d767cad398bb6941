"""A model passed through ``torch.compile`` trains as under Lightning; the checkpoints load across the two."""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch.utils.data import DataLoader

import shim


def _fit(pkg: ModuleType, tmp_path: Path) -> tuple[dict[str, torch.Tensor], Path, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    # no `self.log` in the step: under this torch, Lightning's `log` fails inside the compiled `training_step`
    torch.manual_seed(0)
    model = boring.BoringModel()
    trainer = pkg.Trainer(max_epochs=2, limit_train_batches=4, limit_val_batches=2, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                          default_root_dir=str(tmp_path), accelerator="cpu")  # fmt: skip
    train = DataLoader(boring.RandomDataset(32, 64), batch_size=4)
    trainer.fit(torch.compile(model, backend="eager"), train, DataLoader(boring.RandomDataset(32, 16)))
    assert trainer.lightning_module is model
    trainer.save_checkpoint(tmp_path / "compiled.ckpt")
    predictions = trainer.predict(model, DataLoader(boring.RandomDataset(32, 4)))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, tmp_path / "compiled.ckpt", predictions


def test_a_compiled_fit_matches_lightning_and_its_checkpoints_load_both_ways(
    lightning: ModuleType, tmp_path: Path
) -> None:
    want, want_ckpt, want_predictions = _fit(lightning, tmp_path / "pl")
    got, got_ckpt, got_predictions = _fit(shim, tmp_path / "shim")
    assert got.keys() == want.keys() == {"layer.weight", "layer.bias"}
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got_predictions, want_predictions, rtol=1e-6, atol=1e-7)
    # each one's checkpoint of the compiled model loads into the other's plain model
    pl_boring = importlib.import_module(f"{lightning.__name__}.demos.boring_classes")
    from_lightning = shim.demos.boring_classes.BoringModel.load_from_checkpoint(want_ckpt)
    from_shim = pl_boring.BoringModel.load_from_checkpoint(got_ckpt)
    for key, value in want.items():
        torch.testing.assert_close(from_lightning.state_dict()[key], value, rtol=0, atol=0)
        torch.testing.assert_close(from_shim.state_dict()[key], got[key], rtol=0, atol=0)
    saved = torch.load(got_ckpt, weights_only=False)
    assert set(saved["state_dict"]) == set(torch.load(want_ckpt, weights_only=False)["state_dict"])
