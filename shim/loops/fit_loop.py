"""``FitLoop``: epochs of training, from ``on_train_start`` to ``on_train_end``, and when to stop."""

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from shim.loops.fetcher import BatchFetcher, make_fetcher
from shim.loops.progress import ProcessedTracker, Progress
from shim.loops.training_epoch_loop import TrainingEpochLoop, is_max_limit_reached, val_check_batch
from shim.trainer.data import DataSource
from shim.trainer.loader_setup import (
    TrainingData,
    load_loader_states,
    loader_states,
    request_training_data,
    set_sampler_epoch,
    warn_if_position_lost,
)
from shim.trainer.states import RunningStage
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_debug, rank_zero_info, rank_zero_warn
from shim.utilities.seed import collect_rng_states, set_rng_states

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["FitLoop"]


@dataclass
class ResumePoint:
    """Where a checkpoint interrupted training, and the random states to continue exactly from there.

    ``kind``: ``"epoch_end"`` (saved in ``on_train_epoch_end``), ``"between_epochs"``, ``"batch_end"`` (saved in
    ``on_train_batch_end``) or ``"validation_end"`` (saved by validation inside an epoch).
    """

    kind: str
    batches_done: int
    rng: dict[str, Any] | None
    rng_at_epoch_start: dict[str, Any] | None

    @property
    def mid_epoch(self) -> bool:
        return self.kind in ("batch_end", "validation_end")


class FitLoop:
    """Runs training epochs until ``max_epochs``/``max_steps`` or a permitted stop."""

    def __init__(self, trainer: "Trainer", min_epochs: int | None = None, max_epochs: int | None = None) -> None:
        if isinstance(max_epochs, int) and max_epochs < -1:
            raise MisconfigurationException(
                f"max_epochs={max_epochs} is not valid: it must be a non-negative integer, or -1 for no limit."
            )
        self.trainer = trainer
        self.min_epochs = min_epochs
        self.max_epochs = max_epochs
        self.epoch_loop = TrainingEpochLoop(trainer)
        self.epoch_progress = Progress.of(ProcessedTracker)
        self.max_batches: int | float = float("inf")
        self.source = DataSource(None, "train_dataloader")
        self.loader: Any = None  # the one training loader, or the CombinedLoader that reads several
        self.data: TrainingData | None = None
        self._fetcher: BatchFetcher | None = None
        # the states of the loaders with `load_state_dict` that a checkpoint holds, loaded when they are set up
        self._loader_states: list[dict[str, Any]] = []
        self._loaders_restored = False  # ... and whether they were: the loaders then go on from where they were
        self._sampler_epoch: int | None = None  # the epoch the loader's samplers were last told
        self._last_reload_epoch: float = float("-inf")
        self.val_check_batch: int | float | None = None
        # the random states just before this epoch's pass over the data began (saved in checkpoints)
        self.epoch_start_rng: dict[str, Any] | None = None
        self._resume: ResumePoint | None = None
        self._restarting = False  # the epoch running now is the one a checkpoint resumed
        self._restarting_mid_epoch = False  # ... from inside that epoch

    @property
    def dataloaders(self) -> Any:
        """``Trainer.train_dataloader``: the training loader, or the collection of loaders it combines."""
        return None if self.loader is None or self.data is None else self.data.dataloaders

    @property
    def total_batch_idx(self) -> int:
        return self.epoch_loop.total_batch_idx

    @property
    def batch_idx(self) -> int:
        return self.epoch_loop.batch_idx

    @property
    def min_steps(self) -> int | None:
        return self.epoch_loop.min_steps

    @property
    def max_steps(self) -> int:
        return self.epoch_loop.max_steps

    @property
    def can_stop_early(self) -> bool:
        met_min_epochs = self.epoch_progress.current.processed >= self.min_epochs if self.min_epochs else True
        met_min_steps = self.epoch_loop.global_step >= self.min_steps if self.min_steps else True
        return met_min_epochs and met_min_steps

    def _should_reload(self) -> bool:
        n = self.trainer.reload_dataloaders_every_n_epochs
        return bool(n) and self.trainer.current_epoch - self._last_reload_epoch >= n

    @property
    def done(self) -> bool:
        """Whether training ends now: no batches, ``max_steps`` or ``max_epochs`` reached, or a permitted stop."""
        if self.max_batches == 0:
            rank_zero_info("`Trainer.fit` stopped: No training batches.")
            return True
        if is_max_limit_reached(self.epoch_loop.global_step, self.max_steps):
            rank_zero_info(f"`Trainer.fit` stopped: `max_steps={self.max_steps!r}` reached.")
            return True
        assert isinstance(self.max_epochs, int)
        if is_max_limit_reached(self.epoch_progress.current.processed, self.max_epochs):
            # epochs are counted as processed before `on_train_epoch_end`; make current_epoch agree
            self.epoch_progress.current.completed = self.epoch_progress.current.processed
            rank_zero_info(f"`Trainer.fit` stopped: `max_epochs={self.max_epochs!r}` reached.")
            return True
        if self.trainer.should_stop and self.can_stop_early:
            rank_zero_debug("`Trainer.fit` ends here: a callback or the module set `trainer.should_stop`.")
            return True
        return False

    @property
    def skip(self) -> bool:
        return self.done or self.trainer.limit_train_batches == 0

    def setup_data(self) -> None:
        """Request the training loader (again, when ``reload_dataloaders_every_n_epochs`` says so)."""
        if self.loader is not None and not self._should_reload():
            return
        trainer = self.trainer
        if trainer.limit_train_batches == 0 or not trainer._module_overrides("training_step"):
            return
        self.data = data = request_training_data(trainer, self.source)
        self.loader, self.max_batches = data.loader, data.max_batches
        self._sampler_epoch = None
        self._fetcher = make_fetcher(
            trainer, data.batches, self.max_batches, "[_TrainingEpochLoop].train_dataloader_next"
        )
        if self._loader_states and self.restarting:
            load_loader_states(data.loaders, self._loader_states)
            self._loaders_restored = True
        self._loader_states = []
        self._start_pass()
        if self.max_batches == 0:
            return
        self._last_reload_epoch = trainer.current_epoch
        self.resolve_val_check_batch(self.max_batches)
        if trainer.loggers and self.max_batches < trainer.log_every_n_steps and not trainer.fast_dev_run:
            rank_zero_warn(
                f"An epoch has {self.max_batches} training batches, fewer than"
                f" Trainer(log_every_n_steps={trainer.log_every_n_steps}): no step of it is logged. Lower"
                " log_every_n_steps to see training logs within an epoch.",
                category=PossibleUserWarning,
            )

    def _tell_sampler_epoch(self) -> None:
        """``set_epoch`` on the loader's samplers once per epoch (and before the first pass of a new loader)."""
        epoch = self.epoch_progress.current.processed
        if self._sampler_epoch != epoch and self.data is not None:
            for loader in self.data.loaders:
                set_sampler_epoch(loader, epoch)
            self._sampler_epoch = epoch

    def _resume_inside_a_cut_epoch(self) -> None:
        """As Lightning: when training is bounded by ``max_steps`` and the checkpoint was saved at the end of an epoch
        that ``max_steps`` cut short, the resumed run goes on with that epoch's remaining batches (no new epoch, no
        ``on_train_epoch_start``) instead of starting the next one."""
        resume = self._resume
        if resume is None or resume.kind != "epoch_end" or self.trainer.max_steps == -1:
            return
        if resume.batches_done >= self.max_batches:
            return
        self.epoch_progress.current.completed -= 1  # load_state_dict counted the epoch as finished
        self.epoch_progress.total.completed -= 1
        self._resume = replace(resume, kind="batch_end")

    def _start_pass(self) -> None:
        """Begin a pass over the training data; when resuming, from where the checkpoint left it."""
        assert self._fetcher is not None
        self._resume_inside_a_cut_epoch()
        resume = self._resume
        if resume is not None and resume.mid_epoch and resume.rng_at_epoch_start is not None:
            set_rng_states(resume.rng_at_epoch_start)
        elif resume is not None and resume.rng is not None:
            set_rng_states(resume.rng)
        self._tell_sampler_epoch()
        self.epoch_start_rng = collect_rng_states()
        self._fetcher.start()
        if resume is not None and resume.mid_epoch and self._loaders_restored:
            self._fetcher.fetched += resume.batches_done  # the loaders go on from the positions they saved
        elif resume is not None and resume.mid_epoch:
            # the same shuffled order as the interrupted epoch, minus the batches it already trained on
            self._fetcher.skip(resume.batches_done)
            if resume.rng is not None:
                set_rng_states(resume.rng)

    def run(self) -> None:
        self.setup_data()
        if self.skip:
            return
        torch.set_grad_enabled(True)
        if self._resume is None or not self._resume.mid_epoch:  # an epoch resumed inside goes on unfinished
            self.epoch_progress.current.completed = self.epoch_progress.current.processed
        trainer = self.trainer
        if self.epoch_loop.should_check_val_epoch() and self.epoch_loop.val_loop.loaders is None:
            trainer._set_stage(RunningStage.VALIDATING)
            self.epoch_loop.val_loop.setup_data()
            trainer._set_stage(RunningStage.TRAINING)
        self._warn_if_modules_in_eval_mode()
        trainer._hooks.call("on_train_start")
        resume, self._resume = self._resume, None
        self._restarting = self._restarts(resume)
        self._restarting_mid_epoch = resume is not None and resume.mid_epoch
        if resume is not None and (resume.mid_epoch or trainer.max_steps != -1) and self.data is not None:
            warn_if_position_lost(trainer, self.data)  # as Lightning, for these two kinds of resume only
        if resume is not None and resume.kind == "epoch_end" and resume.rng is not None:
            # shim's checkpoint was written in on_train_epoch_end, before the plateau schedulers stepped; it
            # carries the metrics they monitor. (A Lightning checkpoint lacks them, and Lightning skips this step.)
            self.epoch_loop.update_lr_schedulers("epoch", update_plateau_schedulers=True)
        while not self.done:
            try:
                assert self._fetcher is not None
                if resume is not None and resume.mid_epoch:
                    with trainer.profiler.profile("run_training_epoch"):
                        self.epoch_loop.run(self._fetcher, resume=resume.kind)  # the rest of the interrupted epoch
                else:
                    self.on_advance_start(first_after_resume=resume is not None)
                    with trainer.profiler.profile("run_training_epoch"):  # once per epoch: two calls without one
                        self.epoch_loop.run(self._fetcher)  # one epoch
                resume = None
                self.on_advance_end()
                self._restarting = self._restarting_mid_epoch = False
            except StopIteration:
                break
        trainer._hooks.call("on_train_end")

    def _warn_if_modules_in_eval_mode(self) -> None:
        module = self.trainer.lightning_module
        in_eval = [name for name, m in module.named_modules() if name and not m.training]
        if in_eval:
            rank_zero_warn(
                f"Found {len(in_eval)} module(s) in eval mode at the start of training ({in_eval[:5]}); if that is not"
                " intended, call `.train()` on them.",
                category=PossibleUserWarning,
            )

    def on_advance_start(self, first_after_resume: bool = False) -> None:
        trainer = self.trainer
        reloaded = self._should_reload()
        self.setup_data()
        self._tell_sampler_epoch()
        self.epoch_progress.increment_ready()
        trainer._hooks.call("on_train_epoch_start")
        self.epoch_progress.increment_started()
        if self.data is not None and self.data.combined is not None and self.data.combined._mode == "sequential":
            raise ValueError(
                "Training cannot read a CombinedLoader in mode 'sequential' (one loader after the other); give it"
                " mode 'min_size', 'max_size_cycle' or 'max_size'."
            )
        # the first epoch's pass (and a resumed run's first) began in setup_data; later epochs begin here
        if trainer.current_epoch > 0 and not reloaded and not first_after_resume:
            self._start_pass()

    def on_advance_end(self) -> None:
        trainer = self.trainer
        hooks = trainer._hooks
        trainer._metrics.epoch_end_reached()
        self.epoch_progress.increment_processed()
        if trainer._module_overrides("training_epoch_end"):  # Lightning 1.x hook, before on_train_epoch_end
            outputs, self.epoch_loop.epoch_outputs = self.epoch_loop.epoch_outputs, []
            hooks.module("training_epoch_end", outputs)
        # checkpointing and early stopping read what the module logged in its epoch-end hook, so they go last
        hooks.callbacks("on_train_epoch_end", monitoring=False)
        hooks.module("on_train_epoch_end")
        hooks.callbacks("on_train_epoch_end", monitoring=True)
        trainer._metrics.on_epoch_end()
        if self.epoch_loop._num_ready_batches_reached():
            self.epoch_loop.update_lr_schedulers("epoch", update_plateau_schedulers=True)
        # epoch-level metrics are logged at the step of the epoch's last optimizer step
        self.epoch_loop.batches_that_stepped -= 1
        trainer._metrics.update_train_epoch_metrics()
        self.epoch_loop.batches_that_stepped += 1
        self.epoch_progress.increment_completed()

    def resolve_val_check_batch(self, max_batches: int | float) -> None:
        """Turn ``val_check_interval`` (fraction of the epoch or count of batches) into a batch count."""
        self.val_check_batch = val_check_batch(self.trainer, max_batches)

    def teardown(self) -> None:
        if self._fetcher is not None:
            self._fetcher.teardown()
        if self.data is not None and self.data.combined is not None:
            self.data.combined.reset()
        self._loaders_restored = False
        self.epoch_loop.results.cpu()
        self.epoch_loop.val_loop.teardown()

    def state_dict(self) -> dict[str, Any]:
        """The loop counters, as Lightning's fit loop lays them out (the checkpoint's ``loops/fit_loop`` entry)."""
        epoch_loop = self.epoch_loop
        states = loader_states(self.data.loaders) if self.data is not None else []
        return {
            "state_dict": {"combined_loader": states} if states else {},
            "epoch_loop.state_dict": {"_batches_that_stepped": epoch_loop.batches_that_stepped},
            "epoch_loop.batch_progress": epoch_loop.batch_progress.state_dict(),
            "epoch_loop.scheduler_progress": epoch_loop.scheduler_progress.state_dict(),
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": (
                epoch_loop.automatic_optimization.optim_progress.state_dict()
            ),
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": (
                epoch_loop.manual_optimization.optim_step_progress.state_dict()
            ),
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": epoch_loop.val_loop.batch_progress.state_dict(),
            "epoch_progress": self.epoch_progress.state_dict(),
        }

    @property
    def restarting(self) -> bool:
        """Whether the loop is resuming from a checkpoint: from its load until the first epoch after it ends."""
        return self._restarts(self._resume) or self._restarting

    def _restarts(self, resume: ResumePoint | None) -> bool:
        # as Lightning says: a resume inside an epoch restarts, as does one between epochs when training counts
        # steps; a checkpoint written in on_train_epoch_end has finished its epoch (whatever the limit)
        steps = resume is not None and resume.kind == "between_epochs" and self.trainer.max_steps != -1
        return resume is not None and (resume.mid_epoch or steps)

    def load_state_dict(self, state: dict[str, Any] | None, shim_state: dict[str, Any] | None = None) -> None:
        """Restore the counters saved under ``loops/fit_loop`` and work out where training resumes.

        ``shim_state`` holds what shim saves for an exact resume (random states); by default it is read from the
        loop's own entry, where shim's checkpoints keep it.
        """
        if not state:
            return
        if shim_state is None:
            shim_state = (state.get("state_dict") or {}).get("shim")
        self._loader_states = (state.get("state_dict") or {}).get("combined_loader", [])
        epoch_loop = self.epoch_loop
        self.epoch_progress.load_state_dict(state["epoch_progress"])
        epoch_loop.batches_that_stepped = state.get("epoch_loop.state_dict", {}).get("_batches_that_stepped", 0)
        epoch_loop.batch_progress.load_state_dict(state["epoch_loop.batch_progress"])
        epoch_loop.scheduler_progress.load_state_dict(state["epoch_loop.scheduler_progress"])
        epoch_loop.automatic_optimization.optim_progress.load_state_dict(
            state["epoch_loop.automatic_optimization.optim_progress"]
        )
        manual = state.get("epoch_loop.manual_optimization.optim_step_progress")
        if manual is not None:
            epoch_loop.manual_optimization.optim_step_progress.load_state_dict(manual)
        shim_state = shim_state or {}
        epochs = self.epoch_progress
        batches = epoch_loop.batch_progress
        if epochs.current.processed > epochs.current.completed:
            kind = "epoch_end"
            epochs.current.completed = epochs.current.processed
            epochs.total.completed = epochs.total.processed
        elif epochs.current.ready > epochs.current.processed:
            kind = "batch_end" if batches.current.completed < batches.current.ready else "validation_end"
            batches.current.completed = batches.current.ready
            batches.total.completed = batches.total.ready
        else:
            kind = "between_epochs"
        self._resume = ResumePoint(
            kind=kind,
            batches_done=batches.current.ready,
            rng=shim_state.get("rng"),
            rng_at_epoch_start=shim_state.get("rng_at_epoch_start"),
        )
