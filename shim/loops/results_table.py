"""The table ``validate``/``test`` print at the end: one row per metric, one column per data loader.

With ``rich`` installed it is drawn as a ``rich`` table, as Lightning does.

Nested metric dicts become ``outer:inner`` rows; when the data loaders do not fit the terminal's width, the table is
printed in several parts, and a metric name longer than half the terminal wraps onto further lines.
"""

import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

from torch import Tensor

from shim.utilities.imports import rich_usable

__all__ = ["print_results"]

_SUFFIX = "/dataloader_idx_"


def _paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The key path of every leaf value in a (possibly nested) metrics dict."""
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _cell(value: Any) -> str:
    if value is None:
        return " "
    if isinstance(value, Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    return str(value)


def _bar_character() -> str:
    """A box-drawing line where the output can encode it, else a hyphen."""
    encoding = getattr(sys.stdout, "encoding", None)
    if isinstance(encoding, str):
        try:
            "─".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            return "-"
    return "─"


def _print_rich(columns: list[str], rows: list[list[str]], width: int) -> None:
    """The same table drawn by ``rich`` (as Lightning does when it is installed): cyan names, magenta values."""
    from rich import get_console
    from rich.table import Column, Table

    table = Table(*(Column(h, justify="center", style="cyan" if i == 0 else "magenta", width=width)
                    for i, h in enumerate(columns)))  # fmt: skip
    for row in rows:
        table.add_row(*row)
    get_console().print(table)


def print_results(results: list[dict[str, Any]], stage: str, use_rich: bool | None = None) -> None:
    """Print the metrics of an evaluation run (one dict per data loader) as a table; print nothing without any.

    ``use_rich``: draw with ``rich`` (``None``: when it is installed) or as plain text.
    """
    # a metric logged per data loader is shown under its own name in that loader's column
    results = [{key.split(_SUFFIX)[0]: value for key, value in result.items()} for result in results]
    paths = {path for result in results for path in _paths(result)}
    if not paths:
        return
    named = sorted((":".join(path), path) for path in paths)
    headers = [f"DataLoader {i}" for i in range(len(results))]
    term_width = shutil.get_terminal_size(fallback=(120, 30)).columns or 120
    longest = max(max(len(name) for name, _ in named), max(len(h) for h in headers), 25)
    width = int(min(longest, term_width / 2))
    rows = [[_cell(_lookup(result, path)) for result in results] for _, path in named]
    per_table = int((term_width - width) / width)
    bar = _bar_character() * term_width
    half = int(term_width / 2)
    draw_with_rich = rich_usable() if use_rich is None else use_rich
    for start in range(0, len(headers), per_table):
        columns = [f"{stage} Metric".capitalize(), *headers[start : start + per_table]]
        if draw_with_rich:
            _print_rich(
                columns,
                [[name, *row[start : start + per_table]] for (name, _), row in zip(named, rows, strict=True)],
                width,
            )
            continue
        line = f"{{:^{width}}}" * len(columns)
        lines = [bar, line.format(*columns).rstrip(), bar]
        for (name, _), row in zip(named, rows, strict=True):
            cells = row[start : start + per_table]
            if len(name) > half:  # a long name wraps; as in Lightning, each full line of it repeats the values
                while len(name) > half:
                    lines.append(line.format(name[:half], *cells).rstrip())
                    name = name[half:]
                cells = [" "] * len(cells)
            lines.append(line.format(name, *cells).rstrip())
        lines.append(bar)
        print(os.linesep.join(lines))
