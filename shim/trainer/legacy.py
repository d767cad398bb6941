"""Lightning 1.x Trainer arguments, translated once into the 2.x vocabulary the rest of shim speaks.

Each accepted 1.x argument warns as Lightning 1.9 warned; arguments that cannot work raise the error 1.9 raised.
"""

import inspect
from dataclasses import dataclass
from typing import Any

from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_deprecation

__all__ = ["LEGACY_ARGUMENTS", "LegacySettings", "translate_1x_arguments"]


@dataclass(frozen=True)
class LegacySettings:
    """The 2.x arguments after translation, and the 1.x settings that features still read."""

    accelerator: Any
    devices: Any
    precision: Any
    use_distributed_sampler: bool
    track_grad_norm: float
    auto_lr_find: bool | str
    auto_scale_batch_size: bool | str
    move_metrics_to_cpu: bool
    multiple_trainloader_mode: str


def _device_flag(name: str, value: Any, accelerator: str, current_accelerator: Any, devices: Any) -> tuple[Any, Any]:
    rank_zero_deprecation(
        f"Setting `Trainer({name}={value!r})` is deprecated since Lightning v1.7: use"
        f" `Trainer(accelerator={accelerator!r}, devices={value!r})` instead."
    )
    if devices not in ("auto", None):
        rank_zero_deprecation(
            f"`Trainer(devices={devices!r})` and `Trainer({name}={value!r})` were both given; {name}={value!r} is used."
        )
    if current_accelerator not in ("auto", None, accelerator) and not (
        accelerator == "gpu" and current_accelerator == "cuda"
    ):
        raise MisconfigurationException(
            f"`Trainer({name}={value!r})` asks for accelerator {accelerator!r}, but accelerator={current_accelerator!r}"
            " was given too."
        )
    return accelerator, value


def translate_1x_arguments(
    *,
    accelerator: Any,
    devices: Any,
    precision: Any,
    use_distributed_sampler: bool,
    gpus: Any,
    tpu_cores: Any,
    ipus: Any,
    num_processes: Any,
    auto_select_gpus: bool | None,
    amp_backend: str | None,
    amp_level: str | None,
    track_grad_norm: int | float | str,
    replace_sampler_ddp: bool | None,
    auto_lr_find: bool | str,
    auto_scale_batch_size: bool | str,
    move_metrics_to_cpu: bool,
    multiple_trainloader_mode: str,
) -> LegacySettings:
    """Map the 1.x arguments onto ``accelerator``/``devices``/``precision``/``use_distributed_sampler``.

    Raises:
        MisconfigurationException: For ``amp_backend='apex'`` (apex AMP no longer exists), ``amp_level`` without
            apex, IPUs, contradicting device flags, and invalid 1.x values.
    """
    if gpus not in (None, 0, "0", []):
        accelerator, devices = _device_flag("gpus", gpus, "gpu", accelerator, devices)
    if tpu_cores not in (None, 0, "0", []):
        accelerator, devices = _device_flag("tpu_cores", tpu_cores, "tpu", accelerator, devices)
    if num_processes not in (None, 0):
        accelerator, devices = _device_flag("num_processes", num_processes, "cpu", accelerator, devices)
    if ipus not in (None, 0):
        raise MisconfigurationException(
            f"`Trainer(ipus={ipus!r})`: Graphcore IPUs are not supported by shim (nor by Lightning 2.x)."
        )
    if auto_select_gpus is not None:
        rank_zero_deprecation(
            "The Trainer argument `auto_select_gpus` is deprecated since Lightning v1.9: GPUs are taken in index"
            " order (`devices=N` uses the first N)."
        )
    if amp_backend is not None:
        if amp_backend not in ("native", "apex"):
            raise MisconfigurationException(
                f"`Trainer(amp_backend={amp_backend!r})` is not valid: use 'native' (or 'apex', which needs apex)."
            )
        rank_zero_deprecation(
            f"Setting `Trainer(amp_backend={amp_backend!r})` is deprecated since Lightning v1.8: mixed precision uses"
            " PyTorch's native AMP (`precision='16-mixed'` or `'bf16-mixed'`)."
        )
        if amp_backend == "apex":
            try:
                from apex import amp  # type: ignore[import-not-found]  # noqa: F401
            except ImportError:
                raise MisconfigurationException(
                    "You have asked for `amp_backend='apex'`, but NVIDIA apex AMP is not installed (current apex"
                    " releases no longer ship `apex.amp`). Use `amp_backend='native'` or `precision='16-mixed'`."
                ) from None
            raise MisconfigurationException(
                "`amp_backend='apex'` is not supported by shim; use `precision='16-mixed'` (native AMP) instead."
            )
    if amp_level is not None:
        raise MisconfigurationException(
            f"You have asked for `amp_level={amp_level!r}`, but it only works with `amp_backend='apex'`, which needs"
            " NVIDIA apex AMP. Remove `amp_level` and use `precision='16-mixed'` (native AMP)."
        )
    if amp_backend == "native" and precision is None:
        rank_zero_deprecation(
            "`amp_backend='native'` alone keeps 32-bit precision; pass `precision='16-mixed'` for AMP."
        )
    grad_norm = _parse_track_grad_norm(track_grad_norm)
    if replace_sampler_ddp is not None:
        rank_zero_deprecation(
            "`Trainer(replace_sampler_ddp=...)` is the Lightning 1.x name of `Trainer(use_distributed_sampler=...)`."
        )
        use_distributed_sampler = bool(replace_sampler_ddp)
    if auto_scale_batch_size not in (False, None, True, "power", "binsearch"):
        raise MisconfigurationException(
            f"`Trainer(auto_scale_batch_size={auto_scale_batch_size!r})` is not valid: use False, True, 'power' or"
            " 'binsearch'."
        )
    if not isinstance(auto_lr_find, (bool, str)):
        raise MisconfigurationException(
            f"`Trainer(auto_lr_find={auto_lr_find!r})` is not valid: use True, False, or the attribute name to set."
        )
    if move_metrics_to_cpu:
        rank_zero_deprecation(
            "`Trainer(move_metrics_to_cpu=True)` is deprecated since Lightning v1.9; logged metrics are moved to the"
            " CPU when they are read."
        )
    if multiple_trainloader_mode not in ("max_size_cycle", "min_size"):
        raise MisconfigurationException(
            f"`Trainer(multiple_trainloader_mode={multiple_trainloader_mode!r})` is not valid: use 'max_size_cycle'"
            " or 'min_size'."
        )
    return LegacySettings(
        accelerator=accelerator,
        devices=devices,
        precision=precision,
        use_distributed_sampler=use_distributed_sampler,
        track_grad_norm=grad_norm,
        auto_lr_find=auto_lr_find,
        auto_scale_batch_size=auto_scale_batch_size or False,
        move_metrics_to_cpu=move_metrics_to_cpu,
        multiple_trainloader_mode=multiple_trainloader_mode,
    )


def _parse_track_grad_norm(value: int | float | str) -> float:
    """-1 turns tracking off; otherwise a p-norm order > 0 or ``'inf'``."""
    try:
        order = float(value)
    except (TypeError, ValueError):
        order = float("nan")
    if order != -1 and not order > 0:
        raise MisconfigurationException(
            f"`Trainer(track_grad_norm={value!r})` is not valid: use a positive p-norm order, 'inf', or -1 (off)."
        )
    if order != -1:
        rank_zero_deprecation(
            f"`Trainer(track_grad_norm={value!r})` is deprecated since Lightning v1.9; shim still logs the"
            f" `grad_{order}_norm_total` and per-parameter gradient norms it gave."
        )
    return order


# the Trainer arguments that translate_1x_arguments reads
LEGACY_ARGUMENTS: tuple[str, ...] = tuple(inspect.signature(translate_1x_arguments).parameters)
