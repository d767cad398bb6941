"""Plugins that change how the Trainer runs: precision."""

from shim.plugins.precision import Precision

__all__ = ["Precision"]
