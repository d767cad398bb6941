"""``CSVLogger``: metrics as ``metrics.csv`` and hyper-parameters as ``hparams.yaml``, no extra packages needed."""

import csv
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from torch import Tensor
from typing_extensions import override

from shim.loggers.hparams import _convert_params, save_hparams_to_yaml
from shim.loggers.log_dir import VersionedFolder, make_log_dir, remote_file_system, version_folder
from shim.loggers.logger import Logger, _add_prefix, rank_zero_experiment
from shim.utilities.rank_zero import _rank_zero_only as rank_zero_only
from shim.utilities.rank_zero import rank_zero_warn

__all__ = ["CSVLogger", "ExperimentWriter"]


class ExperimentWriter:
    """Buffers metric rows and writes them to ``log_dir/metrics.csv``; writes hyper-parameters to ``hparams.yaml``.

    The CSV header is every metric name seen so far, sorted, with ``step`` among them. When a later ``save()``
    brings new names, the rows already in the file are rewritten under the wider header; missing values stay empty.
    An existing ``metrics.csv`` in ``log_dir`` is deleted (with a warning) when the writer is created.

    Args:
        log_dir: The folder to write to; created when missing.

    Raises:
        FileExistsError: ``log_dir`` exists as a file.
        NotADirectoryError: A parent of ``log_dir`` is a file.
    """

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.metrics: list[dict[str, Any]] = []
        self.metrics_keys: list[str] = []
        self.hparams: dict[str, Any] = {}
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self._fs = remote_file_system(log_dir)  # None on the local file system
        if self._isdir(log_dir) and self._listdir(log_dir):
            rank_zero_warn(
                f"Experiment logs directory {log_dir} exists and is not empty."
                f" Its {self.NAME_METRICS_FILE} is deleted now and rewritten as new metrics are saved."
            )
            if self._isfile(self.metrics_file_path):
                self._remove(self.metrics_file_path)
        make_log_dir(log_dir)

    # the few file operations, on the local file system or on the log dir's fsspec one
    def _isdir(self, path: str) -> bool:
        return bool(self._fs.isdir(path)) if self._fs is not None else os.path.isdir(path)

    def _isfile(self, path: str) -> bool:
        return bool(self._fs.isfile(path)) if self._fs is not None else os.path.isfile(path)

    def _listdir(self, path: str) -> list[Any]:
        return list(self._fs.ls(path)) if self._fs is not None else os.listdir(path)

    def _remove(self, path: str) -> None:
        self._fs.rm_file(path) if self._fs is not None else os.remove(path)

    def _open(self, path: str, mode: str) -> Any:
        if self._fs is not None:
            return self._fs.open(path, mode, newline="")
        return open(path, mode, newline="")

    def log_metrics(self, metrics_dict: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row: the metric values (tensors become Python numbers) and ``step``.

        Args:
            metrics_dict: Metric names mapped to values.
            step: The ``step`` column; defaults to the number of rows waiting to be saved.
        """
        if step is None:
            step = len(self.metrics)
        row = {key: value.item() if isinstance(value, Tensor) else value for key, value in metrics_dict.items()}
        row["step"] = step
        self.metrics.append(row)

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Add ``params`` to the hyper-parameters and rewrite ``hparams.yaml`` with all of them."""
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)

    def save(self) -> None:
        """Append the buffered rows to ``metrics.csv`` (rewriting it first if the header grew) and empty the buffer."""
        if not self.metrics:
            return
        file_exists = self._isfile(self.metrics_file_path)
        has_new_keys = self._add_new_keys()
        if has_new_keys and file_exists:
            self._rewrite_with_header(self.metrics_keys)
        with self._open(self.metrics_file_path, "a" if file_exists else "w") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            if not file_exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def _add_new_keys(self) -> bool:
        """Add the names of the buffered rows to the sorted header; return whether any name was new."""
        known = set(self.metrics_keys)
        new_keys = {key for row in self.metrics for key in row} - known
        self.metrics_keys = sorted(known | new_keys)
        return bool(new_keys)

    def _rewrite_with_header(self, fieldnames: list[str]) -> None:
        with self._open(self.metrics_file_path, "r") as file:
            rows = list(csv.DictReader(file))
        with self._open(self.metrics_file_path, "w") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)


class CSVLogger(VersionedFolder, Logger):
    """Write metrics to ``metrics.csv`` and hyper-parameters to ``hparams.yaml`` in ``save_dir/name/version``.

    Example::

        logger = CSVLogger("runs", name="baseline")
        trainer = Trainer(logger=logger)

    Args:
        save_dir: The folder all experiments are written under.
        name: The experiment name, a folder under ``save_dir``. ``None`` or ``""`` puts the versions straight into
            ``save_dir``.
        version: ``None`` takes one more than the highest existing ``version_N`` folder; an int ``N`` means
            ``version_N``; a string is used as the folder name.
        prefix: Put in front of every metric name, joined with ``"-"``.
        flush_logs_every_n_steps: Write the buffered rows to disk whenever ``step + 1`` is a multiple of this.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__()
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._flush_logs_every_n_steps = flush_logs_every_n_steps
        self._experiment: ExperimentWriter | None = None

    @property
    @override
    def log_dir(self) -> str:
        """``root_dir/version``: where ``metrics.csv`` and ``hparams.yaml`` go."""
        return os.path.join(self.root_dir, version_folder(self.version))

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The ``ExperimentWriter``, created (with ``log_dir``) on first use."""
        if self._experiment is not None:
            return self._experiment
        make_log_dir(self.root_dir)
        self._experiment = ExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace | None = None) -> None:
        """Add ``params`` to the hyper-parameters and rewrite ``hparams.yaml`` right away."""
        self.experiment.log_hparams(_convert_params(params))

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row of metrics; saves to disk when ``step + 1`` is a multiple of ``flush_logs_every_n_steps``.

        Args:
            metrics: Metric names mapped to numbers or one-element tensors.
            step: The ``step`` column; defaults to the number of rows waiting to be saved.
        """
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        if step is None:
            step = len(self.experiment.metrics)
        self.experiment.log_metrics(metrics, step)
        if (step + 1) % self._flush_logs_every_n_steps == 0:
            self.save()

    @override
    @rank_zero_only
    def save(self) -> None:
        """Write the buffered metric rows to ``metrics.csv``."""
        self.experiment.save()

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write the buffered rows; does nothing when this process never created the writer."""
        if self._experiment is None:
            return
        self.save()
