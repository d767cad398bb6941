"""``CombinedLoader``: read a collection of iterables (data loaders, mostly) together, one step at a time.

The collection may be one iterable or any nesting of lists, tuples, named tuples and dicts of them. It is flattened
once into a list of iterables; each mode is a small generator that turns the started iterators into rows (one item
per iterable), and every row is put back into the collection's shape. ``sequential`` instead reads one iterable
after the other and yields its items as they are.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, Literal

from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from shim.utilities.data import sized_len

__all__ = ["CombinedLoader"]

Mode = Literal["min_size", "max_size_cycle", "max_size", "sequential"]
_INF = float("inf")

# ---------------------------------------------------------------------------------------------------------------------
# the collection's shape


def _children(obj: Any) -> list[Any]:
    return list(obj.values()) if isinstance(obj, dict) else list(obj)


def _is_leaf(obj: Any) -> bool:
    # a list such as [1, 2, 3] (or an empty one) is itself an iterable to read, not a collection of iterables
    if not isinstance(obj, (list, tuple, dict)):
        return True
    return all(isinstance(child, (int, float, str)) for child in _children(obj))


class Shape:
    """How a collection of iterables is arranged, to arrange one item of each the same way.

    ``kind`` is the container type (None for a single iterable), ``keys`` a dict's keys, ``parts`` the shapes of the
    children, and ``size`` how many iterables it holds. Plain data, so that a ``CombinedLoader`` can be pickled.
    """

    __slots__ = ("is_flat", "keys", "kind", "parts", "size")

    def __init__(self, kind: type | None, keys: list[Any], parts: "list[Shape]") -> None:
        self.kind, self.keys, self.parts = kind, keys, parts
        self.size: int = 1 if kind is None else sum(part.size for part in parts)
        self.is_flat: bool = all(part.kind is None for part in parts)  # the usual list or dict of loaders

    def arrange(self, items: list[Any]) -> Any:
        """``items`` (one per iterable, in the flattened order) in this shape."""
        kind = self.kind
        if kind is None:
            return items[0]
        children = items if self.is_flat else self._arrange_parts(items)
        if self.keys:
            return kind(zip(self.keys, children, strict=True))
        if hasattr(kind, "_fields"):  # a named tuple
            return kind(*children)
        return kind(children)

    def _arrange_parts(self, items: list[Any]) -> list[Any]:
        children, start = [], 0
        for part in self.parts:
            children.append(part.arrange(items[start : start + part.size]))
            start += part.size
        return children


def flatten_iterables(obj: Any) -> tuple[list[Any], Shape]:
    """The iterables in ``obj`` in order (dict values in key order), and the shape ``obj`` arranges them in."""
    leaves: list[Any] = []
    return leaves, _collect(obj, leaves)


def _collect(obj: Any, leaves: list[Any]) -> Shape:
    if _is_leaf(obj):
        leaves.append(obj)
        return Shape(None, [], [])
    parts = [_collect(child, leaves) for child in _children(obj)]
    if isinstance(obj, dict):
        kind: type = type(obj)
        try:
            kind([])
        except TypeError:  # a dict subclass that cannot be built from pairs (a defaultdict, say)
            kind = dict
        return Shape(kind, list(obj), parts)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return Shape(type(obj), [], parts)
    return Shape(list if isinstance(obj, list) else tuple, [], parts)


# ---------------------------------------------------------------------------------------------------------------------
# the modes: each turns started iterators into rows, one item of every iterable per row


def _min_size_rows(iterables: list[Any], iterators: list[Iterator[Any]]) -> Iterator[list[Any]]:
    """Until the shortest iterable ends."""
    while True:
        try:
            row = [next(it) for it in iterators]
        except StopIteration:
            return
        yield row


def _max_size_rows(iterables: list[Any], iterators: list[Iterator[Any]]) -> Iterator[list[Any]]:
    """Until the longest iterable ends; an iterable that ended gives None."""
    while True:
        row, ended = [], 0
        for it in iterators:
            try:
                row.append(next(it))
            except StopIteration:
                row.append(None)
                ended += 1
        if ended == len(iterators):
            return
        yield row


def _max_size_cycle_rows(iterables: list[Any], iterators: list[Iterator[Any]]) -> Iterator[list[Any]]:
    """Until the longest iterable ends; an iterable that ended before it starts over (a new ``iter()``)."""
    has_ended = [False] * len(iterators)
    while True:
        row = []
        for i, it in enumerate(iterators):
            try:
                row.append(next(it))
            except StopIteration:
                has_ended[i] = True
                if all(has_ended):
                    return
                iterators[i] = iter(iterables[i])
                row.append(next(iterators[i]))
        yield row


_ROWS: dict[str, Callable[[list[Any], list[Iterator[Any]]], Iterator[list[Any]]]] = {
    "min_size": _min_size_rows,
    "max_size": _max_size_rows,
    "max_size_cycle": _max_size_cycle_rows,
}
# how the per-iterable lengths (each capped by its limit) make the number of steps of a pass
_COUNT: dict[str, Callable[[list[int | float]], int | float]] = {
    "min_size": min,
    "max_size": max,
    "max_size_cycle": max,
    "sequential": sum,
}
MODES: tuple[str, ...] = tuple(_COUNT)


def _sequential(
    iterables: list[Any], limits: list[int | float], first: Iterator[Any] | None
) -> Iterator[tuple[Any, int, int]]:
    """Each iterable in turn, at most its limit of items, as ``(item, index in its iterable, iterable index)``.

    ``first`` is the first iterable's iterator, already started; the others start only when their turn comes, so
    the worker processes of one data loader at a time are alive.
    """
    for dataloader_idx, iterable in enumerate(iterables):
        limit = limits[dataloader_idx]
        if limit == 0:
            continue
        it = first if dataloader_idx == 0 and first is not None else iter(iterable)
        for batch_idx, item in enumerate(islice(it, None if limit == _INF else int(limit))):
            yield item, batch_idx, dataloader_idx


def _indexed(batches: Iterator[Any]) -> Iterator[tuple[Any, int, int]]:
    for batch_idx, batch in enumerate(batches):
        yield batch, batch_idx, 0


# ---------------------------------------------------------------------------------------------------------------------


class CombinedLoader(Iterable[Any]):
    """Iterates a collection of iterables together.

    Each step yields ``(batch, batch_idx, dataloader_idx)``. In the modes that combine, ``batch`` has the shape of
    the collection (a dict of iterables gives dicts of items) and ``dataloader_idx`` is 0:

    * ``min_size``: ends with the shortest iterable.
    * ``max_size_cycle``: ends with the longest iterable; the shorter ones start over when they end.
    * ``max_size``: ends with the longest iterable; one that ended gives None.

    In ``sequential`` mode the iterables are read one after the other: ``batch`` is an item of one of them,
    ``batch_idx`` its index there and ``dataloader_idx`` the iterable's position in ``flattened``.

    Args:
        iterables: An iterable, or a (nested) list, tuple or dict of iterables.
        mode: One of ``"min_size"``, ``"max_size_cycle"``, ``"max_size"``, ``"sequential"``.

    Raises:
        ValueError: If ``mode`` is not one of these.

    Example::

        loaders = {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}
        for batch, batch_idx, _ in CombinedLoader(loaders, "max_size_cycle"):
            ...  # batch == {"a": tensor([0, 1, 2, 3]), "b": tensor([0, 1, 2, 3, 4])} first, 3 steps in all
    """

    def __init__(self, iterables: Any, mode: Mode = "min_size") -> None:
        if mode not in MODES:
            raise ValueError(f"CombinedLoader got mode={mode!r}, which is not one of {list(MODES)}.")
        self._mode: str = mode
        self._iterables = iterables
        self._flattened, self._shape = flatten_iterables(iterables)
        self._limits: list[int | float] | None = None
        self._pass: Iterator[tuple[Any, int, int]] | None = None  # the pass that `__next__` reads from

    @property
    def iterables(self) -> Any:
        """The collection of iterables, in the shape it was given."""
        return self._iterables

    @property
    def flattened(self) -> list[Any]:
        """The iterables of the collection as a flat list."""
        return self._flattened

    @flattened.setter
    def flattened(self, flattened: list[Any]) -> None:
        """Put other iterables in place of the current ones (as many), keeping the collection's shape."""
        if len(flattened) != len(self._flattened):
            raise ValueError(
                f"`flattened` needs {len(self._flattened)} iterables, one for each the CombinedLoader holds;"
                f" got {len(flattened)}."
            )
        self._iterables = self._shape.arrange(flattened)
        self._flattened = list(flattened)

    @property
    def limits(self) -> list[int | float] | None:
        """At most how many items to take from each iterable (None: no limit)."""
        return self._limits

    @limits.setter
    def limits(self, limits: int | float | list[int | float] | None) -> None:
        if isinstance(limits, (int, float)):
            limits = [limits] * len(self._flattened)
        elif limits is not None and len(limits) != len(self._flattened):
            raise ValueError(
                f"`limits` needs one limit for each of the {len(self._flattened)} iterables; got {len(limits)}."
            )
        self._limits = None if limits is None else list(limits)

    @property
    def sampler(self) -> Any:
        """The ``sampler`` of each iterable (None where it has none), in the collection's shape."""
        return self._shape.arrange([getattr(it, "sampler", None) for it in self._flattened])

    @property
    def batch_sampler(self) -> Any:
        """The ``batch_sampler`` of each iterable (None where it has none), in the collection's shape."""
        return self._shape.arrange([getattr(it, "batch_sampler", None) for it in self._flattened])

    def __iter__(self) -> "CombinedLoader":
        """Start a pass (the iterators of all iterables start now; in ``sequential`` mode only the first's)."""
        if self._mode == "sequential":
            limits = self._limits or [_INF] * len(self._flattened)
            first = iter(self._flattened[0]) if self._flattened and limits[0] != 0 else None
            self._pass = _sequential(self._flattened, limits, first)
        else:
            self._pass = _indexed(self._batches())
        return self

    def __next__(self) -> tuple[Any, int, int]:
        if self._pass is None:
            iter(self)
        assert self._pass is not None
        return next(self._pass)

    def _batches(self) -> Iterator[Any]:
        """Start a pass of a combining mode and give its batches alone, without the indices."""
        rows = _ROWS[self._mode](self._flattened, [iter(it) for it in self._flattened])
        if self._limits is not None and (steps := self._length()) != _INF:
            rows = islice(rows, int(steps))  # the limits cap the pass at the length they give
        return map(self._shape.arrange, rows)

    def _length(self) -> int | float:
        """The number of steps of a pass under the limits, ``inf`` when an iterable that decides it has no length."""
        lengths: list[int | float] = [_INF if (n := sized_len(it)) is None else n for it in self._flattened]
        if self._limits is not None:
            lengths = [min(n, limit) for n, limit in zip(lengths, self._limits, strict=True)]
        return _COUNT[self._mode](lengths)

    def __len__(self) -> int:
        """The number of steps of a pass (after ``iter()``, as in Lightning).

        Raises:
            RuntimeError: Before the first ``iter()``.
            TypeError: When the length is unknown (an iterable without ``__len__``).
        """
        if self._pass is None:
            raise RuntimeError("`len(combined_loader)` is known once a pass started: call `iter(combined_loader)`.")
        steps = self._length()
        if steps == _INF:
            raise TypeError("the CombinedLoader has no length: one of its iterables has none")
        return int(steps)

    def reset(self) -> None:
        """Drop the current pass and shut down the worker processes the data loaders keep between passes."""
        self._pass = None
        for iterable in self._flattened:
            # a DataLoader with persistent_workers=True keeps its iterator, and its workers, between passes
            if isinstance(iterable, DataLoader) and iterable._iterator is not None:
                if isinstance(iterable._iterator, _MultiProcessingDataLoaderIter):
                    iterable._iterator._shutdown_workers()
                iterable._iterator = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pass"] = None  # a running pass (a generator over data loader iterators) cannot be pickled
        return state


class CombinedBatches:
    """A ``CombinedLoader``'s batches alone, without their indices, and the length of a pass under its limits: what
    the training loop (and evaluation of a combining mode) iterates. Each ``iter()`` starts a pass of the loader."""

    def __init__(self, combined: CombinedLoader) -> None:
        self.combined = combined

    def __iter__(self) -> Iterator[Any]:
        combined = self.combined
        if combined._mode == "sequential":  # training refuses this mode once its epoch starts
            iter(combined)
            assert combined._pass is not None
            return (batch for batch, _, _ in combined._pass)
        batches = combined._batches()
        # `len(combined)` works from here on, as after `iter(combined)`, and `next(combined)` reads the same pass
        combined._pass = _indexed(batches)
        return batches

    def __len__(self) -> int:
        steps = self.combined._length()
        if steps == _INF:
            raise TypeError("the CombinedLoader has no length: one of its iterables has none")
        return int(steps)
