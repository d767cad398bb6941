"""Throughput arithmetic: rolling rates of batches, samples, items and FLOPs, and counting a model's FLOPs.

``Throughput`` turns running totals (elapsed time, batches, samples, ...) into per-second rates over the last
``window_size`` updates. ``measure_flops`` counts the FLOPs of one forward (and backward) pass with PyTorch's
``FlopCounterMode``; ``get_available_flops`` knows the peak FLOPs of common GPUs, for the model FLOPs utilisation.
"""

from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from shim.utilities.rank_zero import rank_zero_warn

__all__ = ["Throughput", "get_available_flops", "measure_flops"]


class _RisingWindow:
    """The last ``size`` values of a running total, which must grow with every value added."""

    def __init__(self, size: int, name: str) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self.name = name

    def add(self, value: float) -> None:
        if self.values and value <= self.values[-1]:
            raise ValueError(
                f"Throughput: the running total `{self.name}` must grow with every update; it went from"
                f" {self.values[-1]} to {value}."
            )
        self.values.append(value)

    @property
    def full(self) -> bool:
        return len(self.values) == self.values.maxlen

    def span(self) -> float:
        """How much the total grew from the oldest to the newest value in the window."""
        return self.values[-1] - self.values[0]


class Throughput:
    """Rates over the most recent ``window_size`` calls to ``update``, computed by ``compute``.

    ``compute`` always returns the latest totals (``time``, ``batches``, ``samples``, and ``lengths`` when given).
    Once ``window_size`` updates are in, it adds the per-device rates ``device/batches_per_sec``,
    ``device/samples_per_sec``, ``device/items_per_sec`` (with lengths), ``device/flops_per_sec`` (with FLOPs) and
    ``device/mfu`` (FLOPs per second over ``available_flops``). With ``world_size > 1`` the rates for all devices
    together come too, without the ``device/`` prefix. The ``/`` is ``separator``.

    Args:
        available_flops: Peak FLOPs per second of one device (see ``get_available_flops``); None: no MFU.
        world_size: How many devices run the same work; the per-device numbers are multiplied by it.
        window_size: How many updates the rates average over (at least 2).
        separator: Joins ``device`` and the rate's name.
    """

    def __init__(
        self, available_flops: float | None = None, world_size: int = 1, window_size: int = 100, separator: str = "/"
    ) -> None:
        if world_size < 1:
            raise ValueError(f"Throughput(world_size={world_size}): it counts devices, give at least 1.")
        if window_size < 2:
            raise ValueError(f"Throughput(window_size={window_size}): a rate needs at least 2 updates.")
        self.available_flops = available_flops
        self.world_size = world_size
        self.window_size = window_size
        self.separator = separator
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        size = self.window_size
        self._time = _RisingWindow(size, "time")
        self._batches = _RisingWindow(size, "batches")
        self._samples = _RisingWindow(size, "samples")
        self._lengths = _RisingWindow(size, "lengths")
        self._flops: deque[float] = deque(maxlen=size)

    def update(
        self, *, time: float, batches: int, samples: int, lengths: int | None = None, flops: int | None = None
    ) -> None:
        """Add one measurement.

        Args:
            time: Seconds since the start; grows with every call.
            batches: Batches seen so far on this device; grows with every call.
            samples: Samples seen so far on this device (at least ``batches``).
            lengths: Items (tokens, frames, ...) seen so far on this device (at least ``samples``), if counted.
            flops: FLOPs this device spent since the previous call, if known (``measure_flops`` of one batch).
        """
        if samples < batches:
            raise ValueError(f"Throughput.update: samples ({samples}) cannot be fewer than batches ({batches}).")
        if lengths is not None and lengths < samples:
            raise ValueError(f"Throughput.update: lengths ({lengths}) cannot be fewer than samples ({samples}).")
        self._time.add(time)
        self._batches.add(batches)
        self._samples.add(samples)
        if lengths is not None:
            self._lengths.add(lengths)
            if len(self._lengths.values) != len(self._samples.values):
                raise RuntimeError(
                    "Throughput.update: pass `lengths` on every update or on none; the window holds"
                    f" {len(self._lengths.values)} lengths for {len(self._samples.values)} samples."
                )
        if flops is not None:
            self._flops.append(flops * self.world_size)

    def compute(self) -> dict[str, int | float]:
        """The latest totals and, once the window is full, the rates (see the class docstring for the keys)."""
        device = f"device{self.separator}"
        metrics: dict[str, int | float] = {
            "time": self._time.values[-1],
            "batches": self._batches.values[-1],
            "samples": self._samples.values[-1],
        }
        if self._lengths.values:
            metrics["lengths"] = self._lengths.values[-1]
        several = self.world_size > 1
        if self._time.full:
            seconds = self._time.span()
            rates = {
                "batches_per_sec": self._batches.span() / seconds,
                "samples_per_sec": self._samples.span() / seconds,
            }
            if self._lengths.full:
                rates["items_per_sec"] = self._lengths.span() / seconds
            for name, per_device in rates.items():
                metrics[device + name] = per_device
                if several:
                    metrics[name] = per_device * self.world_size
        if len(self._flops) == self._flops.maxlen:
            # each entry is the work done since the update before it, so the oldest one falls outside the window
            all_flops_per_sec = (sum(self._flops) - self._flops[0]) / self._time.span()
            per_device = all_flops_per_sec / self.world_size
            if several:
                metrics["flops_per_sec"] = all_flops_per_sec
            metrics[device + "flops_per_sec"] = per_device
            if self.available_flops:
                metrics[device + "mfu"] = per_device / self.available_flops
        return metrics


def measure_flops(
    model: torch.nn.Module,
    forward_fn: Callable[[], torch.Tensor],
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> int:
    """The FLOPs ``forward_fn()`` costs, as ``torch.utils.flop_counter`` counts them; with ``loss_fn``, also the loss
    and the backward pass (``loss_fn(forward_fn()).backward()``).

    A model built under ``torch.device("meta")`` (with meta inputs) is counted without computing anything.
    ``model`` is the module the functions run; the count covers everything they execute.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        output = forward_fn()
        if loss_fn is not None:
            loss_fn(output).backward()
    return int(counter.get_total_flops())


def _peaks(
    f32: float,
    tf32: float | None = None,
    bf16: float | None = None,
    f16: float | None = None,
    i8: float | None = None,
    i4: float | None = None,
    f64: float | None = None,
) -> dict[Any, float]:
    """A GPU's peak dense throughput per dtype, given in TFLOPs (TOPs for the integer types)."""
    given = {
        torch.float64: f64,
        torch.float32: f32,
        "tf32": tf32,
        torch.bfloat16: bf16,
        torch.float16: f16,
        torch.int8: i8,
        "int4": i4,
    }
    return {dtype: tflops * 1e12 for dtype, tflops in given.items() if tflops is not None}


# Peak FLOPs of one GPU from the vendors' data sheets (the numbers Lightning uses); "tf32" is float32 matmuls on
# tensor cores. An entry matches when each of its words is a word of the device name; a name that says "ti" or
# "super" only matches an entry that says so too. The first match wins, so the specific entries come first.
_H200_NVL = _peaks(f64=30, f32=60, tf32=840, bf16=1700, f16=1700, i8=3300)
_GPU_PEAK_FLOPS: list[tuple[tuple[str, ...], dict[Any, float]]] = [
    (("h200", "nvl"), _H200_NVL),
    (("h200", "nvl1"), _H200_NVL),
    (("h200",), _peaks(f64=34, f32=67, tf32=990, bf16=2000, f16=2000, i8=4000)),
    (("h100", "nvl"), _peaks(f64=67, f32=133.8, tf32=989.4, bf16=1978.8, f16=1978.8, i8=3957.8)),
    (("h100", "pcie"), _peaks(f64=25.6, f32=51.2, tf32=378, bf16=756, f16=756, i8=1513)),
    (("h100", "hbm2e"), _peaks(f64=25.6, f32=51.2, tf32=378, bf16=756, f16=756, i8=1513)),
    (("h100",), _peaks(f64=33.5, f32=66.9, tf32=494.7, bf16=989.4, f16=989.4, i8=1978.9)),
    (("a100",), _peaks(f64=9.7, f32=19.5, tf32=156, bf16=312, f16=312, i8=624)),
    (("a10g",), _peaks(f32=31.2, tf32=62.5, bf16=125, f16=125, i8=250, i4=500)),
    (("a6000",), _peaks(f32=38.7, tf32=77.4, bf16=38.7, f16=38.7, i8=309.7, i4=619.3)),
    (("a40",), _peaks(f32=37.4, tf32=74.8, bf16=37.4, f16=37.4, i8=299.3, i4=598.7)),
    (("l40",), _peaks(f32=90.5, tf32=90.5, bf16=181, f16=181, i8=362, i4=724)),
    (("l4",), _peaks(f32=30.3, tf32=60, bf16=121, f16=121, i8=242, i4=484)),
    (("4090",), _peaks(f32=82.6, tf32=82.6, bf16=82.6, f16=82.6, i8=660.6, i4=1321.2)),
    (("4080", "super"), _peaks(f32=52.2, tf32=52.2, bf16=52.2, f16=52.2, i8=417.6, i4=835.2)),
    (("4080",), _peaks(f32=48.7, tf32=48.7, bf16=48.7, f16=48.7, i8=389.9, i4=779.8)),
    (("3090", "ti"), _peaks(f32=40, tf32=40, bf16=40, f16=40, i8=320, i4=640)),
    (("3090",), _peaks(f32=35.6, tf32=35.6, bf16=35.6, f16=35.6, i8=284, i4=568)),
    (("3080", "ti"), _peaks(f32=34.1, tf32=34.1, bf16=34.1, f16=34.1, i8=272.8, i4=546.6)),
    (("3080",), _peaks(f32=29.8, tf32=29.8, bf16=29.8, f16=29.8, i8=238, i4=476)),
    (("3070",), _peaks(f32=20.3, tf32=20.3, bf16=20.3, f16=20.3, i8=162.6, i4=325.2)),
    (("2080", "super"), _peaks(f32=11.2, f16=22.3, i8=178.4, i4=356.8)),
    (("2080", "ti"), _peaks(f32=14.2, f16=28.5, i8=227.7, i4=455.4)),
    (("2080",), _peaks(f32=10.6, f16=21.2, i8=169.6, i4=339.1)),
    (("2070", "super"), _peaks(f32=9.1, f16=18.1, i8=145, i4=290)),
    (("quadro", "5000"), _peaks(f32=11.2, f16=89.2)),
    (("titan", "rtx"), _peaks(f32=16.3, f16=32.6, i8=261, i4=522)),
    (("t4",), _peaks(f32=8.1, f16=65, i8=130, i4=260)),
    (("v100s",), _peaks(f64=8.2, f32=16.4, f16=130)),
    (("v100", "pcie"), _peaks(f64=7, f32=14, f16=112)),
    (("v100",), _peaks(f64=7.8, f32=15.7, f16=125)),
]  # fmt: skip
_VARIANT_WORDS = frozenset({"ti", "super"})


def get_available_flops(device: torch.device, dtype: torch.dtype | str) -> int | None:
    """Peak FLOPs per second of ``device`` when it computes in ``dtype``; None where shim does not know them.

    Only CUDA GPUs are known; an unknown GPU or dtype gives a warning and None. float32 counts as TF32 on Ampere and
    later GPUs unless ``torch.set_float32_matmul_precision("highest")``.
    """
    if device.type != "cuda":
        return None
    tf32 = torch.cuda.get_device_capability(device)[0] >= 8 and torch.get_float32_matmul_precision() != "highest"
    return _peak_flops(torch.cuda.get_device_name(device), dtype, tf32)


def _peak_flops(device_name: str, dtype: torch.dtype | str, tf32: bool) -> int | None:
    words = set(device_name.lower().replace("-", " ").split())
    variant = words & _VARIANT_WORDS
    table = next((peaks for entry, peaks in _GPU_PEAK_FLOPS if words.issuperset(entry) and variant <= set(entry)), None)
    if table is None:
        rank_zero_warn(f"The peak FLOPs of {device_name!r} are not known; the throughput is logged without the MFU.")
        return None
    if dtype == "tfloat32":  # Lightning's spelling
        dtype = "tf32"
    if dtype is torch.float32 and tf32:
        dtype = "tf32"
    if dtype not in table:
        rank_zero_warn(
            f"The peak FLOPs of {device_name!r} in {dtype} are not known; the throughput is logged without the MFU."
        )
        return None
    return round(table[dtype])
