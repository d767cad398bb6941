"""``XLAAccelerator`` (and Lightning's deprecated ``TPUAccelerator`` name): TPUs through ``torch_xla``.

shim does not train on TPUs. The classes are here so that a script can ask ``XLAAccelerator.is_available()``, which
answers truthfully; choosing one for a run raises an error that says shim does not support it.
"""

import importlib.util
from typing import Any, NoReturn

import torch
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_deprecation

__all__ = ["TPUAccelerator", "XLAAccelerator"]


def _xla_installed() -> bool:
    try:
        return importlib.util.find_spec("torch_xla") is not None
    except (ImportError, ValueError):
        return False


def _unsupported() -> NoReturn:
    raise MisconfigurationException(
        "shim does not implement TPU (XLA) training yet; use accelerator='cpu', 'gpu' or 'auto'."
    )


class XLAAccelerator(Accelerator):
    """TPU devices through ``torch_xla``: shim reports whether they exist, but cannot train on them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unsupported()

    @staticmethod
    @override
    def is_available() -> bool:
        """Whether ``torch_xla`` is installed and sees at least one device."""
        if not _xla_installed():
            return False
        try:
            return XLAAccelerator.auto_device_count() > 0
        except (ValueError, AssertionError, OSError, RuntimeError):
            return False

    @staticmethod
    @override
    def auto_device_count() -> int:
        """The number of devices ``torch_xla`` sees (0 without it)."""
        if not _xla_installed():
            return 0
        import torch_xla.runtime  # type: ignore[import-not-found]

        return int(torch_xla.runtime.addressable_device_count())

    @staticmethod
    @override
    def parse_devices(devices: Any) -> Any:
        _unsupported()

    @staticmethod
    @override
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        _unsupported()


class TPUAccelerator(XLAAccelerator):
    """Lightning's deprecated name for ``XLAAccelerator``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rank_zero_deprecation("The `TPUAccelerator` class is deprecated; use `XLAAccelerator` instead.")
        super().__init__(*args, **kwargs)
