"""``MPSAccelerator``: training on the GPU of an Apple Silicon Mac, through PyTorch's Metal (MPS) backend."""

from typing import Any

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cpu import import_psutil
from shim.accelerators.cuda import parse_gpu_indices
from shim.utilities.exceptions import MisconfigurationException

__all__ = ["MPSAccelerator", "get_device_stats"]


class MPSAccelerator(Accelerator):
    """The Apple GPU; a Mac has one, so ``devices`` can only ask for index 0."""

    @override
    def setup_device(self, device: torch.device) -> None:
        if device.type != "mps":
            raise MisconfigurationException(f"MPSAccelerator got device {device}; it only runs on 'mps'")

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        return get_device_stats()

    @staticmethod
    @override
    def is_available() -> bool:
        # torch answers False on every machine that is not an Apple Silicon Mac with a Metal-capable macOS
        backend = getattr(torch.backends, "mps", None)
        return bool(backend is not None and backend.is_available())

    @staticmethod
    @override
    def auto_device_count() -> int:
        return 1

    @staticmethod
    @override
    def parse_devices(devices: Any) -> list[int]:
        return parse_gpu_indices(devices, 1 if MPSAccelerator.is_available() else 0)

    @staticmethod
    @override
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        return [torch.device("mps", i) for i in devices]


def get_device_stats() -> dict[str, float]:
    """Memory and CPU load of the Mac, whose GPU shares the system memory: psutil's percentages, as Lightning logs."""
    psutil = import_psutil("Reading the MPS device statistics")
    return {
        "M1_vm_percent": psutil.virtual_memory().percent,
        "M1_percent": psutil.cpu_percent(),
        "M1_swap_percent": psutil.swap_memory().percent,
    }
