"""EMAWeightAveraging against real Lightning's: the final weights, the checkpoint's contents, resuming across both."""

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

import shim


def _fit(pkg: ModuleType, root: Path, ckpt_path: Path | None = None) -> dict[str, torch.Tensor]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Sequential(nn.Linear(32, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)

    torch.manual_seed(0)
    model = Model()
    train = DataLoader(boring.RandomDataset(32, 48), batch_size=4)
    val = DataLoader(boring.RandomDataset(32, 8), batch_size=4)
    callbacks = [
        pkg.callbacks.EMAWeightAveraging(decay=0.9, update_every_n_steps=2, update_starting_at_step=1),
        pkg.callbacks.ModelCheckpoint(dirpath=root, filename="{epoch}", save_top_k=-1),
    ]
    trainer = pkg.Trainer(max_epochs=3, accumulate_grad_batches=2, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir=str(root), accelerator="cpu",
                          callbacks=callbacks)  # fmt: skip
    trainer.fit(model, train, val, ckpt_path=None if ckpt_path is None else str(ckpt_path))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_close(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key].float(), value.float(), rtol=1e-5, atol=1e-6, msg=key)


def test_an_ema_fit_matches_lightning_and_its_checkpoints_resume_both_ways(
    lightning: ModuleType, tmp_path: Path
) -> None:
    want = _fit(lightning, tmp_path / "pl")
    got = _fit(shim, tmp_path / "shim")
    _assert_close(got, want)

    want_ckpt = torch.load(tmp_path / "pl" / "epoch=1.ckpt", weights_only=False)
    got_ckpt = torch.load(tmp_path / "shim" / "epoch=1.ckpt", weights_only=False)
    for key in ("state_dict", "current_model_state", "averaging_state"):
        _assert_close(got_ckpt[key], want_ckpt[key])
    assert got_ckpt["callbacks"]["EMAWeightAveraging"] == want_ckpt["callbacks"]["EMAWeightAveraging"]
    assert not torch.allclose(
        got_ckpt["state_dict"]["layer.0.weight"], got_ckpt["current_model_state"]["layer.0.weight"]
    )

    # each resumes from the other's checkpoint of epoch 1 and ends with the uninterrupted fit's weights
    _assert_close(_fit(shim, tmp_path / "shim-from-pl", tmp_path / "pl" / "epoch=1.ckpt"), want)
    _assert_close(_fit(lightning, tmp_path / "pl-from-shim", tmp_path / "shim" / "epoch=1.ckpt"), want)
