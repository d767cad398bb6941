"""``Profiler``: what a profiler implements (``start`` and ``stop`` of a named action) and what it gets for free.

``profile(name)`` wraps a block in ``start``/``stop``; ``describe()`` reports ``summary()`` to the log, or to a file
when ``dirpath`` and ``filename`` are set; ``setup``/``teardown`` frame one stage of a run.
"""

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shim.utilities.rank_zero import get_logger

__all__ = ["Profiler"]

log = get_logger(__name__)

# characters some file system refuses in a name: replaced in the names of report and trace files
_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|\n\r\t]+')


class Profiler(ABC):
    """Base class of profilers: subclasses record actions in ``start``/``stop`` and report them in ``summary``."""

    def __init__(self, dirpath: str | Path | None = None, filename: str | None = None) -> None:
        self.dirpath = dirpath
        self.filename = filename
        self._stage: str | None = None
        self._local_rank: int | None = None
        # the module of the current run, for profilers that instrument it (PyTorchProfiler); set by the Trainer
        self._lightning_module: Any = None

    @abstractmethod
    def start(self, action_name: str) -> None:
        """Begin recording ``action_name``."""

    @abstractmethod
    def stop(self, action_name: str) -> None:
        """Finish recording ``action_name``."""

    def summary(self) -> str:
        """The report of what was recorded; empty when there is nothing to say."""
        return ""

    @contextmanager
    def profile(self, action_name: str) -> Iterator[str]:
        """Record the ``with`` block as ``action_name``; ``stop`` runs even when the block raises."""
        self.start(action_name)
        try:
            yield action_name
        finally:
            self.stop(action_name)

    def describe(self) -> None:
        """Report ``summary()``, then ``teardown``.

        The report is appended to ``<dirpath>/<stage>-<filename>-<rank>.txt`` when ``dirpath`` and ``filename`` are
        set (the stage and rank only when known), else logged at INFO on rank zero.
        """
        report = self.summary()
        if report:
            if self.dirpath is not None and self.filename:
                os.makedirs(self.dirpath, exist_ok=True)
                with open(os.path.join(self.dirpath, self._file_name()), "a") as file:
                    file.write(report)
            elif self.local_rank == 0:
                log.info(report)
        self.teardown(self._stage)

    def _file_name(self, action_name: str | None = None, extension: str = ".txt") -> str:
        """``<stage>-<filename>-<rank>-<action>`` plus ``extension``, each part only when known, made safe for a file
        system."""
        parts = [
            str(p) for p in (self._stage, self.filename, self._local_rank, action_name) if p is not None and p != ""
        ]
        base = _UNSAFE_IN_NAMES.sub("_", "-".join(parts)).strip()
        return (base or "profile") + extension

    def setup(self, stage: str, local_rank: int | None = None, log_dir: str | None = None) -> None:
        """Start a stage of a run; ``log_dir`` is where reports go unless ``dirpath`` was given."""
        self._stage = stage
        self._local_rank = local_rank
        if self.dirpath is None:
            self.dirpath = log_dir

    def teardown(self, stage: str | None) -> None:  # noqa: B027 (optional for subclasses, as setup is)
        """End a stage of a run; ``describe`` calls it after its report (nothing is held open between reports)."""

    @property
    def local_rank(self) -> int:
        return self._local_rank or 0
