"""BasePredictionWriter gets the same calls, predictions and batch indices as Lightning's, for each interval."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks.prediction_writer import BasePredictionWriter, WriteInterval
from shim.utilities.exceptions import MisconfigurationException


def _summary(value: Any) -> Any:
    """Predictions as nested lists of shapes, comparable across the two packages."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, list):
        return [_summary(v) for v in value]
    return value


def _predict(pkg: ModuleType, tmp_path: Any, intervals: list[str], loaders: Any, **predict_kwargs: Any) -> Any:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    writer_base = importlib.import_module(f"{pkg.__name__}.callbacks.prediction_writer").BasePredictionWriter
    calls: list[Any] = []

    class Writer(writer_base):  # type: ignore[misc,valid-type]
        def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: Any, *args: Any) -> None:
            batch_indices, batch, batch_idx, dataloader_idx = args
            calls.append((self.interval.value, "batch", _summary(prediction), list(batch_indices), batch_idx))
            calls[-1] += (dataloader_idx, _summary(batch))

        def write_on_epoch_end(self, trainer: Any, pl_module: Any, predictions: Any, batch_indices: Any) -> None:
            calls.append((self.interval.value, "epoch", _summary(predictions), batch_indices))

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def on_predict_end(self) -> None:
            calls.append(("module", "end", self.trainer.predict_loop.epoch_batch_indices))

    torch.manual_seed(0)
    trainer = pkg.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        callbacks=[Writer(interval) for interval in intervals],
    )
    results = trainer.predict(Model(), dataloaders=loaders, **predict_kwargs)
    return calls, _summary(results)


def _loaders(kind: str) -> Any:
    from shim.demos.boring_classes import RandomDataset

    torch.manual_seed(1)
    if kind == "single":
        return DataLoader(RandomDataset(32, 10), batch_size=4)
    if kind == "shuffled-drop-last":
        generator = torch.Generator().manual_seed(3)
        return DataLoader(RandomDataset(32, 10), batch_size=4, shuffle=True, drop_last=True, generator=generator)
    return [DataLoader(RandomDataset(32, 6), batch_size=4), DataLoader(RandomDataset(32, 3), batch_size=2)]


@pytest.mark.parametrize("kind", ["single", "shuffled-drop-last", "two-loaders"])
@pytest.mark.parametrize(
    "intervals", [["batch"], ["epoch"], ["batch_and_epoch"], ["batch", "epoch"]], ids=lambda i: "+".join(i)
)
@pytest.mark.parametrize("return_predictions", [True, False])
def test_writer_calls_match_lightning(
    lightning: ModuleType, tmp_path: Any, kind: str, intervals: list[str], return_predictions: bool
) -> None:
    expected = _predict(lightning, tmp_path, intervals, _loaders(kind), return_predictions=return_predictions)
    actual = _predict(shim, tmp_path, intervals, _loaders(kind), return_predictions=return_predictions)
    assert actual == expected


def test_batch_indices_of_a_single_loader(tmp_path: Any) -> None:
    calls, results = _predict(shim, tmp_path, ["batch_and_epoch"], _loaders("single"))
    indices = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert calls == [
        *[("batch_and_epoch", "batch", (len(b), 2), b, i, 0, (len(b), 32)) for i, b in enumerate(indices)],
        ("batch_and_epoch", "epoch", [(4, 2), (4, 2), (2, 2)], [indices]),
        ("module", "end", []),
    ]
    assert results == [(4, 2), (4, 2), (2, 2)]


def test_a_shuffled_loader_reports_the_drawn_indices_and_keeps_the_last_batch(tmp_path: Any) -> None:
    calls, _ = _predict(shim, tmp_path, ["epoch"], _loaders("shuffled-drop-last"))
    (epoch_call,) = [call for call in calls if call[1] == "epoch"]
    indices = epoch_call[3][0]
    assert [len(batch) for batch in indices] == [4, 4, 2]  # predicting never drops the last batch
    assert sorted(i for batch in indices for i in batch) == list(range(10))
    assert indices != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_an_iterable_dataset_gives_empty_indices_with_a_warning(tmp_path: Any) -> None:
    from shim.demos.boring_classes import RandomIterableDataset

    loader = DataLoader(RandomIterableDataset(32, 3), batch_size=2)
    with pytest.warns(UserWarning, match="sample indices of the predict batches are unknown for a `DataLoader`"):
        calls, results = _predict(shim, tmp_path, ["batch_and_epoch"], loader)
    assert [call[3] for call in calls if call[1] == "batch"] == [[], []]
    assert [call[3] for call in calls if call[1] == "epoch"] == [[[]]]
    assert results == [(2, 2), (1, 2)]


def test_an_epoch_writer_gets_the_predictions_even_when_predict_returns_none(tmp_path: Any) -> None:
    calls, results = _predict(shim, tmp_path, ["epoch"], _loaders("two-loaders"), return_predictions=False)
    assert results is None
    assert calls[0] == ("epoch", "epoch", [[(4, 2), (2, 2)], [(2, 2), (1, 2)]], [[[0, 1, 2, 3], [4, 5]], [[0, 1], [2]]])


def test_the_interval_is_checked(lightning: ModuleType) -> None:
    with pytest.raises(
        MisconfigurationException, match=r"write_interval='sometimes'.*\['batch', 'epoch', 'batch_and_epoch'\]"
    ):
        BasePredictionWriter("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'Epoch' is not a valid WriteInterval"):
        BasePredictionWriter("Epoch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'Epoch' is not a valid WriteInterval"):
        lightning.callbacks.BasePredictionWriter("Epoch")
    assert BasePredictionWriter().interval is WriteInterval.BATCH
    assert (WriteInterval.BATCH.on_batch, WriteInterval.BATCH.on_epoch) == (True, False)
    assert (WriteInterval.EPOCH.on_batch, WriteInterval.EPOCH.on_epoch) == (False, True)
    assert (WriteInterval.BATCH_AND_EPOCH.on_batch, WriteInterval.BATCH_AND_EPOCH.on_epoch) == (True, True)


def test_unimplemented_writes_raise(tmp_path: Any) -> None:
    from shim.demos.boring_classes import BoringModel

    trainer = shim.Trainer(default_root_dir=tmp_path, logger=False, callbacks=[BasePredictionWriter("epoch")])
    with pytest.raises(NotImplementedError):
        trainer.predict(BoringModel(), dataloaders=_loaders("single"))
