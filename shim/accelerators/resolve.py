"""Turn the Trainer's ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and ``precision`` into objects.

Pure functions: they check the arguments against what this machine has and raise an error naming the argument,
the value and what is allowed.
"""

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

import torch

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.cpu import CPUAccelerator
from shim.accelerators.cuda import CUDAAccelerator
from shim.accelerators.mps import MPSAccelerator
from shim.plugins.precision.amp import MixedPrecision
from shim.plugins.precision.double import DoublePrecision
from shim.plugins.precision.half import HalfPrecision
from shim.plugins.precision.precision import Precision
from shim.strategies.ddp import DDPStrategy
from shim.strategies.single_device import SingleDeviceStrategy
from shim.strategies.strategy import Strategy
from shim.utilities.exceptions import MisconfigurationException, MisconfigurationValueError, MissingPackageError
from shim.utilities.rank_zero import rank_zero_info, rank_zero_warn

__all__ = ["Hardware", "resolve_hardware", "resolve_precision", "resolve_strategy"]

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
_DDP_START_METHODS = {"ddp": "popen", "ddp_spawn": "spawn", "ddp_fork": "fork", "ddp_notebook": "fork"}
# Lightning's DDP registry names: start method and, where the name says it, find_unused_parameters
_DDP_STRATEGIES: dict[str, tuple[str, bool | None]] = {
    **{name: (method, None) for name, method in _DDP_START_METHODS.items()},
    **{
        f"{name}_find_unused_parameters_{str(flag).lower()}": (method, flag)
        for name, method in _DDP_START_METHODS.items()
        for flag in (False, True)
    },
}
_STRATEGIES = ("auto", "single_device", *_DDP_STRATEGIES)
# strategies Lightning has and shim does not implement (yet)
_UNSUPPORTED_STRATEGY_PREFIXES = ("deepspeed", "fsdp", "xla", "single_xla", "hpu", "single_hpu")


@dataclass(frozen=True)
class Hardware:
    """The accelerator and the devices of this process's run."""

    accelerator: Accelerator
    devices: list[torch.device]
    num_nodes: int
    strategy_name: str


def _select_accelerator(accelerator: Any) -> Accelerator:
    if isinstance(accelerator, Accelerator):
        return accelerator
    if not isinstance(accelerator, str) or accelerator.lower() not in _ACCELERATORS:
        raise MisconfigurationValueError(
            f"accelerator={accelerator!r} is not supported; choose one of {list(_ACCELERATORS)} or pass an"
            " Accelerator instance."
        )
    name = accelerator.lower()
    if name == "cpu":
        return CPUAccelerator()
    # as Lightning: "auto" and "gpu" prefer the Apple GPU; a machine has either that or CUDA, never both
    if name in ("auto", "gpu") and MPSAccelerator.is_available():
        return MPSAccelerator()
    if name == "auto":
        return CUDAAccelerator() if CUDAAccelerator.is_available() else CPUAccelerator()
    if name in ("gpu", "cuda"):
        if not CUDAAccelerator.is_available():
            raise MisconfigurationException(
                f"accelerator={accelerator!r} was requested, but this machine has no CUDA GPU"
                f" (torch {torch.__version__}, torch.cuda.is_available() is False). Use accelerator='cpu' or 'auto'."
            )
        return CUDAAccelerator()
    if name == "mps":
        if not MPSAccelerator.is_available():
            raise MisconfigurationException(
                "accelerator='mps' was requested, but this machine has no Apple GPU"
                " (torch.backends.mps.is_available() is False). Use accelerator='cpu' or 'auto'."
            )
        return MPSAccelerator()
    # tpu
    try:
        import torch_xla  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        raise MissingPackageError(
            "accelerator='tpu' needs the `torch_xla` package, which is not installed. Use accelerator='cpu' or 'auto'."
        ) from None
    raise MisconfigurationException("accelerator='tpu' is not supported by shim yet, although torch_xla is installed.")


def resolve_hardware(accelerator: Any, devices: Any, strategy: Any, num_nodes: int) -> Hardware:
    """Check the hardware arguments and pick the accelerator and devices."""
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise MisconfigurationValueError(f"num_nodes={num_nodes!r} is not valid; it must be an int >= 1")
    if devices is None:
        devices = "auto"
    chosen = _select_accelerator(accelerator)
    if isinstance(chosen, MPSAccelerator) and _is_ddp(strategy):
        raise ValueError(
            f"strategy={strategy!r} starts several processes, which the single Apple GPU (MPS) cannot serve:"
            " use accelerator='cpu' for DDP or keep the default strategy."
        )
    parsed = chosen.parse_devices(devices)
    device_list = chosen.get_parallel_devices(parsed)
    return Hardware(chosen, device_list, num_nodes, _resolve_strategy_name(strategy, len(device_list), num_nodes))


def _is_ddp(strategy: Any) -> bool:
    return isinstance(strategy, DDPStrategy) or (isinstance(strategy, str) and "ddp" in strategy.lower())


def _resolve_strategy_name(strategy: Any, num_devices: int, num_nodes: int) -> str:
    """The strategy's registry name; ``"auto"`` becomes DDP for several devices or nodes, as in Lightning."""
    if isinstance(strategy, Strategy):
        return type(strategy).__name__
    if not isinstance(strategy, str):
        raise MisconfigurationValueError(
            f"strategy={strategy!r} is not valid: give a strategy name such as 'ddp' or a `Strategy` instance."
        )
    name = strategy.lower()
    if name == "auto":
        if num_devices * num_nodes == 1:
            return "single_device"
        # a notebook cannot re-run itself as a script, so it forks
        return "ddp_fork" if hasattr(sys, "ps1") or sys.flags.interactive else "ddp"
    if name in _STRATEGIES:
        return name
    if name.startswith(("xla", "single_xla")) and importlib.util.find_spec("torch_xla") is None:
        raise MissingPackageError(f"strategy={strategy!r} needs the `torch_xla` package, which is not installed.")
    if name.startswith(_UNSUPPORTED_STRATEGY_PREFIXES):
        raise MisconfigurationValueError(
            f"strategy={strategy!r} is not supported by shim yet; supported now: {list(_STRATEGIES)}."
        )
    raise ValueError(
        f"strategy={strategy!r} is not a valid strategy name; choose one of {list(_STRATEGIES)} or pass a"
        " `shim.strategies.Strategy` instance."
    )


def resolve_strategy(strategy: Any, hardware: Hardware, precision_plugin: Precision | None) -> Strategy:
    """Build the strategy that a name stands for, or complete a given instance with the Trainer's hardware.

    A ``DDPStrategy`` gets the accelerator, one device per local process, ``num_nodes``, its world ranks and the
    launcher that starts the other processes.
    """
    if isinstance(strategy, Strategy):
        built = strategy
    elif hardware.strategy_name == "single_device":
        return SingleDeviceStrategy(hardware.devices[0], hardware.accelerator, precision_plugin)
    else:
        start_method, find_unused = _DDP_STRATEGIES[hardware.strategy_name]
        ddp_kwargs: dict[str, Any] = {} if find_unused is None else {"find_unused_parameters": find_unused}
        built = DDPStrategy(precision_plugin=precision_plugin, start_method=start_method, **ddp_kwargs)
    if isinstance(built, DDPStrategy):
        if built.accelerator is None:
            built.accelerator = hardware.accelerator
        if built.parallel_devices is None:
            built.parallel_devices = hardware.devices
        built.num_nodes = hardware.num_nodes
        built.set_world_ranks()
        built.configure_launcher()
    return built


_PRECISIONS = ("16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true")
# the short names Lightning 2.x still accepts; the 16-bit ones warn that they are kept only for old scripts
_PRECISION_ALIASES: dict[int | str, str] = {
    64: "64-true",
    32: "32-true",
    16: "16-mixed",
    "64": "64-true",
    "32": "32-true",
    "16": "16-mixed",
    "bf16": "bf16-mixed",
}
_ALLOWED_PRECISIONS = (*_PRECISIONS, *_PRECISION_ALIASES)


def _autocast_device(accelerator: Any) -> str:
    """The device type autocast runs on for the Trainer's ``accelerator`` argument (a name or an instance)."""
    if isinstance(accelerator, Accelerator):
        return (
            "cpu"
            if isinstance(accelerator, CPUAccelerator)
            else "mps"
            if isinstance(accelerator, MPSAccelerator)
            else "cuda"
        )
    name = accelerator.lower() if isinstance(accelerator, str) else accelerator
    if name in ("auto", "gpu") and MPSAccelerator.is_available():
        return "mps"
    if name == "auto":
        return "cuda" if CUDAAccelerator.is_available() else "cpu"
    return name if name in ("cpu", "mps") else "cuda"


def _canonical_precision(precision: Any) -> str:
    if precision is None:
        return "32-true"
    # bool is an int, but precision=True is a mistake, not precision=1
    if isinstance(precision, bool) or not isinstance(precision, int | str) or precision not in _ALLOWED_PRECISIONS:
        raise ValueError(
            f"precision={precision!r} is not supported; choose one of {list(_ALLOWED_PRECISIONS)}"
            " or pass a Precision plugin."
        )
    if precision in _PRECISIONS:
        return str(precision)
    canonical = _PRECISION_ALIASES[precision]
    if not canonical.startswith(("32", "64")):
        rank_zero_warn(
            f"precision={precision!r} is an old spelling that Lightning keeps for backward compatibility;"
            f" write precision={canonical!r} instead."
        )
    return canonical


def resolve_precision(precision: Any, accelerator: Any = "auto") -> Precision:
    """Return the precision plugin for the Trainer's ``precision`` argument.

    Args:
        precision: A Precision plugin (returned as is), None (``"32-true"``), one of ``"16-true"``, ``"16-mixed"``,
            ``"bf16-true"``, ``"bf16-mixed"``, ``"32-true"``, ``"64-true"``, or a short alias (``16``, ``"16"``,
            ``"bf16"``, ``32``, ``"32"``, ``64``, ``"64"``; the 16-bit ones warn).
        accelerator: The Trainer's ``accelerator`` argument; mixed precision autocasts for its device type, and
            ``"16-mixed"`` on the CPU becomes ``"bf16-mixed"`` (with a warning), as the CPU has no float16 AMP.

    Raises:
        ValueError: If ``precision`` is none of the above; the message lists the allowed values.
    """
    if isinstance(precision, Precision):
        return precision
    name = _canonical_precision(precision)
    if name == "32-true":
        return Precision()
    if name == "64-true":
        return DoublePrecision()
    if name in ("16-true", "bf16-true"):
        return HalfPrecision(name)  # type: ignore[arg-type]  # narrowed by the test above
    device = _autocast_device(accelerator)
    if name == "16-mixed" and device == "cpu":
        rank_zero_warn(
            "precision='16-mixed' was requested on the CPU, where automatic mixed precision has no float16 support;"
            " training uses precision='bf16-mixed' instead."
        )
        name = "bf16-mixed"
    rank_zero_info(f"Using {'16bit' if name == '16-mixed' else 'bfloat16'} Automatic Mixed Precision (AMP)")
    return MixedPrecision(name, device)  # type: ignore[arg-type]  # narrowed by the tests above
