"""Strategies: how a model is placed and stepped on its devices."""

from shim.strategies.ddp import DDPStrategy
from shim.strategies.single_device import SingleDeviceStrategy
from shim.strategies.strategy import Strategy

__all__ = ["DDPStrategy", "SingleDeviceStrategy", "Strategy"]
