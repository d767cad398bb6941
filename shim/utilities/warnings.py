"""``PossibleUserWarning`` (a warning that may be a false positive), and turning those warnings off."""

import warnings

from shim.utilities.rank_zero import PossibleUserWarning

__all__ = ["PossibleUserWarning", "disable_possible_user_warnings"]


def disable_possible_user_warnings(module: str = "") -> None:
    """Ignore every ``PossibleUserWarning``, or only those raised from ``module`` (a regex on the module name).

    For finer control, call :func:`warnings.filterwarnings` directly.
    """
    warnings.filterwarnings("ignore", module=module, category=PossibleUserWarning)
