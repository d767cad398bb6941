"""The columns of the Rich progress bar: counts, times, speed and the metrics text.

Imported only when ``rich`` is installed (``rich_progress`` checks first).
"""

from collections.abc import Callable
from datetime import timedelta

from rich.progress import ProgressColumn, Task
from rich.style import Style
from rich.text import Text

__all__ = ["BatchCountColumn", "MetricsColumn", "SpeedColumn", "TimesColumn"]


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    return str(timedelta(seconds=max(0, int(seconds))))


class BatchCountColumn(ProgressColumn):
    """``done/total`` batches; ``done/--`` when the loader has no length."""

    def __init__(self, style: str | Style) -> None:
        super().__init__()
        self.style = style

    def render(self, task: Task) -> Text:
        total = "--" if task.total is None else str(int(task.total))
        return Text(f"{int(task.completed)}/{total}", style=self.style)


class TimesColumn(ProgressColumn):
    """Elapsed time and, when the total is known, the estimated time left: ``0:00:03 • 0:00:11``."""

    max_refresh = 0.5

    def __init__(self, style: str | Style) -> None:
        super().__init__()
        self.style = style

    def render(self, task: Task) -> Text:
        left = None if task.total is None else task.time_remaining
        return Text(f"{_clock(task.elapsed)} • {_clock(left)}", style=self.style)


class SpeedColumn(ProgressColumn):
    """Batches per second, over the task's recent samples."""

    def __init__(self, style: str | Style) -> None:
        super().__init__()
        self.style = style

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.2f}it/s", style=self.style)


class MetricsColumn(ProgressColumn):
    """The bar's metrics text for each row, as ``text(task)`` gives it (empty on the rows that show none)."""

    def __init__(self, text: Callable[[Task], str], style: str | Style) -> None:
        super().__init__()
        self._text = text
        self.style = style

    def render(self, task: Task) -> Text:
        return Text(self._text(task), style=self.style, no_wrap=True, overflow="ellipsis")
