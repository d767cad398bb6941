"""Turn the Trainer's ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and ``precision`` into objects.

Pure functions: they check the arguments against what this machine has and raise an error naming the argument,
the value and what is allowed.
"""

from dataclasses import dataclass
from typing import Any

import torch

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cpu import CPUAccelerator
from shim.accelerators.cuda import CUDAAccelerator
from shim.plugins.precision.precision import Precision
from shim.utilities.exceptions import MisconfigurationException

__all__ = ["Hardware", "resolve_hardware", "resolve_precision"]

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
_STRATEGIES = ("auto", "single_device")


@dataclass(frozen=True)
class Hardware:
    """The accelerator and the devices of this process's run."""

    accelerator: Accelerator
    devices: list[torch.device]
    num_nodes: int
    strategy_name: str


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _select_accelerator(accelerator: Any) -> Accelerator:
    if isinstance(accelerator, Accelerator):
        return accelerator
    if not isinstance(accelerator, str) or accelerator.lower() not in _ACCELERATORS:
        raise MisconfigurationException(
            f"accelerator={accelerator!r} is not supported; choose one of {list(_ACCELERATORS)} or pass an"
            " Accelerator instance."
        )
    name = accelerator.lower()
    if name == "auto":
        if CUDAAccelerator.is_available():
            return CUDAAccelerator()
        return CPUAccelerator()
    if name == "cpu":
        return CPUAccelerator()
    if name in ("gpu", "cuda"):
        if not CUDAAccelerator.is_available():
            raise MisconfigurationException(
                f"accelerator={accelerator!r} was requested, but this machine has no CUDA GPU"
                f" (torch {torch.__version__}, torch.cuda.is_available() is False). Use accelerator='cpu' or 'auto'."
            )
        return CUDAAccelerator()
    if name == "mps":
        raise MisconfigurationException(
            "accelerator='mps' was requested, but "
            + ("shim does not support MPS yet." if _mps_available() else "MPS is not available on this machine.")
        )
    # tpu
    try:
        import torch_xla  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        raise MisconfigurationException(
            "accelerator='tpu' needs the `torch_xla` package, which is not installed. Use accelerator='cpu' or 'auto'."
        ) from None
    raise MisconfigurationException("accelerator='tpu' is not supported by shim yet, although torch_xla is installed.")


def resolve_hardware(accelerator: Any, devices: Any, strategy: Any, num_nodes: int) -> Hardware:
    """Check the hardware arguments and pick the accelerator and devices."""
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise MisconfigurationException(f"num_nodes={num_nodes!r} is not valid; it must be an int >= 1")
    if devices is None:
        devices = "auto"
    chosen = _select_accelerator(accelerator)
    parsed = chosen.parse_devices(devices)
    device_list = chosen.get_parallel_devices(parsed)
    strategy_name = strategy if isinstance(strategy, str) else type(strategy).__name__
    if isinstance(strategy, str) and strategy not in _STRATEGIES:
        raise MisconfigurationException(
            f"strategy={strategy!r} is not supported by shim yet; supported now: {list(_STRATEGIES)}."
        )
    if len(device_list) * num_nodes > 1:
        raise MisconfigurationException(
            f"devices={devices!r} with num_nodes={num_nodes} asks for {len(device_list) * num_nodes} processes;"
            " shim runs on one device for now (distributed strategies are not implemented yet)."
        )
    return Hardware(chosen, device_list[:1], num_nodes, strategy_name)


_PRECISION_ALIASES: dict[Any, str] = {
    None: "32-true",
    32: "32-true",
    "32": "32-true",
    "32-true": "32-true",
}
_ALL_PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "64-true", "16-true", "bf16-true", 16, 32, 64, "bf16")


def resolve_precision(precision: Any) -> Precision:
    """Return the precision plugin for the Trainer's ``precision`` argument."""
    if isinstance(precision, Precision):
        return precision
    key = precision if not isinstance(precision, str) else precision.strip()
    if key in _PRECISION_ALIASES:
        return Precision()
    if key in _ALL_PRECISIONS or str(key) in {str(p) for p in _ALL_PRECISIONS}:
        raise MisconfigurationException(
            f"precision={precision!r} is not implemented by shim yet; for now use precision='32-true'."
        )
    raise MisconfigurationException(f"precision={precision!r} is not supported; choose one of {list(_ALL_PRECISIONS)}")
