"""``ThroughputMonitor``: log batches, samples, items and FLOPs per second of each loop, through ``Throughput``.

Per loop (training, validation, test, prediction) the callback keeps running totals and the time spent in that loop
only: the time of a validation run inside ``fit`` is taken off the training clock.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.fabric.utilities.throughput import Throughput, get_available_flops
from shim.trainer.states import RunningStage, TrainerFn
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["ThroughputMonitor"]

_STAGE_OF_SETUP = {
    "fit": RunningStage.TRAINING,
    "validate": RunningStage.VALIDATING,
    "test": RunningStage.TESTING,
    "predict": RunningStage.PREDICTING,
}
_COMPUTE_DTYPES = {
    "64-true": torch.float64,
    "16-mixed": torch.float16,
    "16-true": torch.float16,
    "bf16-mixed": torch.bfloat16,
    "bf16-true": torch.bfloat16,
}


@dataclass
class _LoopTally:
    """One loop's running totals, the clock reading its time counts from, and its ``Throughput``."""

    throughput: Throughput
    clock_start: float = 0.0
    elapsed: float = 0.0  # at the last batch counted
    batches: int = 0
    samples: int = 0
    lengths: int = 0

    def restart(self) -> None:
        self.throughput.reset()
        self.batches = self.samples = self.lengths = 0
        self.elapsed = 0.0


class ThroughputMonitor(Callback):
    """Log the throughput of training and of the evaluation loops to the Trainer's loggers.

    After each batch the totals ``<stage>/time``, ``<stage>/batches``, ``<stage>/samples`` (and ``<stage>/lengths``
    with ``length_fn``) are logged, ``<stage>`` being ``train``, ``validate``, ``test`` or ``predict``. Once
    ``window_size`` batches are in, the rates over the last ``window_size`` batches come too:
    ``<stage>/device/batches_per_sec``, ``.../samples_per_sec``, ``.../items_per_sec`` and, when the
    LightningModule has a ``flops_per_batch`` attribute (see ``measure_flops``), ``.../flops_per_sec`` and ``.../mfu``
    (on GPUs whose peak FLOPs are known). Training logs at the ``log_every_n_steps`` cadence after each optimizer step
    (at the Trainer's step); the evaluation loops log at their own batch count.

    Args:
        batch_size_fn: The number of samples in a batch, ``batch_size_fn(batch)``.
        length_fn: The number of items (tokens, ...) in a batch, ``length_fn(batch)``; None: items are not counted.
        **kwargs: Passed on to ``Throughput`` (``window_size``, default 100; ``separator``, default ``"/"``).
    """

    def __init__(
        self, batch_size_fn: Callable[[Any], int], length_fn: Callable[[Any], int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__()
        self.batch_size_fn = batch_size_fn
        self.length_fn = length_fn
        self.kwargs = kwargs
        self.available_flops: int | None = None
        self._tallies: dict[RunningStage, _LoopTally] = {}
        self._module_has_flops: bool | None = None  # looked up once, at the first batch

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        plugin_precision = getattr(trainer.precision_plugin, "precision", "32-true")
        dtype = _COMPUTE_DTYPES.get(str(plugin_precision), torch.float32)
        self.available_flops = get_available_flops(trainer.strategy.root_device, dtype)
        stages = [_STAGE_OF_SETUP[stage]]
        if stage == "fit" and trainer.enable_validation:
            stages.append(RunningStage.VALIDATING)
        for loop_stage in stages:
            throughput = Throughput(available_flops=self.available_flops, world_size=trainer.world_size, **self.kwargs)
            tally = self._tallies.get(loop_stage)
            if tally is None:
                self._tallies[loop_stage] = _LoopTally(throughput)
            else:  # a new run of the same entry point keeps counting batches, with a fresh rate window
                tally.throughput = throughput

    # -- the three steps: start a loop's clock, count a batch, log -------------------------------------
    def _start(self, trainer: "Trainer", stage: RunningStage) -> None:
        tally = self._tallies.get(stage)
        if tally is None:
            throughput = Throughput(available_flops=self.available_flops, world_size=trainer.world_size, **self.kwargs)
            tally = self._tallies[stage] = _LoopTally(throughput)
        elif trainer.state.fn == TrainerFn.FITTING:
            tally.restart()
        tally.clock_start = time.perf_counter()

    @torch.inference_mode()  # the user's functions may compute on the batch
    def _count(self, trainer: "Trainer", pl_module: "LightningModule", stage: RunningStage, batch: Any) -> None:
        tally = self._tallies[stage]
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # the clock must see the batch's kernels finished
        tally.elapsed = elapsed = time.perf_counter() - tally.clock_start
        if self.length_fn is not None:
            tally.lengths += self.length_fn(batch)
        if self._module_has_flops is None:
            self._module_has_flops = hasattr(pl_module, "flops_per_batch")
            if not self._module_has_flops:
                rank_zero_warn(
                    f"ThroughputMonitor logs no FLOPs: {type(pl_module).__name__} has no `flops_per_batch` attribute"
                    " or property (`measure_flops` can work it out)."
                )
        tally.samples += self.batch_size_fn(batch)
        tally.batches += 1
        tally.throughput.update(
            time=elapsed,
            batches=tally.batches,
            samples=tally.samples,
            lengths=None if self.length_fn is None else tally.lengths,
            flops=pl_module.flops_per_batch if self._module_has_flops else None,  # type: ignore[arg-type]
        )

    def _log(self, trainer: "Trainer", stage: RunningStage, step: int | None = None) -> None:
        if not trainer._metrics.should_update_logs():
            return
        throughput = self._tallies[stage].throughput
        prefix = f"{stage.value}{throughput.separator}"
        metrics = {prefix + name: value for name, value in throughput.compute().items()}
        trainer._metrics.log_metrics(metrics, step=step)  # type: ignore[arg-type]

    def _eval_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", stage: RunningStage, batch: Any
    ) -> None:
        step = trainer._active_loop.batch_progress.total.ready
        self._count(trainer, pl_module, stage, batch)
        self._log(trainer, stage, step)

    # -- hooks (rank zero only: the numbers are per device) ---------------------------------------------
    @override
    def on_train_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.is_global_zero:
            self._start(trainer, RunningStage.TRAINING)

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.is_global_zero:
            return
        self._count(trainer, pl_module, RunningStage.TRAINING, batch)
        if not trainer.fit_loop.epoch_loop.should_accumulate():
            self._log(trainer, RunningStage.TRAINING)

    @override
    def on_validation_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self._start(trainer, RunningStage.VALIDATING)

    @override
    def on_validation_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            self._eval_batch_end(trainer, pl_module, RunningStage.VALIDATING, batch)

    @override
    def on_validation_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if not trainer.is_global_zero or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        # move the training clock's start forward by the time from the last training batch to the end of validation
        train, val = self._tallies[RunningStage.TRAINING], self._tallies[RunningStage.VALIDATING]
        train.clock_start += (val.clock_start + val.elapsed) - (train.clock_start + train.elapsed)

    @override
    def on_test_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.is_global_zero:
            self._start(trainer, RunningStage.TESTING)

    @override
    def on_test_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.is_global_zero:
            self._eval_batch_end(trainer, pl_module, RunningStage.TESTING, batch)

    @override
    def on_predict_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if trainer.is_global_zero:
            self._start(trainer, RunningStage.PREDICTING)

    @override
    def on_predict_batch_end(
        self,
        trainer: "Trainer",
        pl_module: "LightningModule",
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.is_global_zero:
            self._eval_batch_end(trainer, pl_module, RunningStage.PREDICTING, batch)
