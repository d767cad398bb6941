"""``CPUAccelerator``: training on the CPU."""

from typing import Any

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.utilities.exceptions import MisconfigurationException, MisconfigurationTypeError

__all__ = ["CPUAccelerator", "get_cpu_stats"]


class CPUAccelerator(Accelerator):
    """The CPU; ``devices`` counts processes."""

    @override
    def setup_device(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise MisconfigurationException(f"CPUAccelerator got device {device}; it only runs on 'cpu'")

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        return get_cpu_stats()

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


def import_psutil(wanted_for: str) -> Any:
    """The ``psutil`` module, imported on first need; a clear error naming the extra when it is not installed."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        raise ModuleNotFoundError(
            f"{wanted_for} needs the `psutil` package, which is not installed: `pip install lightning-shim[psutil]`."
        ) from None
    return psutil


def get_cpu_stats() -> dict[str, float]:
    """System-wide CPU load, RAM and swap use in percent, as ``psutil`` reports them (Lightning's key names)."""
    psutil = import_psutil("Reading CPU statistics")
    return {
        "cpu_vm_percent": psutil.virtual_memory().percent,
        "cpu_percent": psutil.cpu_percent(),
        "cpu_swap_percent": psutil.swap_memory().percent,
    }
