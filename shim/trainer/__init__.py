"""The Trainer.

``Trainer`` is resolved on first access so that the core modules can import the trainer's helper modules
(states, metrics) without importing the Trainer itself.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["Trainer"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from shim.trainer.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'shim.trainer' has no attribute {name!r}")
