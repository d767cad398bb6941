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


# Peak dense FLOPs per second of one GPU, from the vendors' data sheets; "tf32" is float32 matmuls on tensor cores.
# The first entry whose every word is in the lower-cased device name wins, so the specific names come first.
_GPU_PEAK_FLOPS: list[tuple[tuple[str, ...], dict[Any, float]]] = [
    (("h200",), {torch.float64: 3.4e13, torch.float32: 6.7e13, "tf32": 9.9e14, torch.bfloat16: 2.0e15,
                 torch.float16: 2.0e15, torch.int8: 4.0e15}),
    (("h100", "nvl"), {torch.float64: 6.7e13, torch.float32: 1.338e14, "tf32": 9.894e14, torch.bfloat16: 1.9788e15,
                       torch.float16: 1.9788e15, torch.int8: 3.9578e15}),
    (("h100", "pcie"), {torch.float64: 2.56e13, torch.float32: 5.12e13, "tf32": 3.78e14, torch.bfloat16: 7.56e14,
                        torch.float16: 7.56e14, torch.int8: 1.513e15}),
    (("h100",), {torch.float64: 3.35e13, torch.float32: 6.69e13, "tf32": 4.947e14, torch.bfloat16: 9.894e14,
                 torch.float16: 9.894e14, torch.int8: 1.9789e15}),
    (("a100",), {torch.float64: 9.7e12, torch.float32: 1.95e13, "tf32": 1.56e14, torch.bfloat16: 3.12e14,
                 torch.float16: 3.12e14, torch.int8: 6.24e14}),
    (("a10g",), {torch.float32: 3.12e13, "tf32": 6.25e13, torch.bfloat16: 1.25e14, torch.float16: 1.25e14,
                 torch.int8: 2.5e14}),
    (("a6000",), {torch.float32: 3.87e13, "tf32": 7.74e13, torch.bfloat16: 3.87e13, torch.float16: 3.87e13,
                  torch.int8: 3.097e14}),
    (("l40",), {torch.float32: 9.05e13, "tf32": 9.05e13, torch.bfloat16: 1.81e14, torch.float16: 1.81e14,
                torch.int8: 3.62e14}),
    (("l4",), {torch.float32: 3.03e13, "tf32": 6.0e13, torch.bfloat16: 1.21e14, torch.float16: 1.21e14,
               torch.int8: 2.42e14}),
    (("4090",), {torch.float32: 8.26e13, "tf32": 8.26e13, torch.bfloat16: 8.26e13, torch.float16: 8.26e13,
                 torch.int8: 6.606e14}),
    (("3090",), {torch.float32: 3.56e13, "tf32": 3.56e13, torch.bfloat16: 3.56e13, torch.float16: 3.56e13,
                 torch.int8: 2.84e14}),
    (("t4",), {torch.float32: 8.1e12, torch.float16: 6.5e13, torch.int8: 1.3e14}),
    (("v100",), {torch.float64: 7.8e12, torch.float32: 1.57e13, torch.float16: 1.25e14}),
]  # fmt: skip


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
    lowered = device_name.lower()
    table = next((peaks for words, peaks in _GPU_PEAK_FLOPS if all(w in lowered for w in words)), None)
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
    return int(table[dtype])
