"""``save_hyperparameters`` and ``hparams`` for modules and datamodules."""

import copy
import inspect
from argparse import Namespace
from collections.abc import MutableMapping, Sequence
from types import FrameType
from typing import Any

from shim.utilities.parsing import AttributeDict, save_hyperparameters

__all__ = ["HyperparametersMixin"]

_PRIMITIVE_TYPES = (bool, int, float, str)


def _as_hparams(hp: Any) -> MutableMapping[str, Any]:
    """A dict or namespace as an ``AttributeDict``; another mutable mapping (an OmegaConf config) as it is.

    Raises:
        ValueError: For a primitive or any other type.
    """
    if isinstance(hp, Namespace):
        hp = vars(hp)
    if isinstance(hp, dict):
        return AttributeDict(hp)
    if isinstance(hp, MutableMapping):
        return hp
    if isinstance(hp, _PRIMITIVE_TYPES):
        raise ValueError(
            f"save_hyperparameters({hp!r}): a value of type {type(hp).__name__} cannot be saved on its own; pass the"
            " argument's name as a string, or a dict, argparse.Namespace or other mutable mapping."
        )
    raise ValueError(
        f"save_hyperparameters got an object of type {type(hp).__qualname__}; the object to save must be a dict, an"
        " argparse.Namespace or another mutable mapping."
    )


class HyperparametersMixin:
    """Gives a class ``save_hyperparameters()``, ``hparams`` and ``hparams_initial``."""

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]
    _hparams: AttributeDict | MutableMapping[str, Any]
    _hparams_initial: AttributeDict | MutableMapping[str, Any]

    def __init__(self) -> None:
        super().__init__()
        # only hyper-parameters saved with save_hyperparameters() reach the loggers, as in Lightning
        self._log_hyperparams = False

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Sequence[str] | str | None = None,
        frame: FrameType | None = None,
        logger: bool = True,
    ) -> None:
        """Store the constructor's arguments in ``self.hparams`` (and in checkpoints and loggers).

        A second call (a subclass's, after its parent's) adds to what the first saved when both are dicts.

        Args:
            *args: Nothing to save every ``__init__`` argument; names (strings) to save only those; or one
                dict / ``argparse.Namespace`` / OmegaConf config to save as it is.
            ignore: Argument names to leave out; also removes them when an earlier call saved them.
            frame: The ``__init__`` frame to read the arguments from (the caller's by default).
            logger: Whether the hyper-parameters are sent to the loggers.

        Raises:
            KeyError: If a name in ``args`` is not an argument of ``__init__``.
            ValueError: If the object given is a primitive or not a mapping or namespace.
        """
        self._log_hyperparams = logger
        if frame is None:
            current = inspect.currentframe()
            frame = current.f_back if current is not None else None
        save_hyperparameters(self, *args, ignore=ignore, frame=frame)

    def _set_hparams(self, hp: MutableMapping[str, Any] | Namespace | Any) -> None:
        hp = _as_hparams(hp)
        if isinstance(hp, dict) and isinstance(self.hparams, dict):
            self.hparams.update(hp)
        else:
            self._hparams = hp

    def remove_ignored_hparams(self, ignore_list: list[str]) -> None:
        """Remove these names from the saved hyper-parameters (a subclass can drop what its parent saved).

        Args:
            ignore_list: The names to remove; names that are not saved are skipped.
        """
        for key in ignore_list:
            self._hparams.pop(key, None)

    @property
    def hparams(self) -> AttributeDict | MutableMapping[str, Any]:
        """The saved hyper-parameters; attribute and item access both work, and changes stay on this object."""
        if not hasattr(self, "_hparams"):
            self._hparams = AttributeDict()
        return self._hparams

    @property
    def hparams_initial(self) -> AttributeDict:
        """A copy of the hyper-parameters as they were saved, before any later change."""
        if not hasattr(self, "_hparams_initial"):
            return AttributeDict()
        return copy.deepcopy(self._hparams_initial)  # type: ignore[return-value]
