"""``Trainer``: checks its arguments, forwards fit/validate/test/predict to the loops, and exposes their state."""

import logging
import os
import signal
from argparse import ArgumentParser, Namespace
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from shim.accelerators.accelerator import Accelerator
from shim.accelerators.resolve import resolve_hardware, resolve_precision, resolve_strategy
from shim.callbacks.callback import Callback
from shim.callbacks.checkpoint import Checkpoint
from shim.core.datamodule import LightningDataModule
from shim.core.module import LightningModule
from shim.core.optimizer import LRSchedulerConfig
from shim.loggers.utilities import log_hyperparams
from shim.loops.evaluation_loop import EvaluationLoop
from shim.loops.fit_loop import FitLoop
from shim.loops.prediction_loop import PredictionLoop
from shim.plugins.precision.precision import Precision
from shim.strategies.strategy import Strategy
from shim.trainer.callback_setup import add_model_callbacks, build_callbacks
from shim.trainer.checkpointing import (
    load_checkpoint_file,
    resolve_ckpt_path,
    restore_modules_and_callbacks,
    restore_training_state,
)
from shim.trainer.config import TrainerConfig, parse_trainer_args
from shim.trainer.configuration import verify_loop_configuration
from shim.trainer.data import DataSource
from shim.trainer.hooks import HookCaller
from shim.trainer.legacy import translate_1x_arguments
from shim.trainer.metrics import MetricStore, ResultCollection
from shim.trainer.states import RunningStage, TrainerFn, TrainerState, TrainerStatus
from shim.tuner.search import _TunerExitException
from shim.utilities.apply_func import convert_tensors_to_scalars
from shim.utilities.argparse import (
    add_argparse_args,
    defaults_from_env_vars,
    from_argparse_args,
    get_init_arguments_and_types,
    parse_argparser,
)
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.model_helpers import is_overridden, own_methods, runs_own_methods
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_deprecation, rank_zero_info, rank_zero_warn
from shim.utilities.seed import isolate_rng

log = logging.getLogger(__name__)

__all__ = ["Trainer"]

_BATCH_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
_OWN_CONVERT_INPUT = own_methods(Precision, ("convert_input",))  # the base plugin leaves the batch as it is


class Trainer:
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
        val_check_interval: int | float | None = None,
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
        legacy = translate_1x_arguments(
            accelerator=accelerator,
            devices=devices,
            precision=precision,
            use_distributed_sampler=use_distributed_sampler,
            gpus=gpus,
            tpu_cores=tpu_cores,
            ipus=ipus,
            num_processes=num_processes,
            auto_select_gpus=auto_select_gpus,
            amp_backend=amp_backend,
            amp_level=amp_level,
            track_grad_norm=track_grad_norm,
            replace_sampler_ddp=replace_sampler_ddp,
            auto_lr_find=auto_lr_find,
            auto_scale_batch_size=auto_scale_batch_size,
            move_metrics_to_cpu=move_metrics_to_cpu,
            multiple_trainloader_mode=multiple_trainloader_mode,
        )
        accelerator, devices, precision = legacy.accelerator, legacy.devices, legacy.precision
        use_distributed_sampler = legacy.use_distributed_sampler
        _reject_unsupported(
            overfit_batches=(overfit_batches, 0.0),
            profiler=(profiler, None),
            plugins=(plugins, None),
            sync_batchnorm=(sync_batchnorm, False),
            model_registry=(model_registry, None),
        )
        self._config: TrainerConfig = parse_trainer_args(
            max_epochs=max_epochs,
            min_epochs=min_epochs,
            max_steps=max_steps,
            min_steps=min_steps,
            max_time=max_time,
            limit_train_batches=limit_train_batches,
            limit_val_batches=limit_val_batches,
            limit_test_batches=limit_test_batches,
            limit_predict_batches=limit_predict_batches,
            val_check_interval=val_check_interval,
            check_val_every_n_epoch=check_val_every_n_epoch,
            num_sanity_val_steps=num_sanity_val_steps,
            log_every_n_steps=log_every_n_steps,
            accumulate_grad_batches=accumulate_grad_batches,
            gradient_clip_val=gradient_clip_val,
            gradient_clip_algorithm=gradient_clip_algorithm,
            fast_dev_run=fast_dev_run,
            deterministic=deterministic,
            benchmark=benchmark,
            inference_mode=inference_mode,
            detect_anomaly=detect_anomaly,
            barebones=barebones,
            reload_dataloaders_every_n_epochs=reload_dataloaders_every_n_epochs,
            enable_progress_bar=enable_progress_bar,
            enable_model_summary=enable_model_summary,
            enable_checkpointing=enable_checkpointing,
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

        # hardware: accelerator, device, precision and the strategy that holds them
        precision_plugin = resolve_precision(precision, accelerator)
        hardware = resolve_hardware(accelerator, devices, strategy, num_nodes)
        if isinstance(strategy, Strategy) and (strategy.precision_plugin is None or precision is not None):
            strategy.precision_plugin = precision_plugin
        self.strategy: Strategy = resolve_strategy(strategy, hardware, precision_plugin)
        self.num_nodes = num_nodes
        self._apply_determinism(config.deterministic, config.benchmark)

        # the loop-shaping flags, as plain attributes (Lightning's scripts and tests read and set them)
        self.limit_train_batches = config.limit_train_batches
        self.limit_val_batches = config.limit_val_batches
        self.limit_test_batches = config.limit_test_batches
        self.limit_predict_batches = config.limit_predict_batches
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
        self._hooks = HookCaller(self)

        self.loggers: list[Any] = self._configure_loggers(logger)
        self.callbacks: list[Callback] = build_callbacks(config, callbacks)

    # ------------------------------------------------------------------------------------------------------
    # construction helpers
    # ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _apply_determinism(deterministic: bool | str | None, benchmark: bool | None) -> None:
        if deterministic is not None:
            torch.use_deterministic_algorithms(bool(deterministic), warn_only=deterministic == "warn")
            if deterministic:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if benchmark is None:
            benchmark = False if deterministic else torch.backends.cudnn.benchmark
        elif benchmark and deterministic:
            rank_zero_warn("benchmark=True may make results non-deterministic although deterministic=True was set.")
        torch.backends.cudnn.benchmark = benchmark

    def _configure_loggers(self, logger: Any) -> list[Any]:
        """``True``/``None``: TensorBoard in ``default_root_dir`` (CSV without tensorboard); ``False``: no logger."""
        from shim.loggers.logger import DummyLogger

        config = self._config
        if logger is False or config.barebones:
            return []
        if config.fast_dev_run:
            return [DummyLogger()]
        if logger is None or logger is True:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is not None or importlib.util.find_spec("tensorboardX"):
                from shim.loggers.tensorboard import TensorBoardLogger

                return [TensorBoardLogger(save_dir=self.default_root_dir, version=_slurm_job_id())]
            from shim.loggers.csv_logs import CSVLogger

            rank_zero_warn(
                "`logger=True` uses a CSVLogger because neither `tensorboard` nor `tensorboardX` is installed;"
                " install `tensorboard` to get the TensorBoard logger."
            )
            return [CSVLogger(save_dir=self.default_root_dir)]
        if isinstance(logger, Iterable):
            return list(logger)
        return [logger]

    # ------------------------------------------------------------------------------------------------------
    # Lightning 1.x construction from the command line
    # ------------------------------------------------------------------------------------------------------
    @classmethod
    def add_argparse_args(cls, parent_parser: ArgumentParser, **kwargs: Any) -> ArgumentParser:
        """Add ``--<argument>`` for every Trainer argument a command line can give (Lightning 1.x API)."""
        return add_argparse_args(cls, parent_parser, **kwargs)

    @classmethod
    def from_argparse_args(cls, args: Namespace | ArgumentParser | dict[str, Any], **kwargs: Any) -> "Trainer":
        """A Trainer from parsed command-line arguments; unknown names are ignored, ``kwargs`` win."""
        return from_argparse_args(cls, args, **kwargs)

    @classmethod
    def parse_argparser(cls, arg_parser: ArgumentParser | Namespace) -> Namespace:
        """Parse the command line (or take a Namespace), with ``"True"``/``"False"`` turned into booleans."""
        return parse_argparser(cls, arg_parser)

    @classmethod
    def get_init_arguments_and_types(cls) -> list[tuple[str, tuple[type, ...], Any]]:
        """``(name, allowed types, default)`` for each Trainer argument."""
        return get_init_arguments_and_types(cls)

    @classmethod
    def default_attributes(cls) -> dict[str, Any]:
        """Each Trainer argument's default value."""
        return {name: default for name, _, default in get_init_arguments_and_types(cls)}

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
            TypeError: If ``model`` is not a LightningModule.
            MisconfigurationException: If loaders and a datamodule are both given, or the model cannot be trained.
        """
        model = _check_model(model)
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
        self._attach(model, datamodule, {"train": train_dataloaders, "val": val_dataloaders})
        self._call_and_handle_interrupt(self._run, model, ckpt_path, True, weights_only)

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
        self._attach(model, datamodule, {"predict": dataloaders})
        return self._call_and_handle_interrupt(self._run, model, ckpt_path, model_provided, weights_only)

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
        self._attach(model, datamodule, {stage.dataloader_prefix or "": dataloaders})
        results = self._call_and_handle_interrupt(self._run, model, ckpt_path, model_provided, weights_only)
        if results is None:  # a finder callback ended the run early, as Lightning's tuner does
            return None  # type: ignore[return-value]
        return [convert_tensors_to_scalars(r) for r in results]

    def save_checkpoint(
        self, filepath: str | os.PathLike, weights_only: bool = False, storage_options: Any | None = None
    ) -> None:
        """Save the model, optimizers, schedulers, loop counters and callback states to ``filepath``.

        Raises:
            AttributeError: If no model is attached yet (call ``fit``/``validate``/... first).
        """
        from shim.trainer.checkpointing import dump_checkpoint, save_checkpoint_file

        if self._model is None:
            raise AttributeError(
                "Saving a checkpoint is only possible after a model is attached to the Trainer: call `trainer.fit`,"
                " `validate`, `test` or `predict` first."
            )
        if storage_options is not None:
            raise TypeError(f"save_checkpoint(storage_options={storage_options!r}) is not supported by shim")
        checkpoint = dump_checkpoint(self, weights_only)
        if self.is_global_zero:
            save_checkpoint_file(checkpoint, filepath)
        self.strategy.barrier("Trainer.save_checkpoint")

    def _model_for(self, fn_name: str, model: LightningModule | None) -> LightningModule:
        if model is None:
            if self._model is None:
                raise MisconfigurationException(
                    f"`trainer.{fn_name}()` needs a model: pass one, or call it after `trainer.fit(model)`."
                )
            return self._model
        return _check_model(model)

    def _begin(self, fn: TrainerFn, stage: RunningStage) -> None:
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self._set_stage(stage)
        self.should_stop = False

    def _attach(self, model: LightningModule, datamodule: LightningDataModule | None, loaders: dict[str, Any]) -> None:
        """Point each loop's data source at the given loaders, else the datamodule, else the module."""
        self._model = model
        self.datamodule = datamodule
        if datamodule is not None:
            datamodule.trainer = self
        owner: Any = datamodule if datamodule is not None else model
        sources: dict[str, DataSource] = {
            "train": self.fit_loop.source,
            "val": self.fit_loop.epoch_loop.val_loop.source,
            "validate": self.validate_loop.source,
            "test": self.test_loop.source,
            "predict": self.predict_loop.source,
        }
        for key, given in loaders.items():
            targets = ["val", "validate"] if key in ("val", "validate") else [key]
            for target in targets:
                source = sources[target]
                source.instance = given if given is not None else owner
        # a new fit/validate/test requests loaders again
        self.fit_loop.loader = None
        self.fit_loop.epoch_loop.val_loop.loaders = None
        self.validate_loop.loaders = None
        self.test_loop.loaders = None

    def _call_and_handle_interrupt(self, fn: Any, *args: Any) -> Any:
        launcher = self.strategy.launcher
        try:
            if launcher is not None:
                return launcher.launch(fn, *args, trainer=self)
            return fn(*args)
        except _TunerExitException:
            # a finder callback ended this run on purpose: a normal end, without on_exception
            self._teardown()
            self._teardown_hooks(self.state.fn)  # type: ignore[arg-type]
            self.state.status = TrainerStatus.FINISHED
            self._set_stage(None)
            return None
        except BaseException as exception:
            if launcher is not None:
                # ranks this process started would otherwise wait for it inside a collective until the timeout
                launcher.kill(signal.SIGKILL)
            self.state.status = TrainerStatus.INTERRUPTED
            if self._model is not None and self._model._trainer is self:
                self._hooks.callbacks("on_exception", exception)
                self._hooks.datamodule("on_exception", exception)
                self.strategy.on_exception(exception)
                for logger in self.loggers:
                    logger.finalize("failed")
            self._teardown()
            self._set_stage(None)
            raise

    # ------------------------------------------------------------------------------------------------------
    # the run
    # ------------------------------------------------------------------------------------------------------
    def _run(self, model: LightningModule, ckpt_path: Any, model_provided: bool, weights_only: bool | None) -> Any:
        fn = self.state.fn
        assert fn is not None
        self.ckpt_path = resolve_ckpt_path(self, fn, ckpt_path, model_provided)
        if fn == TrainerFn.FITTING and self._config.max_epochs is None:
            max_epochs = 1000 if self.max_steps == -1 and self.max_time is None else -1
            if max_epochs == 1000:
                rank_zero_warn(
                    "`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch limit, set"
                    " `max_epochs=-1`.",
                    category=PossibleUserWarning,
                )
            self.fit_loop.max_epochs = max_epochs
        model.trainer = self
        self.strategy.connect(model)
        self.callbacks = add_model_callbacks(self.callbacks, self._hooks.module("configure_callbacks"))
        self._hooks.reset()
        self._module_overrides_cache = {}
        verify_loop_configuration(self, model)
        self.strategy.setup_environment()
        self._prepare_data()
        self._setup_hooks(fn)
        self._hooks.module("configure_sharded_model") if self._module_overrides("configure_sharded_model") else None
        self._hooks.module("configure_model")
        checkpoint = None
        if self.ckpt_path is not None:
            checkpoint = load_checkpoint_file(self.ckpt_path, weights_only=weights_only)
            restore_modules_and_callbacks(self, checkpoint, self.ckpt_path)
        self._metrics.reset_results()
        self._metrics.reset_metrics()
        self.strategy.setup(self)
        self._decide_batch_transfer()
        if fn == TrainerFn.FITTING:
            self._hooks.call("on_fit_start")
        if self.enable_autolog_hparams:
            log_hyperparams(self)
        if checkpoint is not None:
            restore_training_state(self, checkpoint, self.ckpt_path)  # type: ignore[arg-type]
            del checkpoint
        results = self._run_stage()
        self._teardown()
        if fn == TrainerFn.FITTING:
            self._hooks.call("on_fit_end")
        self._teardown_hooks(fn)
        self.state.status = TrainerStatus.FINISHED
        self._set_stage(None)
        return results

    def _run_stage(self) -> Any:
        fn = self.state.fn
        module = self.lightning_module
        module.zero_grad(set_to_none=True)
        if fn == TrainerFn.FITTING:
            with isolate_rng():
                self._run_sanity_check()
            with torch.autograd.set_detect_anomaly(self._config.detect_anomaly):
                self.fit_loop.run()
            return None
        if fn == TrainerFn.VALIDATING:
            return self.validate_loop.run()
        if fn == TrainerFn.TESTING:
            return self.test_loop.run()
        return self.predict_loop.run()

    def _run_sanity_check(self) -> None:
        val_loop = self.fit_loop.epoch_loop.val_loop
        if not (self.enable_validation and self.num_sanity_val_steps > 0):
            return
        stage = self.state.stage
        self._set_stage(RunningStage.SANITY_CHECKING)
        self._metrics.reset_results()
        self._metrics.reset_metrics()
        self._hooks.callbacks("on_sanity_check_start")
        val_loop.run()
        self._hooks.callbacks("on_sanity_check_end")
        self._metrics.reset_results()
        self._metrics.reset_metrics()
        val_loop.batch_progress.reset()
        val_loop._seen_batches_per_dataloader = {}
        assert stage is not None
        self._set_stage(stage)

    def _prepare_data(self) -> None:
        local_zero = self.local_rank == 0
        global_zero = self.global_rank == 0
        for obj in (self.datamodule, self.lightning_module):
            if obj is None:
                continue
            per_node = getattr(obj, "prepare_data_per_node", True)
            if (per_node and local_zero) or (not per_node and global_zero):
                if obj is self.datamodule:
                    self._hooks.datamodule("prepare_data")
                else:
                    self._hooks.module("prepare_data")
        self.strategy.barrier("prepare_data")

    def _setup_hooks(self, fn: TrainerFn) -> None:
        self.strategy.barrier("pre_setup")
        self._hooks.datamodule("setup", stage=fn)
        self._hooks.callbacks("setup", stage=fn)
        self._hooks.module("setup", stage=fn)
        self.strategy.barrier("post_setup")

    def _teardown_hooks(self, fn: TrainerFn) -> None:
        self._hooks.datamodule("teardown", stage=fn)
        self._hooks.callbacks("teardown", stage=fn)
        self._hooks.module("teardown", stage=fn)
        module = self.lightning_module
        module._current_fx_name = None
        module._metric_attributes = None
        for logger in self.loggers:
            logger.finalize("success")

    def _teardown(self) -> None:
        self.strategy.teardown()
        loop = self._active_loop
        if loop is not None:
            loop.teardown()
        self._metrics.teardown()

    # ------------------------------------------------------------------------------------------------------
    # helpers used by the loops
    # ------------------------------------------------------------------------------------------------------
    def _module_overrides(self, name: str) -> bool:
        cached = self._module_overrides_cache.get(name)
        if cached is None:
            cached = is_overridden(name, self.lightning_module, LightningModule)
            self._module_overrides_cache[name] = cached
        return cached

    def _data_hook_owner(self, name: str) -> Any:
        owner = self._data_hook_owners.get(name)
        if owner is None:
            owner = self.lightning_module
            if is_overridden(name, self.datamodule, LightningDataModule):
                if self._module_overrides(name):
                    rank_zero_warn(
                        f"`{name}` is overridden in both the LightningModule and the LightningDataModule; the"
                        " datamodule's is used."
                    )
                owner = self.datamodule
            self._data_hook_owners[name] = owner
        return owner

    def _decide_batch_transfer(self) -> None:
        self._clipping_overridden = self._module_overrides("configure_gradient_clipping")
        self._validation_enabled = None
        self._data_hook_owners = {}
        overridden = any(
            self._module_overrides(h) or is_overridden(h, self.datamodule, LightningDataModule) for h in _BATCH_HOOKS
        )
        precision_converts = not runs_own_methods(self.precision_plugin, _OWN_CONVERT_INPUT)
        # on the CPU with no hook overridden the transfer is an identity: skip its recursion on every batch
        self._needs_batch_transfer = overridden or precision_converts or self.strategy.root_device.type != "cpu"

    def _transfer_batch(self, batch: Any, dataloader_idx: int) -> Any:
        if not self._needs_batch_transfer:
            return batch
        batch = self.precision_plugin.convert_input(batch)
        module = self.lightning_module
        batch = module._on_before_batch_transfer(batch, dataloader_idx=dataloader_idx)
        return self.strategy.batch_to_device(batch, dataloader_idx=dataloader_idx)

    def _set_stage(self, stage: RunningStage | None) -> None:
        self._metrics.flush()  # pending step values belong to the loop that is ending
        self.state.stage = stage
        self._metrics.results = self._results

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
    def _results(self) -> ResultCollection | None:
        loop = self._active_loop
        if loop is None or loop is self.predict_loop:
            return None
        if loop is self.fit_loop:
            return self.fit_loop.epoch_loop.results
        return loop.results

    # ------------------------------------------------------------------------------------------------------
    # properties
    # ------------------------------------------------------------------------------------------------------
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
        device = self.strategy.root_device
        return [device.index if device.index is not None else 0]

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
        return self.fit_loop.loader

    @property
    def val_dataloaders(self) -> Any:
        loop = self.validate_loop if self.state.fn == TrainerFn.VALIDATING else self.fit_loop.epoch_loop.val_loop
        return _unwrap(loop.loaders)

    @property
    def test_dataloaders(self) -> Any:
        return _unwrap(self.test_loop.loaders)

    @property
    def predict_dataloaders(self) -> Any:
        return _unwrap(self.predict_loop.loaders or None)

    @property
    def estimated_stepping_batches(self) -> int | float:
        """The number of optimizer steps fit will take, from ``max_epochs``, ``max_steps`` and the loader length.

        Without an epoch limit it is ``max_steps`` (infinite when that is -1 too); with a loader of unknown length
        it is ``max_steps``.
        """
        if self.max_epochs == -1:
            return float("inf") if self.max_steps == -1 else self.max_steps
        if self.fit_loop.loader is None:
            rank_zero_info("Loading `train_dataloader` to estimate number of stepping batches.")
            self.fit_loop.setup_data()
        batches = self.num_training_batches
        if batches == float("inf"):
            return self.max_steps
        max_epochs = self.max_epochs if self.max_epochs is not None else 1000
        total = -(-int(batches) // self.accumulate_grad_batches) * max(max_epochs, 1)
        return total if self.max_steps == -1 else min(total, self.max_steps)


def _slurm_job_id() -> int | None:
    """The SLURM job id, which names the default logger's version under SLURM (outside interactive shells)."""
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    if job_id is None or os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive"):
        return None
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    try:
        return int(f"{job_id}{task}") if task else int(job_id)
    except ValueError:
        return None


def _unwrap(loaders: list[Any] | None) -> Any:
    if loaders is None:
        return None
    return loaders[0] if len(loaders) == 1 else loaders


def _check_model(model: Any) -> LightningModule:
    if not isinstance(model, LightningModule):
        raise TypeError(f"`model` must be a `LightningModule`, got `{type(model).__qualname__}`")
    return model


def _reject_unsupported(**arguments: tuple[Any, Any]) -> None:
    for name, (value, default) in arguments.items():
        if value != default:
            raise MisconfigurationException(
                f"Trainer({name}={value!r}) is not implemented by shim yet; leave it at its default ({default!r})."
            )
