"""``PredictionLoop``: run ``predict_step`` over the predict data loaders and collect the outputs."""

from typing import TYPE_CHECKING, Any

from shim.loops.evaluation_loop import ModuleModes, no_grad_context
from shim.loops.fetcher import BatchFetcher
from shim.loops.progress import BatchProgress
from shim.trainer.data import (
    DataSource,
    add_worker_seeding,
    as_loader_list,
    check_iterable,
    loader_length,
    parse_num_batches,
    transfer_batch,
)
from shim.trainer.distributed_sampler import distribute_loader
from shim.trainer.states import RunningStage
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["PredictionLoop"]


class PredictionLoop:
    """Runs prediction; returns one list of outputs per data loader (a flat list for a single loader)."""

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.batch_progress = BatchProgress()
        self.source = DataSource(None, "predict_dataloader")
        self.loaders: list[Any] = []
        self.max_batches: list[int | float] = []
        self.return_predictions = True
        self.predictions: list[list[Any]] = []
        self._module_modes = ModuleModes()

    @property
    def num_dataloaders(self) -> int:
        return len(self.loaders)

    def setup_data(self) -> None:
        trainer = self.trainer
        limit = trainer.limit_predict_batches
        if limit == 0:
            return
        loaders = as_loader_list(self.source.request(trainer))
        self.loaders = []
        for loader in loaders:
            check_iterable(loader, self.source)
            loader = distribute_loader(loader, trainer, RunningStage.PREDICTING)
            self.loaders.append(add_worker_seeding(loader, trainer.global_rank))
        self.max_batches = [parse_num_batches(RunningStage.PREDICTING, loader_length(dl), limit) for dl in self.loaders]

    def run(self) -> list[Any] | None:
        with no_grad_context(self.trainer):
            return self._run()

    def _run(self) -> list[Any] | None:
        self.setup_data()
        if sum(self.max_batches) == 0:
            return None
        trainer = self.trainer
        hooks = trainer._hooks
        module = trainer.lightning_module
        self.batch_progress.reset_on_run()
        self.predictions = [[] for _ in self.loaders]
        self._module_modes.capture(module)
        hooks.module("on_predict_model_eval")
        hooks.call("on_predict_start")
        hooks.call("on_predict_epoch_start")
        multiple = self.num_dataloaders > 1
        takes_batch_idx = is_param_in_hook_signature(module.predict_step, "batch_idx", min_args=2)
        for dataloader_idx, (loader, limit) in enumerate(zip(self.loaders, self.max_batches, strict=True)):
            if limit == 0:
                continue
            fetcher = BatchFetcher(loader, limit).start()
            for batch_idx, batch in enumerate(fetcher):
                self.batch_progress.is_last_batch = fetcher.done
                batch = transfer_batch(trainer, batch, dataloader_idx)
                hook_args: tuple[Any, ...] = (batch, batch_idx, dataloader_idx) if multiple else (batch, batch_idx)
                self.batch_progress.increment_ready()
                hooks.call("on_predict_batch_start", *hook_args)
                self.batch_progress.increment_started()
                step_args = hook_args if takes_batch_idx else (hook_args[0], *hook_args[2:])
                output = trainer.strategy.predict_step(*step_args)
                self.batch_progress.increment_processed()
                hooks.call("on_predict_batch_end", output, *hook_args)
                self.batch_progress.increment_completed()
                if self.return_predictions:
                    self.predictions[dataloader_idx].append(output)
        hooks.call("on_predict_epoch_end")
        hooks.call("on_predict_end")
        self._module_modes.restore(module)
        if not self.return_predictions:
            return None
        return self.predictions[0] if len(self.predictions) == 1 else self.predictions

    def teardown(self) -> None:
        self.predictions = [] if not self.return_predictions else self.predictions
