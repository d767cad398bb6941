"""``lightning_fabric.accelerators``: the hardware kinds, and whether each is available on this machine."""

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cpu import CPUAccelerator
from shim.accelerators.cuda import CUDAAccelerator
from shim.accelerators.mps import MPSAccelerator
from shim.accelerators.xla import TPUAccelerator, XLAAccelerator

__all__ = ["Accelerator", "CPUAccelerator", "CUDAAccelerator", "MPSAccelerator", "TPUAccelerator", "XLAAccelerator"]
