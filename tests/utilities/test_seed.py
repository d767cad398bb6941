"""seed_everything: Python, NumPy and torch reproducible; worker seeds derived as Lightning derives them."""

import os
import random
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from shim.utilities.seed import isolate_rng, pl_worker_init_function, seed_everything


def _draw() -> tuple[float, float, float]:
    import numpy as np

    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_same_seed_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    assert seed_everything(42) == 42
    first = _draw()
    seed_everything(42)
    assert _draw() == first
    assert os.environ["PL_GLOBAL_SEED"] == "42"
    assert os.environ["PL_SEED_WORKERS"] == "0"


def test_seed_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert seed_everything() == 7
    monkeypatch.setenv("PL_GLOBAL_SEED", "seven")
    with pytest.raises(ValueError, match="PL_GLOBAL_SEED must hold an integer seed, got 'seven'"):
        seed_everything()


def test_no_seed_warns_and_uses_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    with pytest.warns(UserWarning, match="No seed found, seed set to 0"):
        assert seed_everything() == 0


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range(seed: int) -> None:
    with pytest.raises(ValueError, match=f"seed={seed} is out of range"):
        seed_everything(seed)


def test_isolate_rng_restores_state() -> None:
    torch.manual_seed(3)
    with isolate_rng():
        torch.rand(10)
        random.random()
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(1))


class _Seeds(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> Any:
        import numpy as np

        return torch.tensor([torch.rand(1).item(), random.random(), float(np.random.rand())])


def _worker_draws(pkg_seed: Any, worker_init: Any) -> torch.Tensor:
    pkg_seed(11, workers=True)
    loader = DataLoader(_Seeds(), batch_size=1, num_workers=2, worker_init_fn=worker_init)
    return torch.cat(list(loader))


def test_worker_seeds_match_lightning(lightning: Any) -> None:
    from lightning_fabric.utilities.seed import pl_worker_init_function as pl_init
    from lightning_fabric.utilities.seed import seed_everything as pl_seed

    expected = _worker_draws(pl_seed, pl_init)
    actual = _worker_draws(seed_everything, pl_worker_init_function)
    assert torch.equal(actual, expected)
    assert not torch.equal(actual[0], actual[1])  # the two workers differ


def test_trainer_adds_worker_init_fn_after_seeding_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import shim
    from shim.demos.boring_classes import BoringModel

    seed_everything(5, workers=True)
    loader = DataLoader(_Seeds(), batch_size=2)
    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0
    )

    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.step(torch.zeros(2, 32))

    trainer.fit(Model(), loader)
    assert loader.worker_init_fn is not None
    monkeypatch.setenv("PL_SEED_WORKERS", "0")
