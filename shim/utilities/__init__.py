"""Utilities Lightning users import: seeding, rank-zero helpers, collection helpers, exceptions."""

from typing import Any

from shim.utilities.apply_func import apply_to_collection, move_data_to_device
from shim.utilities.combined_loader import CombinedLoader
from shim.utilities.data import suggested_max_num_workers
from shim.utilities.enums import GradClipAlgorithmType, LightningEnum
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.parsing import AttributeDict, is_picklable
from shim.utilities.rank_zero import rank_zero_deprecation, rank_zero_info, rank_zero_warn
from shim.utilities.seed import seed_everything
from shim.utilities.warnings import disable_possible_user_warnings

__all__ = [
    "AttributeDict",
    "CombinedLoader",
    "GradClipAlgorithmType",
    "LightningEnum",
    "MisconfigurationException",
    "apply_to_collection",
    "disable_possible_user_warnings",
    "is_picklable",
    "measure_flops",  # noqa: F822 (resolved on first use, see __getattr__)
    "move_data_to_device",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",  # noqa: F822 (resolved on first use, see __getattr__)
    "rank_zero_warn",
    "seed_everything",
    "suggested_max_num_workers",
]


def __getattr__(name: str) -> Any:
    # `rank_zero_only` is resolved on first use (it may be lightning_utilities' decorator, see utilities.rank_zero)
    if name == "rank_zero_only":
        from shim.utilities import rank_zero

        return rank_zero.rank_zero_only
    if name == "measure_flops":
        from shim.fabric.utilities.throughput import measure_flops

        return measure_flops
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
