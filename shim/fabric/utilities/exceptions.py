"""``lightning_fabric.utilities.exceptions``: the configuration error, the same class as shim raises."""

from shim.utilities.exceptions import MisconfigurationException

__all__ = ["MisconfigurationException"]
