"""Moving nested batches: containers keep their types, tensors move, other values stay."""

from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field

import torch

from shim.utilities.apply_func import apply_to_collection, convert_tensors_to_scalars, move_data_to_device

Pair = namedtuple("Pair", ["x", "y"])


@dataclass
class Batch:
    x: torch.Tensor
    names: list[str]
    cached: int = field(init=False, default=3)


def test_nested_containers_keep_their_types() -> None:
    batch = {
        "a": [torch.ones(1), (torch.zeros(1), "s")],
        "p": Pair(torch.ones(1), 2),
        "o": OrderedDict(k=torch.ones(1)),
    }
    doubled = apply_to_collection(batch, torch.Tensor, lambda t: t * 2)
    assert isinstance(doubled["p"], Pair)
    assert doubled["p"].y == 2
    assert isinstance(doubled["o"], OrderedDict)
    assert doubled["a"][1][1] == "s"
    assert torch.equal(doubled["a"][0], torch.full((1,), 2.0))


def test_dataclass_batch() -> None:
    batch = Batch(torch.ones(2), ["a"])
    moved = move_data_to_device(batch, torch.device("cpu"))
    assert isinstance(moved, Batch)
    assert moved.names == ["a"]
    assert moved.cached == 3


def test_convert_tensors_to_scalars() -> None:
    assert convert_tensors_to_scalars({"a": torch.tensor(1.5), "b": 2}) == {"a": 1.5, "b": 2}
