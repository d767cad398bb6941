"""Precision plugins: how forward and backward run (dtypes, autocast, gradient scaling)."""

from shim.plugins.precision.amp import MixedPrecision
from shim.plugins.precision.double import DoublePrecision
from shim.plugins.precision.half import HalfPrecision
from shim.plugins.precision.precision import Precision

__all__ = ["DoublePrecision", "HalfPrecision", "MixedPrecision", "Precision"]
