"""Sending the run's hyper-parameters (module's and datamodule's) to the loggers when a run starts."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["log_hyperparams"]


def _scan_checkpoints(
    checkpoint_callback: Any, logged_model_time: dict[Any, float]
) -> list[tuple[float, Any, Any, str]]:
    """The checkpoint files a logger that uploads models has not sent yet, oldest first.

    Each entry is ``(modification time, path, score, tag)``, the tag being ``"latest"``, ``"best"`` or ``"best_k"``.
    A file counts when it exists and is missing from ``logged_model_time`` (path -> modification time when it was
    sent) or changed since.
    """
    found: dict[Any, tuple[Any, str]] = {}
    if hasattr(checkpoint_callback, "last_model_path") and hasattr(checkpoint_callback, "current_score"):
        found[checkpoint_callback.last_model_path] = (checkpoint_callback.current_score, "latest")
    if hasattr(checkpoint_callback, "best_model_path") and hasattr(checkpoint_callback, "best_model_score"):
        found[checkpoint_callback.best_model_path] = (checkpoint_callback.best_model_score, "best")
    for path, score in getattr(checkpoint_callback, "best_k_models", {}).items():
        found[path] = (score, "best_k")
    files = sorted(
        (Path(path).stat().st_mtime, path, score, tag) for path, (score, tag) in found.items() if Path(path).is_file()
    )
    return [entry for entry in files if entry[1] not in logged_model_time or logged_model_time[entry[1]] < entry[0]]


def log_hyperparams(trainer: "Trainer") -> None:
    """Log the saved hyper-parameters and the model graph to every logger, then save the loggers.

    Raises:
        RuntimeError: If the module and the datamodule saved the same hyper-parameter with different values.
    """
    if not trainer.loggers:
        return
    module = trainer.lightning_module
    datamodule = trainer.datamodule
    from_module = module._log_hyperparams
    from_datamodule = datamodule._log_hyperparams if datamodule is not None else False
    hparams: dict[str, Any] | None = None
    if from_module and from_datamodule:
        assert datamodule is not None
        module_hparams, datamodule_hparams = module.hparams_initial, datamodule.hparams_initial
        clashing = [
            k for k in module_hparams.keys() & datamodule_hparams.keys() if module_hparams[k] != datamodule_hparams[k]
        ]
        if clashing:
            raise RuntimeError(
                f"The hyper-parameters {clashing} were saved by both the LightningModule and the LightningDataModule"
                " with different values; rename one of them."
            )
        hparams = {**module_hparams, **datamodule_hparams}
    elif from_module:
        hparams = module.hparams_initial
    elif from_datamodule:
        assert datamodule is not None
        hparams = datamodule.hparams_initial
    for logger in trainer.loggers:
        if hparams is not None:
            logger.log_hyperparams(hparams)
        logger.log_graph(module)
        logger.save()
