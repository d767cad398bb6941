"""Accelerators: the kinds of hardware a run can use."""

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cpu import CPUAccelerator
from shim.accelerators.cuda import CUDAAccelerator
from shim.accelerators.mps import MPSAccelerator
from shim.accelerators.xla import XLAAccelerator

__all__ = ["Accelerator", "CPUAccelerator", "CUDAAccelerator", "MPSAccelerator", "XLAAccelerator"]
