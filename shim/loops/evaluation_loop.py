"""``EvaluationLoop``: one pass over the validation or test data loaders, in order, with its hooks and metrics."""

import time
from collections import ChainMap
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from shim.loops.fetcher import BatchFetcher, make_fetcher
from shim.loops.progress import BatchProgress
from shim.loops.results_table import print_results
from shim.plugins.precision.precision import _NO_CONTEXT, Precision
from shim.strategies.strategy import Strategy
from shim.trainer.data import DataSource, as_loader_list, in_given_structure, read_in_order, transfer_batch
from shim.trainer.loader_setup import count_batches, prepare_loaders, set_sampler_epoch
from shim.trainer.metrics import ResultCollection
from shim.trainer.states import RunningStage, TrainerFn
from shim.utilities.combined_loader import CombinedBatches, CombinedLoader
from shim.utilities.model_helpers import own_methods, runs_own_methods
from shim.utilities.signature import is_param_in_hook_signature

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["EvaluationLoop"]

# the methods a validation or test batch goes through on its way to the module's step; when the strategy and the
# precision plugin run shim's own, the loop calls the module's step in the empty context they would give it
_EVAL_STEP = {
    stage: (own_methods(Strategy, (f"{stage}_step", "_step")), own_methods(Precision, (context, "forward_context")))
    for stage, context in (("validation", "val_step_context"), ("test", "test_step_context"))
}


class ModuleModes:
    """Remembers which submodules were in train mode, to restore exactly that after evaluation."""

    def __init__(self) -> None:
        self.modes: dict[str, bool] = {}

    def capture(self, module: nn.Module) -> None:
        self.modes = {name: m.training for name, m in module.named_modules()}

    def restore(self, module: nn.Module) -> None:
        for name, m in module.named_modules():
            if name in self.modes:
                m.training = self.modes[name]


def no_grad_context(trainer: "Trainer") -> AbstractContextManager[Any]:
    """``torch.inference_mode`` when the Trainer asks for it and the backend allows it, else ``torch.no_grad``."""
    if trainer.inference_mode and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return torch.inference_mode()
    return torch.no_grad()


class EvaluationLoop:
    """Runs the validation (inside fit, or ``trainer.validate``) or test loop."""

    def __init__(self, trainer: "Trainer", trainer_fn: TrainerFn, stage: RunningStage, verbose: bool = True) -> None:
        self.trainer = trainer
        self.trainer_fn = trainer_fn
        self.stage = stage
        self.verbose = verbose
        self.batch_progress = BatchProgress()
        self.results = ResultCollection(training=False)
        self.source = DataSource(None, f"{stage.dataloader_prefix}_dataloader")
        self.loaders: list[Any] | None = None
        # the same loaders, arranged as they were given (one loader, or a list, tuple or dict of them)
        self.dataloaders: Any = None
        # a CombinedLoader given in a mode that combines batches: its loaders are read together, as one
        self._combined: CombinedLoader | None = None
        self._max_batches: list[int | float] = []
        self._seen_batches_per_dataloader: dict[int, int] = {}
        self._logged_outputs: list[dict[str, Any]] = []
        self._module_modes = ModuleModes()
        self._has_run = False
        self._last_reload_epoch: float = float("-inf")

    @property
    def _testing(self) -> bool:
        return self.stage == RunningStage.TESTING

    @property
    def _hook_prefix(self) -> str:
        return "test" if self._testing else "validation"

    @property
    def num_dataloaders(self) -> int:
        return len(self.loaders or [])

    @property
    def _reads_several(self) -> bool:
        """Whether several loaders are read one after the other, each batch with its ``dataloader_idx``."""
        return self.num_dataloaders > 1 and self._combined is None

    @property
    def max_batches(self) -> list[int | float]:
        if self.trainer.sanity_checking:
            return [min(self.trainer.num_sanity_val_steps, b) for b in self._max_batches]
        return self._max_batches

    @property
    def skip(self) -> bool:
        return sum(self.max_batches) == 0

    def _should_reload(self) -> bool:
        """``reload_dataloaders_every_n_epochs``: whether fit's validation requests its loaders again this epoch."""
        n = self.trainer.reload_dataloaders_every_n_epochs
        return bool(n) and self.trainer.current_epoch - self._last_reload_epoch >= n

    def setup_data(self) -> None:
        """Request the loaders (once per fit; every time for validate/test) and count their batches."""
        trainer = self.trainer
        fitting = self.trainer_fn == TrainerFn.FITTING
        if self.loaders is not None and fitting and not self._should_reload():
            return
        limit = trainer.limit_test_batches if self._testing else trainer.limit_val_batches
        step_name = f"{'test' if self._testing else 'validation'}_step"
        if limit == 0 or not trainer._module_overrides(step_name):
            return
        # the sanity check's request counts as its epoch's reload only when that epoch validates
        if fitting and (not trainer.sanity_checking or trainer.fit_loop.epoch_loop.should_check_val_epoch()):
            self._last_reload_epoch = trainer.current_epoch
        given = self.source.request(trainer)
        loaders = as_loader_list(given)
        if fitting and trainer.overfit_batches > 0:
            loaders = read_in_order(loaders, self.stage, trainer.overfit_batches)
        self.loaders = prepare_loaders(trainer, loaders, self.source, self.stage)
        self.dataloaders = in_given_structure(given, self.loaders)
        self._combined = given if isinstance(given, CombinedLoader) and given._mode != "sequential" else None
        self._max_batches = count_batches(trainer, self.loaders, self.stage, limit)
        self._seen_batches_per_dataloader = {}

    def run(self) -> list[dict[str, Any]]:
        with no_grad_context(self.trainer):
            return self._run()

    def _run(self) -> list[dict[str, Any]]:
        self.setup_data()
        if self.skip:
            return []
        trainer = self.trainer
        hooks = trainer._hooks
        self.batch_progress.reset_on_run()
        if self.trainer_fn == TrainerFn.FITTING:
            # some users shuffle validation data by training epoch
            for loader in self.loaders or []:
                set_sampler_epoch(loader, trainer.fit_loop.epoch_progress.current.processed)
        self._logged_outputs = []
        self._has_run = False
        # per data loader, the step outputs handed to a Lightning 1.x `<stage>_epoch_end(outputs)` when it exists
        self._epoch_outputs: list[list[Any]] = [[] for _ in range(self.num_dataloaders)]
        self._check_dataloader_idx_argument()
        module = trainer.lightning_module
        self._module_modes.capture(module)
        hooks.module(f"on_{'test' if self._testing else 'validation'}_model_eval")
        prefix = "test" if self._testing else "validation"
        hooks.call(f"on_{prefix}_start")
        hooks.call(f"on_{prefix}_epoch_start")
        assert self.loaders is not None
        multiple = self._reads_several
        step_fn = getattr(module, f"{prefix}_step")
        takes_batch_idx = is_param_in_hook_signature(step_fn, "batch_idx", min_args=2)
        first = True
        for dataloader_idx, (loader, limit) in enumerate(self._passes()):
            if limit == 0:
                continue
            if not first:
                self._store_dataloader_outputs()
            first = False
            action = f"[_EvaluationLoop].{'test' if self._testing else 'val'}_next"
            fetcher = make_fetcher(trainer, loader, limit, action).start()
            self._evaluate_loader(fetcher, dataloader_idx, multiple, takes_batch_idx)
        self._store_dataloader_outputs()
        return self._on_run_end(prefix)

    def _passes(self) -> list[tuple[Any, int | float]]:
        """Each loader with the batches to take from it; the loaders of a combining CombinedLoader as one."""
        if self._combined is None:
            return list(zip(self.loaders or [], self.max_batches, strict=True))
        self._combined.limits = self.max_batches
        return [(CombinedBatches(self._combined), self._combined._length())]

    def _evaluate_loader(
        self, fetcher: BatchFetcher, dataloader_idx: int, multiple: bool, takes_batch_idx: bool
    ) -> None:
        trainer = self.trainer
        hooks = trainer._hooks
        store = trainer._metrics
        progress = self.batch_progress
        prefix = self._hook_prefix
        # decided once per loader, not per batch
        strategy = trainer.strategy
        stage = "test" if self._testing else "validation"
        own_strategy, own_precision = _EVAL_STEP[stage]
        step: Callable[[tuple[Any, ...]], Any]
        if runs_own_methods(strategy, own_strategy) and runs_own_methods(strategy.precision_plugin, own_precision):
            step = partial(strategy._step, f"{stage}_step", _NO_CONTEXT)  # what `Strategy.<stage>_step` does here
        else:
            layered = getattr(strategy, f"{stage}_step")

            def layered_step(args: tuple[Any, ...]) -> Any:
                return layered(*args)

            step = layered_step
        start_hook, end_hook = f"on_{prefix}_batch_start", f"on_{prefix}_batch_end"
        step_end = f"{prefix}_step_end" if trainer._module_overrides(f"{prefix}_step_end") else None
        keep_outputs = trainer._module_overrides(f"{prefix}_epoch_end")
        sanity = trainer.sanity_checking
        log_idx = dataloader_idx if multiple else None
        seen = self._seen_batches_per_dataloader.get(dataloader_idx, 0)
        # as in the training loop, what runs for every batch is written out: the batch counters are incremented in
        # place, and the batch hooks and the transfer are skipped at the call site when nothing would run
        total, current, silent = progress.total, progress.current, hooks.silent
        for batch_idx, batch in enumerate(fetcher):
            progress.is_last_batch = fetcher.done
            if trainer._needs_batch_transfer:
                batch = transfer_batch(trainer, batch, dataloader_idx)
            hook_args: tuple[Any, ...] = (batch, batch_idx, dataloader_idx) if multiple else (batch, batch_idx)
            total.ready += 1
            current.ready += 1
            store.on_batch_start(batch, log_idx)
            if start_hook not in silent:
                hooks.call(start_hook, *hook_args)
            total.started += 1
            current.started += 1
            output = step(hook_args if takes_batch_idx else (batch, *hook_args[2:]))
            if step_end is not None:  # Lightning 1.x hook
                output = hooks.module(step_end, output)
            if keep_outputs and output is not None:
                self._epoch_outputs[dataloader_idx].append(output)
            total.processed += 1
            current.processed += 1
            if end_hook not in silent:
                hooks.call(end_hook, output, *hook_args)
            store.on_batch_end()
            total.completed += 1
            current.completed += 1
            if not sanity:
                self._has_run = True
                store.update_eval_step_metrics(seen)
                seen += 1
                self._seen_batches_per_dataloader[dataloader_idx] = seen

    def _store_dataloader_outputs(self) -> None:
        store = self.trainer._metrics
        store.epoch_end_reached()
        self._logged_outputs.append(store.update_eval_epoch_metrics())

    def _on_run_end(self, prefix: str) -> list[dict[str, Any]]:
        trainer = self.trainer
        hooks = trainer._hooks
        store = trainer._metrics
        store.epoch_end_reached()
        self.results.dataloader_idx = None
        if trainer._module_overrides(f"{prefix}_epoch_end"):  # Lightning 1.x hook, before on_<stage>_epoch_end
            step_outputs = self._epoch_outputs if self._reads_several else self._epoch_outputs[0]
            self._epoch_outputs = []
            hooks.module(f"{prefix}_epoch_end", step_outputs)
        hooks.call(f"on_{prefix}_epoch_end")
        store.on_epoch_end()
        logged_outputs, self._logged_outputs = self._logged_outputs, []
        epoch_end_outputs = store.update_eval_epoch_metrics()
        all_outputs = dict(ChainMap(*logged_outputs))
        all_outputs.update(epoch_end_outputs)
        for outputs in logged_outputs:
            outputs.update(epoch_end_outputs)
        store.log_eval_end_metrics(all_outputs)
        hooks.call(f"on_{prefix}_end")
        store.reset_results()
        train_hook = f"on_{'test' if self._testing else 'validation'}_model_train"
        if trainer._module_overrides(train_hook):
            hooks.module(train_hook)
        else:
            self._module_modes.restore(trainer.lightning_module)
        if self.verbose and trainer.is_global_zero and not trainer.sanity_checking:
            print_results(logged_outputs, self.stage.value)
        if trainer._config.val_check_seconds is not None:
            trainer._last_val_time = time.monotonic()  # a time-based val_check_interval counts from here
        return logged_outputs

    def _check_dataloader_idx_argument(self) -> None:
        """Several loaders need ``dataloader_idx`` in the step and batch hooks; one loader must not require it."""
        import inspect

        prefix = self._hook_prefix
        module = self.trainer.lightning_module
        several = self._reads_several
        loader_name = f"{self.stage.dataloader_prefix}_dataloader"
        for hook in (f"{prefix}_step", f"on_{prefix}_batch_start", f"on_{prefix}_batch_end"):
            fn = getattr(module, hook)
            accepts = is_param_in_hook_signature(fn, "dataloader_idx")
            if several and not accepts:
                raise RuntimeError(
                    f"There are {self.num_dataloaders} `{loader_name}`s, but `{type(module).__name__}.{hook}()` has"
                    " no `dataloader_idx` parameter: add `dataloader_idx=0` to its signature."
                )
            if not several and accepts:
                parameter = inspect.signature(fn).parameters.get("dataloader_idx")
                if parameter is not None and parameter.default is inspect.Parameter.empty:
                    raise RuntimeError(
                        f"There is a single `{loader_name}`, but `{type(module).__name__}.{hook}()` requires"
                        " `dataloader_idx`: remove it or give it a default (`dataloader_idx=0`)."
                    )

    def teardown(self) -> None:
        self.results.cpu()
