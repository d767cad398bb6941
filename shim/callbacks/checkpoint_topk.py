"""The saving half of ``ModelCheckpoint``: top-k bookkeeping by score, file names, last files, links, removal.

``TopKCheckpoint`` writes and replaces files and keeps ``best_k_models`` and its ends up to date; its subclass
``ModelCheckpoint`` owns the arguments and decides when to call it.
"""

import os
import shutil
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from shim.callbacks.checkpoint import Checkpoint
from shim.callbacks.checkpoint_naming import fill_filename_template
from shim.trainer.checkpoint_files import checkpoint_exists, is_local_path
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import WarningCache, rank_zero_info

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["TopKCheckpoint"]


def _beats(current: Tensor, reference: Tensor, mode: str) -> bool:
    """Whether ``current`` is strictly better than ``reference`` (smaller for ``"min"``, larger for ``"max"``)."""
    return bool(current < reference) if mode == "min" else bool(current > reference)


def _score_to_store(current: Tensor, mode: str) -> Tensor:
    """``current``, with NaN replaced by the worst possible score so a NaN checkpoint never ranks as best."""
    if torch.isnan(current):
        return torch.tensor(float("inf") if mode == "min" else float("-inf"), device=current.device)
    return current


class TopKCheckpoint(Checkpoint):
    """Writes checkpoints named from a template and keeps the ``save_top_k`` best by ``monitor`` on disk.

    The attributes are declared and set by ``ModelCheckpoint.__init__``.
    """

    # class constants of ModelCheckpoint; a user may also set them on one instance
    CHECKPOINT_JOIN_CHAR: str
    CHECKPOINT_EQUALS_CHAR: str
    CHECKPOINT_NAME_LAST: str
    FILE_EXTENSION: str
    STARTING_VERSION: int

    monitor: str | None
    mode: str
    verbose: bool
    save_top_k: int
    save_last: bool | Literal["link"] | None
    save_weights_only: bool
    auto_insert_metric_name: bool
    dirpath: str | None
    filename: str | None
    best_k_models: dict[str, Tensor]
    kth_best_model_path: str
    kth_value: Tensor
    best_model_path: str
    best_model_score: Tensor | None
    current_score: Tensor | None
    last_model_path: str
    _enable_version_counter: bool
    _last_global_step_saved: int
    _last_checkpoint_saved: str
    _missing_monitor_warnings: WarningCache

    def check_monitor_top_k(self, trainer: "Trainer", current: Tensor | None = None) -> bool:
        """Whether ``current`` earns a place among the ``save_top_k`` best."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        decision = _beats(current, self.best_k_models[self.kth_best_model_path], self.mode)
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
            self._save_none_monitor_checkpoint(trainer, candidates)
            return
        if self.monitor not in candidates:
            message = (
                f"ModelCheckpoint(monitor={self.monitor!r}) found no such metric; logged metrics are"
                f" {list(candidates)}. Log it with `self.log({self.monitor!r}, value)`."
            )
            if trainer.fit_loop.epoch_loop.val_loop._has_run:
                raise MisconfigurationException(message)
            self._missing_monitor_warnings.warn(message)  # once per message, as validation may log it later
        current = candidates.get(self.monitor)
        if self.check_monitor_top_k(trainer, current):
            assert current is not None
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: {self.monitor!r} was not"
                f" in top {self.save_top_k}"
            )

    def _save_none_monitor_checkpoint(self, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        """Without a monitor the newest checkpoint is the best one; ``save_top_k=1`` keeps only it."""
        filepath = self._free_filepath(trainer, candidates, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath  # set first: it is part of the saved state
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    def _update_best_and_save(self, current: Tensor, trainer: "Trainer", candidates: dict[str, Tensor]) -> None:
        """Save ``current``'s checkpoint into the top k, dropping the k-th best file when k are kept already."""
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        dropped = None
        if len(self.best_k_models) == k and k > 0:
            dropped = self.kth_best_model_path
            self.best_k_models.pop(dropped)
        current = _score_to_store(current, self.mode)
        filepath = self._free_filepath(trainer, candidates, dropped)
        self.current_score = current
        self.best_k_models[filepath] = current
        scores = self.best_k_models
        # ties keep the path inserted first, as min/max over a dict do
        if len(scores) == k:
            self.kth_best_model_path = (max if self.mode == "min" else min)(scores, key=lambda p: scores[p])
            self.kth_value = scores[self.kth_best_model_path]
        self.best_model_path = (min if self.mode == "min" else max)(scores, key=lambda p: scores[p])
        self.best_model_score = scores[self.best_model_path]
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
        """Replace ``previous`` unless it is ``current``, the file this run resumed from, or outside ``dirpath``."""
        if previous == current:
            return False
        if not is_local_path(previous):
            return True
        previous_abs = os.path.abspath(previous)
        if trainer.ckpt_path is not None and previous_abs == os.path.abspath(trainer.ckpt_path):
            return False  # never delete the checkpoint this run resumed from
        assert self.dirpath is not None
        return os.path.commonpath([os.path.abspath(self.dirpath), previous_abs]) == os.path.abspath(self.dirpath)

    def _remove_checkpoint(self, trainer: "Trainer", filepath: str) -> None:
        trainer.strategy.remove_checkpoint(filepath)

    def file_exists(self, filepath: str, trainer: "Trainer") -> bool:
        """Whether ``filepath`` exists, as global rank 0 sees it (so every process names its files alike)."""
        return bool(trainer.strategy.broadcast(checkpoint_exists(filepath)))

    def to_yaml(self, filepath: str | os.PathLike | None = None) -> None:
        """Write ``best_k_models`` (path: score) to a YAML file, by default ``<dirpath>/best_k_models.yaml``."""
        import yaml

        best_k = {path: score.item() for path, score in self.best_k_models.items()}
        if filepath is None:
            assert self.dirpath, "ModelCheckpoint.to_yaml() needs a filepath until the callback has a dirpath"
            filepath = os.path.join(self.dirpath, "best_k_models.yaml")
        with open(filepath, "w") as f:
            yaml.dump(best_k, f)

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
        name = fill_filename_template(
            filename or self.filename,
            metrics,
            prefix,
            self.auto_insert_metric_name,
            self.CHECKPOINT_JOIN_CHAR,
            self.CHECKPOINT_EQUALS_CHAR,
        )
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name = f"{name}{self.FILE_EXTENSION}"
        return os.path.join(self.dirpath, name) if self.dirpath else name
