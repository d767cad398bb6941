"""``CPUAccelerator.parse_devices``: a number of processes, as Lightning parses it."""

import pytest

from shim.accelerators.cpu import CPUAccelerator, get_cpu_stats
from shim.utilities.exceptions import MisconfigurationException


@pytest.mark.parametrize(("devices", "expected"), [(1, 1), (3, 3), ("2", 2), (" 4 ", 4), ("auto", 1), (True, 1)])
def test_cpu_devices(devices: object, expected: int) -> None:
    assert CPUAccelerator.parse_devices(devices) == expected


@pytest.mark.parametrize("devices", [-1, "-1", -2, 1.5, [0], "1,2", "", "x"])
def test_cpu_devices_that_lightning_rejects_raise_type_error(devices: object) -> None:
    with pytest.raises(TypeError, match="devices="):
        CPUAccelerator.parse_devices(devices)


@pytest.mark.parametrize("devices", [0, "0"])
def test_zero_cpu_devices(devices: object) -> None:
    with pytest.raises(MisconfigurationException, match="devices=0"):
        CPUAccelerator.parse_devices(devices)


def test_cpu_device_stats_are_psutils_percentages() -> None:
    pytest.importorskip("psutil")
    for stats in (get_cpu_stats(), CPUAccelerator().get_device_stats("cpu")):
        assert set(stats) == {"cpu_percent", "cpu_vm_percent", "cpu_swap_percent"}
        assert all(isinstance(v, float) and 0.0 <= v <= 100.0 for v in stats.values())
