"""Give each process of a distributed run its share of the samples by rebuilding loaders with a DistributedSampler."""

import inspect
import os
from collections.abc import Iterator, Sized
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from shim.trainer.states import RunningStage, TrainerFn
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import PossibleUserWarning, rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["DistributedSamplerWrapper", "UnrepeatedDistributedSampler", "distribute_loader", "rebuild_loader"]

# the DataLoader arguments a rebuilt loader copies from the original (sampler and shuffle are replaced)
_LOADER_ATTRIBUTES = (
    "dataset",
    "batch_size",
    "num_workers",
    "collate_fn",
    "pin_memory",
    "drop_last",
    "timeout",
    "worker_init_fn",
    "multiprocessing_context",
    "generator",
    "prefetch_factor",
    "persistent_workers",
    "pin_memory_device",
    "in_order",
)


class _SamplerAsDataset(Dataset[Any]):
    """The indices one pass of a sampler yields, drawn anew each epoch, so DistributedSampler can split them."""

    def __init__(self, sampler: Sampler[Any]) -> None:
        self._sampler = sampler
        self._indices: list[Any] = []

    def draw(self) -> None:
        self._indices = list(self._sampler)

    def __getitem__(self, index: int) -> Any:
        return self._indices[index]

    def __len__(self) -> int:
        return len(self._sampler)  # type: ignore[arg-type]


class DistributedSamplerWrapper(DistributedSampler):
    """Splits what a user's own sampler yields between the processes, as DistributedSampler splits a dataset."""

    def __init__(self, sampler: Sampler[Any], **kwargs: Any) -> None:
        super().__init__(_SamplerAsDataset(sampler), **kwargs)

    def __iter__(self) -> Iterator[Any]:
        dataset: _SamplerAsDataset = self.dataset  # type: ignore[assignment]
        dataset.draw()
        return (dataset[i] for i in super().__iter__())


class UnrepeatedDistributedSampler(DistributedSampler):
    """Like DistributedSampler, but without repeating samples to even out the ranks (for prediction)."""

    def __init__(self, dataset: Any, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        assert isinstance(self.dataset, Sized)
        size = len(self.dataset)
        self.num_samples = len(range(self.rank, size, self.num_replicas))
        self.total_size = size

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all_indices()[self.rank : self.total_size : self.num_replicas])

    def _all_indices(self) -> list[int]:
        import torch

        if not self.shuffle:
            return list(range(self.total_size))
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        return torch.randperm(self.total_size, generator=generator).tolist()


def distribute_loader(loader: Any, trainer: "Trainer", stage: RunningStage) -> Any:
    """Return ``loader`` rebuilt with a distributed sampler when the run has several processes.

    Training loaders shuffle (Lightning's rule); evaluation loaders shuffle only when they did already; prediction
    loaders split the data without repeating samples. Loaders that are not DataLoaders, iterable-style datasets,
    loaders that already use a DistributedSampler and ``Trainer(use_distributed_sampler=False)`` stay as they are.

    Raises:
        MisconfigurationException: If a DataLoader subclass cannot be rebuilt because its ``__init__`` arguments
            are not available as attributes.
    """
    if not isinstance(loader, DataLoader) or trainer.world_size <= 1 or not trainer.use_distributed_sampler:
        return loader
    if isinstance(loader.dataset, IterableDataset) or isinstance(loader.sampler, DistributedSampler):
        return loader
    kwargs: dict[str, Any] = dict(trainer.strategy.distributed_sampler_kwargs)  # type: ignore[attr-defined]
    kwargs["seed"] = int(os.environ.get("PL_GLOBAL_SEED", 0))
    shuffled = isinstance(loader.sampler, RandomSampler)
    # overfitting reads the same batches every epoch, so nothing shuffles then
    kwargs["shuffle"] = (stage == RunningStage.TRAINING or shuffled) and not trainer.overfit_batches
    sampler: Sampler[Any]
    if stage == RunningStage.PREDICTING and isinstance(loader.sampler, (RandomSampler, SequentialSampler)):
        sampler = UnrepeatedDistributedSampler(loader.dataset, **kwargs)
    elif isinstance(loader.sampler, (RandomSampler, SequentialSampler)):
        sampler = DistributedSampler(loader.dataset, **kwargs)
    else:
        sampler = DistributedSamplerWrapper(loader.sampler, **kwargs)  # type: ignore[arg-type]
    if trainer.state.fn in (TrainerFn.VALIDATING, TrainerFn.TESTING) and stage != RunningStage.PREDICTING:
        rank_zero_warn(
            f"`trainer.{trainer.state.fn.value}()` reads its data through a `DistributedSampler`, which repeats a few"
            " samples so that every process gets as many batches: some samples are evaluated twice. For exact"
            " metrics, evaluate with `Trainer(devices=1, num_nodes=1)`.",
            category=PossibleUserWarning,
        )
    return rebuild_loader(loader, sampler)


def rebuild_loader(
    loader: DataLoader[Any], sampler: Sampler[Any] | None, *, batch_sampler: Any = None
) -> DataLoader[Any]:
    """A new loader of the same class and arguments, drawing its indices from ``sampler``, or its batches of
    indices from ``batch_sampler`` (then ``sampler`` is None)."""
    cls = type(loader)
    arguments = {name: getattr(loader, name) for name in _LOADER_ATTRIBUTES if hasattr(loader, name)}
    if batch_sampler is not None:
        # a DataLoader takes a batch sampler only with these four at their defaults
        arguments.update(batch_sampler=batch_sampler, batch_size=1, shuffle=False, drop_last=False)
    elif loader.batch_size is None and loader.batch_sampler is None:
        arguments["batch_size"] = None
    elif loader.batch_sampler is not None:
        arguments["batch_size"] = loader.batch_sampler.batch_size  # type: ignore[attr-defined]
        arguments["drop_last"] = loader.batch_sampler.drop_last  # type: ignore[attr-defined]
    if loader.num_workers == 0:
        arguments.pop("prefetch_factor", None)  # only allowed with worker processes
    arguments["sampler"] = sampler
    if cls is not DataLoader:
        parameters = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        for name, parameter in parameters.items():
            if name in ("self", "sampler", "batch_sampler") or parameter.kind in (
                parameter.VAR_KEYWORD,
                parameter.VAR_POSITIONAL,
            ):
                continue
            if name not in arguments and hasattr(loader, name):
                arguments[name] = getattr(loader, name)
            elif name not in arguments and parameter.default is inspect.Parameter.empty:
                raise MisconfigurationException(
                    f"Trying to inject a `DistributedSampler` into the `{cls.__name__}` instance, but its `__init__`"
                    f" argument `{name}` is not available as an attribute. Store it as `self.{name}`, or pass"
                    " `Trainer(use_distributed_sampler=False)` and add a DistributedSampler yourself."
                )
        if not takes_any:
            arguments = {k: v for k, v in arguments.items() if k in parameters}
    return cls(**arguments)
