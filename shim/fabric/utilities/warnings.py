"""``lightning_fabric.utilities.warnings``: ``PossibleUserWarning`` and turning those warnings off."""

from shim.utilities.warnings import PossibleUserWarning, disable_possible_user_warnings

__all__ = ["PossibleUserWarning", "disable_possible_user_warnings"]
