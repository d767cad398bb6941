"""``save_hyperparameters`` and ``hparams`` for modules and datamodules."""

import copy
import inspect
from argparse import Namespace
from collections.abc import MutableMapping, Sequence
from types import FrameType
from typing import Any

import torch

from shim.utilities.parsing import AttributeDict, collect_init_args
from shim.utilities.rank_zero import rank_zero_warn

__all__ = ["HyperparametersMixin"]


class HyperparametersMixin:
    """Gives a class ``save_hyperparameters()``, ``hparams`` and ``hparams_initial``."""

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]

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

        Args:
            *args: Nothing to save every ``__init__`` argument; names (strings) to save only those; or one
                dict / ``argparse.Namespace`` to save as it is.
            ignore: Argument names to leave out.
            frame: The ``__init__`` frame to read the arguments from (the caller's by default).
            logger: Whether the hyper-parameters are sent to the loggers.
        """
        self._log_hyperparams = logger
        if len(args) == 1 and not isinstance(args[0], str) and not args[0]:
            return  # an empty dict or Namespace: nothing to save
        if frame is None:
            current = inspect.currentframe()
            frame = current.f_back if current is not None else None
        if frame is None:
            raise AttributeError("save_hyperparameters needs the calling frame, and none is available.")
        init_args = collect_init_args(frame, self)
        ignored = [ignore] if isinstance(ignore, str) else [i for i in (ignore or []) if isinstance(i, str)]
        init_args = {k: v for k, v in init_args.items() if k not in ignored}
        objects = [arg for arg in args if not isinstance(arg, str)]
        if not args:
            hp: Any = init_args
            self._hparams_name = "kwargs" if hp else None
        elif len(objects) == 1:
            hp = objects[0]
            # remember which __init__ argument held the object, so load_from_checkpoint can pass it back
            self._hparams_name = next((k for k, v in init_args.items() if v is hp or v == hp), None)
        else:
            missing = [a for a in args if isinstance(a, str) and a not in init_args]
            if missing:
                raise ValueError(f"save_hyperparameters got names {missing} that are not arguments of __init__")
            hp = {name: init_args[name] for name in args if isinstance(name, str)}
            self._hparams_name = "kwargs"
        self._set_hparams(hp)
        for name in ignored:
            self._hparams.pop(name, None)
        for key, value in self._hparams.items():
            if isinstance(value, torch.nn.Module):
                rank_zero_warn(
                    f"The hyper-parameter {key!r} is an nn.Module, whose weights are saved in checkpoints anyway;"
                    f" leave it out with `self.save_hyperparameters(ignore=[{key!r}])`."
                )
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
