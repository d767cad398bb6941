"""Utilities Lightning users import: seeding, rank-zero helpers, collection helpers, exceptions."""

from shim.utilities.apply_func import apply_to_collection, move_data_to_device
from shim.utilities.data import suggested_max_num_workers
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.parsing import AttributeDict
from shim.utilities.rank_zero import rank_zero_deprecation, rank_zero_info, rank_zero_only, rank_zero_warn
from shim.utilities.seed import seed_everything

__all__ = [
    "AttributeDict",
    "MisconfigurationException",
    "apply_to_collection",
    "move_data_to_device",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "seed_everything",
    "suggested_max_num_workers",
]
