"""The Trainer's read-only view of its run: the model, hardware, loggers, callbacks, stage, counters and data.

Every property here only reads (or, for the stage flags, sets) state that the Trainer, its strategy and its loops
own; ``Trainer`` inherits them.
"""

import operator
import os
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from shim.accelerators.accelerator import Accelerator
from shim.callbacks.callback import Callback
from shim.callbacks.checkpoint import Checkpoint
from shim.core.module import LightningModule
from shim.core.optimizer import LRSchedulerConfig
from shim.plugins.precision.precision import Precision
from shim.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus
from shim.utilities.model_helpers import runs_other_code
from shim.utilities.rank_zero import rank_zero_info

if TYPE_CHECKING:
    from shim.callbacks.early_stopping import EarlyStopping
    from shim.loops.evaluation_loop import EvaluationLoop
    from shim.loops.fit_loop import FitLoop
    from shim.loops.prediction_loop import PredictionLoop
    from shim.strategies.strategy import Strategy
    from shim.trainer.metric_store import MetricStore
    from shim.trainer.metrics import ResultCollection

__all__ = ["TrainerProperties"]


class TrainerProperties:
    """Properties of ``Trainer``; the attributes they read are declared and set in ``Trainer.__init__``."""

    strategy: "Strategy"
    state: TrainerState
    fit_loop: "FitLoop"
    validate_loop: "EvaluationLoop"
    test_loop: "EvaluationLoop"
    predict_loop: "PredictionLoop"
    _loggers: list[Any]
    callbacks: list[Callback]
    accumulate_grad_batches: int
    limit_val_batches: int | float
    num_sanity_val_steps: int | float
    max_time: Any
    _metrics: "MetricStore"
    _default_root_dir: str
    _validation_enabled: bool | None
    _module_overrides_cache: dict[str, bool]

    def _set_stage(self, stage: RunningStage | None) -> None:
        self._metrics.flush()  # pending step values belong to the loop that is ending
        self.state.stage = stage
        self._metrics.results = self._results

    def _module_overrides(self, name: str) -> bool:
        cached = self._module_overrides_cache.get(name)
        if cached is None:
            cached = runs_other_code(name, self.lightning_module, LightningModule)
            self._module_overrides_cache[name] = cached
        return cached

    @property
    def _active_loop(self) -> Any:
        stage = self.state.stage
        if stage == RunningStage.TRAINING:
            return self.fit_loop
        if stage == RunningStage.SANITY_CHECKING or (
            stage == RunningStage.VALIDATING and self.state.fn == TrainerFn.FITTING
        ):
            return self.fit_loop.epoch_loop.val_loop
        if stage == RunningStage.VALIDATING:
            return self.validate_loop
        if stage == RunningStage.TESTING:
            return self.test_loop
        if stage == RunningStage.PREDICTING:
            return self.predict_loop
        return None

    @property
    def _results(self) -> "ResultCollection | None":
        loop = self._active_loop
        if loop is None or loop is self.predict_loop:
            return None
        if loop is self.fit_loop:
            return self.fit_loop.epoch_loop.results
        return loop.results

    @property
    def lightning_module(self) -> LightningModule:
        return self.strategy.lightning_module  # type: ignore[return-value]

    @property
    def model(self) -> torch.nn.Module | None:
        return self.strategy.model

    @property
    def optimizers(self) -> list[Optimizer]:
        return self.strategy.optimizers

    @optimizers.setter
    def optimizers(self, optimizers: list[Optimizer]) -> None:
        self.strategy.optimizers = optimizers

    @property
    def lr_scheduler_configs(self) -> list[LRSchedulerConfig]:
        return self.strategy.lr_scheduler_configs

    @property
    def precision_plugin(self) -> Precision:
        return self.strategy.precision_plugin

    @property
    def precision(self) -> str:
        return self.strategy.precision_plugin.precision

    @property
    def scaler(self) -> Any:
        """The ``torch.amp.GradScaler`` of ``precision="16-mixed"``, or None."""
        return getattr(self.strategy.precision_plugin, "scaler", None)

    @property
    def accelerator(self) -> Accelerator | None:
        return self.strategy.accelerator

    @property
    def root_device(self) -> torch.device:
        return self.strategy.root_device

    @property
    def device_ids(self) -> list[int]:
        """The index of each device this machine's processes use (``[0, 1]`` for two CPU processes under DDP)."""
        devices = getattr(self.strategy, "parallel_devices", None) or [self.strategy.root_device]
        return [device.index if device.index is not None else i for i, device in enumerate(devices)]

    @property
    def num_devices(self) -> int:
        return len(self.device_ids)

    @property
    def global_rank(self) -> int:
        return self.strategy.global_rank

    @property
    def local_rank(self) -> int:
        return self.strategy.local_rank

    @property
    def node_rank(self) -> int:
        return self.strategy.node_rank

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    @property
    def is_global_zero(self) -> bool:
        return self.strategy.is_global_zero

    @property
    def default_root_dir(self) -> str:
        """Where logs and checkpoints go when no logger or callback says otherwise (the working directory)."""
        return os.path.normpath(os.path.expanduser(self._default_root_dir))

    def _set_loggers(self, loggers: list[Any] | None) -> None:
        self._loggers = [] if loggers is None else list(loggers)

    # read on every step: the getter is C code (attrgetter), so reading it costs no Python call
    loggers = property(operator.attrgetter("_loggers"), _set_loggers, doc="The Trainer's loggers (``[]`` for none).")

    @property
    def logger(self) -> Any:
        return self.loggers[0] if self.loggers else None

    @logger.setter
    def logger(self, logger: Any) -> None:
        self.loggers = [] if logger is None else [logger]

    @property
    def log_dir(self) -> str | None:
        """The first logger's log directory, else ``default_root_dir``."""
        if self.loggers:
            first = self.loggers[0]
            dirpath = getattr(first, "log_dir", None) or getattr(first, "save_dir", None)
        else:
            dirpath = self.default_root_dir
        return self.strategy.broadcast(dirpath)

    @property
    def callback_metrics(self) -> dict[str, Tensor]:
        return self._metrics.callback_metrics()

    @property
    def logged_metrics(self) -> dict[str, Tensor]:
        return self._metrics.logged_metrics()

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        return self._metrics.progress_bar_metrics()

    @property
    def progress_bar_callback(self) -> Any:
        from shim.callbacks.progress.progress_bar import ProgressBar

        return next((cb for cb in self.callbacks if isinstance(cb, ProgressBar)), None)

    @property
    def early_stopping_callbacks(self) -> list["EarlyStopping"]:
        """Every ``EarlyStopping`` callback of ``trainer.callbacks``, in order."""
        from shim.callbacks.early_stopping import EarlyStopping

        return [cb for cb in self.callbacks if isinstance(cb, EarlyStopping)]

    @property
    def early_stopping_callback(self) -> "EarlyStopping | None":
        """The first ``EarlyStopping`` callback of ``trainer.callbacks``, or None."""
        callbacks = self.early_stopping_callbacks
        return callbacks[0] if callbacks else None

    @property
    def checkpoint_callbacks(self) -> list[Checkpoint]:
        return [cb for cb in self.callbacks if isinstance(cb, Checkpoint)]

    @property
    def checkpoint_callback(self) -> Checkpoint | None:
        callbacks = self.checkpoint_callbacks
        return callbacks[0] if callbacks else None

    @property
    def current_epoch(self) -> int:
        return self.fit_loop.epoch_progress.current.completed

    @property
    def global_step(self) -> int:
        return self.fit_loop.epoch_loop.global_step

    @property
    def is_last_batch(self) -> bool:
        return self.fit_loop.epoch_loop.batch_progress.is_last_batch

    @property
    def max_epochs(self) -> int | None:
        return self.fit_loop.max_epochs

    @property
    def min_epochs(self) -> int | None:
        return self.fit_loop.min_epochs

    @property
    def max_steps(self) -> int:
        return self.fit_loop.max_steps

    @property
    def min_steps(self) -> int | None:
        return self.fit_loop.min_steps

    @property
    def val_check_batch(self) -> int | float | None:
        """After how many training batches validation runs (``inf``: at the end of the epoch)."""
        return self.fit_loop.val_check_batch

    @property
    def enable_validation(self) -> bool:
        """Whether fit runs validation: a val source, a ``validation_step`` and ``limit_val_batches > 0``."""
        if self.state.stage == RunningStage.TRAINING and self._validation_enabled is not None:
            return self._validation_enabled and self.limit_val_batches > 0
        enabled = self.fit_loop.epoch_loop.val_loop.source.is_defined() and self._module_overrides("validation_step")
        if self.state.stage == RunningStage.TRAINING:
            self._validation_enabled = enabled
        return enabled and self.limit_val_batches > 0

    @property
    def interrupted(self) -> bool:
        return self.state.status == TrainerStatus.INTERRUPTED

    @property
    def training(self) -> bool:
        return self.state.stage == RunningStage.TRAINING

    @training.setter
    def training(self, value: bool) -> None:
        if value:
            self._set_stage(RunningStage.TRAINING)
        elif self.training:
            self._set_stage(None)

    @property
    def validating(self) -> bool:
        return self.state.stage == RunningStage.VALIDATING

    @validating.setter
    def validating(self, value: bool) -> None:
        if value:
            self._set_stage(RunningStage.VALIDATING)
        elif self.validating:
            self._set_stage(None)

    @property
    def testing(self) -> bool:
        return self.state.stage == RunningStage.TESTING

    @testing.setter
    def testing(self, value: bool) -> None:
        if value:
            self._set_stage(RunningStage.TESTING)
        elif self.testing:
            self._set_stage(None)

    @property
    def predicting(self) -> bool:
        return self.state.stage == RunningStage.PREDICTING

    @predicting.setter
    def predicting(self, value: bool) -> None:
        if value:
            self._set_stage(RunningStage.PREDICTING)
        elif self.predicting:
            self._set_stage(None)

    @property
    def sanity_checking(self) -> bool:
        return self.state.stage == RunningStage.SANITY_CHECKING

    @sanity_checking.setter
    def sanity_checking(self, value: bool) -> None:
        if value:
            self._set_stage(RunningStage.SANITY_CHECKING)
        elif self.sanity_checking:
            self._set_stage(None)

    @property
    def evaluating(self) -> bool:
        return self.state.stage is not None and self.state.stage.evaluating

    @property
    def training_fn(self) -> bool:
        return self.state.fn == TrainerFn.FITTING

    @property
    def num_training_batches(self) -> int | float:
        return self.fit_loop.max_batches

    @property
    def num_sanity_val_batches(self) -> list[int | float]:
        val_loop = self.fit_loop.epoch_loop.val_loop
        return [min(self.num_sanity_val_steps, b) for b in val_loop._max_batches]

    @property
    def num_val_batches(self) -> list[int | float]:
        if self.state.fn == TrainerFn.VALIDATING:
            return self.validate_loop._max_batches
        return self.fit_loop.epoch_loop.val_loop._max_batches

    @property
    def num_test_batches(self) -> list[int | float]:
        return self.test_loop._max_batches

    @property
    def num_predict_batches(self) -> list[int | float]:
        return self.predict_loop.max_batches

    @property
    def train_dataloader(self) -> Any:
        return self.fit_loop.dataloaders

    @property
    def val_dataloaders(self) -> Any:
        loop = self.validate_loop if self.state.fn == TrainerFn.VALIDATING else self.fit_loop.epoch_loop.val_loop
        return None if loop.loaders is None else loop.dataloaders

    @property
    def test_dataloaders(self) -> Any:
        return None if self.test_loop.loaders is None else self.test_loop.dataloaders

    @property
    def predict_dataloaders(self) -> Any:
        return self.predict_loop.dataloaders if self.predict_loop.loaders else None

    @property
    def estimated_stepping_batches(self) -> int | float:
        """The number of optimizer steps fit will take, from ``max_epochs``, ``max_steps`` and the loader length.

        Without an epoch limit it is ``max_steps`` (infinite when that is -1 too); with a loader of unknown length
        it is ``max_steps``.
        """
        if self.max_epochs == -1:
            return float("inf") if self.max_steps == -1 else self.max_steps
        if self.fit_loop.loader is None:
            rank_zero_info("`estimated_stepping_batches` asks for the train dataloader now, to count its batches.")
            self.fit_loop.setup_data()
        batches = self.num_training_batches
        if batches == float("inf"):
            return self.max_steps
        max_epochs = self.max_epochs if self.max_epochs is not None else 1000
        total = -(-int(batches) // self.accumulate_grad_batches) * max(max_epochs, 1)
        return total if self.max_steps == -1 else min(total, self.max_steps)
