"""``lightning_fabric.utilities``: the general helpers, as shim provides them."""

from typing import Any

from shim.fabric.utilities.data import AttributeDict, suggested_max_num_workers
from shim.utilities.apply_func import move_data_to_device
from shim.utilities.enums import LightningEnum
from shim.utilities.rank_zero import rank_zero_deprecation, rank_zero_info, rank_zero_warn
from shim.utilities.warnings import disable_possible_user_warnings

_THROUGHPUT_NAMES = ("Throughput", "measure_flops")

__all__ = [
    "AttributeDict",
    "Throughput",  # noqa: F822 (this and measure_flops: resolved on first use, see __getattr__)
    "LightningEnum",
    "disable_possible_user_warnings",
    "measure_flops",  # noqa: F822
    "move_data_to_device",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",  # noqa: F822 (resolved on first use, see __getattr__)
    "rank_zero_warn",
    "suggested_max_num_workers",
]


def __getattr__(name: str) -> Any:
    if name == "rank_zero_only":
        from shim.utilities import rank_zero

        return rank_zero.rank_zero_only
    if name in _THROUGHPUT_NAMES:
        from shim.fabric.utilities import throughput

        return getattr(throughput, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
