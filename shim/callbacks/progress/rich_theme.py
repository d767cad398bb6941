"""The styles of the Rich progress bar, and the check that ``rich`` is there (neither imports ``rich``)."""

import dataclasses
from typing import TYPE_CHECKING

from shim.utilities.imports import rich_usable

if TYPE_CHECKING:
    from rich.style import Style

__all__ = ["RichProgressBarTheme", "require_rich"]

_MISSING_RICH = (
    "{} draws with the `rich` package, which is not installed. Install it with `pip install lightning-shim[rich]`."
)


def require_rich(name: str) -> None:
    """Raise ``ModuleNotFoundError`` naming the install command when ``rich`` is missing."""
    if not rich_usable():
        raise ModuleNotFoundError(_MISSING_RICH.format(f"`{name}`"))


@dataclasses.dataclass
class RichProgressBarTheme:
    """Rich styles (a style string or ``rich.style.Style``) of each part of the bar, and how metrics are written."""

    description: "str | Style" = ""
    progress_bar: "str | Style" = "green"
    progress_bar_finished: "str | Style" = "bright_green"
    progress_bar_pulse: "str | Style" = "green"
    batch_progress: "str | Style" = ""
    time: "str | Style" = "dim"
    processing_speed: "str | Style" = "dim"
    metrics: "str | Style" = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"
