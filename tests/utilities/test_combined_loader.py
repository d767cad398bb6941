"""``CombinedLoader``: every mode, lengths under limits, the collection's shape, errors and pickling."""

import pickle
from collections import OrderedDict
from typing import Any, NamedTuple

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from shim.utilities import CombinedLoader
from shim.utilities.combined_loader import CombinedBatches, flatten_iterables


def _loaders() -> dict[str, DataLoader]:
    return {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}


def _plain(steps: list[Any]) -> list[Any]:
    """Tensors as lists, so that whole passes compare with ``==``."""

    def convert(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.tolist()
        if isinstance(x, dict):
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return type(x)(convert(v) for v in x)
        return x

    return [convert(step) for step in steps]


A0, A1 = [0, 1, 2, 3], [4, 5]
B0, B1, B2 = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("min_size", [({"a": A0, "b": B0}, 0, 0), ({"a": A1, "b": B1}, 1, 0)]),
        (
            "max_size_cycle",
            [({"a": A0, "b": B0}, 0, 0), ({"a": A1, "b": B1}, 1, 0), ({"a": A0, "b": B2}, 2, 0)],
        ),
        ("max_size", [({"a": A0, "b": B0}, 0, 0), ({"a": A1, "b": B1}, 1, 0), ({"a": None, "b": B2}, 2, 0)]),
        ("sequential", [(A0, 0, 0), (A1, 1, 0), (B0, 0, 1), (B1, 1, 1), (B2, 2, 1)]),
    ],
)
def test_each_mode_yields_its_steps(mode: str, expected: list[Any]) -> None:
    combined = CombinedLoader(_loaders(), mode)  # type: ignore[arg-type]
    assert _plain(list(combined)) == expected
    assert len(combined) == len(expected)
    assert _plain(list(combined)) == expected  # a second pass starts over


def test_default_mode_is_min_size() -> None:
    assert len(list(CombinedLoader(_loaders()))) == 2


@pytest.mark.parametrize(
    ("mode", "limits", "length"),
    [
        ("min_size", None, 2),
        ("min_size", [1, 3], 1),
        ("max_size_cycle", [2, 2], 2),
        ("max_size_cycle", 5, 3),
        ("max_size", [1, 2], 2),
        ("sequential", [1, 2], 3),
        ("sequential", [0, float("inf")], 3),
    ],
)
def test_length_under_limits(mode: str, limits: Any, length: int) -> None:
    combined = CombinedLoader(_loaders(), mode)  # type: ignore[arg-type]
    combined.limits = limits
    iter(combined)
    assert len(combined) == length
    assert len(list(combined)) == length  # the pass stops there too


def test_max_size_cycle_limits_cap_the_pass_but_not_the_cycling() -> None:
    # as in Lightning: a limit shortens the pass; a shorter loader still starts over only when it really ends
    combined = CombinedLoader({"a": DataLoader(range(3)), "b": DataLoader(range(10))}, "max_size_cycle")
    combined.limits = [2, 4]
    assert [step[0]["a"].item() for step in combined] == [0, 1, 2, 0]


def test_sequential_limits_per_iterable() -> None:
    combined = CombinedLoader([["a", "b", "c"], ["d", "e"]], "sequential")
    combined.limits = [1, 1]
    assert list(combined) == [("a", 0, 0), ("d", 0, 1)]
    combined.limits = [1, 0]
    assert list(combined) == [("a", 0, 0)]


def test_len_needs_a_started_pass_and_a_known_length() -> None:
    combined = CombinedLoader([1, 2, 3])
    with pytest.raises(RuntimeError, match="iter"):
        len(combined)

    class Endless(IterableDataset):
        def __iter__(self) -> Any:
            while True:
                yield 1

    combined = CombinedLoader({"a": DataLoader(Endless()), "b": DataLoader(range(3))}, "max_size")
    iter(combined)
    with pytest.raises(TypeError, match="no length"):
        len(combined)
    # min_size ends with the loader that has a length
    combined = CombinedLoader({"a": DataLoader(Endless()), "b": DataLoader(range(3))}, "min_size")
    iter(combined)
    assert len(combined) == 3


def test_unknown_mode_names_the_value_and_the_modes() -> None:
    with pytest.raises(ValueError, match=r"'zip'.*'min_size', 'max_size', 'max_size_cycle', 'sequential'"):
        CombinedLoader([range(3)], "zip")  # type: ignore[arg-type]


class Pair(NamedTuple):
    left: Any
    right: Any


def test_batches_keep_the_collections_shape() -> None:
    iterables = {"x": [range(2), (range(2), range(2))], "y": Pair(range(2), {"z": range(2)})}
    combined = CombinedLoader(iterables, "min_size")
    assert combined.flattened == [range(2)] * 5
    batch, _, _ = next(iter(combined))
    assert batch == {"x": [0, (0, 0)], "y": Pair(0, {"z": 0})}
    assert isinstance(batch["y"], Pair)
    ordered = CombinedLoader(OrderedDict(b=range(1), a=range(1)))
    assert next(iter(ordered))[0] == OrderedDict(b=0, a=0)
    assert isinstance(next(iter(ordered))[0], OrderedDict)


def test_one_iterable_yields_its_own_items() -> None:
    combined = CombinedLoader(DataLoader(range(3)), "max_size_cycle")
    assert [(batch.item(), idx, dl) for batch, idx, dl in combined] == [(0, 0, 0), (1, 1, 0), (2, 2, 0)]
    assert combined.iterables is combined.flattened[0]


def test_lists_of_numbers_are_iterables_not_collections() -> None:
    assert flatten_iterables([1, 2, 3])[0] == [[1, 2, 3]]
    assert flatten_iterables([])[0] == [[]]
    assert flatten_iterables([[0], [[1], [[2]]]])[0] == [[0], [1], [2]]


def test_flattened_setter_keeps_the_shape() -> None:
    combined = CombinedLoader([[0], [[1], [[2]]]])
    with pytest.raises(ValueError, match=r"3 iterables.*got 1"):
        combined.flattened = [[2]]
    combined.flattened = [[3], [2], [1]]
    assert combined.iterables == [[3], [[2], [[1]]]]
    assert combined.flattened == [[3], [2], [1]]


def test_limits_setter() -> None:
    combined = CombinedLoader([range(2), range(3)])
    combined.limits = 1
    assert combined.limits == [1, 1]
    combined.limits = None
    assert combined.limits is None
    with pytest.raises(ValueError, match=r"2 iterables; got 3"):
        combined.limits = [1, 2, 3]


def test_sampler_and_batch_sampler_in_the_collections_shape() -> None:
    loaders = {"a": DataLoader(range(4), batch_size=2), "b": [DataLoader(range(4), shuffle=True), range(2)]}
    combined = CombinedLoader(loaders)
    samplers = combined.sampler
    assert type(samplers["a"]).__name__ == "SequentialSampler"
    assert type(samplers["b"][0]).__name__ == "RandomSampler"
    assert samplers["b"][1] is None
    assert combined.batch_sampler["a"] is loaders["a"].batch_sampler


class _CountingLoader(DataLoader):
    started = 0

    def __iter__(self) -> Any:
        type(self).started += 1
        return super().__iter__()


@pytest.mark.parametrize(("mode", "started"), [("min_size", 2), ("max_size", 2), ("sequential", 1)])
def test_iter_starts_the_loaders_at_once_sequential_only_the_first(mode: str, started: int) -> None:
    _CountingLoader.started = 0
    combined = CombinedLoader([_CountingLoader(range(2)), _CountingLoader(range(2))], mode)  # type: ignore[arg-type]
    iter(combined)
    assert _CountingLoader.started == started


def test_pickles_with_a_started_pass() -> None:
    combined = CombinedLoader([DataLoader([0, 1, 2, 3]), list(range(10))])
    iter(combined)
    next(combined)
    copy = pickle.loads(pickle.dumps(combined))
    assert copy.flattened[1] == list(range(10))
    assert len(list(copy)) == 4


def test_reset_drops_the_pass_and_persistent_workers() -> None:
    loader = DataLoader(range(4), num_workers=1, persistent_workers=True)
    combined = CombinedLoader([loader, range(4)], "max_size")
    assert len(list(combined)) == 4
    assert loader._iterator is not None  # the persistent workers stay alive between passes
    combined.reset()
    assert loader._iterator is None
    with pytest.raises(RuntimeError):
        len(combined)


def test_combined_batches_gives_the_batches_alone() -> None:
    combined = CombinedLoader({"a": range(3), "b": range(5)}, "max_size_cycle")
    combined.limits = [3, 4]
    batches = CombinedBatches(combined)
    assert len(batches) == 4
    assert list(batches) == [{"a": 0, "b": 0}, {"a": 1, "b": 1}, {"a": 2, "b": 2}, {"a": 0, "b": 3}]
    assert len(combined) == 4  # the pass it started counts as one of the combined loader
