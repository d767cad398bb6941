"""Exception types that Lightning users catch by name."""

__all__ = ["MisconfigurationException", "SIGTERMException"]


class MisconfigurationException(Exception):
    """Raised when the Trainer, a module or a callback is configured in a way that cannot work."""


class SIGTERMException(SystemExit):
    """Raised when the process received SIGTERM during training."""


# Where Lightning rejects a value with a builtin error type, shim raises one of these: a MisconfigurationException
# whose message names the argument, the value and what is allowed, that a user's `except ValueError` (or TypeError,
# ModuleNotFoundError) still catches as it would Lightning's.
class MisconfigurationValueError(MisconfigurationException, ValueError):
    """A setting with a value Lightning rejects with ``ValueError``."""


class MisconfigurationTypeError(MisconfigurationException, TypeError):
    """A setting of a kind Lightning rejects with ``TypeError``."""


class MissingPackageError(MisconfigurationException, ModuleNotFoundError):
    """A setting that needs a package which is not installed."""
