"""``MLFlowLogger``: metrics, hyper-parameters and checkpoint files sent to an MLflow tracking store.

``mlflow`` (or ``mlflow-skinny``) is an optional extra: it is imported when a logger is built, never by ``import shim``.
"""

import os
import re
import tempfile
import time
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import yaml
from torch import Tensor
from typing_extensions import override

from shim.loggers.hparams import _convert_params, _flatten_dict
from shim.loggers.logger import Logger, _add_prefix, rank_zero_experiment
from shim.loggers.utilities import _scan_checkpoints
from shim.utilities.rank_zero import _rank_zero_only as rank_zero_only
from shim.utilities.rank_zero import get_logger, rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from shim.callbacks.checkpoint import Checkpoint

__all__ = ["LOCAL_FILE_URI_PREFIX", "MLFlowLogger"]

log = get_logger(__name__)

LOCAL_FILE_URI_PREFIX = "file:"
# MLflow refuses characters outside these in metric names
_UNSUPPORTED_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_/. -]+")
_PARAM_VALUE_LIMIT = 250  # characters kept of each hyper-parameter value
_PARAMS_PER_BATCH = 100  # the most params one ``log_batch`` call accepts
_FILE_STORE_OPT_IN = "MLFLOW_ALLOW_FILE_STORE"
_NAMED_STORES = {"databricks", "databricks-uc", "uc"}  # store names MLflow accepts without a scheme
# Read once, when this module loads, as Lightning reads it when it is imported: ``experiment`` calls
# ``mlflow.set_tracking_uri``, which writes this variable, so reading it per logger would send a second logger of
# the same process to the first one's store instead of its own ``save_dir``.
_TRACKING_URI_FROM_ENV = os.getenv("MLFLOW_TRACKING_URI")
_STATUS = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}
# the checkpoint callback's settings written into each uploaded checkpoint's metadata.yaml
_CHECKPOINT_SETTINGS = ("monitor", "mode", "save_last", "save_top_k", "save_weights_only", "_every_n_train_steps")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "MLFlowLogger needs the `mlflow` package (or `mlflow-skinny`), which is not installed."
            " Install it with `pip install lightning-shim[mlflow]`."
        ) from err
    return mlflow


def _version_tuple(version: str) -> tuple[int, ...]:
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _is_local_file_store(tracking_uri: str) -> bool:
    """Whether MLflow keeps this store in local files: a ``file:`` URI or a plain path (not a named service)."""
    if tracking_uri in _NAMED_STORES:
        return False
    return urlparse(tracking_uri).scheme in ("", "file")


def _opt_in_to_file_store(tracking_uri: str) -> None:
    """Let MLflow 3 use the local file store the logger was pointed at.

    MLflow 3 keeps its file store in maintenance mode and refuses to open one unless ``MLFLOW_ALLOW_FILE_STORE`` is
    true. A file store (``./mlruns`` by default) is what this logger documents and what ``save_dir`` describes, so
    when the variable is unset it is set to ``true`` for this process. A value the user set is left alone: ``false``
    makes MLflow raise its own error.
    """
    if _is_local_file_store(tracking_uri) and _FILE_STORE_OPT_IN not in os.environ:
        os.environ[_FILE_STORE_OPT_IN] = "true"
        rank_zero_info(
            f"MLflow's local file store ({tracking_uri}) needs {_FILE_STORE_OPT_IN}=true since MLflow 3; shim set it"
            " for this process. Set it to false to refuse file stores, or pass a database `tracking_uri` such as"
            " 'sqlite:///mlflow.db'."
        )


class MLFlowLogger(Logger):
    """Send metrics, hyper-parameters and (optionally) checkpoints to an MLflow run.

    Example::

        logger = MLFlowLogger(experiment_name="baseline", tracking_uri="file:./mlruns")
        trainer = Trainer(logger=logger)
        # anywhere in the module, the MLflow client itself:
        self.logger.experiment.log_text(self.logger.run_id, "notes", "notes.txt")

    The run is created on first use of ``experiment``, ``run_id`` or ``experiment_id``; ``name`` is the experiment
    id and ``version`` the run id, so checkpoints go to ``save_dir/<experiment id>/<run id>/checkpoints``.

    Args:
        experiment_name: The MLflow experiment the run belongs to; created when no live experiment has that name.
        run_name: The run's display name (the ``mlflow.runName`` tag, which it overrides when ``tags`` has one).
        tracking_uri: Where the tracking store is. ``None`` takes ``MLFLOW_TRACKING_URI`` as it was when
            ``shim.loggers.mlflow`` was imported, and when that was unset, a local file store at
            ``file:<save_dir>``. MLflow 3 only opens local file stores when ``MLFLOW_ALLOW_FILE_STORE`` is true;
            when that variable is unset the logger sets it for the process.
        tags: Tags of the new run.
        save_dir: The folder of the local file store used when no ``tracking_uri`` is given.
        log_model: ``"all"`` uploads each checkpoint a ``ModelCheckpoint`` writes as soon as it is written;
            ``True`` uploads the kept checkpoints when the run ends (or each one right away when ``save_top_k`` is
            ``-1``); ``False`` uploads none.
        prefix: Put in front of every metric name, joined with ``"-"``.
        artifact_location: Where a newly created experiment keeps its artifacts; the store decides when ``None``.
        run_id: Continue this existing run instead of starting a new one.
        synchronous: Passed to MLflow's ``log_batch``: ``False`` logs in the background, ``True`` waits for each
            call. ``None`` keeps MLflow's default. Needs mlflow>=2.8.
        checkpoint_path_prefix: Put in front of the artifact folder each uploaded checkpoint goes to.

    Raises:
        ModuleNotFoundError: ``mlflow`` is not installed, or ``synchronous`` is given with mlflow older than 2.8.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        save_dir: str | None = "./mlruns",
        log_model: Literal[True, False, "all"] = False,
        prefix: str = "",
        artifact_location: str | None = None,
        run_id: str | None = None,
        synchronous: bool | None = None,
        checkpoint_path_prefix: str = "",
    ) -> None:
        mlflow = _import_mlflow()
        if synchronous is not None and _version_tuple(mlflow.__version__) < (2, 8):
            raise ModuleNotFoundError(
                f"MLFlowLogger(synchronous=...) needs mlflow>=2.8, but mlflow {mlflow.__version__} is installed."
            )
        super().__init__()
        self._tracking_uri = tracking_uri or _TRACKING_URI_FROM_ENV or f"{LOCAL_FILE_URI_PREFIX}{save_dir}"
        self._experiment_name = experiment_name
        self._run_name = run_name
        self.tags = tags
        self._log_model = log_model
        self._prefix = prefix
        self._artifact_location = artifact_location
        self._checkpoint_path_prefix = checkpoint_path_prefix
        self._batch_options: dict[str, Any] = {} if synchronous is None else {"synchronous": synchronous}
        self._experiment_id: str | None = None
        self._run_id = run_id
        self._run_started = False  # True once the run exists (or was found) in the store
        self._kept_checkpoints: Checkpoint | None = None  # uploaded at the end when log_model is True
        self._uploaded: dict[Any, float] = {}  # checkpoint path -> modification time when uploaded

        _opt_in_to_file_store(self._tracking_uri)
        from mlflow.tracking import MlflowClient

        # built on every rank, as it checks the tracking URI right away
        self._client = MlflowClient(self._tracking_uri)

    @property
    @rank_zero_experiment
    def experiment(self) -> "MlflowClient":
        """The ``mlflow.tracking.MlflowClient`` of the store; the first access finds or creates the run.

        MLflow's global tracking URI is set to the logger's, so ``mlflow.*`` calls in the user's code reach the same
        store.
        """
        if not self._run_started:
            _import_mlflow().set_tracking_uri(self._tracking_uri)
            if self._run_id is not None:
                self._experiment_id = self._client.get_run(self._run_id).info.experiment_id
            else:
                self._experiment_id = self._find_or_create_experiment()
                self._run_id = self._client.create_run(
                    experiment_id=self._experiment_id, tags=self._run_tags()
                ).info.run_id
            self._run_started = True
        return self._client

    def _find_or_create_experiment(self) -> str:
        found = self._client.get_experiment_by_name(self._experiment_name)
        if found is not None and found.lifecycle_stage != "deleted":
            return str(found.experiment_id)
        log.warning(f"There is no MLflow experiment named {self._experiment_name!r}; creating it.")
        return str(
            self._client.create_experiment(name=self._experiment_name, artifact_location=self._artifact_location)
        )

    def _run_tags(self) -> dict[str, Any]:
        """The tags of a new run: the user's, the run name, and the context MLflow adds (user, source, git commit)."""
        from mlflow.tracking.context.registry import resolve_tags
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

        if self._run_name is not None:
            self.tags = dict(self.tags or {})
            if MLFLOW_RUN_NAME in self.tags:
                log.warning(f"run_name={self._run_name!r} replaces the {MLFLOW_RUN_NAME!r} tag given in `tags`.")
            self.tags[MLFLOW_RUN_NAME] = self._run_name
        return dict(resolve_tags(self.tags))

    def _client_and_run(self) -> tuple["MlflowClient", str]:
        """The client and the id of the started run, for the methods that only run on rank zero."""
        client = self.experiment
        assert self._run_id is not None, "the MLflow run is only started on rank zero"
        return client, self._run_id

    @property
    def run_id(self) -> str | None:
        """The id of the run, which is created first if needed (``None`` on ranks other than zero)."""
        _ = self.experiment
        return self._run_id

    @property
    def experiment_id(self) -> str | None:
        """The id of the experiment, which is created first if needed (``None`` on ranks other than zero)."""
        _ = self.experiment
        return self._experiment_id

    @property
    @override
    def name(self) -> str | None:
        """The experiment id."""
        return self.experiment_id

    @property
    @override
    def version(self) -> str | None:
        """The run id."""
        return self.run_id

    @property
    @override
    def save_dir(self) -> str | None:
        """The folder of the tracking store when it is a ``file:`` URI; ``None`` for any other store."""
        if self._tracking_uri.startswith(LOCAL_FILE_URI_PREFIX):
            return self._tracking_uri[len(LOCAL_FILE_URI_PREFIX) :]
        return None

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        """Log hyper-parameters as run params: nested keys joined with ``/``, values as text cut to 250 characters."""
        from mlflow.entities import Param

        flat = _flatten_dict(_convert_params(params))
        entries = [Param(key=key, value=str(value)[:_PARAM_VALUE_LIMIT]) for key, value in flat.items()]
        client, run_id = self._client_and_run()
        for start in range(0, len(entries), _PARAMS_PER_BATCH):
            batch = entries[start : start + _PARAMS_PER_BATCH]
            client.log_batch(run_id=run_id, params=batch, **self._batch_options)

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log one value per metric at ``step`` (0 when ``None``).

        Text values are dropped with a logged warning; characters MLflow refuses in a name are removed, with a
        ``RuntimeWarning``.
        """
        from mlflow.entities import Metric

        timestamp_ms = int(time.time() * 1000)
        entries = []
        for key, value in _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR).items():
            if isinstance(value, str):
                log.warning(f"MLflow metrics are numbers; the text value {key}={value!r} is not logged.")
                continue
            clean = _UNSUPPORTED_METRIC_CHARS.sub("", key)
            if clean != key:
                rank_zero_warn(
                    f"MLflow metric names may only hold letters, digits and the special characters '_', '/', '.',"
                    f" '-' and ' '; {key!r} is logged as {clean!r}.",
                    category=RuntimeWarning,
                )
            number = value.item() if isinstance(value, Tensor) else value
            entries.append(Metric(key=clean, value=number, timestamp=timestamp_ms, step=step or 0))
        client, run_id = self._client_and_run()
        client.log_batch(run_id=run_id, metrics=entries, **self._batch_options)

    @override
    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """End the run with MLflow's status (``"success"`` -> FINISHED, ``"failed"`` -> FAILED).

        Kept checkpoints are uploaded first when ``log_model=True``. Does nothing when this process never started
        the run.
        """
        if not self._run_started:
            return
        if self._kept_checkpoints is not None:
            self._upload_checkpoints(self._kept_checkpoints)
        client, run_id = self._client_and_run()
        if client.get_run(run_id):
            client.set_terminated(run_id, _STATUS.get(status, status))

    @override
    def after_save_checkpoint(self, checkpoint_callback: "Checkpoint") -> None:
        """Upload the new checkpoint now (``log_model="all"``, or ``True`` with ``save_top_k=-1``) or at the end."""
        if self._log_model == "all" or self._log_model is True and getattr(checkpoint_callback, "save_top_k", 1) == -1:
            self._upload_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._kept_checkpoints = checkpoint_callback

    def _upload_checkpoints(self, checkpoint_callback: "Checkpoint") -> None:
        """Log each checkpoint file not uploaded yet as an artifact folder named after it.

        The folder holds the file, ``metadata.yaml`` (score, file name, the callback's settings) and
        ``aliases.txt`` (``['latest']``, or ``['latest', 'best']`` for the best checkpoint).
        """
        client, run_id = self._client_and_run()
        best_path = getattr(checkpoint_callback, "best_model_path", None)
        for modified, path, score, _ in _scan_checkpoints(checkpoint_callback, self._uploaded):
            folder = f"{self._checkpoint_path_prefix}{Path(path).stem}"
            metadata = {
                "score": score.item() if isinstance(score, Tensor) else score,
                "original_filename": Path(path).name,
                "Checkpoint": {
                    key: getattr(checkpoint_callback, key)
                    for key in _CHECKPOINT_SETTINGS
                    if hasattr(checkpoint_callback, key)
                },
            }
            aliases = ["latest", "best"] if path == best_path else ["latest"]
            client.log_artifact(run_id, path, folder)
            with tempfile.TemporaryDirectory() as extra:
                with open(os.path.join(extra, "metadata.yaml"), "w") as file:
                    yaml.dump(metadata, file, default_flow_style=False)
                with open(os.path.join(extra, "aliases.txt"), "w") as file:
                    file.write(str(aliases))
                client.log_artifacts(run_id, extra, folder)
            self._uploaded[path] = modified
