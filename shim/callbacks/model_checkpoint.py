"""``ModelCheckpoint``: save checkpoints on a schedule, keep the best ``save_top_k`` by a monitored metric."""

import os
import re
import shutil
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor
from typing_extensions import override

from shim.callbacks.callback import _ignores_outputs
from shim.callbacks.checkpoint import Checkpoint
from shim.trainer.states import TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import get_logger, rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

log = get_logger(__name__)

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Checkpoint):
    """Save the model periodically, optionally keeping only the ``save_top_k`` best by ``monitor``.

    Args:
        dirpath: Folder for the checkpoints; by default ``<logger dir>/checkpoints`` or
            ``<default_root_dir>/checkpoints`` without a logger.
        filename: Name template such as ``"{epoch}-{val_loss:.2f}"``; metrics come from ``callback_metrics``.
        monitor: The metric that ranks checkpoints; ``None`` keeps the latest.
        verbose: Log each decision.
        save_last: Also keep ``last.ckpt``; ``"link"`` makes it a link to the newest checkpoint.
        save_top_k: How many to keep: ``k``, 0 (none) or -1 (all).
        save_on_exception: Save when training raises.
        save_weights_only: Leave optimizer, scheduler and callback states out.
        mode: ``"min"`` or ``"max"``: which end of ``monitor`` is best.
        auto_insert_metric_name: ``{epoch}`` becomes ``epoch=3`` rather than ``3``.
        every_n_train_steps: Save every this many optimizer steps.
        train_time_interval: Save every this much wall time.
        every_n_epochs: Save every this many epochs (the default: 1, when no other trigger is given).
        save_on_train_epoch_end: Save at the end of the training epoch rather than after validation.
        enable_version_counter: Add ``-v1``, ``-v2``... rather than overwrite an existing file.

    Raises:
        MisconfigurationException: For a ``mode`` other than min/max, negative counts, several triggers at once,
            or ``save_top_k`` other than -1, 0, 1 without a ``monitor``.
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
        self.dirpath: str | None = os.path.realpath(os.path.expanduser(dirpath)) if dirpath else None
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

    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        self._last_time_checked = time.monotonic()

    @_ignores_outputs
    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        skip_batch = self._every_n_train_steps < 1 or trainer.global_step % self._every_n_train_steps != 0
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
        rank_zero_info(f"{type(exception).__name__} raised ({exception}); saved a checkpoint to {filepath}")

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

    def check_monitor_top_k(self, trainer: "Trainer", current: Tensor | None = None) -> bool:
        """Whether ``current`` earns a place among the ``save_top_k`` best."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        better = torch.lt if self.mode == "min" else torch.gt
        decision = bool(better(current, self.best_k_models[self.kth_best_model_path]))
        return trainer.strategy.reduce_boolean_decision(decision)

    def _monitor_candidates(self, trainer: "Trainer") -> dict[str, Tensor]:
        candidates = {k: v.clone() if isinstance(v, Tensor) else v for k, v in trainer.callback_metrics.items()}
        epoch = candidates.get("epoch")
        candidates["epoch"] = epoch.int() if isinstance(epoch, Tensor) else torch.tensor(trainer.current_epoch)
        step = candidates.get("step")
        candidates["step"] = step.int() if isinstance(step, Tensor) else torch.tensor(trainer.global_step)
        return candidates

    # -- saving ----------------------------------------------------------------------------------------------
    def _save_topk_checkpoint(self, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_latest(trainer, candidates)
            return
        if self.monitor not in candidates:
            message = (
                f"ModelCheckpoint(monitor={self.monitor!r}) found no such metric; logged metrics are"
                f" {list(candidates)}. Log it with `self.log({self.monitor!r}, value)`."
            )
            if trainer.fit_loop.epoch_loop.val_loop._has_run:
                raise MisconfigurationException(message)
            rank_zero_warn(message)
        current = candidates.get(self.monitor)
        if self.check_monitor_top_k(trainer, current):
            assert current is not None
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: {self.monitor!r} was not"
                f" in top {self.save_top_k}"
            )

    def _save_latest(self, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        filepath = self._free_filepath(trainer, candidates, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    def _update_best_and_save(self, current: Tensor, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        dropped = None
        if len(self.best_k_models) == k and k > 0:
            dropped = self.kth_best_model_path
            self.best_k_models.pop(dropped)
        if torch.isnan(current):
            current = torch.tensor(float("inf") if self.mode == "min" else float("-inf"), device=current.device)
        filepath = self._free_filepath(trainer, candidates, dropped)
        self.current_score = current
        self.best_k_models[filepath] = current
        if len(self.best_k_models) == k:
            worst = max if self.mode == "min" else min
            self.kth_best_model_path = worst(self.best_k_models, key=lambda p: self.best_k_models[p])
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        best = min if self.mode == "min" else max
        self.best_model_path = best(self.best_k_models, key=lambda p: self.best_k_models[p])
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: {self.monitor!r} reached"
                f" {float(current):0.5f} (best {float(self.best_model_score):0.5f}), saving model to {filepath!r}"
                f" as top {k}"
            )
        self._save_checkpoint(trainer, filepath)
        if dropped and self._should_remove(trainer, dropped, filepath):
            self._remove_checkpoint(trainer, dropped)

    def _save_last_checkpoint(self, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while self.file_exists(filepath, trainer) and filepath != self.last_model_path:
                filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST, ver=version)
                version += 1
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            self._link_checkpoint(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    def _save_checkpoint(self, trainer: "Trainer", filepath: str) -> None:
        trainer.save_checkpoint(filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                after_save = getattr(logger, "after_save_checkpoint", None)
                if callable(after_save):
                    after_save(self)

    @staticmethod
    def _link_checkpoint(trainer: "Trainer", filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            if os.path.islink(linkpath) or os.path.isfile(linkpath):
                os.remove(linkpath)
            elif os.path.isdir(linkpath):
                shutil.rmtree(linkpath)
            try:
                os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), linkpath)
            except OSError:  # file systems without links get a copy
                shutil.copy(filepath, linkpath)
        trainer.strategy.barrier()

    def _should_remove(self, trainer: "Trainer", previous: str, current: str) -> bool:
        if previous == current:
            return False
        previous_abs = os.path.abspath(previous)
        if trainer.ckpt_path is not None and previous_abs == os.path.abspath(trainer.ckpt_path):
            return False  # never delete the checkpoint this run resumed from
        assert self.dirpath is not None
        return os.path.commonpath([os.path.abspath(self.dirpath), previous_abs]) == os.path.abspath(self.dirpath)

    def _remove_checkpoint(self, trainer: "Trainer", filepath: str) -> None:
        if trainer.is_global_zero and (os.path.isfile(filepath) or os.path.islink(filepath)):
            os.remove(filepath)

    def file_exists(self, filepath: str, trainer: "Trainer") -> bool:
        return bool(trainer.strategy.broadcast(os.path.exists(filepath)))

    # -- names -------------------------------------------------------------------------------------------------
    def _free_filepath(self, trainer: "Trainer", candidates: dict[str, Tensor], replaced: str | None) -> str:
        """The formatted path, with ``-vN`` added while it would overwrite a file that is not being replaced."""
        filepath = self.format_checkpoint_name(candidates)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while self.file_exists(filepath, trainer) and filepath != replaced:
                filepath = self.format_checkpoint_name(candidates, ver=version)
                version += 1
        return filepath

    def format_checkpoint_name(
        self, metrics: dict[str, Any], filename: str | None = None, ver: int | None = None, prefix: str | None = None
    ) -> str:
        """The checkpoint path for ``metrics``: ``{name}`` fields filled in (``name=value`` with auto insert)."""
        name = self._format_name(filename or self.filename, metrics, prefix)
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name = f"{name}{self.FILE_EXTENSION}"
        return os.path.join(self.dirpath, name) if self.dirpath else name

    def _format_name(self, filename: str | None, metrics: dict[str, Any], prefix: str | None) -> str:
        if not filename:
            filename = "{epoch}" + self.CHECKPOINT_JOIN_CHAR + "{step}"
        # longest names first, so "{val_loss_epoch}" is not half-replaced by "{val_loss}"
        fields = sorted(set(re.findall(r"(\{.*?)[:\}]", filename)), key=len, reverse=True)
        values = dict(metrics)
        for field in fields:
            name = field[1:]
            if self.auto_insert_metric_name:
                filename = filename.replace(field, name + self.CHECKPOINT_EQUALS_CHAR + "{" + name)
            filename = filename.replace(field, f"{{0[{name}]")
            values.setdefault(name, torch.tensor(0))
        filename = filename.format(values)
        if prefix is not None:
            filename = self.CHECKPOINT_JOIN_CHAR.join([prefix, filename])
        return filename

    def _resolve_dir(self, trainer: "Trainer") -> str:
        if self.dirpath is not None:
            return self.dirpath
        if trainer.loggers:
            logger = trainer.loggers[0]
            save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
            version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
            return os.path.join(save_dir, str(logger.name), version, "checkpoints")
        return os.path.join(trainer.default_root_dir, "checkpoints")

    def _find_last_checkpoints(self, trainer: "Trainer") -> set[str]:
        folder = self._resolve_dir(trainer)
        if not os.path.isdir(folder):
            return set()
        pattern = re.compile(rf"^{self.CHECKPOINT_NAME_LAST}(-(\d+))?")
        return {
            os.path.normpath(os.path.join(folder, name))
            for name in os.listdir(folder)
            if name.endswith(self.FILE_EXTENSION) and pattern.match(name[: -len(self.FILE_EXTENSION)])
        }
