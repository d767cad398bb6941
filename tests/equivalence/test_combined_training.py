"""Training on a dict of two loaders against a plain PyTorch loop: same seed, same batches, same final weights.

The plain loop reads the loaders as ``CombinedLoader(mode="max_size_cycle")`` does in Lightning: every epoch starts
both loaders (one ``iter()`` each, in order), a loader that ends before the longest starts over, and an epoch has as
many steps as the longest loader (capped by ``limit_train_batches``).
"""

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.utilities import CombinedLoader


def _data() -> dict[str, DataLoader]:
    g = torch.Generator().manual_seed(1)
    a = TensorDataset(torch.randn(10, 3, generator=g), torch.randn(10, 1, generator=g))
    b = TensorDataset(torch.randn(6, 3, generator=g), torch.randn(6, 1, generator=g))
    return {"a": DataLoader(a, batch_size=2, shuffle=True), "b": DataLoader(b, batch_size=4, shuffle=True)}


def _loss(net: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    losses = [nn.functional.mse_loss(net(x), y) for x, y in (part for part in batch.values() if part is not None)]
    return torch.stack(losses).sum()


class Model(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(3, 1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return _loss(self.net, batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _shim_weights(mode: str | None, limit: int | float, epochs: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = Model()
    loaders: Any = _data() if mode is None else CombinedLoader(_data(), mode)  # type: ignore[arg-type]
    trainer = shim.Trainer(
        max_epochs=epochs,
        limit_train_batches=limit,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=loaders)
    return [p.detach().clone() for p in model.parameters()]


def _next(iterators: dict[str, Any], loaders: dict[str, DataLoader], key: str, cycle: bool) -> Any:
    try:
        return next(iterators[key])
    except StopIteration:
        if not cycle:
            return None
        iterators[key] = iter(loaders[key])
        return next(iterators[key])


def _plain_weights(mode: str, limit: int | float, epochs: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    wrapper = nn.Module()
    wrapper.net = net  # the same parameter creation order as the LightningModule
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    loaders = _data()
    lengths = [len(dl) for dl in loaders.values()]
    capped = [min(n, limit) if isinstance(limit, int) else int(n * limit) for n in lengths]
    steps = min(capped) if mode == "min_size" else max(capped)
    for _ in range(epochs):
        iterators = {key: iter(dl) for key, dl in loaders.items()}
        for _ in range(steps):
            batch = {key: _next(iterators, loaders, key, mode == "max_size_cycle") for key in loaders}
            loss = _loss(net, batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize(
    ("mode", "limit", "epochs"),
    [(None, 1.0, 3), (None, 2, 2), ("max_size_cycle", 0.6, 2), ("min_size", 1.0, 3), ("max_size", 4, 2)],
)
def test_two_loaders_train_as_the_plain_loop(mode: str | None, limit: int | float, epochs: int) -> None:
    expected = _plain_weights(mode or "max_size_cycle", limit, epochs)
    for got, want in zip(_shim_weights(mode, limit, epochs), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)


@pytest.mark.parametrize("save_every", [3, 5])  # inside an epoch (5 steps each) and at its end
def test_resuming_two_loaders_from_a_checkpoint_ends_with_the_same_weights(save_every: int, tmp_path: Any) -> None:
    def fit(root: Any, ckpt_path: str | None = None) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = Model()
        saver = shim.callbacks.ModelCheckpoint(dirpath=root, every_n_train_steps=save_every, save_top_k=-1)
        trainer = shim.Trainer(
            max_epochs=3,
            logger=False,
            callbacks=[saver],
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(root),
        )
        trainer.fit(model, train_dataloaders=_data(), ckpt_path=ckpt_path)
        assert trainer.global_step == 15
        return [p.detach().clone() for p in model.parameters()]

    straight = fit(tmp_path / "a")
    checkpoints = sorted((tmp_path / "a").glob("*.ckpt"))
    assert len(checkpoints) == 15 // save_every
    for checkpoint in checkpoints:
        resumed = fit(tmp_path / "b", str(checkpoint))
        for got, want in zip(resumed, straight, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
