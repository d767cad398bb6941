"""``SingleDeviceStrategy``: one process, one device."""

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.plugins.precision.precision import Precision
from shim.strategies.strategy import Strategy

__all__ = ["SingleDeviceStrategy"]


class SingleDeviceStrategy(Strategy):
    """Trains on one device in this process."""

    strategy_name = "single_device"

    def __init__(
        self,
        device: torch.device | str | int = "cpu",
        accelerator: Accelerator | None = None,
        precision_plugin: Precision | None = None,
    ) -> None:
        super().__init__(accelerator=accelerator, precision_plugin=precision_plugin)
        if isinstance(device, int):
            device = torch.device("cuda", device)
        self._root_device = torch.device(device)

    @property
    @override
    def root_device(self) -> torch.device:
        return self._root_device
