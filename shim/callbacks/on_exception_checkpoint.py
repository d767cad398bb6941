"""``OnExceptionCheckpoint``: save a checkpoint when a run fails, so the next ``fit`` can resume from it."""

import os
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from shim.callbacks.checkpoint import Checkpoint

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["OnExceptionCheckpoint"]


class OnExceptionCheckpoint(Checkpoint):
    """Write ``<dirpath>/<filename>.ckpt`` when an exception ends a run; a run that ends normally removes it.

    With this callback, ``trainer.fit(model)`` without a ``ckpt_path`` resumes from the newest last checkpoint,
    this one included.

    Args:
        dirpath: Folder of the checkpoint. It is needed up front: an exception may come before ``setup``.
        filename: The file's name without its extension.

    Raises:
        ValueError: If ``filename`` is empty.

    Example::

        trainer = Trainer(callbacks=[OnExceptionCheckpoint("checkpoints")])
    """

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: str | os.PathLike, filename: str = "on_exception") -> None:
        super().__init__()
        if not filename:
            raise ValueError(f"OnExceptionCheckpoint(filename={filename!r}): give a non-empty file name.")
        self.dirpath = dirpath
        self.filename = filename

    @property
    def ckpt_path(self) -> str:
        """Where the checkpoint is written."""
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    @override
    def on_exception(self, trainer: "Trainer", *_: Any, **__: Any) -> None:
        trainer.save_checkpoint(self.ckpt_path)  # replaces the file a previous failure left

    @override
    def teardown(self, trainer: "Trainer", *_: Any, **__: Any) -> None:
        trainer.strategy.remove_checkpoint(self.ckpt_path)
