"""What a loop does to the loaders it requested before iterating them: checks and warnings, samplers, worker seeding,
and how many batches of each it takes.

Everything here runs once per request of the loaders, never per batch.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, IterableDataset, RandomSampler

from shim.fabric.utilities.types import _Stateful
from shim.trainer.data import DataSource, add_worker_seeding, check_iterable, parse_num_batches, read_in_order
from shim.trainer.distributed_sampler import distribute_loader
from shim.trainer.states import RunningStage, TrainerFn
from shim.utilities.combined_loader import CombinedBatches, CombinedLoader, flatten_iterables
from shim.utilities.data import has_len_all_ranks, suggested_max_num_workers
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = [
    "TrainingData",
    "count_batches",
    "is_shuffled",
    "load_loader_states",
    "loader_states",
    "prepare_loaders",
    "request_training_data",
    "set_sampler_epoch",
    "warn_if_position_lost",
]


@dataclass
class TrainingData:
    """The training loaders of a fit, prepared and counted.

    ``loaders`` are the single loaders; ``combined`` is the ``CombinedLoader`` that reads several of them (None for
    one loader, which the loop reads as it is); ``batches`` is what the loop iterates and ``max_batches`` how many
    batches an epoch takes (inf when unknown).
    """

    loaders: list[Any]
    combined: CombinedLoader | None
    batches: Any
    max_batches: int | float

    @property
    def loader(self) -> Any:
        """The one loader, or the ``CombinedLoader``."""
        return self.loaders[0] if self.combined is None else self.combined

    @property
    def dataloaders(self) -> Any:
        """What ``Trainer.train_dataloader`` gives: the loader, or the collection of loaders in its given shape."""
        return self.loaders[0] if self.combined is None else self.combined.iterables


def request_training_data(trainer: "Trainer", source: DataSource) -> TrainingData:
    """Ask ``source`` for the training loaders and prepare them as Lightning does.

    A list, tuple or dict of loaders (nested too) is read through a ``CombinedLoader`` in ``max_size_cycle`` mode; a
    ``CombinedLoader`` given is read in its own mode, with the prepared loaders put in place of its own. Each loader
    is prepared on its own (distributed sampler, in-order reading for ``overfit_batches``, worker seeding) and
    limited by ``limit_train_batches``.
    """
    given = source.request(trainer)
    combined = given if isinstance(given, CombinedLoader) else None
    if combined is None:
        loaders, shape = flatten_iterables(given)
        if shape.kind is not None:
            combined = CombinedLoader(given, "max_size_cycle")
    else:
        loaders = combined.flattened
    if trainer.overfit_batches > 0:
        loaders = read_in_order(loaders, RunningStage.TRAINING, trainer.overfit_batches)
    loaders = prepare_loaders(trainer, loaders, source, RunningStage.TRAINING)
    counts = count_batches(trainer, loaders, RunningStage.TRAINING, trainer.limit_train_batches)
    if combined is None:
        return TrainingData(loaders, None, loaders[0], counts[0])
    combined.flattened = loaders
    combined.limits = counts
    return TrainingData(loaders, combined, CombinedBatches(combined), combined._length())


def loader_states(loaders: list[Any]) -> list[dict[str, Any]]:
    """The ``state_dict()`` of each loader that has ``state_dict``/``load_state_dict``, in order."""
    return [loader.state_dict() for loader in loaders if isinstance(loader, _Stateful)]


def load_loader_states(loaders: list[Any], states: list[dict[str, Any]]) -> None:
    """Give each loader with ``load_state_dict`` its state from a checkpoint, in order.

    Raises:
        RuntimeError: When the checkpoint holds another number of states than there are such loaders.
    """
    stateful = [loader for loader in loaders if isinstance(loader, _Stateful)]
    if len(stateful) != len(states):
        raise RuntimeError(
            f"The checkpoint holds the states of {len(states)} training loader(s), but {len(stateful)} of the"
            " training loaders now have `state_dict`/`load_state_dict`: resume with the loaders that were saved."
        )
    for loader, state in zip(stateful, states, strict=True):
        loader.load_state_dict(state)


def prepare_loaders(trainer: "Trainer", loaders: list[Any], source: DataSource, stage: RunningStage) -> list[Any]:
    """Each loader checked, given a distributed sampler when the run needs one, and its workers seeded.

    Warns, as Lightning does, about evaluation loaders that shuffle and about loaders with few or slow-starting
    workers. Outside ``fit`` the samplers learn the current epoch (some users shuffle evaluation data by epoch).
    """
    name = f"{stage.dataloader_prefix}_dataloader"
    fn = trainer.state.fn.value if trainer.state.fn is not None else "fit"
    prepared = []
    for loader in loaders:
        check_iterable(loader, source, fn)
        if stage != RunningStage.TRAINING and is_shuffled(loader):
            rank_zero_warn(
                f"The `{name}` shuffles its samples (its sampler is a RandomSampler); evaluation does not need that,"
                f" so consider `shuffle=False` for the {stage.dataloader_prefix} data.",
                category=PossibleUserWarning,
            )
        loader = distribute_loader(loader, trainer, stage)
        check_workers(trainer, loader, name)
        loader = add_worker_seeding(loader, trainer.global_rank)
        if trainer.state.fn != TrainerFn.FITTING:
            set_sampler_epoch(loader, trainer.fit_loop.epoch_progress.current.processed)
        prepared.append(loader)
    return prepared


def count_batches(trainer: "Trainer", loaders: list[Any], stage: RunningStage, limit: int | float) -> list[int | float]:
    """How many batches the loop takes from each loader under ``limit`` (inf for a loader without a length)."""
    allow_zero = trainer.lightning_module.allow_zero_length_dataloader_with_multiple_devices
    if trainer.datamodule is not None:
        allow_zero |= trainer.datamodule.allow_zero_length_dataloader_with_multiple_devices
    counts = []
    for loader in loaders:
        length = len(loader) if has_len_all_ranks(loader, trainer.strategy, allow_zero) else float("inf")
        counts.append(parse_num_batches(stage, length, limit))
    return counts


def is_shuffled(loader: Any) -> bool:
    """Whether ``loader`` draws its samples in random order (a ``RandomSampler``, maybe inside its batch sampler)."""
    if isinstance(getattr(loader, "dataset", None), IterableDataset) or not hasattr(loader, "sampler"):
        return False
    batch_sampler = getattr(loader, "batch_sampler", None)
    sampler = loader.sampler if batch_sampler is None else getattr(batch_sampler, "sampler", batch_sampler)
    return isinstance(sampler, RandomSampler)


def check_workers(trainer: "Trainer", loader: Any, name: str) -> None:
    """Warn about worker settings that slow loading down or that are known to be unstable."""
    if not isinstance(loader, DataLoader):
        return
    import torch.multiprocessing as mp

    context = loader.multiprocessing_context
    start_method = context.get_start_method() if context is not None else mp.get_start_method()
    suggested = suggested_max_num_workers(trainer.num_devices)
    if loader.num_workers > 0 and start_method == "spawn" and not loader.persistent_workers:
        rank_zero_warn(
            f"The `{name}` starts {loader.num_workers} worker process(es) with 'spawn' for every pass over the data;"
            " `persistent_workers=True` keeps them alive between passes and saves that start-up time."
        )
    elif loader.num_workers < 2 and suggested > 1:
        rank_zero_warn(
            f"The `{name}` loads data with num_workers={loader.num_workers}, which may slow training down; this"
            f" machine could use up to `num_workers={suggested}` in the `DataLoader`.",
            category=PossibleUserWarning,
        )
    if loader.persistent_workers and loader.pin_memory and trainer.reload_dataloaders_every_n_epochs > 0:
        rank_zero_warn(
            f"The `{name}` uses `pin_memory=True` with `persistent_workers=True` while"
            f" `Trainer(reload_dataloaders_every_n_epochs={trainer.reload_dataloaders_every_n_epochs})` recreates it;"
            " PyTorch can be unstable with that combination (pytorch/pytorch#91252). Consider `pin_memory=False`.",
            category=PossibleUserWarning,
        )


def set_sampler_epoch(loader: Any, epoch: int) -> None:
    """Tell samplers with ``set_epoch`` (e.g. ``DistributedSampler``) which epoch starts, so shuffles differ."""
    objects = {}  # samplers need not be hashable: keyed by id, so a sampler shared by both places is told once
    for obj in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if obj is not None:
            objects[id(obj)] = obj
    for obj in objects.values():
        set_epoch = getattr(obj, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def warn_if_position_lost(trainer: "Trainer", data: TrainingData) -> None:
    """As Lightning: warn about a resume inside an epoch when a training loader cannot restore its position."""
    if data.max_batches == float("inf"):
        return
    steps_per_epoch = math.ceil(data.max_batches / trainer.accumulate_grad_batches)
    if trainer.global_step % steps_per_epoch == 0 or all(isinstance(dl, _Stateful) for dl in data.loaders):
        return
    rank_zero_warn(
        f"The run is resuming from a checkpoint that ended inside an epoch (global step {trainer.global_step},"
        f" {steps_per_epoch} steps per epoch), and the training dataloader has no `state_dict`/`load_state_dict` to"
        " restore its position. shim skips the batches already trained on and, from its own checkpoints, restores"
        " the random state the epoch's shuffle started from; a checkpoint written by Lightning lacks that state, and a"
        " sampler or dataset with state of its own is not restored either. Save at epoch ends, or give the loader"
        " `state_dict`/`load_state_dict`.",
        category=PossibleUserWarning,
    )
