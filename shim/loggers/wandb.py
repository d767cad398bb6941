"""``WandbLogger``: metrics, hyper-parameters, media and checkpoint artifacts sent to a Weights & Biases run.

``wandb`` is an optional extra: it is imported when a logger is built or used, never by ``import shim``.
"""

import inspect
import json
import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor
from torch.nn import Module
from typing_extensions import override

from shim.loggers.hparams import _convert_params
from shim.loggers.logger import Logger, _add_prefix, rank_zero_experiment
from shim.loggers.utilities import _scan_checkpoints
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.imports import RequirementCache
from shim.utilities.rank_zero import _rank_zero_only as rank_zero_only
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from wandb import Artifact
    from wandb.wandb_run import Run

__all__ = ["WandbLogger"]

_WANDB_AVAILABLE = RequirementCache("wandb>=0.12.10")

# the x-axis every metric is plotted against: the Trainer's global step, logged as a metric of its own
_STEP_METRIC = "trainer/global_step"

# the checkpoint callback settings recorded in a model artifact's metadata
_CHECKPOINT_SETTINGS = ("monitor", "mode", "save_last", "save_top_k", "save_weights_only", "_every_n_train_steps")


def _require_wandb() -> None:
    if not _WANDB_AVAILABLE:
        raise ModuleNotFoundError(
            f"WandbLogger needs the `wandb` package ({_WANDB_AVAILABLE}). Install it with"
            " `pip install lightning-shim[wandb]` (or `pip install wandb`)."
        )


def _config_value(value: Any) -> Any:
    """A hyper-parameter as W&B's config stores it: classes by name, callables by what they return, else JSON."""
    if inspect.isclass(value):
        value = value.__name__
    elif callable(value):
        # a factory such as ``partial(make_model, 3)`` is stored as what it builds; one that needs arguments, or
        # that returns another callable, is stored by its name
        try:
            result = value()
        except Exception:
            value = getattr(value, "__name__", None)
        else:
            value = getattr(value, "__name__", None) if callable(result) else result
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    try:
        json.dumps(value)
    except (TypeError, OverflowError):
        return str(value)
    return value


class WandbLogger(Logger):
    r"""Send metrics, hyper-parameters, media and checkpoints to a Weights & Biases run.

    Example::

        logger = WandbLogger(project="mnist", name="baseline", log_model="all")
        trainer = Trainer(logger=logger)

    The run starts on first use of ``experiment`` (the Trainer touches it when ``fit`` starts). Every metric row
    carries ``trainer/global_step``, which the run uses as the x-axis of all metrics.

    Args:
        name: The display name of the run.
        save_dir: The folder W&B writes its ``wandb/`` run folders under.
        version: A run id; giving the id of an existing run continues that run (``resume="allow"``).
        offline: Write the run to local files only (``wandb sync`` uploads it later).
        dir: The same as ``save_dir``, used when ``save_dir`` is ``None``.
        id: The same as ``version``.
        anonymous: Whether to allow anonymous logging.
        project: The W&B project; defaults to ``$WANDB_PROJECT``, else ``"lightning_logs"``.
        log_model: Upload the checkpoints of checkpoint callbacks as ``model`` artifacts: ``True`` at the end of
            a successful fit (every checkpoint as it is written when the callback has ``save_top_k=-1``),
            ``"all"`` every checkpoint as it is written, ``False`` none.
        experiment: A W&B run to log to instead of starting one.
        prefix: Put in front of every metric name, joined with ``"-"``.
        checkpoint_name: The name of the model artifact; defaults to ``model-<run id>``.
        add_file_policy: How W&B keeps the checkpoint file of an artifact: ``"mutable"`` copies it first,
            ``"immutable"`` trusts that it will not change.
        \**kwargs: Passed on to ``wandb.init`` (``entity``, ``group``, ``tags``, ``sync_tensorboard``, ...).

    Raises:
        ModuleNotFoundError: ``wandb`` is not installed.
        MisconfigurationException: ``offline=True`` together with ``log_model``.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        name: str | None = None,
        save_dir: str | os.PathLike[str] | None = ".",
        version: str | None = None,
        offline: bool = False,
        dir: str | os.PathLike[str] | None = None,
        id: str | None = None,
        anonymous: bool | None = None,
        project: str | None = None,
        log_model: Literal["all"] | bool = False,
        experiment: "Run | None" = None,
        prefix: str = "",
        checkpoint_name: str | None = None,
        add_file_policy: Literal["mutable", "immutable"] = "mutable",
        **kwargs: Any,
    ) -> None:
        _require_wandb()
        if offline and log_model:
            raise MisconfigurationException(
                f"WandbLogger(offline=True, log_model={log_model!r}) cannot work: checkpoints cannot be uploaded"
                " by an offline run. Use offline=False to upload checkpoints, or log_model=False."
            )
        super().__init__()
        self._offline = offline
        self._log_model = log_model
        self._prefix = prefix
        self._experiment = experiment
        self._checkpoint_name = checkpoint_name
        self.add_file_policy = add_file_policy
        # checkpoint path -> modification time when it was uploaded; callbacks whose files wait for the end
        self._logged_model_time: dict[str, float] = {}
        self._checkpoint_callbacks: dict[int, Any] = {}
        folder = save_dir if save_dir is not None else dir
        self._wandb_init: dict[str, Any] = {
            "name": name,
            "project": project or os.environ.get("WANDB_PROJECT", "lightning_logs"),
            "dir": None if folder is None else os.fspath(folder),
            "id": version or id,
            "resume": "allow",
            "anonymous": "allow" if anonymous else None,
            **kwargs,
        }
        self._project: str | None = self._wandb_init.get("project")
        self._save_dir: str | None = self._wandb_init.get("dir")
        self._name: str | None = self._wandb_init.get("name")
        self._id: str | None = self._wandb_init.get("id")

    def __getstate__(self) -> dict[str, Any]:
        # a pickled logger (spawned processes, a pickled Trainer) carries the run's id instead of the run, and
        # re-attaches to the same run when its experiment is next used
        import wandb

        wandb.require("service")
        run = self.experiment
        state = self.__dict__.copy()
        if self._experiment is not None:
            state["_id"] = getattr(run, "id", None)
            state["_attach_id"] = getattr(run, "_attach_id", None)
            state["_name"] = getattr(run, "name", None)
        state["_experiment"] = None
        return state

    @property
    @rank_zero_experiment
    def experiment(self) -> "Run":
        """The W&B run, started on first use; use it for anything W&B offers (``logger.experiment.log(...)``).

        A run already started in this process (``wandb.run``) is used instead of starting another, with a warning.
        """
        if self._experiment is None:
            self._experiment = self._start_run()
        return self._experiment

    def _start_run(self) -> "Run":
        import wandb

        if self._offline:
            os.environ["WANDB_MODE"] = "dryrun"
        attach_id = getattr(self, "_attach_id", None)
        if wandb.run is not None:
            rank_zero_warn(
                "WandbLogger logs to the W&B run already in progress instead of starting a new one;"
                " call `wandb.finish()` before building the logger to get a run of its own."
            )
            return wandb.run
        if attach_id is not None and hasattr(wandb, "_attach"):
            return wandb._attach(attach_id)
        run = wandb.init(**self._wandb_init)
        if callable(getattr(run, "define_metric", None)):
            if self._wandb_init.get("sync_tensorboard"):
                run.define_metric("*", step_metric="global_step")  # TensorBoard's own step
            else:
                run.define_metric(_STEP_METRIC)
                run.define_metric("*", step_metric=_STEP_METRIC, step_sync=True)
        return run

    def watch(self, model: Module, log: str | None = "gradients", log_freq: int = 100, log_graph: bool = True) -> None:
        """Have W&B record ``model``'s gradients and/or parameters every ``log_freq`` steps, and its graph.

        Args:
            model: The model to watch.
            log: ``"gradients"``, ``"parameters"``, ``"all"`` or ``None``.
            log_freq: How many steps between two records.
            log_graph: Whether to record the model's graph.
        """
        run: Any = self.experiment  # W&B types ``log`` as a Literal; any other string is W&B's to refuse
        run.watch(model, log=log, log_freq=log_freq, log_graph=log_graph)

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        """Store the hyper-parameters in the run's config; values that are not JSON are stored as their ``str``."""
        config = {key: _config_value(value) for key, value in _convert_params(params).items()}
        self.experiment.config.update(config, allow_val_change=True)

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log one row of metrics; with a ``step`` the row also carries ``trainer/global_step``.

        With ``sync_tensorboard=True`` the row is logged as it is: W&B takes the step from TensorBoard.
        """
        row = dict(_add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR))
        if step is not None and not self._wandb_init.get("sync_tensorboard"):
            row[_STEP_METRIC] = step
        self.experiment.log(row)

    @rank_zero_only
    def log_table(
        self,
        key: str,
        columns: list[Any] | None = None,
        data: list[list[Any]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log a ``wandb.Table`` built from ``columns`` and ``data`` rows, or from a pandas ``dataframe``."""
        import wandb

        self.log_metrics({key: wandb.Table(columns=columns, data=data, dataframe=dataframe)}, step)

    @rank_zero_only
    def log_text(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[str]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log text as a table; the same as ``log_table``."""
        self.log_table(key, columns, data, dataframe, step)

    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of images (tensors, arrays, PIL images or file paths) under ``key``.

        Each keyword argument is a list with one entry per image, passed to its ``wandb.Image``
        (``caption=[...]``, ``masks=[...]``).

        Raises:
            TypeError: ``images`` is not a list.
            ValueError: A keyword argument's list does not have one entry per image.
        """
        self._log_media("Image", key, images, step, kwargs)

    @rank_zero_only
    def log_audio(self, key: str, audios: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of audio clips (arrays or file paths); keyword lists go to each ``wandb.Audio``.

        Raises:
            TypeError: ``audios`` is not a list.
            ValueError: A keyword argument's list does not have one entry per clip.
        """
        self._log_media("Audio", key, audios, step, kwargs)

    @rank_zero_only
    def log_video(self, key: str, videos: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of videos (arrays or file paths); keyword lists go to each ``wandb.Video``.

        Raises:
            TypeError: ``videos`` is not a list.
            ValueError: A keyword argument's list does not have one entry per video.
        """
        self._log_media("Video", key, videos, step, kwargs)

    def _log_media(self, kind: str, key: str, items: Any, step: int | None, options: dict[str, Any]) -> None:
        if not isinstance(items, list):
            raise TypeError(f"log_{kind.lower()} takes a list of items to log, got {type(items)}")
        for option, values in options.items():
            if len(values) != len(items):
                raise ValueError(
                    f"log_{kind.lower()} got {len(items)} items but {len(values)} values for {option};"
                    " give one value per item"
                )
        import wandb

        media_class = getattr(wandb, kind)
        media = [
            media_class(item, **{option: values[i] for option, values in options.items()})
            for i, item in enumerate(items)
        ]
        self.log_metrics({key: media}, step)

    @property
    @override
    def save_dir(self) -> str | None:
        """The folder W&B writes its ``wandb/`` run folders under."""
        return self._save_dir

    @property
    @override
    def name(self) -> str | None:
        """The W&B project (the run's display name is ``logger.experiment.name``)."""
        return self._project

    @property
    @override
    def version(self) -> str | None:
        """The run id: the started run's, else the one given to the constructor."""
        return self._experiment.id if self._experiment else self._id

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Upload the callback's new checkpoints now, or remember the callback to upload them at the end."""
        if self._log_model == "all" or (self._log_model is True and checkpoint_callback.save_top_k == -1):
            self._log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callbacks[id(checkpoint_callback)] = checkpoint_callback

    @staticmethod
    @rank_zero_only
    def download_artifact(
        artifact: str,
        save_dir: str | os.PathLike[str] | None = None,
        artifact_type: str | None = None,
        use_artifact: bool | None = True,
    ) -> str:
        """Download an artifact and return the folder it was written to.

        Args:
            artifact: The artifact's path (``"entity/project/name:alias"``).
            save_dir: Where to write it; W&B's artifact folder by default.
            artifact_type: The artifact's type, used when there is no current run.
            use_artifact: Whether the current run (if any) records that it used the artifact.
        """
        import wandb

        if wandb.run is not None and use_artifact:
            found = wandb.run.use_artifact(artifact)
        else:
            found = wandb.Api().artifact(artifact, type=artifact_type)
        return found.download(root=None if save_dir is None else os.fspath(save_dir))

    def use_artifact(self, artifact: str, artifact_type: str | None = None) -> "Artifact":
        """Record in the run that it uses ``artifact``, and return that artifact."""
        return self.experiment.use_artifact(artifact, type=artifact_type)

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """After a successful fit, upload the checkpoints ``log_model=True`` kept for the end."""
        if status != "success" or self._experiment is None:
            return
        for checkpoint_callback in self._checkpoint_callbacks.values():
            self._log_checkpoints(checkpoint_callback)

    def _log_checkpoints(self, checkpoint_callback: Any) -> None:
        """Upload each checkpoint of the callback not uploaded yet (or changed since) as a ``model`` artifact."""
        import wandb

        for mtime, path, score, _tag in _scan_checkpoints(checkpoint_callback, self._logged_model_time):
            settings = {
                key: getattr(checkpoint_callback, key)
                for key in _CHECKPOINT_SETTINGS
                if hasattr(checkpoint_callback, key)
            }
            metadata = {
                "score": score.item() if isinstance(score, Tensor) else score,
                "original_filename": Path(path).name,
                type(checkpoint_callback).__name__: settings,
            }
            if not self._checkpoint_name:
                self._checkpoint_name = f"model-{self.experiment.id}"
            artifact = wandb.Artifact(name=self._checkpoint_name, type="model", metadata=metadata)
            artifact.add_file(path, name="model.ckpt", policy=self.add_file_policy)
            aliases = ["latest", "best"] if path == checkpoint_callback.best_model_path else ["latest"]
            self.experiment.log_artifact(artifact, aliases=aliases)
            self._logged_model_time[path] = mtime
