"""The checks and warnings every loop applies to the loaders it requested, and their batch counts."""

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset, RandomIterableDataset
from shim.trainer.loader_setup import check_workers, is_shuffled, set_sampler_epoch
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import PossibleUserWarning


def _trainer(**kwargs: Any) -> shim.Trainer:
    return shim.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **kwargs
    )


def _messages(fn: Any) -> list[tuple[type[Warning], str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize(
    ("loader", "shuffled"),
    [
        (DataLoader(RandomDataset(2, 4), shuffle=True), True),
        (DataLoader(RandomDataset(2, 4)), False),
        (DataLoader(RandomDataset(2, 4), sampler=RandomSampler(RandomDataset(2, 4))), True),
        (DataLoader(RandomDataset(2, 4), batch_sampler=BatchSampler(RandomSampler(range(4)), 2, False)), True),
        (DataLoader(RandomDataset(2, 4), batch_sampler=BatchSampler(SequentialSampler(range(4)), 2, False)), False),
        (DataLoader(RandomIterableDataset(2, 4)), False),
        ([torch.zeros(2)], False),
    ],
)
def test_is_shuffled(loader: Any, shuffled: bool) -> None:
    assert is_shuffled(loader) is shuffled


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_a_shuffling_evaluation_loader_is_warned_about(fn: str) -> None:
    trainer = _trainer()
    loader = DataLoader(RandomDataset(32, 4), shuffle=True)
    warned = _messages(lambda: getattr(trainer, fn)(BoringModel(), loader))
    prefix = "val" if fn == "validate" else fn
    assert (
        PossibleUserWarning,
        f"The `{prefix}_dataloader` shuffles its samples (its sampler is a RandomSampler); evaluation does not need"
        f" that, so consider `shuffle=False` for the {prefix} data.",
    ) in warned


def test_a_shuffling_training_loader_is_not_warned_about() -> None:
    loader = DataLoader(RandomDataset(32, 4), shuffle=True)
    warned = _messages(lambda: _trainer(max_epochs=1).fit(BoringModel(), loader))
    assert not [message for _, message in warned if "shuffles" in message]


@pytest.mark.parametrize(
    ("loader_kwargs", "cpus", "expected"),
    [
        ({"num_workers": 0}, 8, "loads data with num_workers=0, which may slow training down"),
        ({"num_workers": 1}, 8, "loads data with num_workers=1"),
        ({"num_workers": 0}, 2, None),  # one CPU left for the workers: nothing to suggest
        ({"num_workers": 2}, 8, None),
        ({"num_workers": 2, "multiprocessing_context": "spawn"}, 8, "starts 2 worker process(es) with 'spawn'"),
        ({"num_workers": 2, "multiprocessing_context": "spawn", "persistent_workers": True}, 8, None),
    ],
)
def test_worker_settings_are_warned_about(
    monkeypatch: pytest.MonkeyPatch, loader_kwargs: dict[str, Any], cpus: int, expected: str | None
) -> None:
    monkeypatch.setattr(shim.utilities.data, "_num_cpus_available", lambda: cpus)
    loader = DataLoader(RandomDataset(2, 4), **loader_kwargs)
    warned = _messages(lambda: check_workers(_trainer(), loader, "train_dataloader"))
    if expected is None:
        assert warned == []
    else:
        assert len(warned) == 1
        assert warned[0][1].startswith(f"The `train_dataloader` {expected}")


def test_pinned_persistent_workers_with_reloading_are_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shim.utilities.data, "_num_cpus_available", lambda: 2)
    loader = DataLoader(RandomDataset(2, 4), num_workers=2, persistent_workers=True, pin_memory=True)
    trainer = _trainer(reload_dataloaders_every_n_epochs=1)
    warned = _messages(lambda: check_workers(trainer, loader, "val_dataloader"))
    assert warned == [
        (
            PossibleUserWarning,
            "The `val_dataloader` uses `pin_memory=True` with `persistent_workers=True` while"
            " `Trainer(reload_dataloaders_every_n_epochs=1)` recreates it; PyTorch can be unstable with that"
            " combination (pytorch/pytorch#91252). Consider `pin_memory=False`.",
        )
    ]
    assert _messages(lambda: check_workers(_trainer(), loader, "val_dataloader")) == []


class _EpochSampler(SequentialSampler):
    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_set_sampler_epoch_tells_each_sampler_once() -> None:
    sampler = _EpochSampler(range(4))
    set_sampler_epoch(DataLoader(range(4), sampler=sampler, batch_size=2), 3)
    assert sampler.epochs == [3]  # the loader's sampler is also its batch sampler's
    set_sampler_epoch([1, 2], 3)  # no sampler: nothing to tell


@pytest.mark.parametrize("fn", ["validate", "test", "predict"])
def test_evaluation_samplers_learn_the_epoch_outside_fit(fn: str) -> None:
    sampler = _EpochSampler(range(4))
    trainer = _trainer()
    getattr(trainer, fn)(BoringModel(), DataLoader(RandomDataset(32, 4), sampler=sampler))
    assert sampler.epochs == [0]


def test_validation_samplers_learn_each_epoch_during_fit() -> None:
    sampler = _EpochSampler(range(4))
    trainer = _trainer(max_epochs=3, num_sanity_val_steps=0)
    trainer.fit(BoringModel(), DataLoader(RandomDataset(32, 4)), DataLoader(RandomDataset(32, 4), sampler=sampler))
    assert sampler.epochs == [0, 1, 2]


def test_count_batches_raises_for_a_fraction_of_an_unsized_loader() -> None:
    trainer = _trainer(limit_val_batches=0.5)
    model = BoringModel()
    with pytest.raises(MisconfigurationException, match="limit_val_batches=0.5 is a fraction"):
        trainer.validate(model, DataLoader(RandomIterableDataset(32, 8)))


def test_an_empty_loader_is_warned_about_and_gives_no_batches() -> None:
    trainer = _trainer(max_epochs=1)
    warned = _messages(lambda: trainer.fit(BoringModel(), DataLoader(RandomDataset(32, 0))))
    assert (
        UserWarning,
        "The `DataLoader` has no batches on any process (its length, summed across ranks, is zero); make sure that is"
        " what you want.",
    ) in warned
    assert trainer.num_training_batches == 0
    assert trainer.global_step == 0


@pytest.mark.parametrize("reload_every", [0, 1])
def test_training_and_validation_samplers_learn_each_epoch_once(reload_every: int) -> None:
    train_sampler, val_sampler = _EpochSampler(range(4)), _EpochSampler(range(4))
    trainer = _trainer(max_epochs=3, limit_train_batches=1, reload_dataloaders_every_n_epochs=reload_every)
    trainer.fit(
        BoringModel(),
        DataLoader(RandomDataset(32, 4), sampler=train_sampler),
        DataLoader(RandomDataset(32, 4), sampler=val_sampler),
    )
    assert train_sampler.epochs == [0, 1, 2]
    assert val_sampler.epochs == [0, 0, 1, 2]  # the sanity check, then each epoch's validation
    trainer.validate(BoringModel(), DataLoader(RandomDataset(32, 4), sampler=val_sampler))
    assert val_sampler.epochs[-1] == 3
