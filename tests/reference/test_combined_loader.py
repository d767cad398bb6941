"""Several loaders at once (a dict or list of them, or a ``CombinedLoader``), against Lightning: the batches each
step sees, the final weights, the logged metrics and the loader properties."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shim


def _plain(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return [round(v, 6) for v in x.flatten().tolist()]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _dataset(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g))


def _loaders(kind: str, combined_cls: Any) -> Any:
    def loader(n: int, seed: int, batch_size: int) -> DataLoader:
        return DataLoader(_dataset(n, seed), batch_size=batch_size, shuffle=True)

    if kind == "dict":
        return {"a": loader(10, 1, 2), "b": loader(6, 2, 4)}
    if kind == "nested":
        return {"a": [loader(10, 1, 2), loader(4, 3, 1)], "b": loader(6, 2, 4)}
    return combined_cls({"a": loader(10, 1, 2), "b": loader(6, 2, 4)}, kind)


def _module(pkg: ModuleType, seen: list[Any]) -> Any:
    class Model(pkg.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(3, 1)

        def _loss(self, batch: Any) -> torch.Tensor:
            leaves: list[Any] = []
            stack = [batch]
            while stack:
                item = stack.pop(0)
                if isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, list) and item and isinstance(item[0], (list, dict)):
                    stack.extend(item)
                elif item is not None:
                    leaves.append(item)
            return torch.stack([nn.functional.mse_loss(self.net(x), y) for x, y in leaves]).sum()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            seen.append(("train", batch_idx, _plain(batch)))
            loss = self._loss(batch)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            seen.append(("val", batch_idx, dataloader_idx, _plain(batch)))
            self.log("val_loss", self._loss(batch))

        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            seen.append(("predict", batch_idx, dataloader_idx))
            return self.net(batch[0]).sum().item()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Model()


def _trainer(pkg: ModuleType, tmp_path: Any, **kwargs: Any) -> Any:
    return pkg.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )


def _fit(pkg: ModuleType, kind: str, limit: int | float, tmp_path: Any, **kwargs: Any) -> dict[str, Any]:
    combined_cls = importlib.import_module(f"{pkg.__name__}.utilities.combined_loader").CombinedLoader
    seen: list[Any] = []
    torch.manual_seed(0)
    model = _module(pkg, seen)
    trainer = _trainer(pkg, tmp_path, max_epochs=2, limit_train_batches=limit, limit_val_batches=0, **kwargs)
    trainer.fit(model, train_dataloaders=_loaders(kind, combined_cls))
    loaders = trainer.train_dataloader
    return {
        "seen": seen,
        "weights": [_plain(p) for p in model.parameters()],
        "metrics": {k: round(v.item(), 6) for k, v in trainer.callback_metrics.items()},
        "batches": trainer.num_training_batches,
        "train_dataloader": type(loaders).__name__,
        "samplers": {key: type(getattr(dl, "sampler", None)).__name__ for key, dl in loaders.items()},
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("kind", "limit"),
    [("dict", 1.0), ("nested", 1.0), ("dict", 3), ("dict", 0.5), ("min_size", 1.0), ("max_size", 1.0)],
)
def test_training_on_several_loaders_matches_lightning(
    lightning: ModuleType, kind: str, limit: int | float, tmp_path: Any
) -> None:
    expected = _fit(lightning, kind, limit, tmp_path / "pl")
    assert expected["train_dataloader"] == "dict"
    assert _fit(shim, kind, limit, tmp_path / "shim") == expected


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("overfit_batches", [2, 0.5])
def test_overfit_batches_reads_each_loader_in_order_as_lightning(
    lightning: ModuleType, overfit_batches: int | float, tmp_path: Any
) -> None:
    expected = _fit(lightning, "dict", 1.0, tmp_path / "pl", overfit_batches=overfit_batches)
    assert expected["samplers"] == {"a": "SequentialSampler", "b": "SequentialSampler"}
    assert _fit(shim, "dict", 1.0, tmp_path / "shim", overfit_batches=overfit_batches) == expected


def _evaluate(pkg: ModuleType, mode: str, tmp_path: Any) -> dict[str, Any]:
    combined_cls = importlib.import_module(f"{pkg.__name__}.utilities.combined_loader").CombinedLoader
    seen: list[Any] = []
    torch.manual_seed(0)
    model = _module(pkg, seen)
    loaders = {"a": DataLoader(_dataset(6, 1), batch_size=2), "b": DataLoader(_dataset(3, 2), batch_size=1)}
    trainer = _trainer(pkg, tmp_path)
    results = trainer.validate(model, combined_cls(loaders, mode), verbose=False)
    return {
        "seen": seen,
        "results": [{k: round(v, 6) for k, v in r.items()} for r in results],
        "num_val_batches": list(trainer.num_val_batches),
        "val_dataloaders": sorted(trainer.val_dataloaders),
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("mode", ["sequential", "max_size_cycle", "max_size", "min_size"])
def test_validation_of_a_combined_loader_matches_lightning(lightning: ModuleType, mode: str, tmp_path: Any) -> None:
    expected = _evaluate(lightning, mode, tmp_path / "pl")
    assert _evaluate(shim, mode, tmp_path / "shim") == expected


def _predict(pkg: ModuleType, mode: str, tmp_path: Any) -> Any:
    combined_cls = importlib.import_module(f"{pkg.__name__}.utilities.combined_loader").CombinedLoader
    seen: list[Any] = []
    torch.manual_seed(0)
    model = _module(pkg, seen)
    loaders = [DataLoader(_dataset(4, 1), batch_size=2), DataLoader(_dataset(3, 2), batch_size=3)]
    trainer = _trainer(pkg, tmp_path)
    try:
        predictions = trainer.predict(model, combined_cls(loaders, mode))
    except ValueError:
        return "ValueError"
    return seen, _plain(predictions)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("mode", ["sequential", "max_size_cycle"])
def test_prediction_of_a_combined_loader_matches_lightning(lightning: ModuleType, mode: str, tmp_path: Any) -> None:
    expected = _predict(lightning, mode, tmp_path / "pl")
    assert (expected == "ValueError") == (mode != "sequential")
    assert _predict(shim, mode, tmp_path / "shim") == expected


def _hooks_before_sequential_error(pkg: ModuleType, tmp_path: Any) -> list[str]:
    combined_cls = importlib.import_module(f"{pkg.__name__}.utilities.combined_loader").CombinedLoader
    calls: list[str] = []

    class Recorder(pkg.Callback):  # type: ignore[misc, name-defined]
        def on_train_start(self, *args: Any) -> None:
            calls.append("on_train_start")

        def on_train_epoch_start(self, *args: Any) -> None:
            calls.append("on_train_epoch_start")

        def on_train_batch_start(self, *args: Any) -> None:
            calls.append("on_train_batch_start")

    model = _module(pkg, [])
    trainer = _trainer(pkg, tmp_path, max_epochs=1, limit_val_batches=0, callbacks=[Recorder()])
    with pytest.raises(ValueError, match="sequential"):
        trainer.fit(model, combined_cls({"a": DataLoader(_dataset(4, 1))}, "sequential"))
    return calls


@pytest.mark.filterwarnings("ignore")
def test_training_refuses_sequential_mode_as_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _hooks_before_sequential_error(lightning, tmp_path / "pl")
    assert _hooks_before_sequential_error(shim, tmp_path / "shim") == expected
