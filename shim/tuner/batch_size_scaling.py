"""The batch-size search: run a few steps at growing batch sizes until one runs out of memory.

``"power"`` doubles the size after every success and halves it after the first failure; ``"binsearch"`` doubles
until a failure, then bisects between the last success and the failure. Each trial rebuilds the data loaders with the
new size, and afterwards the model, optimizers, counters, callbacks and loggers are as they were before the search.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shim.tuner.attributes import lightning_getattr, lightning_setattr
from shim.tuner.search import (
    LoopCounters,
    borrowed_callbacks_and_loggers,
    garbage_collection_cuda,
    is_oom_error,
    restore_snapshot,
    save_snapshot,
)
from shim.utilities.data import sized_len
from shim.utilities.rank_zero import get_logger, rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__: list[str] = []

log = get_logger(__name__)

_DEFAULT_MAX_VAL = 8192


@dataclass(frozen=True)
class BatchSizeSearch:
    """How to search; ``lightning_1x`` follows Lightning 1.9's rules (no ``max_val``, no ``margin``, sizes clamped to
    the dataset length, and a binary search that stops one trial later)."""

    mode: str = "power"
    steps_per_trial: int = 3
    init_val: int = 2
    max_trials: int = 25
    batch_arg_name: str = "batch_size"
    margin: float = 0.05
    max_val: int = _DEFAULT_MAX_VAL
    lightning_1x: bool = False


def scale_batch_size(trainer: "Trainer", search: BatchSizeSearch) -> int | None:
    """Find the largest batch size that runs ``search.steps_per_trial`` steps of the running loop without OOM.

    The found size is left in the attribute ``search.batch_arg_name``; everything else is restored.

    Returns:
        The batch size, or None under ``fast_dev_run`` (which skips the search).
    """
    if not 0.0 <= search.margin < 1.0:
        raise ValueError(f"margin={search.margin!r} is not valid: use a fraction in [0, 1).")
    if trainer.fast_dev_run:
        rank_zero_warn("No batch size search under `fast_dev_run`: the batch size is left as it is.")
        return None
    path = save_snapshot(trainer, "scale_batch_size")
    loop = trainer._active_loop
    counters = LoopCounters(trainer, loop)
    try:
        with borrowed_callbacks_and_loggers(trainer, []), _trial_limits(trainer, loop, search.steps_per_trial):
            scaler = _Scaler(trainer, loop, search, counters)
            new_size, _ = scaler.adjust(value=search.init_val)
            new_size = scaler.power(new_size) if search.mode == "power" else scaler.binsearch(new_size)
            garbage_collection_cuda()
            log.info(f"Batch size search done: the run continues with batch size {new_size}.")
    finally:
        counters.restore()
        _reload_data(trainer, loop)
        restore_snapshot(trainer, path)
    return new_size


@contextmanager
def _trial_limits(trainer: "Trainer", loop: Any, steps_per_trial: int) -> Iterator[None]:
    """Trials run ``steps_per_trial`` steps (fit: optimizer steps and validation batches; evaluation: batches)."""
    if loop is trainer.fit_loop:
        saved = (loop.epoch_loop.max_steps, trainer.limit_train_batches, trainer.limit_val_batches)
        loop.epoch_loop.max_steps = steps_per_trial
        trainer.limit_train_batches, trainer.limit_val_batches = 1.0, steps_per_trial
        try:
            yield
        finally:
            loop.epoch_loop.max_steps, trainer.limit_train_batches, trainer.limit_val_batches = saved
    elif loop in (trainer.validate_loop, trainer.test_loop):
        name = f"limit_{'test' if loop is trainer.test_loop else 'val'}_batches"
        saved_limit, saved_verbose = getattr(trainer, name), loop.verbose
        setattr(trainer, name, steps_per_trial)
        loop.verbose = False
        try:
            yield
        finally:
            setattr(trainer, name, saved_limit)
            loop.verbose = saved_verbose
    else:  # prediction runs its whole data set in every trial, as in Lightning
        yield


def _loaders(trainer: "Trainer", loop: Any) -> list[Any]:
    if loop is trainer.fit_loop:
        return [] if loop.loader is None or loop.data is None else list(loop.data.loaders)
    return list(loop.loaders or [])


def _reading_mode(trainer: "Trainer", loop: Any) -> str:
    """The ``CombinedLoader`` mode the loop reads its loaders in."""
    if loop is trainer.fit_loop:
        combined = loop.data.combined if loop.data is not None else None
        return "max_size_cycle" if combined is None else combined._mode
    combined = getattr(loop, "_combined", None)
    return "sequential" if combined is None else combined._mode


def _reload_data(trainer: "Trainer", loop: Any) -> None:
    """Build the loaders again (a new batch size takes effect only in new loaders)."""
    if loop is trainer.fit_loop:
        loop.loader = None
        loop.setup_data()
        val_loop = loop.epoch_loop.val_loop
        val_loop.loaders = None
        if val_loop.source.is_defined():
            val_loop.setup_data()
    else:
        loop.setup_data()


class _Scaler:
    """One search: the trials and the batch-size changes between them."""

    def __init__(self, trainer: "Trainer", loop: Any, search: BatchSizeSearch, counters: LoopCounters) -> None:
        self.trainer = trainer
        self.loop = loop
        self.search = search
        self.counters = counters
        self.stage = trainer.state.stage

    def adjust(
        self, factor: float = 1.0, value: int | None = None, desc: str | None = None, cap: int = _DEFAULT_MAX_VAL
    ) -> tuple[int, bool]:
        """Set the batch size to ``value`` (or the current one times ``factor``, at most ``cap``); returns it and
        whether it changed.

        Lightning 2.x caps only the sizes that binsearch tries after a success at the user's ``max_val``; all others
        at the default 8192, which is what ``cap`` reproduces.
        """
        trainer, search = self.trainer, self.search
        model = trainer.lightning_module
        size = lightning_getattr(model, search.batch_arg_name)
        self.loop.setup_data()
        loaders = _loaders(trainer, self.loop)
        if search.lightning_1x:
            new_size = value if value is not None else int(size * factor)
            if desc:
                rank_zero_info(f"Batch size {size} {desc}, trying batch size {new_size}")
            batches = sized_len(loaders[0]) if loaders else None
            dataset_length = sized_len(getattr(loaders[0], "dataset", None)) if loaders else None
            if batches is not None and new_size > batches and dataset_length is not None:
                new_size = min(new_size, dataset_length)
        else:
            lengths = [n for dl in loaders if (n := sized_len(getattr(dl, "dataset", None))) is not None]
            if lengths:
                # as the loaders are read: several training loaders together (the longest counts, or the shortest
                # in min_size mode), evaluation loaders one after another (their sum) unless combined
                mode = _reading_mode(trainer, self.loop)
                total = min(lengths) if mode == "min_size" else sum(lengths) if mode == "sequential" else max(lengths)
                if size >= total:
                    rank_zero_info(
                        f"Batch size {size} already covers the whole dataset ({total} samples); the search stops here."
                    )
                    return size, False
            new_size = value if value is not None else int(size * factor)
            if new_size > cap:
                if desc:
                    rank_zero_info(f"Batch size {new_size} exceeds max_val limit {cap}, capping at {cap}")
                new_size = cap
            if desc:
                rank_zero_info(f"Batch size {size} {desc}, trying batch size {new_size}")
        lightning_setattr(model, search.batch_arg_name, new_size)
        return new_size, new_size != size

    def reached_max_val(self, size: int) -> bool:
        if self.search.lightning_1x or size < self.search.max_val:
            return False
        rank_zero_info(f"The batch size search stops at its upper bound, max_val={self.search.max_val}.")
        return True

    def run_trial(self) -> None:
        """Run the loop from the counters it had before the search (raises what the loop raises, OOM included)."""
        garbage_collection_cuda()
        self.counters.restore()
        if self.trainer.state.stage != self.stage:  # a trial that failed during validation left that stage
            assert self.stage is not None
            self.trainer._set_stage(self.stage)
        self.loop.run()

    def failed(self, exception: RuntimeError) -> None:
        if not is_oom_error(exception):
            raise exception
        garbage_collection_cuda()

    def power(self, new_size: int) -> int:
        """Double after each success; halve once after the first failure that follows a success."""
        any_success = False
        for trial in range(self.search.max_trials):
            if self.reached_max_val(new_size):
                break
            try:
                self.run_trial()
            except RuntimeError as exception:
                self.failed(exception)
                new_size, _ = self.adjust(factor=0.5, desc="failed")
                _reload_data(self.trainer, self.loop)
                if any_success:
                    break
                continue
            if not self.search.lightning_1x and trial + 1 >= self.search.max_trials:
                break  # the last trial succeeded: keep its size rather than an untried double
            new_size, changed = self.adjust(factor=2.0, desc="succeeded")
            if not changed:
                break
            _reload_data(self.trainer, self.loop)
            any_success = True
        return new_size

    def binsearch(self, new_size: int) -> int:
        """Double until a failure, then bisect between the last success and the smallest failure."""
        low, high, count = 1, 0, 0
        while not self.reached_max_val(new_size):
            try:
                self.run_trial()
            except RuntimeError as exception:
                self.failed(exception)
                high = new_size
                new_size, _ = self.adjust(value=(high + low) // 2, desc="failed")
                _reload_data(self.trainer, self.loop)
                if high - low <= 1:
                    break
                continue
            count += 1
            # Lightning 1.9 stops after max_trials + 1 successes, 2.x after max_trials
            if count > self.search.max_trials or (not self.search.lightning_1x and count >= self.search.max_trials):
                break
            low = new_size
            if high:
                if high - low <= 1:
                    break
                new_size, changed = self.adjust(value=(high + low) // 2, desc="succeeded", cap=self.search.max_val)
            else:
                new_size, changed = self.adjust(factor=2.0, desc="succeeded", cap=self.search.max_val)
            if not changed:
                break
            _reload_data(self.trainer, self.loop)
        return self._with_margin(new_size)

    def _with_margin(self, size: int) -> int:
        """Lightning 2.x keeps a safety margin below the size the binary search found."""
        margin = self.search.margin
        if self.search.lightning_1x or margin <= 0:
            return size
        reduced = max(1, int(size * (1 - margin)))
        if reduced != size:
            rank_zero_info(f"Applying margin of {margin:.1%}, reducing batch size from {size} to {reduced}")
            lightning_setattr(self.trainer.lightning_module, self.search.batch_arg_name, reduced)
        return reduced
