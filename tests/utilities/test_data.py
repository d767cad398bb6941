"""Batch sizes, loader lengths and worker counts, as Lightning's ``utilities.data`` gives them."""

import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

import shim
from shim.demos.boring_classes import RandomDataset, RandomIterableDataset
from shim.utilities import data
from shim.utilities.data import (
    extract_batch_size,
    has_iterable_dataset,
    has_len_all_ranks,
    suggested_max_num_workers,
)
from shim.utilities.exceptions import MisconfigurationException


@dataclass
class Pair:
    a: Tensor
    b: Tensor


class Opaque:
    def __init__(self) -> None:
        self.x = torch.zeros(7, 2)


def _batches() -> list[tuple[str, Any]]:
    return [
        ("tensor", torch.zeros(11, 10, 9)),
        ("scalar", torch.tensor(3.0)),
        ("dict", {"x": torch.zeros(11, 10)}),
        ("list", [torch.zeros(11, 10)]),
        ("tuple of equal", (torch.zeros(4, 2), torch.zeros(4))),
        ("dataclass", Pair(torch.zeros(11, 10), torch.zeros(11, 10))),
        ("nested", {"x": [{"y": [torch.zeros(11, 10)]}]}),
        ("scalars then vector", {"a": [torch.tensor(1), torch.tensor(2)], "b": torch.tensor([1, 2, 3, 4])}),
        ("dataclass, unequal", Pair(torch.zeros(11, 10), torch.zeros(1))),
        ("nested, unequal", {"x": [{"y": [torch.zeros(10, 10), torch.zeros(11, 10)]}]}),
        ("tensor and strings", {"x": torch.zeros(5, 2), "names": ["a", "b"]}),
        ("strings then tensor", (["a", "b"], torch.zeros(5, 2))),
        ("string", "some text"),
        ("strings", {"x": ["some text"] * 7}),
        ("object", Opaque()),
    ]


def _extract(module: ModuleType, batch: Any) -> tuple[Any, int]:
    module.warning_cache.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = module.extract_batch_size(batch)
        except Exception as error:  # the class is what is compared
            result = type(error).__name__
    return result, len(caught)


@pytest.mark.parametrize(("name", "batch"), _batches(), ids=[name for name, _ in _batches()])
def test_extract_batch_size_matches_lightning(lightning: ModuleType, name: str, batch: Any) -> None:
    import importlib

    reference = importlib.import_module("pytorch_lightning.utilities.data")
    assert _extract(data, batch) == _extract(reference, batch)


@pytest.mark.parametrize(
    ("batch", "size", "warns"),
    [
        ((torch.zeros(4, 2), torch.zeros(4)), 4, False),
        ({"a": [torch.tensor(1), torch.tensor(2)], "b": torch.tensor([1, 2, 3, 4])}, 1, True),
        ({"x": torch.zeros(5, 2), "names": ["a", "b"]}, 5, True),
        (Pair(torch.zeros(11, 10), torch.zeros(11, 10)), 11, False),
    ],
)
def test_extract_batch_size(batch: Any, size: int, warns: bool) -> None:
    data.warning_cache.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert extract_batch_size(batch) == size
        extract_batch_size(batch)  # a repeated warning is given once
    assert [str(w.message) for w in caught] == (
        [
            f"The batch size was inferred as {size} from the first tensor of an ambiguous batch. To avoid mistakes in"
            " epoch-level means, pass `self.log(..., batch_size=batch_size)`."
        ]
        if warns
        else []
    )


@pytest.mark.parametrize("batch", ["text", {"x": ["a"] * 3}, Opaque()])
def test_extract_batch_size_without_tensors(batch: Any) -> None:
    with pytest.raises(MisconfigurationException, match="Could not determine the batch size"):
        extract_batch_size(batch)


def test_has_len_all_ranks() -> None:
    strategy = shim.Trainer(logger=False).strategy
    with pytest.warns(UserWarning, match=r"^The `DataLoader` has no batches on any process") as record:
        assert has_len_all_ranks(DataLoader(RandomDataset(1, 0)), strategy)
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert has_len_all_ranks(DataLoader(RandomDataset(1, 3)), strategy)
        assert not has_len_all_ranks(DataLoader(RandomIterableDataset(1, 3)), strategy)


class _IterableWithLen(IterableDataset[Tensor]):
    def __iter__(self) -> Any:
        return iter(torch.zeros(4, 2))

    def __len__(self) -> int:
        return 4


def test_has_len_all_ranks_warns_about_an_iterable_dataset_with_len() -> None:
    loader = DataLoader(_IterableWithLen(), batch_size=2)
    assert has_iterable_dataset(loader)
    assert not has_iterable_dataset(DataLoader(RandomDataset(1, 3)))
    assert not has_iterable_dataset([1, 2])
    with pytest.warns(UserWarning, match="reads an `IterableDataset` that defines `__len__`"):
        assert has_len_all_ranks(loader, shim.Trainer(logger=False).strategy)


@pytest.mark.parametrize(("cpus", "local_world_size", "expected"), [(8, 1, 7), (8, 2, 3), (2, 1, 1), (1, 4, 1)])
def test_suggested_max_num_workers(
    monkeypatch: pytest.MonkeyPatch, cpus: int, local_world_size: int, expected: int
) -> None:
    monkeypatch.setattr(data, "_num_cpus_available", lambda: cpus)
    assert suggested_max_num_workers(local_world_size) == expected


def test_suggested_max_num_workers_needs_a_process() -> None:
    with pytest.raises(ValueError, match="local_world_size=0"):
        suggested_max_num_workers(0)
