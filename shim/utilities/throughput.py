"""``measure_flops`` and ``Throughput`` next to the Trainer's other utilities; they live in ``shim.fabric``."""

from shim.fabric.utilities.throughput import Throughput, get_available_flops, measure_flops

__all__ = ["Throughput", "get_available_flops", "measure_flops"]
