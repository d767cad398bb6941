"""Exception types that Lightning users catch by name."""

__all__ = ["MisconfigurationException", "SIGTERMException"]


class MisconfigurationException(Exception):
    """Raised when the Trainer, a module or a callback is configured in a way that cannot work."""


class SIGTERMException(SystemExit):
    """Raised when the process received SIGTERM during training."""
