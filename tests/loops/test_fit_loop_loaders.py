"""FitLoop with loaders that save their position (``state_dict``/``load_state_dict``): the checkpoint keeps their
states, a resumed run goes on from them, and only a loader without one is warned about, as in Lightning."""

import importlib
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import shim


class Positional:
    """``n`` batches ``(x, y)`` whose ``x`` holds the batch's number; remembers how far it got."""

    def __init__(self, n: int, offset: float = 0.0) -> None:
        self.n, self.offset, self.pos = n, offset, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        if self.pos >= self.n:  # the previous pass was read to its end
            self.pos = 0
        while self.pos < self.n:
            value = self.offset + self.pos
            self.pos += 1
            yield torch.full((1, 3), value), torch.zeros(1, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pos = state["pos"]


def _loaders(kind: str) -> Any:
    if kind == "one":
        return Positional(6)
    if kind == "two":
        return {"a": Positional(6), "b": Positional(4, offset=100.0)}
    plain = DataLoader([(torch.full((3,), -1.0), torch.zeros(1))] * 4)
    return {"a": Positional(6), "b": plain}


def _run(pkg: ModuleType, kind: str, root: Path) -> dict[str, Any]:
    seen: list[Any] = []

    class Model(pkg.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(3, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            parts = batch.values() if isinstance(batch, dict) else [batch]
            seen.append((self.current_epoch, batch_idx, [x.flatten()[0].item() for x, _ in parts]))
            return sum(nn.functional.mse_loss(self.net(x), y.view(-1, 1)) for x, y in parts)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    checkpoint_cls = importlib.import_module(f"{pkg.__name__}.callbacks").ModelCheckpoint
    kwargs: dict[str, Any] = {
        "max_epochs": 2, "limit_val_batches": 0, "logger": False, "enable_progress_bar": False,
        "enable_model_summary": False, "default_root_dir": str(root),
    }  # fmt: skip
    saver = checkpoint_cls(dirpath=root, every_n_train_steps=2, save_top_k=-1, filename="{step}")
    pkg.Trainer(callbacks=[saver], **kwargs).fit(Model(), train_dataloaders=_loaders(kind))
    path = root / "step=4.ckpt"
    states = torch.load(path, weights_only=False)["loops"]["fit_loop"]["state_dict"].get("combined_loader")
    seen.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pkg.Trainer(enable_checkpointing=False, **kwargs).fit(
            Model(), train_dataloaders=_loaders(kind), ckpt_path=str(path)
        )
    warned = [w.category.__name__ for w in caught if "resuming from a checkpoint that ended" in str(w.message).lower()]
    return {"states": states, "seen": seen, "warned": warned}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind", ["one", "two", "one_of_two"])
def test_loader_positions_are_saved_and_restored_as_lightning(lightning: ModuleType, kind: str, tmp_path: Path) -> None:
    expected = _run(lightning, kind, tmp_path / "pl")
    assert expected["states"] == ([{"pos": 4}] if kind != "two" else [{"pos": 4}, {"pos": 4}])
    assert bool(expected["warned"]) == (kind == "one_of_two")
    assert _run(shim, kind, tmp_path / "shim") == expected


def test_a_checkpoint_with_other_loader_states_is_refused(tmp_path: Path) -> None:
    from shim.trainer.loader_setup import load_loader_states

    loaders = [Positional(3), DataLoader(range(3))]
    load_loader_states(loaders, [{"pos": 2}])
    assert loaders[0].pos == 2  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="2 training loader"):
        load_loader_states(loaders, [{"pos": 1}, {"pos": 2}])
    with pytest.raises(RuntimeError, match="1 training loader"):
        load_loader_states([DataLoader(range(3))], [{"pos": 1}])
