"""``TensorBoardLogger``: metrics, hyper-parameters and graphs as TensorBoard event files, plus ``hparams.yaml``."""

import os
import threading
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor
from torch.nn import Module
from typing_extensions import override

from shim.loggers.hparams import _convert_params, _flatten_dict, _sanitize_params, save_hparams_to_yaml
from shim.loggers.log_dir import VersionedFolder, make_log_dir, version_folder
from shim.loggers.logger import Logger, _add_prefix, rank_zero_experiment
from shim.utilities.imports import RequirementCache
from shim.utilities.rank_zero import _rank_zero_only as rank_zero_only
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardLogger"]

_TENSORBOARD_AVAILABLE = RequirementCache("tensorboard")
_TENSORBOARDX_AVAILABLE = RequirementCache("tensorboardX")


class _SyncRecordWriter:
    """Stands in for TensorBoard's queue-and-thread event writer: writes each record on the calling thread.

    The queued writer hands every event to a worker thread, and the hand-over costs more than writing the few
    bytes of a scalar event; the logger flushes at every logging step anyway. The records, and so the files,
    are the same; what is not flushed yet is flushed by the logger's next ``save()`` or by ``close()``.
    """

    def __init__(self, record_writer: Any) -> None:
        self._record_writer = record_writer
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise OSError("The TensorBoard event file is closed.")
        self._record_writer.write(data)

    def flush(self) -> None:
        if self._closed:
            raise OSError("The TensorBoard event file is closed.")
        self._record_writer.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._record_writer.flush()
            self._record_writer.close()


def _write_on_calling_thread(writer: "SummaryWriter") -> bool:
    """Replace the queued event writer of ``writer``'s event file by a ``_SyncRecordWriter``; True when done.

    This reaches into TensorBoard's writer classes; when they are not laid out as expected (another TensorBoard
    version), the queued writer stays, which is slower but writes the same file.
    """
    get_file_writer = getattr(writer, "_get_file_writer", None)
    if not callable(get_file_writer):
        return False
    event_writer: Any = getattr(get_file_writer(), "event_writer", None)
    queued: Any = getattr(event_writer, "_async_writer", None)
    record_writer: Any = getattr(queued, "_writer", None)
    worker: Any = getattr(queued, "_worker", None)
    if record_writer is None or not isinstance(worker, threading.Thread) or not hasattr(worker, "stop"):
        return False
    queued.flush()  # the file-version event written when the file was opened
    worker.stop()
    event_writer._async_writer = _SyncRecordWriter(record_writer)
    return True


class TensorBoardLogger(VersionedFolder, Logger):
    r"""Write TensorBoard event files to ``save_dir/name/version[/sub_dir]``; Lightning's default logger.

    Example::

        logger = TensorBoardLogger("runs", name="baseline")
        trainer = Trainer(logger=logger)

    Args:
        save_dir: The folder all experiments are written under.
        name: The experiment name, a folder under ``save_dir``. ``None`` or ``""`` puts the versions straight into
            ``save_dir``.
        version: ``None`` takes one more than the highest existing ``version_N`` folder; an int ``N`` means
            ``version_N``; a string is used as the folder name.
        log_graph: Whether ``log_graph`` writes the model graph (the Trainer traces ``example_input_array``).
        default_hp_metric: Whether ``log_hyperparams`` without metrics logs ``hp_metric = -1``, so that
            TensorBoard's HPARAMS tab shows the run (without any metric the hyper-parameters are not written).
        prefix: Put in front of every metric name, joined with ``"-"``.
        sub_dir: An extra folder under the version folder.
        \**kwargs: Passed on to ``torch.utils.tensorboard.SummaryWriter`` (``flush_secs``, ``max_queue``, ...).
    """

    NAME_HPARAMS_FILE = "hparams.yaml"
    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._log_graph = log_graph
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._kwargs = kwargs
        self._experiment: SummaryWriter | None = None
        self.hparams: dict[str, Any] | Namespace = {}

    @property
    @override
    def log_dir(self) -> str:
        """``root_dir/version[/sub_dir]``, with ``~`` and environment variables expanded."""
        log_dir = os.path.join(self.root_dir, version_folder(self.version))
        if isinstance(self.sub_dir, str):
            log_dir = os.path.join(log_dir, self.sub_dir)
        return os.path.expanduser(os.path.expandvars(log_dir))

    @property
    def sub_dir(self) -> str | None:
        """The extra folder under the version folder, if any."""
        return self._sub_dir

    @property
    @rank_zero_experiment
    def experiment(self) -> "SummaryWriter":
        """The ``SummaryWriter``, created on first use; use it for anything TensorBoard can show.

        Raises:
            NotADirectoryError: ``save_dir`` (or another parent of ``log_dir``) is a file.
            FileExistsError: The version folder exists as a file.
        """
        if self._experiment is not None:
            return self._experiment
        from torch.utils.tensorboard import SummaryWriter

        make_log_dir(self.root_dir)
        log_dir = self.log_dir
        make_log_dir(log_dir)  # the writer would create it too, but with a less helpful error
        self._experiment = SummaryWriter(log_dir=log_dir, **self._kwargs)
        _write_on_calling_thread(self._experiment)
        return self._experiment

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Write each metric as a scalar; a dict value is written with ``add_scalars`` (one sub-folder per key).

        Raises:
            ValueError: A value is neither a number, a one-element tensor nor a dict of them.
        """
        for key, value in _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR).items():
            writer = self.experiment  # created lazily: an empty dict writes nothing, as in Lightning
            if isinstance(value, Tensor):
                value = value.item()
            if isinstance(value, dict):
                writer.add_scalars(key, value, step)
                continue
            try:
                writer.add_scalar(key, value, step)
            except Exception as err:
                raise ValueError(
                    f"Cannot log {key}={value!r} to TensorBoard: log a number, a one-element tensor or a dict of them."
                ) from err

    @override
    @rank_zero_only
    def log_hyperparams(
        self,
        params: dict[str, Any] | Namespace | None,
        metrics: dict[str, Any] | float | Tensor | None = None,
        step: int | None = None,
    ) -> None:
        """Keep the hyper-parameters for ``hparams.yaml`` and write them to TensorBoard's HPARAMS tab.

        TensorBoard only shows hyper-parameters next to a metric: without ``metrics``, ``hp_metric = -1`` is logged
        when ``default_hp_metric`` is on, and nothing is written to the event file when it is off.
        ``hparams.yaml`` is written by ``save()``.

        Args:
            params: The hyper-parameters; nested dicts are flattened to ``"outer/inner"`` names and values other
                than numbers, strings and tensors are shown as text.
            metrics: Metric values to show with them; a single value is logged as ``hp_metric``.
            step: The step the metrics belong to.
        """
        params = _convert_params(params)
        if isinstance(self.hparams, Namespace):
            vars(self.hparams).update(params)
        else:
            self.hparams.update(params)
        flat = _sanitize_params(_flatten_dict(params))

        if metrics is None:
            metric_dict: dict[str, Any] = {"hp_metric": -1} if self._default_hp_metric else {}
        else:
            metric_dict = metrics if isinstance(metrics, dict) else {"hp_metric": metrics}
        if not metric_dict:
            return
        self.log_metrics(metric_dict, step)

        from torch.utils.tensorboard.summary import hparams

        writer = self.experiment._get_file_writer()
        for summary in hparams(flat, metric_dict):
            writer.add_summary(summary, step)

    @override
    @rank_zero_only
    def log_graph(self, model: Module, input_array: Any = None) -> None:
        """Write the graph of ``model`` traced with ``input_array`` (``model.example_input_array`` by default).

        Does nothing unless the logger was created with ``log_graph=True``; warns when there is no usable input.
        """
        if not self._log_graph:
            return
        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            rank_zero_warn(
                "Could not log the computational graph to TensorBoard: `model.example_input_array` is not set"
                " and no `input_array` was given."
            )
            return
        if not isinstance(input_array, Tensor | tuple):
            rank_zero_warn(
                f"Could not log the computational graph to TensorBoard: the input has type {type(input_array)},"
                " which cannot be traced. Use a tensor, or a tuple of the positional arguments of `forward()`."
            )
            return
        before_transfer = getattr(model, "_on_before_batch_transfer", None)
        transfer = getattr(model, "_apply_batch_transfer_handler", None)
        if callable(before_transfer) and callable(transfer):
            # a LightningModule: the input goes through the batch-transfer hooks, as a real batch would
            input_array = transfer(before_transfer(input_array))
        from shim.core.module import _jit_is_scripting

        with _jit_is_scripting():
            self.experiment.add_graph(model, input_array)

    @override
    @rank_zero_only
    def save(self) -> None:
        """Flush the event file and write ``hparams.yaml`` into ``log_dir`` unless it is already there."""
        self.experiment.flush()
        log_dir = self.log_dir
        hparams_file = os.path.join(log_dir, self.NAME_HPARAMS_FILE)
        if os.path.isdir(log_dir) and not os.path.isfile(hparams_file):
            save_hparams_to_yaml(hparams_file, self.hparams)

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Flush and close the writer; after a ``"success"`` also ``save()``, which writes ``hparams.yaml``."""
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
        if status == "success":
            self.save()

    def __getstate__(self) -> dict[str, Any]:
        # the writer holds open files and threads; a copy sent to another process opens its own
        state = self.__dict__.copy()
        state["_experiment"] = None
        return state
