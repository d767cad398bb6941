"""``save_hyperparameters`` and ``hparams`` for modules and datamodules."""

import copy
import inspect
from argparse import Namespace
from collections.abc import MutableMapping, Sequence
from types import FrameType
from typing import Any

from shim.utilities.parsing import AttributeDict, collect_init_args

__all__ = ["HyperparametersMixin"]


class HyperparametersMixin:
    """Gives a class ``save_hyperparameters()``, ``hparams`` and ``hparams_initial``."""

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]

    def __init__(self) -> None:
        super().__init__()
        self._log_hyperparams = True

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Sequence[str] | str | None = None,
        frame: FrameType | None = None,
        logger: bool = True,
    ) -> None:
        """Store the constructor's arguments in ``self.hparams`` (and in checkpoints and loggers).

        Args:
            *args: Nothing to save every ``__init__`` argument; names (strings) to save only those; or one
                dict / ``argparse.Namespace`` to save as it is.
            ignore: Argument names to leave out.
            frame: The ``__init__`` frame to read the arguments from (the caller's by default).
            logger: Whether the hyper-parameters are sent to the loggers.
        """
        self._log_hyperparams = logger
        if len(args) == 1 and not isinstance(args[0], str):
            self._set_hparams(args[0])
            self._hparams_name = "hparams"
            self._hparams_initial = copy.deepcopy(self._hparams)
            return
        if frame is None:
            current = inspect.currentframe()
            frame = current.f_back if current is not None else None
        if frame is None:
            return
        init_args = collect_init_args(frame, self)
        if args:
            missing = [a for a in args if a not in init_args]
            if missing:
                raise ValueError(f"save_hyperparameters got names {missing} that are not arguments of __init__")
            init_args = {name: init_args[name] for name in args}
        ignored = [ignore] if isinstance(ignore, str) else list(ignore or [])
        init_args = {k: v for k, v in init_args.items() if k not in ignored}
        if not init_args:
            return
        self._hparams_name = "kwargs"
        self._set_hparams(init_args)
        self._hparams_initial = copy.deepcopy(self._hparams)

    def _set_hparams(self, hp: MutableMapping | Namespace | Any) -> None:
        if isinstance(hp, Namespace):
            hp = vars(hp)
        if isinstance(hp, dict):
            hp = AttributeDict(hp)
        elif not isinstance(hp, MutableMapping):
            raise ValueError(f"save_hyperparameters accepts a dict or argparse.Namespace, got {type(hp).__name__}")
        self._hparams = hp

    @property
    def hparams(self) -> AttributeDict | MutableMapping:
        """The saved hyper-parameters; attribute and item access both work."""
        if not hasattr(self, "_hparams"):
            self._hparams = AttributeDict()
        return self._hparams

    @property
    def hparams_initial(self) -> AttributeDict:
        """A copy of the hyper-parameters as they were saved, before any later change."""
        if not hasattr(self, "_hparams_initial"):
            return AttributeDict()
        return copy.deepcopy(self._hparams_initial)  # type: ignore[return-value]
