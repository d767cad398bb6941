"""``CPUAccelerator``: training on the CPU."""

from typing import Any

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.utilities.exceptions import MisconfigurationException, MisconfigurationTypeError

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
        """As Lightning parses them: a positive int (or a string of digits) counts processes; ``True`` is one."""
        if isinstance(devices, str):
            stripped = devices.strip()
            if stripped == "auto":
                return 1
            if stripped.isdigit():
                devices = int(stripped)
        if devices == 0 and not isinstance(devices, str):
            raise MisconfigurationException(
                "devices=0 is not valid for the CPU accelerator: give a number of processes (an int > 0)"
            )
        if not isinstance(devices, int) or devices <= 0:
            raise MisconfigurationTypeError(
                f"devices={devices!r} is not valid for the CPU accelerator: give a number of processes (an int > 0,"
                " or a string of digits)"
            )
        return int(devices)

    @staticmethod
    @override
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        return [torch.device("cpu")] * int(devices)
