"""``lightning_fabric.utilities.rank_zero``: printing, warning and running code on global rank zero only."""

from typing import Any

from shim.utilities.rank_zero import (
    LightningDeprecationWarning,
    WarningCache,
    rank_zero_debug,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_warn,
)

__all__ = [
    "LightningDeprecationWarning",
    "WarningCache",
    "rank_zero_debug",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",  # noqa: F822 (resolved on first use, see __getattr__)
    "rank_zero_warn",
]


def __getattr__(name: str) -> Any:
    if name == "rank_zero_only":
        from shim.utilities import rank_zero

        return rank_zero.rank_zero_only
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
