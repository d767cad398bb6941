"""``Trainer``: checks its arguments, forwards fit/validate/test/predict to the loops, and exposes their state."""

import os
from collections.abc import Generator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.report import report_devices
from shim.accelerators.resolve import resolve_hardware, resolve_precision, resolve_strategy
from shim.callbacks.callback import Callback
from shim.core.datamodule import LightningDataModule
from shim.core.module import LightningModule
from shim.loops.evaluation_loop import EvaluationLoop
from shim.loops.fit_loop import FitLoop
from shim.loops.prediction_loop import PredictionLoop
from shim.plugins.precision.precision import Precision
from shim.profilers import PassThroughProfiler, Profiler
from shim.strategies.strategy import Strategy
from shim.trainer.argument_checks import check_model, reject_unsupported
from shim.trainer.callback_setup import build_callbacks, build_loggers
from shim.trainer.config import CONFIG_ARGUMENTS, TrainerConfig, apply_determinism, parse_trainer_args
from shim.trainer.data import attach_data
from shim.trainer.hooks import HookCaller
from shim.trainer.legacy import LEGACY_ARGUMENTS, translate_1x_arguments
from shim.trainer.metric_store import MetricStore
from shim.trainer.profiling import ProfiledHookCaller, resolve_profiler
from shim.trainer.properties import TrainerProperties
from shim.trainer.run import call_and_handle_interrupt, run
from shim.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus
from shim.utilities.apply_func import convert_tensors_to_scalars
from shim.utilities.argparse import ArgparseConstructors, defaults_from_env_vars
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden, own_methods
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_deprecation, rank_zero_warn, share_rank_zero_only

__all__ = ["Trainer"]

_BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
_OWN_CONVERT_INPUT = own_methods(Precision, ("convert_input",))  # the base plugin leaves the batch as it is


class Trainer(TrainerProperties, ArgparseConstructors):
    """Runs a LightningModule's training, validation, test and prediction loops on raw PyTorch."""

    # how arguments annotated with objects read from a command line (Lightning 1.9's argparse types)
    _command_line_types: dict[str, tuple[type, ...]] = {"logger": (bool,), "profiler": (str,), "plugins": (str,)}

    @defaults_from_env_vars
    def __init__(
        self,
        *,
        accelerator: str | Accelerator = "auto",
        strategy: str | Strategy = "auto",
        devices: list[int] | str | int = "auto",
        num_nodes: int = 1,
        precision: str | int | None = None,
        logger: Any = None,
        callbacks: list[Callback] | Callback | None = None,
        fast_dev_run: int | bool = False,
        max_epochs: int | None = None,
        min_epochs: int | None = None,
        max_steps: int = -1,
        min_steps: int | None = None,
        max_time: str | timedelta | dict[str, int] | None = None,
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        limit_test_batches: int | float | None = None,
        limit_predict_batches: int | float | None = None,
        overfit_batches: int | float = 0.0,
        val_check_interval: int | float | str | timedelta | dict[str, int] | None = None,
        check_val_every_n_epoch: int | None = 1,
        num_sanity_val_steps: int | None = None,
        log_every_n_steps: int | None = None,
        enable_checkpointing: bool | None = None,
        enable_progress_bar: bool | None = None,
        enable_model_summary: bool | None = None,
        accumulate_grad_batches: int | dict[int, int] = 1,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
        deterministic: bool | str | None = None,
        benchmark: bool | None = None,
        inference_mode: bool = True,
        use_distributed_sampler: bool = True,
        profiler: Any = None,
        detect_anomaly: bool = False,
        barebones: bool = False,
        plugins: Any = None,
        sync_batchnorm: bool = False,
        reload_dataloaders_every_n_epochs: int = 0,
        default_root_dir: str | os.PathLike | None = None,
        enable_autolog_hparams: bool = True,
        model_registry: str | None = None,
        resume_from_checkpoint: str | os.PathLike | None = None,
        gpus: list[int] | str | int | None = None,
        tpu_cores: list[int] | str | int | None = None,
        ipus: int | None = None,
        num_processes: int | None = None,
        auto_select_gpus: bool | None = None,
        amp_backend: str | None = None,
        amp_level: str | None = None,
        track_grad_norm: int | float | str = -1,
        replace_sampler_ddp: bool | None = None,
        auto_lr_find: bool | str = False,
        auto_scale_batch_size: str | bool = False,
        move_metrics_to_cpu: bool = False,
        multiple_trainloader_mode: str = "max_size_cycle",
    ) -> None:
        """Configure a Trainer; the arguments and their defaults are Lightning 2.x's, plus Lightning 1.x's.

        The 1.x arguments (``gpus``, ``tpu_cores``, ``ipus``, ``num_processes``, ``auto_select_gpus``,
        ``resume_from_checkpoint``, ``amp_backend``, ``amp_level``, ``track_grad_norm``, ``replace_sampler_ddp``,
        ``auto_lr_find``, ``auto_scale_batch_size``, ``move_metrics_to_cpu``, ``multiple_trainloader_mode``) are
        translated to the 2.x ones with the deprecation warning Lightning 1.9 gave.

        Raises:
            MisconfigurationException: If an argument has a value that is not allowed; the message names it.
            TypeError: For an unknown keyword argument.
        """
        arguments = dict(locals())  # every argument by name: the translations below take theirs from here
        share_rank_zero_only()  # lightning_utilities' rank_zero_only (if installed) is the public one from here on
        legacy = translate_1x_arguments(**{name: arguments[name] for name in LEGACY_ARGUMENTS})
        accelerator, devices, precision = legacy.accelerator, legacy.devices, legacy.precision
        use_distributed_sampler = legacy.use_distributed_sampler
        # the arguments checked first, so that barebones refuses a profiler as Lightning does (ValueError)
        self._config: TrainerConfig = parse_trainer_args(**{name: arguments[name] for name in CONFIG_ARGUMENTS})
        reject_unsupported(
            plugins=(plugins, None),
            sync_batchnorm=(sync_batchnorm, False),
            model_registry=(model_registry, None),
        )
        config = self._config
        self._default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else os.getcwd()
        self.use_distributed_sampler = use_distributed_sampler
        # 1.x settings kept for the features that read them (trainer.tune, gradient-norm tracking)
        self.track_grad_norm: float = legacy.track_grad_norm
        self.auto_lr_find = legacy.auto_lr_find
        self.auto_scale_batch_size = legacy.auto_scale_batch_size
        self.move_metrics_to_cpu = legacy.move_metrics_to_cpu
        self.multiple_trainloader_mode = legacy.multiple_trainloader_mode
        self.enable_autolog_hparams = enable_autolog_hparams
        # what records the run's actions; the pass-through one (no profiler) also serves `trainer.profiler.profile`
        # in user code
        self.profiler: Profiler = resolve_profiler(profiler)

        # hardware: accelerator, device, precision and the strategy that holds them
        precision_plugin = resolve_precision(precision, accelerator)
        hardware = resolve_hardware(accelerator, devices, strategy, num_nodes)
        if isinstance(strategy, Strategy) and (strategy.precision_plugin is None or precision is not None):
            strategy.precision_plugin = precision_plugin
        self.strategy: Strategy = resolve_strategy(strategy, hardware, precision_plugin)
        self.num_nodes = num_nodes
        apply_determinism(config.deterministic, config.benchmark)

        # the loop-shaping flags, as plain attributes (Lightning's scripts and tests read and set them)
        self.limit_train_batches = config.limit_train_batches
        self.limit_val_batches = config.limit_val_batches
        self.limit_test_batches = config.limit_test_batches
        self.limit_predict_batches = config.limit_predict_batches
        self.overfit_batches = config.overfit_batches
        self.val_check_interval = config.val_check_interval
        self.check_val_every_n_epoch = config.check_val_every_n_epoch
        self.num_sanity_val_steps = config.num_sanity_val_steps
        self.log_every_n_steps = config.log_every_n_steps
        self.gradient_clip_val = config.gradient_clip_val
        self.gradient_clip_algorithm = config.gradient_clip_algorithm
        self.fast_dev_run = config.fast_dev_run
        self.barebones = config.barebones
        self.inference_mode = config.inference_mode
        self.reload_dataloaders_every_n_epochs = config.reload_dataloaders_every_n_epochs
        self.max_time = config.max_time

        # state
        self.state = TrainerState()
        self.should_stop = False
        self.accumulate_grad_batches = config.accumulate_grad_batches
        self._accumulation_from_schedule = config.accumulation_schedule is not None
        self.datamodule: LightningDataModule | None = None
        self._model: LightningModule | None = None
        self.ckpt_path: str | None = None
        self._resume_from_checkpoint = resume_from_checkpoint
        if resume_from_checkpoint is not None:
            rank_zero_deprecation(
                "`Trainer(resume_from_checkpoint=...)` is the Lightning 1.x spelling; pass"
                " `trainer.fit(ckpt_path=...)` instead. The checkpoint is used for this Trainer's `fit`."
            )
        self._last_val_time = 0.0
        self.received_sigterm = False
        self._data_hook_owners: dict[str, Any] = {}
        self._needs_batch_transfer = True
        # decided once per run: both are read on every batch
        self._clipping_overridden = True
        self._validation_enabled: bool | None = None
        self._module_overrides_cache: dict[str, bool] = {}

        # loops, metrics, hooks
        self.fit_loop = FitLoop(self, min_epochs=config.min_epochs, max_epochs=config.max_epochs)
        self.fit_loop.epoch_loop.min_steps = config.min_steps
        self.fit_loop.epoch_loop.max_steps = config.max_steps
        self.validate_loop = EvaluationLoop(self, TrainerFn.VALIDATING, RunningStage.VALIDATING)
        self.test_loop = EvaluationLoop(self, TrainerFn.TESTING, RunningStage.TESTING)
        self.predict_loop = PredictionLoop(self)
        self._metrics = MetricStore(self)
        # a real profiler takes the profiled call path, chosen here once: without one no call is recorded or wrapped
        self._hooks = HookCaller(self) if isinstance(self.profiler, PassThroughProfiler) else ProfiledHookCaller(self)

        self._loggers: list[Any] = build_loggers(config, logger, self.default_root_dir)
        self.callbacks: list[Callback] = build_callbacks(config, callbacks)
        report_devices(self.strategy.accelerator)

    # ------------------------------------------------------------------------------------------------------
    # entry points
    # ------------------------------------------------------------------------------------------------------
    def fit(
        self,
        model: LightningModule,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        ckpt_path: str | os.PathLike | None = None,
        weights_only: bool | None = None,
    ) -> None:
        """Train ``model``; loaders come from the arguments, the ``datamodule`` or the model's own methods.

        ``ckpt_path`` (a path, ``"last"`` or ``"best"``) resumes: weights, optimizers, schedulers, loop counters,
        callback states and random states are restored, and training continues where the checkpoint was taken.

        Raises:
            TypeError: If ``model`` is not a LightningModule (``torch.compile``'s output for one is accepted).
            MisconfigurationException: If loaders and a datamodule are both given, or the model cannot be trained.
        """
        model = check_model(model)
        if isinstance(train_dataloaders, LightningDataModule):
            datamodule, train_dataloaders = train_dataloaders, None
        if datamodule is not None and (train_dataloaders is not None or val_dataloaders is not None):
            raise MisconfigurationException(
                "fit got both dataloaders and a datamodule: pass `train_dataloaders`/`val_dataloaders` or"
                " `datamodule`, not both."
            )
        if ckpt_path is None and self._resume_from_checkpoint is not None:
            ckpt_path = self._resume_from_checkpoint
        self._begin(TrainerFn.FITTING, RunningStage.TRAINING)
        attach_data(self, model, datamodule, {"train": train_dataloaders, "val": val_dataloaders})
        call_and_handle_interrupt(self, run, model, ckpt_path, True, weights_only)

    def validate(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        ckpt_path: str | None = None,
        verbose: bool = True,
        datamodule: LightningDataModule | None = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """Run one validation pass; returns one dict of logged metrics per data loader."""
        fn = TrainerFn.VALIDATING
        return self._evaluate(fn, model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def test(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        ckpt_path: str | None = None,
        verbose: bool = True,
        datamodule: LightningDataModule | None = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """Run one test pass; returns one dict of logged metrics per data loader."""
        fn = TrainerFn.TESTING
        return self._evaluate(fn, model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    def predict(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        return_predictions: bool | None = None,
        ckpt_path: str | None = None,
        weights_only: bool | None = None,
    ) -> list[Any] | None:
        """Run ``predict_step`` over the data; returns the outputs (a list per loader when there are several)."""
        model_provided = model is not None
        model = self._model_for("predict", model)
        if isinstance(dataloaders, LightningDataModule):
            datamodule, dataloaders = dataloaders, None
        if datamodule is not None and dataloaders is not None:
            raise MisconfigurationException("predict got both `dataloaders` and `datamodule`; pass one of them.")
        self._begin(TrainerFn.PREDICTING, RunningStage.PREDICTING)
        self.predict_loop.return_predictions = True if return_predictions is None else return_predictions
        attach_data(self, model, datamodule, {"predict": dataloaders})
        return call_and_handle_interrupt(self, run, model, ckpt_path, model_provided, weights_only)

    def tune(
        self,
        model: LightningModule,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        scale_batch_size_kwargs: dict[str, Any] | None = None,
        lr_find_kwargs: dict[str, Any] | None = None,
        method: str = "fit",
    ) -> dict[str, Any]:
        """Lightning 1.x: run the searches ``auto_scale_batch_size``/``auto_lr_find`` ask for, before training.

        Returns:
            ``{"scale_batch_size": size}`` and/or ``{"lr_find": finder}`` for the searches that ran.
        """
        from shim.tuner.tuning import tune

        loaders = (train_dataloaders, val_dataloaders, dataloaders)
        return tune(self, model, *loaders, datamodule, scale_batch_size_kwargs, lr_find_kwargs, method)

    def _evaluate(
        self,
        fn: TrainerFn,
        model: LightningModule | None,
        dataloaders: Any,
        ckpt_path: str | None,
        verbose: bool,
        datamodule: LightningDataModule | None,
        weights_only: bool | None,
    ) -> list[dict[str, float]]:
        model_provided = model is not None
        model = self._model_for(fn.value, model)
        if isinstance(dataloaders, LightningDataModule):
            datamodule, dataloaders = dataloaders, None
        if datamodule is not None and dataloaders is not None:
            raise MisconfigurationException(f"{fn.value} got both `dataloaders` and `datamodule`; pass one of them.")
        stage = RunningStage.VALIDATING if fn == TrainerFn.VALIDATING else RunningStage.TESTING
        self._begin(fn, stage)
        loop = self.validate_loop if fn == TrainerFn.VALIDATING else self.test_loop
        loop.verbose = verbose
        attach_data(self, model, datamodule, {stage.dataloader_prefix or "": dataloaders})
        results = call_and_handle_interrupt(self, run, model, ckpt_path, model_provided, weights_only)
        if results is None:  # a finder callback ended the run early, as Lightning's tuner does
            return None  # type: ignore[return-value]
        return [convert_tensors_to_scalars(r) for r in results]

    def save_checkpoint(
        self, filepath: str | os.PathLike, weights_only: bool | None = None, storage_options: Any | None = None
    ) -> None:
        """Save the model, optimizers, schedulers, loop counters and callback states to ``filepath``.

        Call it on every process: the strategy decides which one writes. ``weights_only=True`` keeps only the model
        weights and loop counters; ``None`` saves everything and logs that it did.

        Raises:
            AttributeError: If no model is attached yet (call ``fit``/``validate``/... first).
        """
        from shim.trainer.checkpointing import dump_checkpoint

        if self.model is None:
            raise AttributeError(
                "Saving a checkpoint is only possible after a model is attached to the Trainer: call `trainer.fit`,"
                " `validate`, `test` or `predict` first."
            )
        with self.profiler.profile("save_checkpoint"):
            checkpoint = dump_checkpoint(self, weights_only)
            self.strategy.save_checkpoint(checkpoint, filepath, storage_options=storage_options)
            self.strategy.barrier("Trainer.save_checkpoint")

    @contextmanager
    def init_module(self, empty_init: bool | None = None) -> Generator[None, None, None]:
        """Build the model under this context: its tensors are created on the Trainer's device and in its precision.

        Args:
            empty_init: Skip the initialization of the weights (leave the memory uninitialized), for a model whose
                weights are loaded from a checkpoint next; None lets the strategy decide.
        """
        if is_overridden("model_sharded_context", self.strategy, parent=Strategy):
            rank_zero_warn(
                f"`trainer.init_module()` cannot build the model sharded for `{type(self.strategy).__name__}`: build"
                " its layers in `LightningModule.configure_model` instead.",
                category=PossibleUserWarning,
            )
        with self.strategy.tensor_init_context(empty_init=empty_init):
            yield

    def _model_for(self, fn_name: str, model: LightningModule | None) -> LightningModule:
        if model is None:
            if self._model is None:
                # a TypeError as in Lightning: the call lacks its model argument
                raise TypeError(
                    f"`trainer.{fn_name}()` needs a model: pass one, or call it after `trainer.fit(model)`."
                )
            return self._model
        return check_model(model)

    def _begin(self, fn: TrainerFn, stage: RunningStage) -> None:
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self._set_stage(stage)
        self.should_stop = False
