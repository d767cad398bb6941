"""``PredictionLoop``: run ``predict_step`` over the predict data loaders and collect the outputs."""

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from torch.utils.data import BatchSampler, DataLoader, IterableDataset

from shim.loops.evaluation_loop import ModuleModes, no_grad_context
from shim.loops.fetcher import make_fetcher
from shim.loops.progress import BatchProgress
from shim.trainer.data import DataSource, as_loader_list, in_given_structure, transfer_batch
from shim.trainer.distributed_sampler import rebuild_loader
from shim.trainer.loader_setup import count_batches, prepare_loaders
from shim.trainer.states import RunningStage
from shim.utilities.apply_func import move_data_to_device
from shim.utilities.combined_loader import CombinedLoader
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_warn
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["IndexBatchSampler", "PredictionLoop"]


class IndexBatchSampler:
    """Yields what a batch sampler yields and remembers it, so prediction writers learn each batch's sample indices.

    Other attributes (``batch_size``, ``sampler``, ``drop_last``, ...) are read from the wrapped sampler.
    """

    def __init__(self, batch_sampler: Any) -> None:
        self.batch_sampler = batch_sampler
        # the index lists of the batches drawn so far in the current pass
        self.seen_batch_indices: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        self.seen_batch_indices = []
        for indices in self.batch_sampler:
            self.seen_batch_indices.append(indices)
            yield indices

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("batch_sampler", "seen_batch_indices"):
            raise AttributeError(name)  # not set yet (e.g. while unpickling)
        return getattr(self.batch_sampler, name)


def record_batch_indices(loader: Any) -> Any:
    """``loader`` rebuilt so that its batch sampler records the indices it yields (see ``IndexBatchSampler``).

    As in Lightning, a prediction keeps the last, smaller batch: a batch sampler built like torch's BatchSampler is
    rebuilt as ``cls(sampler, batch_size=..., drop_last=False)``. One that cannot be rebuilt that way is used as it
    is, with a warning. Loaders that are not DataLoaders over map-style datasets with a batch sampler stay as they
    are, and their batch indices stay unknown.
    """
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return loader
    batch_sampler: Any = loader.batch_sampler
    if batch_sampler is None or isinstance(batch_sampler, IndexBatchSampler):
        return loader
    cls = type(batch_sampler)
    rebuilt = None
    if cls is BatchSampler or (hasattr(batch_sampler, "batch_size") and hasattr(batch_sampler, "drop_last")):
        # Lightning rebuilds it from the arguments it saw when the loader hook made it, which shim does not record
        with contextlib.suppress(TypeError):
            rebuilt = cls(loader.sampler, batch_size=batch_sampler.batch_size, drop_last=False)
    if rebuilt is None:
        rank_zero_warn(
            f"The predict loader's batch sampler `{cls.__qualname__}` cannot be rebuilt as"
            f" `{cls.__qualname__}(sampler, batch_size=..., drop_last=False)`, so it is used as it is: if it drops"
            " samples, their predictions are missing.",
            category=PossibleUserWarning,
        )
        rebuilt = batch_sampler
    return rebuild_loader(loader, None, batch_sampler=IndexBatchSampler(rebuilt))


class PredictionLoop:
    """Runs prediction; returns one list of outputs per data loader (a flat list for a single loader).

    Attributes:
        current_batch_indices: The dataset indices of the samples in the current batch, for prediction writers
            that write each batch.
        epoch_batch_indices: Per data loader, the sample indices of each batch so far, for prediction writers that
            write at the end.
    """

    def __init__(self, trainer: "Trainer") -> None:
        self.trainer = trainer
        self.batch_progress = BatchProgress()
        self.source = DataSource(None, "predict_dataloader")
        self.loaders: list[Any] = []
        # the same loaders, arranged as they were given (one loader, or a list, tuple or dict of them)
        self.dataloaders: Any = None
        self.max_batches: list[int | float] = []
        self.return_predictions = True
        self.current_batch_indices: list[int] = []
        self.epoch_batch_indices: list[list[list[int]]] = []
        self._predictions: list[list[Any]] = []  # data loaders x batches
        self._module_modes = ModuleModes()
        self._warned: set[str] = set()  # each warning once per Trainer, as Lightning's warning cache does

    @property
    def num_dataloaders(self) -> int:
        return len(self.loaders)

    @property
    def predictions(self) -> list[Any]:
        """The outputs kept so far: a list per data loader, or one flat list when there is a single loader."""
        if len(self._predictions) == 1:
            return self._predictions[0]
        return self._predictions

    def setup_data(self) -> None:
        trainer = self.trainer
        limit = trainer.limit_predict_batches
        if limit == 0:
            return
        given = self.source.request(trainer)
        if isinstance(given, CombinedLoader) and given._mode != "sequential":
            raise ValueError(
                f"`trainer.predict()` reads a CombinedLoader one loader after the other; give it mode 'sequential'"
                f" (it has mode {given._mode!r})."
            )
        loaders = prepare_loaders(trainer, as_loader_list(given), self.source, RunningStage.PREDICTING)
        self.loaders = [record_batch_indices(loader) for loader in loaders]
        self.dataloaders = in_given_structure(given, self.loaders)
        self.max_batches = count_batches(trainer, self.loaders, RunningStage.PREDICTING, limit)

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
        self._predictions = [[] for _ in self.loaders]
        self.epoch_batch_indices = [[] for _ in self.loaders]
        writers = self._prediction_writers()
        indices_on_batch = any(writer.interval.on_batch for writer in writers)
        indices_on_epoch = any(writer.interval.on_epoch for writer in writers)
        # an epoch-end writer needs every output, whether or not `predict` returns them
        keeps_outputs = self.return_predictions or indices_on_epoch
        to_cpu = trainer.strategy.root_device.type != "cpu"
        self._module_modes.capture(module)
        hooks.module("on_predict_model_eval")
        hooks.call("on_predict_start")
        hooks.call("on_predict_epoch_start")
        multiple = self.num_dataloaders > 1
        takes_batch_idx = is_param_in_hook_signature(module.predict_step, "batch_idx", min_args=2)
        for dataloader_idx, (loader, limit) in enumerate(zip(self.loaders, self.max_batches, strict=True)):
            if limit == 0:
                continue
            fetcher = make_fetcher(trainer, loader, limit, "[_PredictionLoop].predict_next").start()
            for batch_idx, batch in enumerate(fetcher):
                self.batch_progress.is_last_batch = fetcher.done
                batch = transfer_batch(trainer, batch, dataloader_idx)
                hook_args: tuple[Any, ...] = (batch, batch_idx, dataloader_idx) if multiple else (batch, batch_idx)
                self.batch_progress.increment_ready()
                if writers:
                    self._store_batch_indices(loader, batch_idx, dataloader_idx, indices_on_batch, indices_on_epoch)
                hooks.call("on_predict_batch_start", *hook_args)
                self.batch_progress.increment_started()
                step_args = hook_args if takes_batch_idx else (hook_args[0], *hook_args[2:])
                output = trainer.strategy.predict_step(*step_args)
                if output is None:
                    self._warn_once(
                        "predict returned None: `predict_step` gave no output for a batch. If it returns None on"
                        " purpose, ignore this warning."
                    )
                self.batch_progress.increment_processed()
                hooks.call("on_predict_batch_end", output, *hook_args)
                self.batch_progress.increment_completed()
                if keeps_outputs:
                    self._predictions[dataloader_idx].append(move_data_to_device(output, "cpu") if to_cpu else output)
        hooks.call("on_predict_epoch_end")
        results = self.predictions if self.return_predictions else None
        if not self.return_predictions:
            self._predictions = []
        self.epoch_batch_indices = []
        hooks.call("on_predict_end")
        self._module_modes.restore(module)
        return results

    def teardown(self) -> None:
        self._predictions = [] if not self.return_predictions else self._predictions

    def _prediction_writers(self) -> list[Any]:
        if not self.trainer.callbacks:
            return []
        from shim.callbacks.prediction_writer import BasePredictionWriter

        return [cb for cb in self.trainer.callbacks if isinstance(cb, BasePredictionWriter)]

    def _store_batch_indices(
        self, loader: Any, batch_idx: int, dataloader_idx: int, on_batch: bool, on_epoch: bool
    ) -> None:
        """Tell the prediction writers which samples this batch holds, when the loader records it."""
        batch_sampler = getattr(loader, "batch_sampler", None)
        if not isinstance(batch_sampler, IndexBatchSampler):
            self._warn_once(
                f"The sample indices of the predict batches are unknown for a `{type(loader).__name__}` (only"
                " DataLoaders over map-style datasets record them): prediction writers get empty `batch_indices`."
            )
            return
        indices = batch_sampler.seen_batch_indices[batch_idx]
        if on_epoch:
            self.epoch_batch_indices[dataloader_idx].append(indices)
        if on_batch:
            self.current_batch_indices = indices

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            rank_zero_warn(message)
