"""``CUDAAccelerator``: training on NVIDIA GPUs."""

from collections.abc import MutableSequence
from typing import Any

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.utilities.exceptions import MisconfigurationException

__all__ = ["CUDAAccelerator", "parse_gpu_indices"]


class CUDAAccelerator(Accelerator):
    """CUDA GPUs; ``devices`` selects GPU indices."""

    @override
    def setup_device(self, device: torch.device) -> None:
        if device.type != "cuda":
            raise MisconfigurationException(f"CUDAAccelerator got device {device}; it only runs on 'cuda'")
        torch.cuda.set_device(device)

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        return dict(torch.cuda.memory_stats(device))

    @staticmethod
    @override
    def is_available() -> bool:
        return torch.cuda.is_available()

    @staticmethod
    @override
    def auto_device_count() -> int:
        return torch.cuda.device_count()

    @staticmethod
    @override
    def parse_devices(devices: Any) -> list[int]:
        return parse_gpu_indices(devices, torch.cuda.device_count())

    @staticmethod
    @override
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        return [torch.device("cuda", i) for i in devices]


def parse_gpu_indices(devices: Any, available: int) -> list[int]:
    """The GPU indices the Trainer's ``devices`` asks for, checked against the ``available`` count."""
    if isinstance(devices, str):
        text = devices.strip()
        if text == "auto":
            devices = -1
        elif "," in text:
            devices = [int(x) for x in text.split(",") if x.strip()]
        else:
            try:
                devices = int(text)
            except ValueError:
                raise MisconfigurationException(
                    f"devices={text!r} is not valid for GPUs: give a count, a list of indices, '0,1', -1 or 'auto'"
                ) from None
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices == -1:
            indices = list(range(available))
        elif devices > 0:
            indices = list(range(devices))
        else:
            raise MisconfigurationException(f"devices={devices} is not valid for GPUs: give an int > 0 or -1")
    elif isinstance(devices, (MutableSequence, tuple)):  # a list, or a config's list (OmegaConf's ListConfig)
        indices = [int(d) for d in devices]
    else:
        raise MisconfigurationException(f"devices={devices!r} is not valid for GPUs")
    missing = [i for i in indices if i >= available or i < 0]
    if not indices or missing:
        raise MisconfigurationException(
            f"devices={devices!r} asks for GPU(s) {indices}, but this machine has {available} GPU(s)"
            f" (indices {list(range(available))})."
        )
    return indices
