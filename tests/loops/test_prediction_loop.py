"""The prediction loop records each batch's sample indices and warns once about a step that returns None."""

import pickle
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset
from shim.loops.prediction_loop import IndexBatchSampler, record_batch_indices
from shim.utilities.rank_zero import PossibleUserWarning


def test_index_batch_sampler_remembers_each_pass() -> None:
    sampler = IndexBatchSampler(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    assert (len(sampler), sampler.batch_size, sampler.drop_last) == (3, 2, False)
    assert list(sampler) == [[0, 1], [2, 3], [4]]
    assert sampler.seen_batch_indices == [[0, 1], [2, 3], [4]]
    iterator = iter(sampler)
    next(iterator)
    assert sampler.seen_batch_indices == [[0, 1]]  # a new pass starts afresh
    assert list(pickle.loads(pickle.dumps(sampler))) == [[0, 1], [2, 3], [4]]


def test_record_batch_indices_rebuilds_with_drop_last_off() -> None:
    loader = DataLoader(RandomDataset(32, 5), batch_size=2, drop_last=True)
    rebuilt = record_batch_indices(loader)
    assert rebuilt is not loader
    assert isinstance(rebuilt.batch_sampler, IndexBatchSampler)
    assert [len(batch) for batch in rebuilt] == [2, 2, 1]
    assert rebuilt.batch_sampler.seen_batch_indices == [[0, 1], [2, 3], [4]]
    assert record_batch_indices(rebuilt) is rebuilt
    unbatched = DataLoader(RandomDataset(32, 5), batch_size=None)
    assert record_batch_indices(unbatched) is unbatched


class Pairs:
    """A batch sampler that is not built like torch's: no batch_size or drop_last."""

    def __iter__(self) -> Iterator[list[int]]:
        return iter([[0, 1], [2, 3]])

    def __len__(self) -> int:
        return 2


def test_a_custom_batch_sampler_is_kept_with_a_warning() -> None:
    loader = DataLoader(RandomDataset(32, 4), batch_sampler=Pairs())
    with pytest.warns(PossibleUserWarning, match=r"batch sampler `Pairs` cannot be rebuilt as `Pairs\(sampler, batch"):
        rebuilt = record_batch_indices(loader)
    assert isinstance(rebuilt.batch_sampler.batch_sampler, Pairs)
    assert [len(batch) for batch in rebuilt] == [2, 2]
    assert rebuilt.batch_sampler.seen_batch_indices == [[0, 1], [2, 3]]


class NoDropLast(BatchSampler):
    def __init__(self, sampler: Any, batch_size: int) -> None:
        super().__init__(sampler, batch_size, drop_last=True)


def test_a_batch_sampler_with_other_arguments_is_kept_with_a_warning() -> None:
    loader = DataLoader(RandomDataset(32, 5), batch_sampler=NoDropLast(SequentialSampler(range(5)), 2))
    with pytest.warns(PossibleUserWarning, match="`NoDropLast` cannot be rebuilt.*predictions are missing"):
        rebuilt = record_batch_indices(loader)
    assert [len(batch) for batch in rebuilt] == [2, 2]  # its own drop_last stays


def test_predict_warns_once_when_the_step_returns_none(tmp_path: Any) -> None:
    class SometimesNothing(BoringModel):
        def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return None if batch_idx % 2 else super().predict_step(batch, batch_idx)

    trainer = shim.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    loader = DataLoader(RandomDataset(32, 8), batch_size=2)
    with pytest.warns(UserWarning, match="predict returned None") as record:
        results = trainer.predict(SometimesNothing(), dataloaders=loader)
    assert len([w for w in record if "returned None" in str(w.message)]) == 1
    assert results is not None
    assert [r is None for r in results] == [False, True, False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.predict(SometimesNothing(), dataloaders=loader)  # once per Trainer, as in Lightning


def test_predictions_property_is_flat_for_one_loader(tmp_path: Any) -> None:
    trainer = shim.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    loader = DataLoader(RandomDataset(32, 4), batch_size=2)
    results = trainer.predict(BoringModel(), dataloaders=loader)
    assert trainer.predict_loop.predictions is results
    assert [tuple(r.shape) for r in results] == [(2, 2), (2, 2)]
    two = trainer.predict(BoringModel(), dataloaders=[loader, loader])
    assert trainer.predict_loop.predictions == two
    assert [len(r) for r in two] == [2, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predictions_come_back_on_the_cpu(tmp_path: Any) -> None:
    trainer = shim.Trainer(default_root_dir=tmp_path, accelerator="cuda", devices=1, logger=False)
    results = trainer.predict(BoringModel(), dataloaders=DataLoader(RandomDataset(32, 4), batch_size=2))
    assert results is not None
    assert [r.device.type for r in results] == ["cpu", "cpu"]
