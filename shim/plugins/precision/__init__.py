"""Precision plugins: how forward and backward run (dtypes, autocast, gradient scaling)."""

from shim.plugins.precision.precision import Precision

__all__ = ["Precision"]
