"""``Accelerator``: the kind of hardware a run uses, and what it can tell about itself."""

from abc import ABC, abstractmethod
from typing import Any

import torch

__all__ = ["Accelerator"]


class Accelerator(ABC):
    """One kind of hardware (CPU, CUDA GPU, ...): device setup and availability."""

    def setup_device(self, device: torch.device) -> None:  # noqa: B027 - optional for subclasses
        """Prepare ``device`` for use by this process."""

    def teardown(self) -> None:  # noqa: B027 - optional for subclasses
        """Release what ``setup_device`` acquired."""

    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        """Device statistics for logging."""
        return {}

    @staticmethod
    @abstractmethod
    def is_available() -> bool:
        """Whether this kind of hardware exists on this machine."""

    @staticmethod
    @abstractmethod
    def auto_device_count() -> int:
        """How many devices ``devices="auto"`` means."""

    @staticmethod
    @abstractmethod
    def parse_devices(devices: Any) -> Any:
        """Turn the Trainer's ``devices`` argument into this accelerator's device description."""

    @staticmethod
    @abstractmethod
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        """The ``torch.device`` objects for the parsed devices."""
