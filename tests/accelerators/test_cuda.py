"""``CUDAAccelerator.parse_devices``: the ``devices`` spellings Lightning accepts for GPUs."""

from collections import UserList

import pytest
import torch

from shim.accelerators.cuda import CUDAAccelerator
from shim.utilities.exceptions import MisconfigurationException


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


@pytest.mark.usefixtures("four_gpus")
@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (1, [0]),
        (2, [0, 1]),
        (-1, [0, 1, 2, 3]),
        ("auto", [0, 1, 2, 3]),
        ("2", [0, 1]),
        ("2,", [2]),
        ("0, 2", [0, 2]),
        ([2], [2]),
        ((1, 3), [1, 3]),
        # a config file's list (OmegaConf's ListConfig is a MutableSequence, not a list)
        (UserList([0]), [0]),
    ],
)
def test_gpu_devices(devices: object, expected: list[int]) -> None:
    assert CUDAAccelerator.parse_devices(devices) == expected


@pytest.mark.usefixtures("four_gpus")
@pytest.mark.parametrize("devices", [0, -2, [4], "x", 1.5])
def test_invalid_gpu_devices(devices: object) -> None:
    with pytest.raises(MisconfigurationException, match="devices="):
        CUDAAccelerator.parse_devices(devices)
