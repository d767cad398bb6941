"""``CPUAccelerator``: training on the CPU."""

from typing import Any

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.utilities.exceptions import MisconfigurationException

__all__ = ["CPUAccelerator"]


class CPUAccelerator(Accelerator):
    """The CPU; ``devices`` counts processes."""

    @override
    def setup_device(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise MisconfigurationException(f"CPUAccelerator got device {device}; it only runs on 'cpu'")

    @staticmethod
    @override
    def is_available() -> bool:
        return True

    @staticmethod
    @override
    def auto_device_count() -> int:
        return 1

    @staticmethod
    @override
    def parse_devices(devices: Any) -> int:
        if isinstance(devices, str):
            devices = devices.strip()
            if devices == "auto":
                return 1
            try:
                devices = int(devices)
            except ValueError:
                raise MisconfigurationException(
                    f"devices={devices!r} is not valid for the CPU accelerator: give a number of processes (int > 0)"
                ) from None
        if isinstance(devices, (list, tuple)):
            raise MisconfigurationException(
                f"devices={list(devices)!r} is not valid for the CPU accelerator: give a number of processes (int)"
            )
        if isinstance(devices, bool) or not isinstance(devices, int) or devices == 0 or devices < -1:
            raise MisconfigurationException(
                f"devices={devices!r} is not valid for the CPU accelerator: give an int > 0, -1 or 'auto'"
            )
        if devices == -1:
            import os

            return os.cpu_count() or 1
        return devices

    @staticmethod
    @override
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        return [torch.device("cpu")] * int(devices)
