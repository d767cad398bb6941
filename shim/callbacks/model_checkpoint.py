"""``ModelCheckpoint``: save checkpoints on a schedule, keep the best ``save_top_k`` by a monitored metric."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn
from typing_extensions import override

from shim.callbacks.callback import _ignores_outputs
from shim.callbacks.checkpoint_naming import default_checkpoint_dir, find_last_checkpoints
from shim.callbacks.checkpoint_topk import TopKCheckpoint
from shim.trainer.checkpoint_files import is_local_path
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache, get_logger, rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

log = get_logger(__name__)

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(TopKCheckpoint):
    """Save the model periodically, optionally keeping only the ``save_top_k`` best by ``monitor``.

    Args:
        dirpath: Folder for the checkpoints; by default ``<logger dir>/checkpoints`` or
            ``<default_root_dir>/checkpoints`` without a logger. A local path is made absolute; a path with a
            protocol (``s3://...``) is kept as given.
        filename: Name template such as ``"{epoch}-{val_loss:.2f}"``; metrics come from ``callback_metrics``.
        monitor: The metric that ranks checkpoints; ``None`` keeps the latest.
        verbose: Log each decision.
        save_last: Also keep ``last.ckpt``; ``"link"`` makes it a link to the newest checkpoint.
        save_top_k: How many to keep: ``k``, 0 (none) or -1 (all).
        save_on_exception: Save when training raises.
        save_weights_only: Leave optimizer, scheduler and callback states out.
        mode: ``"min"`` or ``"max"``: which end of ``monitor`` is best.
        auto_insert_metric_name: ``{epoch}`` becomes ``epoch=3`` rather than ``3``.
        every_n_train_steps: Save every this many optimizer steps. Under manual optimization the checkpoint holds
            the weights after the step's ``optimizer.step()``, unless ``training_step`` keeps a copy from before it:
            ``self.saved_models[batch_idx] = <state dict of self.layer>``; the newest copy is saved then.
        train_time_interval: Save every this much wall time.
        every_n_epochs: Save every this many epochs (the default: 1, when no other trigger is given).
        save_on_train_epoch_end: Save at the end of the training epoch rather than after validation.
        enable_version_counter: Add ``-v1``, ``-v2``... rather than overwrite an existing file.

    Raises:
        MisconfigurationException: For a ``mode`` other than min/max, negative counts, several triggers at once,
            or ``save_top_k`` other than -1, 0, 1 without a ``monitor``.
        ValueError: At ``setup``, for ``save_last="link"`` with a ``dirpath`` that is not on the local file system.
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    def __init__(
        self,
        dirpath: str | os.PathLike | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | Literal["link"] | None = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
    ) -> None:
        super().__init__()
        if mode not in ("min", "max"):
            raise MisconfigurationException(f"ModelCheckpoint(mode={mode!r}) is not valid; use 'min' or 'max'.")
        if save_last not in (None, True, False, "link"):
            raise MisconfigurationException(f"ModelCheckpoint(save_last={save_last!r}): use True, False or 'link'.")
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_on_exception = save_on_exception
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        if dirpath and is_local_path(dirpath):
            dirpath = os.path.realpath(os.path.expanduser(dirpath))
        self.dirpath: str | None = None if dirpath is None else os.fspath(dirpath)
        self.filename = filename
        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        self._every_n_epochs = every_n_epochs or 0
        self._every_n_train_steps = every_n_train_steps or 0
        self._train_time_interval = train_time_interval
        self._check_configuration()
        self.kth_value: Tensor = torch.tensor(float("inf") if mode == "min" else float("-inf"))
        self.current_score: Tensor | None = None
        self.best_k_models: dict[str, Tensor] = {}
        self.kth_best_model_path = ""
        self.best_model_score: Tensor | None = None
        self.best_model_path = ""
        self.last_model_path = ""
        self._last_global_step_saved = 0
        self._last_checkpoint_saved = ""
        self._last_time_checked: float | None = None
        self._defer_save_until_validation = False
        self._missing_monitor_warnings = WarningCache()

    def _check_configuration(self) -> None:
        if self.save_top_k < -1:
            raise MisconfigurationException(f"ModelCheckpoint(save_top_k={self.save_top_k}) is not valid: use >= -1.")
        if self._every_n_train_steps < 0:
            raise MisconfigurationException(
                f"ModelCheckpoint(every_n_train_steps={self._every_n_train_steps}) is not valid: use >= 0."
            )
        if self._every_n_epochs < 0:
            raise MisconfigurationException(
                f"ModelCheckpoint(every_n_epochs={self._every_n_epochs}) is not valid: use >= 0."
            )
        triggers = (
            (self._every_n_train_steps >= 1) + (self._every_n_epochs >= 1) + (self._train_time_interval is not None)
        )
        if triggers > 1:
            raise MisconfigurationException(
                f"ModelCheckpoint got every_n_train_steps={self._every_n_train_steps},"
                f" every_n_epochs={self._every_n_epochs} and train_time_interval={self._train_time_interval};"
                " give only one of them."
            )
        if self.monitor is None and self.save_top_k not in (-1, 0, 1):
            raise MisconfigurationException(
                f"ModelCheckpoint(save_top_k={self.save_top_k}, monitor=None): ranking the top k needs a `monitor`."
            )

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
            train_time_interval=self._train_time_interval,
        )

    @property
    def every_n_epochs(self) -> int:
        return self._every_n_epochs

    # -- hooks -------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        self.dirpath = trainer.strategy.broadcast(self._resolve_dir(trainer))
        is_fit = trainer.is_global_zero and stage == "fit" and self.save_top_k != 0
        if is_fit and os.path.isdir(self.dirpath) and os.listdir(self.dirpath):
            rank_zero_warn(f"Checkpoint directory {self.dirpath} exists and is not empty.")
        if self.save_last == "link" and not is_local_path(self.dirpath):
            raise ValueError(
                f"ModelCheckpoint(save_last='link') needs a local folder to make the link in, but dirpath is"
                f" {self.dirpath!r}; use save_last=True there, which writes a copy of the newest checkpoint."
            )

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._last_time_checked = time.monotonic()

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        skip_batch = self._every_n_train_steps < 1 or trainer.global_step % self._every_n_train_steps != 0
        if skip_batch and self._train_time_interval is None:
            return  # nothing is due after this batch, whichever way the module optimizes
        if not pl_module.automatic_optimization:
            if not skip_batch:  # under manual optimization only the step count triggers a save
                self._save_after_manual_step(trainer, pl_module)
            return
        skip_time = True
        now = 0.0  # read only when a time interval is set: this runs for every batch
        if self._train_time_interval is not None and self._last_time_checked is not None:
            now = time.monotonic()
            skip_time = now - self._last_time_checked < self._train_time_interval.total_seconds()
            skip_time = trainer.strategy.broadcast(skip_time)
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            # the metric is logged by validation: save once validation produced it
            self._defer_save_until_validation = True
            return
        if (
            self.monitor is not None
            and not self._should_save_on_train_epoch_end(trainer)
            and self._validates_next(trainer)
        ):
            self._defer_save_until_validation = True
            return
        if self._should_skip_saving(trainer):
            return
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def _save_after_manual_step(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """The every-n-steps save of a manually optimized module, from its pre-step copy when it keeps one."""
        if self._should_skip_saving(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            self._defer_save_until_validation = True  # the metric is logged by validation
            return
        copies = getattr(pl_module, "saved_models", None)
        layer = getattr(pl_module, "layer", None)
        if isinstance(copies, dict) and copies and isinstance(layer, nn.Module):
            with _weights_of(layer, copies[max(copies)]):
                self._save_topk_checkpoint(trainer, candidates)
                self._save_last_checkpoint(trainer, candidates)
        else:
            if trainer.is_global_zero:
                rank_zero_warn(
                    f"ModelCheckpoint(every_n_train_steps={self._every_n_train_steps}) with manual optimization saves"
                    " the weights as they are after this step's `optimizer.step()`: the module keeps no pre-step"
                    " copy. To save the weights from before the step, store one in `training_step` before stepping:"
                    " `self.saved_models[batch_idx] = {k: v.detach().clone() for k, v in"
                    " self.layer.state_dict().items()}`."
                )
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
        self._last_time_checked = time.monotonic()

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._should_skip_saving(trainer) or not self._should_save_on_train_epoch_end(trainer):
            return
        self._save_at_epoch_end(trainer)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._should_skip_saving(trainer) or self._should_save_on_train_epoch_end(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        if self._defer_save_until_validation:
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
            self._defer_save_until_validation = False
            return
        self._save_at_epoch_end(trainer, candidates)

    def _save_at_epoch_end(self, trainer: "Trainer", candidates: dict[str, Tensor] | None = None) -> None:
        candidates = candidates if candidates is not None else self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk_checkpoint(trainer, candidates)
        if self._last_global_step_saved == trainer.global_step or (
            self.save_last == "link" and self._last_checkpoint_saved
        ):
            self._save_last_checkpoint(trainer, candidates)

    @override
    def on_exception(self, trainer: "Trainer", pl_module: "LightningModule", exception: BaseException) -> None:
        if not (
            self.save_on_exception
            and not trainer.fast_dev_run
            and not trainer.sanity_checking
            and self._last_global_step_saved != trainer.global_step
        ):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(metrics=candidates)
        self._save_checkpoint(trainer, filepath)
        self._save_last_checkpoint(trainer, candidates)
        rank_zero_info(f"{type(exception).__name__} ({exception}) ended the run; saved a checkpoint to {filepath}")

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self.save_last and not self._last_checkpoint_saved:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    # -- state -------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": self.best_k_models,
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dir = state_dict.get("dirpath", self.dirpath)
        if saved_dir == self.dirpath:
            self.best_model_score = state_dict["best_model_score"]
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = state_dict.get("best_k_models", self.best_k_models)
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            rank_zero_warn(
                f"The checkpoint folder changed from {saved_dir!r} to {self.dirpath!r}: only `best_model_path` is"
                " restored, not the top-k bookkeeping or `last_model_path`."
            )
        self.best_model_path = state_dict["best_model_path"]

    # -- decisions -----------------------------------------------------------------------------------------
    def _should_skip_saving(self, trainer: "Trainer") -> bool:
        return (
            bool(trainer.fast_dev_run)
            or trainer.state.fn != TrainerFn.FITTING
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step
        )

    def _should_save_on_train_epoch_end(self, trainer: "Trainer") -> bool:
        """Save at the training epoch's end unless validation runs mid-epoch or not every epoch."""
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if trainer._config.val_check_seconds is not None:
            return False  # time-based validation: save when a validation ends
        if trainer.check_val_every_n_epoch != 1:
            return False
        if sum(trainer.num_val_batches) == 0:
            return True
        return trainer.val_check_interval == 1.0

    @staticmethod
    def _validates_next(trainer: "Trainer") -> bool:
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch or not trainer.enable_validation:
            return False
        every = trainer.check_val_every_n_epoch
        return sum(trainer.num_val_batches) > 0 and (every is None or (trainer.current_epoch + 1) % every == 0)

    def _resolve_dir(self, trainer: "Trainer") -> str:
        return self.dirpath if self.dirpath is not None else default_checkpoint_dir(trainer)

    def _find_last_checkpoints(self, trainer: "Trainer") -> set[str]:
        return find_last_checkpoints(self._resolve_dir(trainer), self.CHECKPOINT_NAME_LAST, self.FILE_EXTENSION)


@contextmanager
def _weights_of(layer: nn.Module, state_dict: Any) -> Iterator[None]:
    """Give ``layer`` the weights of ``state_dict`` for the block, then its own again."""
    with torch.no_grad():
        own = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    try:
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"`saved_models` holds a {type(state_dict).__name__}; ModelCheckpoint needs a state dict of"
                " `self.layer` there."
            )
        layer.load_state_dict(state_dict)
        yield
    finally:
        layer.load_state_dict(own)
