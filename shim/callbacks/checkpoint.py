"""``Checkpoint``: the base class of checkpointing callbacks."""

from shim.callbacks.callback import Callback

__all__ = ["Checkpoint"]


class Checkpoint(Callback):
    """A callback that saves checkpoints; its ``on_train_epoch_end`` runs after the module's."""
