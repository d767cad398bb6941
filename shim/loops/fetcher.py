"""Iterate a data loader for exactly the batches a loop takes, knowing which batch is the last.

With a known length (``len(loader)`` capped by the ``limit_*_batches`` value) the fetcher never asks the loader
for one batch too many: exhausting a shuffled loader draws its random generator once more, which would shift
every later epoch's order compared with Lightning. Without a length it reads one batch ahead to see the end.
"""

from collections.abc import Iterator
from typing import Any

from shim.utilities.data import sized_len

__all__ = ["BatchFetcher", "ProfiledBatchFetcher", "make_fetcher"]

_NOTHING = object()


class BatchFetcher:
    """Yields up to ``limit`` batches of ``loader``; ``done`` turns True once the last batch was handed out."""

    def __init__(self, loader: Any, limit: int | float) -> None:
        self.loader = loader
        self.limit = limit
        length = sized_len(loader)
        self.length: int | float | None = None if length is None else min(length, limit)
        self._iterator: Iterator[Any] | None = None
        self._ahead: Any = _NOTHING
        self.fetched = 0
        self.done = False

    def __iter__(self) -> "BatchFetcher":
        return self

    def start(self) -> "BatchFetcher":
        """Begin a new pass over the loader (one ``iter(loader)``, so one draw of its base seed)."""
        self._iterator = iter(self.loader)
        self._ahead = _NOTHING
        self.fetched = 0
        self.done = self.length == 0 or self.limit == 0
        if self.length is None and not self.done:
            self._ahead = self._pull()
            self.done = self._ahead is _NOTHING
        return self

    def skip(self, count: int) -> None:
        """Fetch and drop ``count`` batches (resuming part-way through an epoch)."""
        for _ in range(count):
            next(self)

    def _pull(self) -> Any:
        if self.fetched >= self.limit:
            return _NOTHING
        assert self._iterator is not None
        try:
            batch = next(self._iterator)
        except StopIteration:
            return _NOTHING
        self.fetched += 1
        return batch

    def __next__(self) -> Any:
        if self.done:
            raise StopIteration
        if self.length is not None:
            # `_pull` written out: this runs once per batch
            assert self._iterator is not None
            try:
                batch = next(self._iterator)
            except StopIteration:  # the loader was shorter than its length said
                self.done = True
                raise
            self.fetched += 1
            self.done = self.fetched >= self.length
            return batch
        batch = self._ahead
        self._ahead = self._pull()
        self.done = self._ahead is _NOTHING
        return batch

    def teardown(self) -> None:
        self._iterator = None
        self._ahead = _NOTHING


class ProfiledBatchFetcher(BatchFetcher):
    """A ``BatchFetcher`` whose every fetch from the loader is recorded as ``action`` on ``profiler``."""

    def __init__(self, loader: Any, limit: int | float, profiler: Any, action: str) -> None:
        super().__init__(loader, limit)
        self._profiler = profiler
        self._action = action

    def __next__(self) -> Any:
        if self.done:
            raise StopIteration
        with self._profiler.profile(self._action):
            return super().__next__()


def make_fetcher(trainer: Any, loader: Any, limit: int | float, action: str) -> BatchFetcher:
    """The fetcher of a loop: a profiled one when the Trainer profiles (``action`` names its fetches)."""
    if trainer._hooks.profiled:
        return ProfiledBatchFetcher(loader, limit, trainer.profiler, action)
    return BatchFetcher(loader, limit)
